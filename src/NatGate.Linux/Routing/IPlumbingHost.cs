using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using NatGate.Linux.Processes;

namespace NatGate.Linux.Routing;

/// <summary>What <see cref="GatewayPlumbing"/> needs from the system; tests replace it.</summary>
internal interface IPlumbingHost
{
    /// <summary>Runs <c>ip</c> with <paramref name="arguments"/>, <paramref name="input"/> on its standard input.</summary>
    CommandResult RunIp(IReadOnlyList<string> arguments, string? input = null);

    /// <summary>Runs <c>nft</c>; null when nftables is not installed.</summary>
    CommandResult? RunNft(IReadOnlyList<string> arguments, string? input = null);

    /// <summary>Reads a file under /proc/sys, trimmed; null when it does not exist.</summary>
    string? ReadSysctl(string path);

    /// <summary>Writes a file under /proc/sys; throws <see cref="IOException"/> when it cannot.</summary>
    void WriteSysctl(string path, string value);

    /// <summary>The record of what NatGate changed in this network namespace, kept across crashes; null when there is none.</summary>
    string? ReadRecord();

    /// <summary>Replaces the record, atomically.</summary>
    void WriteRecord(string text);

    void DeleteRecord();

    /// <summary>
    /// Claims the routing of this network namespace for the calling process until disposed or
    /// until the process dies; throws <see cref="PlumbingException"/> when another holds it.
    /// </summary>
    IDisposable ClaimRouting();
}

/// <summary>
/// The real system, as seen from the calling thread: child processes, sockets and /proc/sys
/// all follow the network namespace of the thread that calls, not of the process.
/// </summary>
internal sealed class SystemPlumbingHost : IPlumbingHost
{
    private const string ProcSys = "/proc/sys/";

    /// <param name="recordDirectory">Where the record lives (the daemon's control directory, /run/natgate by default: tmpfs, so a reboot, which resets the sysctls too, forgets it).</param>
    public SystemPlumbingHost(string recordDirectory) => RecordDirectory = recordDirectory;

    public string RecordDirectory { get; }

    // SO_NETNS_COOKIE (asm-generic/socket.h): a 64-bit number for the network namespace, never reused while the system runs.
    private const int SocketOptionNetworkNamespaceCookie = 71;
    private const int SocketLevel = 1;

    public CommandResult RunIp(IReadOnlyList<string> arguments, string? input = null)
        => Run("ip", arguments, input) ?? throw new PlumbingException("ip " + string.Join(' ', arguments), "the ip command is missing: install iproute2");

    public CommandResult? RunNft(IReadOnlyList<string> arguments, string? input = null) => Run("nft", arguments, input);

    private static CommandResult? Run(string program, IReadOnlyList<string> arguments, string? input)
        => Command.Run(program, arguments, input, TimeSpan.FromSeconds(60));

    public string? ReadSysctl(string path)
    {
        try
        {
            return File.ReadAllText(ProcSys + path).Trim();
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public void WriteSysctl(string path, string value)
    {
        // No O_TRUNC or O_CREAT: /proc/sys files exist or not, and take one write.
        using var stream = new FileStream(ProcSys + path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        stream.Write(Encoding.ASCII.GetBytes(value + "\n"));
    }

    public string? ReadRecord()
    {
        string path = RecordPath();
        if (!File.Exists(path))
        {
            return null;
        }
        var info = new FileInfo(path);
        if (info.Length > 1 << 20)
        {
            throw new PlumbingException($"{path} is {info.Length} bytes, too large to be NatGate's record; remove it if NatGate is not running");
        }
        return File.ReadAllText(path);
    }

    public void WriteRecord(string text)
    {
        if (OperatingSystem.IsLinux())
        {
            Directory.CreateDirectory(RecordDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        string path = RecordPath();
        string temporary = path + ".new";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }

    public void DeleteRecord() => File.Delete(RecordPath());

    public IDisposable ClaimRouting()
    {
        // An abstract socket: one name per network namespace, freed by the kernel when the
        // process dies however it dies, so a crash leaves no stale claim behind.
        // A claim let go a moment ago may still be held for a few milliseconds by a child process
        // forked (by another thread) before the release and not yet at its exec, which closes
        // it (close-on-exec): so a refusal is believed only after a short while.
        for (int attempt = 0; ; attempt++)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint("\0natgate-routing"));
                return socket;
            }
            catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                socket.Dispose();
                if (attempt >= 10)
                {
                    throw new PlumbingException("Another natgate already manages the routing of this network namespace; stop it first (or run this one with --no-plumbing).");
                }
                Thread.Sleep(20);
            }
        }
    }

    private string RecordPath()
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        byte[] cookie = new byte[8];
        socket.GetRawSocketOption(SocketLevel, SocketOptionNetworkNamespaceCookie, cookie);
        string name = BitConverter.ToUInt64(cookie).ToString(CultureInfo.InvariantCulture);
        return Path.Combine(RecordDirectory, $"routing-netns{name}.json");
    }
}
