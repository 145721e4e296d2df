using System.Runtime.InteropServices;

namespace NatGate.Linux.FastPath;

/// <summary>
/// bpffs at /sys/fs/bpf, where the fast path pins its maps so that they outlive the process
/// (Documentation/bpf/maps.rst, "pinning"; DESIGN.md, "Two paths": restarts adopt them).
/// systemd mounts it at boot; a container or a minimal system may not, so NatGate does.
/// </summary>
internal static unsafe partial class BpfFileSystem
{
    public const string MountPoint = "/sys/fs/bpf";

    private const long Magic = 0xCAFE4A11;   // BPF_FS_MAGIC, linux/magic.h
    private const int StatFileSystemSize = 256; // struct statfs is 120 bytes on 64-bit Linux; f_type first

    /// <summary>Mounts bpffs at /sys/fs/bpf unless it is there; true when this call mounted it.</summary>
    public static bool EnsureMounted()
    {
        if (IsMounted(MountPoint))
        {
            return false;
        }
        // mode=0700: pinned maps are NatGate's state; only root reads or changes them.
        if (Mount("bpf", MountPoint, "bpf", 0, "mode=0700") != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new FastPathException($"mounting bpffs at {MountPoint} (mount -t bpf bpf {MountPoint}) failed: {FastPathException.Describe(errno)}");
        }
        return true;
    }

    /// <summary>Whether <paramref name="path"/> lies on a bpffs.</summary>
    public static bool IsMounted(string path)
    {
        byte* buffer = stackalloc byte[StatFileSystemSize];
        return StatFileSystem(path, buffer) == 0 && *(long*)buffer == Magic;
    }

    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatFileSystem(string path, byte* buffer);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Mount(string source, string target, string fileSystemType, nuint flags, string data);
}
