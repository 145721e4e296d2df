namespace NatGate.Containers.Cni;

/// <summary>
/// The error codes of the CNI specification 1.0.0 ("Error" in SPEC.md); 100 and above are
/// plugin-specific. NatGate answers a daemon's refusal with 1000 plus its errno (ESRCH 1003,
/// EEXIST 1017, ENOMEM 1012, EINVAL 1022, EACCES 1013) and a failed `ip` step with 999.
/// </summary>
internal static class CniErrorCode
{
    public const int IncompatibleVersion = 1;
    public const int UnsupportedField = 2;
    public const int UnknownContainer = 3;
    public const int InvalidEnvironmentVariables = 4;
    public const int IoFailure = 5;
    public const int DecodingFailure = 6;
    public const int InvalidNetworkConfig = 7;
    public const int TryAgainLater = 11;
    public const int InterfaceFailure = 999;
    public const int ErrnoBase = 1000;
}

/// <summary>A CNI call refused: the code and message go to stdout in the spec's error form.</summary>
internal sealed class CniException : Exception
{
    public CniException()
    {
    }

    public CniException(string message)
        : base(message)
    {
    }

    public CniException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CniException(int code, string message, string? details = null)
        : base(message)
    {
        Code = code;
        Details = details;
    }

    public int Code { get; } = CniErrorCode.InterfaceFailure;

    public string? Details { get; }
}
