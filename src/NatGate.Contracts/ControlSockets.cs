namespace NatGate.Control;

/// <summary>Where the daemon listens: two Unix sockets in its control directory.</summary>
public static class ControlSockets
{
    public const string DefaultDirectory = "/run/natgate";

    /// <summary>Read-write, mode 0600: every operation.</summary>
    public const string ReadWriteSocketName = "control.sock";

    /// <summary>Read-only, mode 0666: changes answer EPERM, as a read-only open of /dev/ipnat does.</summary>
    public const string ReadOnlySocketName = "control.ro.sock";
}
