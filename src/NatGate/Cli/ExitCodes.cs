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

    /// <summary>Ended by SIGHUP (the terminal closed) after cleaning up: 128 + 1, as shells report it.</summary>
    public const int Hangup = 129;

    /// <summary>Ended by Ctrl-C (SIGINT) after cleaning up: 128 + 2.</summary>
    public const int Interrupted = 130;

    /// <summary>Ended by SIGTERM after cleaning up: 128 + 15.</summary>
    public const int Terminated = 143;
}
