using System.Runtime.InteropServices;

namespace NatGate.Linux.Interop;

/// <summary>The errno values NatGate reacts to, and their symbolic names for messages.</summary>
internal static class Errno
{
    public const int PermissionDenied = 1;   // EPERM
    public const int NoEntry = 2;            // ENOENT
    public const int NoProcess = 3;          // ESRCH
    public const int Interrupted = 4;        // EINTR
    public const int InputOutput = 5;        // EIO
    public const int BadFileDescriptor = 9;  // EBADF
    public const int TryAgain = 11;          // EAGAIN, EWOULDBLOCK
    public const int AccessDenied = 13;      // EACCES
    public const int Fault = 14;             // EFAULT
    public const int Busy = 16;              // EBUSY
    public const int Exists = 17;            // EEXIST
    public const int NoDevice = 19;          // ENODEV
    public const int InvalidArgument = 22;   // EINVAL
    public const int MessageTooLong = 90;    // EMSGSIZE
    public const int NoBufferSpace = 105;    // ENOBUFS
    public const int BadFileDescriptorState = 77; // EBADFD

    public static int Last => Marshal.GetLastPInvokeError();

    /// <summary>"EPERM", "EBUSY", ...; "errno 123" for values not listed.</summary>
    public static string Name(int errno) => errno switch
    {
        PermissionDenied => "EPERM",
        NoEntry => "ENOENT",
        NoProcess => "ESRCH",
        Interrupted => "EINTR",
        InputOutput => "EIO",
        6 => "ENXIO",
        BadFileDescriptor => "EBADF",
        TryAgain => "EAGAIN",
        12 => "ENOMEM",
        AccessDenied => "EACCES",
        Fault => "EFAULT",
        Busy => "EBUSY",
        Exists => "EEXIST",
        NoDevice => "ENODEV",
        InvalidArgument => "EINVAL",
        23 => "ENFILE",
        24 => "EMFILE",
        BadFileDescriptorState => "EBADFD",
        MessageTooLong => "EMSGSIZE",
        NoBufferSpace => "ENOBUFS",
        _ => "errno " + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
