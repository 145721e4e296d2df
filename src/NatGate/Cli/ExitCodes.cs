namespace NatGate.Cli;

/// <summary>Exit codes scripts can rely on.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command failed at run time (a refused operation, an unreachable daemon).</summary>
    public const int Failure = 1;

    /// <summary>Bad input: a malformed configuration, rule file or argument.</summary>
    public const int BadInput = 2;

    /// <summary>The operation was refused for lack of permission (EPERM, EACCES).</summary>
    public const int NotPermitted = 3;
}
