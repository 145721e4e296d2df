namespace NatGate.Core.Rules.Ipnat;

/// <summary>
/// A rule file line that cannot be loaded; the message reads "file:line:column: what is wrong, what was expected".
/// One bad line refuses the whole file.
/// </summary>
public sealed class RuleSyntaxException : Exception
{
    public RuleSyntaxException()
    {
    }

    public RuleSyntaxException(string message)
        : base(message)
    {
    }

    public RuleSyntaxException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public RuleSyntaxException(string fileName, int line, int column, string problem)
        : base($"{fileName}:{line}:{column}: {problem}")
    {
        FileName = fileName;
        Line = line;
        Column = column;
    }

    /// <summary>The file name as given to the parser.</summary>
    public string FileName { get; } = "";

    /// <summary>The 1-based line of the offending token.</summary>
    public int Line { get; }

    /// <summary>The 1-based column of the offending token.</summary>
    public int Column { get; }
}
