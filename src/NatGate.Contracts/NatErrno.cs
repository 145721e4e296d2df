// The namespace is the one these had in the engine, so the engine's throws and every client's
// catch read unchanged; the engine references this assembly for them, never the other way.
namespace NatGate.Core.Control;

/// <summary>
/// The errno names the control operations answer with, as /dev/ipnat's ioctls do; clients see
/// the name (for example "EEXIST") with a sentence a person can act on.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707", Justification = "errno names are the vocabulary operators know.")]
public enum NatErrno
{
    /// <summary>A field is malformed or out of range.</summary>
    EINVAL = 22,

    /// <summary>The session (or port) already exists.</summary>
    EEXIST = 17,

    /// <summary>Nothing matches: no such session, or the session's rule is not loaded.</summary>
    ESRCH = 3,

    /// <summary>The operation needs the table locked (SIOCSTPUT).</summary>
    EACCES = 13,

    /// <summary>The caller may only read.</summary>
    EPERM = 1,

    /// <summary>A table, host, bucket or port limit was reached.</summary>
    ENOMEM = 12,
}

/// <summary>A control operation refused, with its errno name and a sentence for a person.</summary>
public sealed class NatControlException : Exception
{
    public NatControlException(NatErrno errno, string message)
        : base(message) => Errno = errno;

    public NatControlException()
    {
    }

    public NatControlException(string message)
        : base(message)
    {
    }

    public NatControlException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NatErrno Errno { get; } = NatErrno.EINVAL;

    public override string ToString() => $"{Errno}: {Message}";
}
