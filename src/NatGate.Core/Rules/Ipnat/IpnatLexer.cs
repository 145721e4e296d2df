namespace NatGate.Core.Rules.Ipnat;

/// <summary>Splits one ipnat.conf line into tokens; "#" starts a comment that runs to the end of the line.</summary>
internal static class IpnatLexer
{
    /// <summary>The tokens of <paramref name="line"/>; <paramref name="endColumn"/> is the column just after the last one.</summary>
    public static List<IpnatToken> Tokenize(string line, out int endColumn)
    {
        var tokens = new List<IpnatToken>();
        int end = line.IndexOf('#', StringComparison.Ordinal);
        if (end < 0)
        {
            end = line.Length;
        }
        endColumn = 1;
        int position = 0;
        while (position < end)
        {
            char current = line[position];
            if (char.IsWhiteSpace(current))
            {
                position++;
                continue;
            }
            int start = position;
            if (IsArrowAt(line, position, end))
            {
                tokens.Add(new IpnatToken("->", start + 1, IpnatTokenKind.Arrow));
                position += 2;
            }
            else if (current == ',')
            {
                tokens.Add(new IpnatToken(",", start + 1, IpnatTokenKind.Comma));
                position++;
            }
            else if (IsOperatorCharacter(current))
            {
                string pair = position + 1 < end ? line.Substring(position, 2) : "";
                if (pair is "!=" or "<=" or ">=" or "<>" or "><")
                {
                    tokens.Add(new IpnatToken(pair, start + 1, IpnatTokenKind.Operator));
                    position += 2;
                }
                else
                {
                    tokens.Add(new IpnatToken(current.ToString(), start + 1, current == '!' ? IpnatTokenKind.Bang : IpnatTokenKind.Operator));
                    position++;
                }
            }
            else
            {
                while (position < end && !char.IsWhiteSpace(line[position]) && line[position] != ','
                    && !IsOperatorCharacter(line[position]) && !IsArrowAt(line, position, end))
                {
                    position++;
                }
                tokens.Add(new IpnatToken(line[start..position], start + 1, IpnatTokenKind.Word));
            }
            endColumn = position + 1;
        }
        return tokens;
    }

    private static bool IsArrowAt(string line, int position, int end)
        => line[position] == '-' && position + 1 < end && line[position + 1] == '>';

    private static bool IsOperatorCharacter(char character) => character is '=' or '!' or '<' or '>';
}
