namespace NatGate.Core.Rules.Ipnat;

/// <summary>
/// Reads IP Filter NAT rule files (ipnat(5)): map, bimap, rdr and map-block lines, comments from "#",
/// blank lines. One bad line refuses the whole file with a <see cref="RuleSyntaxException"/>.
/// </summary>
public static class IpnatParser
{
    /// <summary>Parses <paramref name="text"/>; <paramref name="fileName"/> names the file in labels and errors.</summary>
    public static IpnatRules Parse(string text, string fileName)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(fileName);
        var rules = new List<NatRule>();
        var warnings = new List<string>();
        string[] lines = text.Split('\n');
        for (int index = 0; index < lines.Length; index++)
        {
            List<IpnatToken> tokens = IpnatLexer.Tokenize(lines[index].TrimEnd('\r'), out int endColumn);
            if (tokens.Count == 0)
            {
                continue;
            }
            int line = index + 1;
            NatRule rule = new IpnatRuleReader(tokens, endColumn, fileName, line).Read();
            rules.Add(rule);
            if (rule.Proxy is { } proxy && !proxy.IsFtp)
            {
                // IP Filter has more proxies (irc, rcmd, h323, ...): a file written for it still loads.
                warnings.Add($"{fileName}:{line}: proxy {proxy.Name} is not a helper NatGate has (it has ftp): the rule translates without one");
            }
        }
        return new IpnatRules(rules, warnings);
    }

    /// <summary>Reads and parses the file at <paramref name="path"/>; errors and labels name it as given.</summary>
    public static IpnatRules ParseFile(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Parse(File.ReadAllText(path), path);
    }
}
