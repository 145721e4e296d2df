namespace NatGate.Linux.Routing;

/// <summary>A plumbing step failed; the message holds the command and what it printed.</summary>
public sealed class PlumbingException : Exception
{
    public PlumbingException()
    {
    }

    public PlumbingException(string message)
        : base(message)
    {
    }

    public PlumbingException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal PlumbingException(string command, string errorOutput, Exception? innerException = null)
        : base($"\"{command}\" failed: {(errorOutput.Length == 0 ? "no error output" : errorOutput)}", innerException)
    {
        Command = command;
        ErrorOutput = errorOutput;
    }

    /// <summary>The command as a person would type it.</summary>
    public string Command { get; } = string.Empty;

    /// <summary>What the command wrote to standard error, trimmed.</summary>
    public string ErrorOutput { get; } = string.Empty;
}
