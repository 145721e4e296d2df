namespace NatGate.Core.State;

/// <summary>
/// A session file could not be saved or loaded; the message names the file, what is wrong with
/// it and what to do. Loading never returns part of a refused file.
/// </summary>
public sealed class StateFileException : Exception
{
    public StateFileException()
    {
    }

    public StateFileException(string message)
        : base(message)
    {
    }

    public StateFileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
