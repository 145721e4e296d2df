using NatGate.Linux.Interop;

namespace NatGate.Linux.Tun;

/// <summary>A TUN system call failed; the message names the errno and says what to do.</summary>
public sealed class TunException : IOException
{
    public TunException()
    {
    }

    public TunException(string message)
        : base(message)
    {
    }

    public TunException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    internal TunException(int errno, string message)
        : base($"{Errno.Name(errno)}: {message}")
    {
        ErrorNumber = errno;
    }

    /// <summary>The errno value, or 0 when the failure was not a system call.</summary>
    public int ErrorNumber { get; }

    /// <summary>The errno's symbolic name ("EPERM"), or an empty string.</summary>
    public string ErrorName => ErrorNumber == 0 ? string.Empty : Errno.Name(ErrorNumber);

    /// <summary>The exception for a failed <paramref name="operation"/> on the TUN named <paramref name="name"/>.</summary>
    internal static TunException For(int errno, string operation, string name) => new(errno, errno switch
    {
        Errno.PermissionDenied or Errno.AccessDenied when operation is "open" =>
            "opening /dev/net/tun needs CAP_NET_ADMIN; run as root or grant the capability (setcap cap_net_admin+ep)",
        Errno.PermissionDenied or Errno.AccessDenied =>
            $"{operation} on TUN {name} needs CAP_NET_ADMIN; run as root, or make the device persistent and owned by this user",
        Errno.NoEntry or Errno.NoDevice or 6 when operation is "open" =>
            "/dev/net/tun is missing; load the module (modprobe tun) or, in a container, pass the device in (--device /dev/net/tun)",
        Errno.Busy =>
            $"TUN {name} is already attached to another process, or all its queues are taken; stop that process or pick another name",
        Errno.InvalidArgument when operation is "TUNSETIFF" =>
            $"interface {name} exists but is not a TUN device with the same flags (multi-queue, virtio header); delete it or pick another name",
        _ => $"{operation} on TUN {name} failed: {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno)}",
    });
}
