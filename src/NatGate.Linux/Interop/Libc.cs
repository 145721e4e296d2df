using System.Runtime.InteropServices;

namespace NatGate.Linux.Interop;

/// <summary>
/// The few libc calls the TUN device needs. The constants are the Linux generic ABI values,
/// the same on x86-64 and arm64. Callers read errno with
/// <see cref="Marshal.GetLastPInvokeError"/> right after a call returns -1.
/// </summary>
internal static unsafe partial class Libc
{
    public const int ReadWrite = 0x2;          // O_RDWR
    public const int NonBlocking = 0x800;      // O_NONBLOCK
    public const int CloseOnExec = 0x80000;    // O_CLOEXEC

    public const int EventFdNonBlocking = 0x800;    // EFD_NONBLOCK
    public const int EventFdCloseOnExec = 0x80000;  // EFD_CLOEXEC

    public const int AddressFamilyInet = 2;    // AF_INET
    public const int SocketDatagram = 2;       // SOCK_DGRAM
    public const int SocketCloseOnExec = 0x80000; // SOCK_CLOEXEC

    public const int AddressFamilyNetlink = 16; // AF_NETLINK
    public const int SocketRaw = 3;             // SOCK_RAW
    public const int NetlinkRoute = 0;          // NETLINK_ROUTE

    public const short PollIn = 0x1;           // POLLIN
    public const short PollError = 0x8;        // POLLERR
    public const short PollHangUp = 0x10;      // POLLHUP

    public const int CloneNewNetwork = 0x40000000; // CLONE_NEWNET

    public const int AtFileDescriptorCurrentDirectory = -100; // AT_FDCWD
    public const int AtSymlinkNoFollow = 0x100;                // AT_SYMLINK_NOFOLLOW
    public const uint StatxTypeModeOwner = 0x1 | 0x2 | 0x8;    // STATX_TYPE | STATX_MODE | STATX_UID
    public const int StatxBufferSize = 256;                    // struct statx
    public const int StatxOwnerOffset = 20;                    // stx_uid
    public const int StatxModeOffset = 28;                     // stx_mode (u16)

    /// <summary>statx(2): the same layout on every architecture, unlike struct stat.</summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statx(int directory, string path, int flags, uint mask, byte* buffer);

    public const int PriorityProcess = 0; // PRIO_PROCESS: with a thread id, that one thread

    /// <summary>gettid(2): the calling thread's id, for per-thread scheduling.</summary>
    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int GetThreadId();

    /// <summary>getpriority(2); returns the nice value (errno must be checked for -1).</summary>
    [LibraryImport("libc", EntryPoint = "getpriority", SetLastError = true)]
    public static partial int GetPriority(int which, int who);

    /// <summary>setpriority(2).</summary>
    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    public static partial int SetPriority(int which, int who, int priority);

    /// <summary>if_nametoindex(3), in the calling thread's network namespace; 0 when there is no such interface.</summary>
    [LibraryImport("libc", EntryPoint = "if_nametoindex", StringMarshalling = StringMarshalling.Utf8)]
    public static partial uint InterfaceNameToIndex(string name);

    /// <summary>geteuid(2).</summary>
    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int FileDescriptor;
        public short Events;
        public short ReturnedEvents;
    }

    /// <summary>open(2); O_NONBLOCK is passed here, so no fcntl(F_SETFL) call is needed.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    /// <summary>ioctl(2) with a pointer argument (<c>struct ifreq *</c>).</summary>
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fileDescriptor, nuint request, void* argument);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fileDescriptor, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fileDescriptor, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fileDescriptors, nuint count, int timeoutMilliseconds);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fileDescriptor);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    /// <summary>bind(2) with a raw socket address (struct sockaddr_nl for netlink).</summary>
    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    public static partial int Bind(int socket, void* address, uint length);

    /// <summary>setns(2): moves the calling thread (not the process) into a namespace.</summary>
    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    public static partial int SetNamespace(int fileDescriptor, int namespaceType);
}
