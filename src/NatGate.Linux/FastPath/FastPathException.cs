using NatGate.Linux.Interop;

namespace NatGate.Linux.FastPath;

/// <summary>The fast path could not be loaded, attached or programmed; the message says what and why, in one sentence.</summary>
public sealed class FastPathException : Exception
{
    public FastPathException()
    {
    }

    public FastPathException(string message)
        : base(message)
    {
    }

    public FastPathException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <param name="operation">What failed, as the sentence's subject.</param>
    /// <param name="errno">Why.</param>
    /// <param name="quoteLibbpf">Whether libbpf may have said more (open, load, tc): its last messages on this thread are quoted.</param>
    internal FastPathException(string operation, int errno, bool quoteLibbpf = false)
        : base($"{operation} failed: {Describe(errno)}{Quote(quoteLibbpf ? LibbpfMessages.Recent() : string.Empty)}")
    {
        ErrorNumber = errno;
    }

    /// <summary>The errno value, or 0 when the failure was not a system call.</summary>
    public int ErrorNumber { get; }

    private static string Quote(string libbpf) => libbpf.Length == 0 ? "." : $"; libbpf said: {libbpf}";

    /// <summary>"EPERM (no CAP_BPF ...)": the errno's name and, for the usual ones, what it means here.</summary>
    internal static string Describe(int errno) => errno switch
    {
        Errno.PermissionDenied => "EPERM (no CAP_BPF and CAP_NET_ADMIN, or the kernel refuses unprivileged BPF; run as root)",
        Errno.AccessDenied => "EACCES (the verifier rejected the program, or a bpffs path is not writable)",
        Errno.NoEntry => "ENOENT (no such file, interface or filter)",
        Errno.NoDevice => "ENODEV (no such interface in this network namespace)",
        Errno.Exists => "EEXIST",
        Errno.InvalidArgument => "EINVAL (the kernel or libbpf refused the arguments; is the pinned map of another layout?)",
        7 => "E2BIG (the map is full)",
        12 => "ENOMEM (the map's size exceeds what the kernel will lock)",
        28 => "ENOSPC",
        95 => "EOPNOTSUPP (the kernel lacks tc BPF or clsact)",
        // libbpf's own errors (enum libbpf_errno, libbpf.h), above the kernel's.
        4000 => "LIBBPF_ERRNO__LIBELF (libelf failed)",
        4001 => "LIBBPF_ERRNO__FORMAT (not a BPF ELF object)",
        4006 => "LIBBPF_ERRNO__LOAD (the kernel refused the program)",
        4007 => "LIBBPF_ERRNO__VERIFY (the verifier rejected the program)",
        4008 => "LIBBPF_ERRNO__PROG2BIG (the program is too large)",
        _ => Errno.Name(errno),
    };
}
