using System.Runtime.InteropServices;

namespace NatGate.Core.State;

/// <summary>
/// Flushes a directory's entries to disk, so a rename into it survives a crash (POSIX leaves
/// that to fsync on the directory). Best effort: where the platform offers no such call, or it
/// fails, the rename has still happened and only its durability is less certain.
/// </summary>
internal static partial class DirectorySync
{
    private const int ReadOnly = 0;

    public static bool TrySync(string directory)
    {
        // NTFS journals its metadata, and .NET cannot open a directory handle there.
        if (OperatingSystem.IsWindows())
        {
            return false;
        }
        try
        {
            int descriptor = Open(directory, ReadOnly);
            if (descriptor < 0)
            {
                return false;
            }
            bool synced = Fsync(descriptor) == 0;
            _ = Close(descriptor);
            return synced;
        }
        catch (Exception error) when (error is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int descriptor);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int descriptor);
}
