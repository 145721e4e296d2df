using NatGate.Core.Control;
using NatGate.Core.State;
using NatGate.Linux.Files;

namespace NatGate.Control;

/// <summary>
/// Which files the control API may save sessions to and restore them from (issue 10, "Trust
/// nothing on disk"). A save goes only into a configured directory (--state-directory, and the
/// directory of --state), as a new file or over a file NatGate wrote; a restore reads only a
/// regular file that root owns and no one else may write. Otherwise a client that may change
/// state could have the daemon, as root, replace /etc/passwd or read a planted table.
/// </summary>
public sealed class StateFilePolicy
{
    public const string DefaultDirectory = "/var/lib/natgate";

    private readonly IReadOnlyList<string> directories;

    public StateFilePolicy(IEnumerable<string> directories)
    {
        ArgumentNullException.ThrowIfNull(directories);
        this.directories = [.. directories.Select(directory => Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))).Distinct()];
    }

    public static StateFilePolicy Default { get; } = new([DefaultDirectory]);

    public IReadOnlyList<string> Directories => directories;

    /// <summary>The full path a save may write, or EINVAL, EACCES or EEXIST with a sentence.</summary>
    public string ForSave(string? path)
    {
        string full = Absolute(path);
        string directory = Path.GetDirectoryName(full) ?? "/";
        if (!directories.Contains(directory, StringComparer.Ordinal))
        {
            throw new NatControlException(NatErrno.EACCES,
                $"Sessions are saved only in {string.Join(" or ", directories)} (--state-directory); {full} is elsewhere.");
        }
        if (!Directory.Exists(directory) && OperatingSystem.IsLinux())
        {
            Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        if (FileTrust.Problem(directory, directory: true) is string untrusted)
        {
            throw new NatControlException(NatErrno.EACCES, $"The state directory is not safe to write in: {untrusted}.");
        }
        FileTrust.FileFacts facts = FileTrust.Look(full);
        if (facts.Exists && (!facts.IsRegularFile || FileTrust.Problem(full) is not null || !WrittenByNatGate(full)))
        {
            throw new NatControlException(NatErrno.EEXIST, $"{full} exists and is not a session file NatGate wrote; save to a new name.");
        }
        return full;
    }

    /// <summary>The full path a restore may read (a missing one is the loader's EINVAL), or EACCES with a sentence.</summary>
    public static string ForRestore(string? path)
    {
        string full = Absolute(path);
        if (FileTrust.Look(full).Exists && FileTrust.Problem(full) is string untrusted)
        {
            throw new NatControlException(NatErrno.EACCES, $"Refused: {untrusted}.");
        }
        return full;
    }

    private static string Absolute(string? path)
        => string.IsNullOrWhiteSpace(path) || !Path.IsPathFullyQualified(path)
            ? throw new NatControlException(NatErrno.EINVAL, $"The state file \"{Excerpt(path)}\" must be an absolute path: the daemon's working directory is not the caller's.")
            : Path.GetFullPath(path);

    private static string Excerpt(string? text) => text is null ? "" : text.Length <= 80 ? text : text[..80] + "...";

    private static bool WrittenByNatGate(string path)
    {
        Span<byte> start = stackalloc byte[64];
        using FileStream file = File.OpenRead(path);
        int read = file.ReadAtLeast(start, start.Length, throwOnEndOfStream: false);
        return System.Text.Encoding.UTF8.GetString(start[..read]).Contains($"\"format\":\"{SessionStateFile.FormatName}\"", StringComparison.Ordinal);
    }
}
