using System.Text.Json;
using NatGate.Core.Control;
using NatGate.Linux.Files;

namespace NatGate.Containers;

/// <summary>
/// The lease file of one NAT (STATE/leases/NAT.json), held under an exclusive flock on
/// STATE/leases/NAT.lock from <see cref="Open"/> to Dispose, so attach, detach and the CNI plugin
/// running at once never hand one address out twice. Written atomically (a temporary file beside
/// it, flushed, renamed), mode 0600; trusted only when root's and writable by no one else.
/// </summary>
internal sealed class LeaseStore : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerDirectory = OwnerOnly | UnixFileMode.UserExecute;
    private const long LargestFile = 4 << 20;

    private readonly FileStream lockFile;

    private LeaseStore(FileStream lockFile, string path, LeaseBook? book)
    {
        this.lockFile = lockFile;
        FilePath = path;
        Book = book;
    }

    /// <summary>The lease file's path.</summary>
    public string FilePath { get; }

    /// <summary>What the file holds; null when there is no file (no lease yet).</summary>
    public LeaseBook? Book { get; private set; }

    /// <summary>The directory the lease files live in.</summary>
    public static string DirectoryFor(string stateDirectory) => Path.Combine(stateDirectory, "leases");

    /// <summary>
    /// Takes the NAT's lease lock, waiting up to <paramref name="wait"/> for another holder
    /// (<see cref="TimeoutException"/> after it), and reads the file.
    /// </summary>
    public static LeaseStore Open(string stateDirectory, string natName, TimeSpan wait)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("container leases live on Linux");
        }
        CheckFileName(natName);
        string directory = DirectoryFor(stateDirectory);
        Directory.CreateDirectory(stateDirectory, OwnerDirectory);
        Directory.CreateDirectory(directory, OwnerDirectory);
        Refuse(FileTrust.Problem(stateDirectory, directory: true));
        Refuse(FileTrust.Problem(directory, directory: true));

        string lockPath = Path.Combine(directory, natName + ".lock");
        FileStream held = Lock(lockPath, wait);
        try
        {
            Refuse(FileTrust.Problem(lockPath));
            string path = Path.Combine(directory, natName + ".json");
            return new LeaseStore(held, path, Read(path, natName));
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private static FileStream Lock(string path, TimeSpan wait)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("container leases live on Linux");
        }
        // .NET takes flock(LOCK_EX | LOCK_NB) on a file opened with FileShare.None, and fails
        // at once when another process holds it; so try again until the wait is over.
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None, UnixCreateMode = OwnerOnly };
        DateTime giveUp = DateTime.UtcNow + wait;
        while (true)
        {
            try
            {
                return new FileStream(path, options);
            }
            catch (IOException) when (DateTime.UtcNow < giveUp && File.Exists(path))
            {
                Thread.Sleep(50);
            }
            catch (IOException busy) when (File.Exists(path))
            {
                throw new TimeoutException($"{path} stayed locked by another natgate attach, detach or CNI call for {wait.TotalSeconds} s; try again", busy);
            }
        }
    }

    private static LeaseBook? Read(string path, string natName)
    {
        FileTrust.FileFacts facts = FileTrust.Look(path);
        if (!facts.Exists)
        {
            return null;
        }
        Refuse(FileTrust.Problem(path));
        if (new FileInfo(path).Length > LargestFile)
        {
            throw new NatControlException(NatErrno.EINVAL, $"{path} is larger than {LargestFile >> 20} MiB, too large to be NatGate's lease file; remove it once no container uses NAT {natName}");
        }
        LeaseBook? book;
        try
        {
            book = JsonSerializer.Deserialize(File.ReadAllText(path), LeaseJson.Default.LeaseBook);
        }
        catch (JsonException malformed)
        {
            throw new NatControlException(NatErrno.EINVAL, $"{path} is not a lease file NatGate can read ({malformed.Message}); move it aside once no container uses NAT {natName}");
        }
        if (book is null || book.Format != LeaseBook.FormatName || book.Version != LeaseBook.CurrentVersion || book.Nat != natName)
        {
            throw new NatControlException(NatErrno.EINVAL, $"{path} is not a version {LeaseBook.CurrentVersion} NatGate lease file for NAT {natName}");
        }
        return book;
    }

    /// <summary>Replaces the file with <paramref name="book"/>, atomically; an empty book removes the file.</summary>
    public void Save(LeaseBook book)
    {
        ArgumentNullException.ThrowIfNull(book);
        if (book.Leases.Count == 0)
        {
            File.Delete(FilePath);
            Book = null;
            return;
        }
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("container leases live on Linux");
        }
        string temporary = FilePath + ".new";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = OwnerOnly };
        using (var stream = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(stream, book, LeaseJson.Default.LeaseBook);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, FilePath, overwrite: true);
        Book = book;
    }

    public void Dispose() => lockFile.Dispose();

    private static void CheckFileName(string natName)
    {
        ArgumentException.ThrowIfNullOrEmpty(natName);
        if (natName.StartsWith('.') || natName.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw new NatControlException(NatErrno.EINVAL, $"NAT name '{natName}': containers can be attached only to NATs named with letters, digits, '-', '_' and '.' (the name is the lease file's)");
        }
    }

    private static void Refuse(string? problem)
    {
        if (problem is not null)
        {
            throw new NatControlException(NatErrno.EACCES, "lease state refused: " + problem);
        }
    }
}
