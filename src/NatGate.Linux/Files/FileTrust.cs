using System.Runtime.InteropServices;
using NatGate.Linux.Interop;

namespace NatGate.Linux.Files;

/// <summary>
/// Whether a file or directory may be trusted with the gateway's state: owned by root (or by the
/// user the daemon runs as) and writable by nobody else, so that no local user can plant a port
/// forward in a state file or a socket in the control directory. Symbolic links are not followed.
/// </summary>
public static class FileTrust
{
    private const int TypeMask = 0xF000;      // S_IFMT
    private const int RegularFile = 0x8000;   // S_IFREG
    private const int DirectoryType = 0x4000; // S_IFDIR
    private const int GroupWrite = 0x10;      // S_IWGRP
    private const int OtherWrite = 0x2;       // S_IWOTH

    /// <summary>What a look at a path found: whether it exists, its owner, its mode bits.</summary>
    public readonly record struct FileFacts(bool Exists, uint Owner, int Mode)
    {
        public bool IsRegularFile => (Mode & TypeMask) == RegularFile;

        public bool IsDirectory => (Mode & TypeMask) == DirectoryType;
    }

    /// <summary>lstat-like facts about <paramref name="path"/>; Exists is false when there is nothing there.</summary>
    public static unsafe FileFacts Look(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        byte* buffer = stackalloc byte[Libc.StatxBufferSize];
        if (Libc.Statx(Libc.AtFileDescriptorCurrentDirectory, path, Libc.AtSymlinkNoFollow, Libc.StatxTypeModeOwner, buffer) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) // ENOENT, ENOTDIR
            {
                return new FileFacts(false, 0, 0);
            }
            throw new IOException($"{path}: cannot look at it ({Errno.Name(errno)})");
        }
        return new FileFacts(true, *(uint*)(buffer + Libc.StatxOwnerOffset), *(ushort*)(buffer + Libc.StatxModeOffset));
    }

    /// <summary>
    /// Null when <paramref name="path"/> is a regular file (or, with <paramref name="directory"/>,
    /// a directory) owned by root or this process's user and not writable by group or others;
    /// otherwise a sentence saying what is wrong and what to do.
    /// </summary>
    public static string? Problem(string path, bool directory = false)
    {
        FileFacts facts = Look(path);
        if (!facts.Exists)
        {
            return $"{path} does not exist";
        }
        if (directory ? !facts.IsDirectory : !facts.IsRegularFile)
        {
            return $"{path} is not a {(directory ? "directory" : "regular file")} (a link, a device or a pipe is never trusted)";
        }
        uint self = Libc.GetEffectiveUserId();
        if (facts.Owner != 0 && facts.Owner != self)
        {
            return $"{path} belongs to user {facts.Owner}, not to root: another user could have written it (chown root {path})";
        }
        if ((facts.Mode & (GroupWrite | OtherWrite)) != 0)
        {
            return $"{path} is writable by {((facts.Mode & OtherWrite) != 0 ? "everyone" : "its group")}: another user could have written it (chmod go-w {path})";
        }
        return null;
    }
}
