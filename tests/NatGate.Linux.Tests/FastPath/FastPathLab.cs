using System.Diagnostics;
using System.Globalization;
using System.Net;
using NatGate.Linux.FastPath;
using NatGate.Linux.Tests.Namespaces;

namespace NatGate.Linux.Tests.FastPath;

/// <summary>
/// Three namespaces of the test's own: an inside host (10.77.0.2, fd00:77::2) on veth in0, a
/// gateway that forwards between gwin and gwout with no NAT of the kernel's, and an outside host
/// (198.51.100.2, 2001:db8:77::2) on out0 that routes the external addresses (203.0.113.7,
/// 2001:db8:e::7) back to the gateway. The fast path is loaded with its maps pinned under a
/// directory named after the gateway namespace, and attached at the gateway's ingress on both
/// sides. Dispose deletes the namespaces (their veths and filters with them), the pinned maps and
/// the lab's files, also when a test fails.
/// </summary>
internal sealed class FastPathLab : IDisposable
{
    public static readonly IPAddress InsideHost = IPAddress.Parse("10.77.0.2");
    public static readonly IPAddress OutsideHost = IPAddress.Parse("198.51.100.2");
    public static readonly IPAddress External = IPAddress.Parse("203.0.113.7");
    public static readonly IPAddress InsideHost6 = IPAddress.Parse("fd00:77::2");
    public static readonly IPAddress OutsideHost6 = IPAddress.Parse("2001:db8:77::2");
    public static readonly IPAddress External6 = IPAddress.Parse("2001:db8:e::7");

    private readonly List<IDisposable> owned = [];

    private FastPathLab(string role)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("natgate-fastpath-").FullName;
        Script = Path.Combine(Directory, "traffic.py");
        File.WriteAllText(Script, TrafficScript.Text);
        Inside = Own(NetworkNamespace.Create(role + "i"));
        Gateway = Own(NetworkNamespace.Create(role + "g"));
        Outside = Own(NetworkNamespace.Create(role + "o"));
        PinDirectory = Path.Combine("/sys/fs/bpf", Gateway.Name);
    }

    public NetworkNamespace Inside { get; }

    public NetworkNamespace Gateway { get; }

    public NetworkNamespace Outside { get; }

    /// <summary>The lab's own files: the traffic script, data, captures.</summary>
    public string Directory { get; }

    public string Script { get; }

    public string PinDirectory { get; }

    public int GatewayInsideIndex { get; private set; }

    public int GatewayOutsideIndex { get; private set; }

    public FastPathProgram? Program { get; set; }

    /// <summary>Builds the lab; with <paramref name="offloads"/> false every veth computes and verifies checksums in software.</summary>
    public static FastPathLab Create(string role, bool offloads = true)
    {
        var lab = new FastPathLab(role);
        try
        {
            lab.Build(offloads);
            lab.Program = FastPathProgram.Load(lab.PinDirectory, 1024);
            lab.AttachBothSides(lab.Program);
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    public void AttachBothSides(FastPathProgram program) => Gateway.Run(() =>
    {
        program.Attach(GatewayInsideIndex);
        program.Attach(GatewayOutsideIndex);
    });

    private void Build(bool offloads)
    {
        // Addresses usable at once: no duplicate address detection for the link-local ones either.
        foreach (NetworkNamespace network in (NetworkNamespace[])[Inside, Gateway, Outside])
        {
            network.Exec("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0");
        }
        Gateway.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
            "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
        Gateway.Ip("link", "add", "gwin", "type", "veth", "peer", "name", "in0", "netns", Inside.Name);
        Gateway.Ip("link", "add", "gwout", "type", "veth", "peer", "name", "out0", "netns", Outside.Name);

        Inside.Ip("addr", "add", "10.77.0.2/24", "dev", "in0");
        Inside.Ip("-6", "addr", "add", "fd00:77::2/64", "dev", "in0", "nodad");
        Gateway.Ip("addr", "add", "10.77.0.1/24", "dev", "gwin");
        Gateway.Ip("-6", "addr", "add", "fd00:77::1/64", "dev", "gwin", "nodad");
        Gateway.Ip("addr", "add", "198.51.100.1/24", "dev", "gwout");
        Gateway.Ip("-6", "addr", "add", "2001:db8:77::1/64", "dev", "gwout", "nodad");
        Outside.Ip("addr", "add", "198.51.100.2/24", "dev", "out0");
        Outside.Ip("-6", "addr", "add", "2001:db8:77::2/64", "dev", "out0", "nodad");
        Inside.Ip("link", "set", "in0", "up");
        Gateway.Ip("link", "set", "gwin", "up");
        Gateway.Ip("link", "set", "gwout", "up");
        Outside.Ip("link", "set", "out0", "up");

        Inside.Ip("route", "add", "default", "via", "10.77.0.1");
        Inside.Ip("-6", "route", "add", "default", "via", "fd00:77::1");
        // The outside host knows the external addresses only, never the inside prefixes: an
        // untranslated packet reaches it, but nothing answers it.
        Outside.Ip("route", "add", "203.0.113.7/32", "via", "198.51.100.1");
        Outside.Ip("-6", "route", "add", "2001:db8:e::/64", "via", "2001:db8:77::1");

        if (!offloads)
        {
            // Software checksums on send, and verified on receive: veth marks a checksummed packet
            // CHECKSUM_UNNECESSARY when its peer has rx checksumming on (drivers/net/veth.c), so
            // rx goes off too, and a wrong checksum is dropped by the receiving host.
            string[] off = ["rx", "off", "tx", "off", "tso", "off", "gso", "off", "gro", "off"];
            Inside.Exec("ethtool", ["-K", "in0", .. off]);
            Gateway.Exec("ethtool", ["-K", "gwin", .. off]);
            Gateway.Exec("ethtool", ["-K", "gwout", .. off]);
            Outside.Exec("ethtool", ["-K", "out0", .. off]);
        }
        GatewayInsideIndex = InterfaceIndex(Gateway, "gwin");
        GatewayOutsideIndex = InterfaceIndex(Gateway, "gwout");
    }

    public static int InterfaceIndex(NetworkNamespace network, string name)
    {
        string line = network.Ip("-o", "link", "show", "dev", name);
        return int.Parse(line.AsSpan(0, line.IndexOf(':', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
    }

    /// <summary>Runs the traffic script in <paramref name="network"/> to its end and returns its output (throws when it fails).</summary>
    public string Run(NetworkNamespace network, params string[] arguments) =>
        Command.Run("ip", ["netns", "exec", network.Name, "python3", Script, .. arguments]);

    /// <summary>Starts the traffic script as a server in <paramref name="network"/> and waits until it listens.</summary>
    public Background Serve(NetworkNamespace network, params string[] arguments) =>
        Own(Background.Start("ip", ["netns", "exec", network.Name, "python3", Script, .. arguments], "ready", standardError: false));

    /// <summary>Starts tcpdump on <paramref name="device"/> in <paramref name="network"/>, ending after <paramref name="count"/> frames.</summary>
    public Capture CaptureOn(NetworkNamespace network, string device, int count, string filter)
    {
        string file = Path.Combine(Directory, $"capture-{Guid.NewGuid():N}.pcap");
        Background tcpdump = Own(Background.Start("ip",
            ["netns", "exec", network.Name, "tcpdump", "-i", device, "-n", "-U", "-w", file, "-c", count.ToString(CultureInfo.InvariantCulture), filter],
            "listening on", standardError: true));
        return new Capture(tcpdump, file);
    }

    /// <summary>The entries of a translation of (protocol, inside → remote) to (external → remote), as the engine writes them.</summary>
    public static (FastPathFlowKey Forward, FastPathFlowValue ForwardValue, FastPathFlowKey Reply, FastPathFlowValue ReplyValue) Translation(
        byte protocol, IPEndPoint inside, IPEndPoint remote, IPEndPoint external)
    {
        bool icmp = protocol is 1 or 58;
        byte[] insideAddress = inside.Address.GetAddressBytes();
        byte[] remoteAddress = remote.Address.GetAddressBytes();
        byte[] externalAddress = external.Address.GetAddressBytes();
        bool ipv4 = insideAddress.Length == 4;

        // Addresses: source and destination of each direction, as words.
        ushort forwardAddresses = Checksums.Delta([.. insideAddress, .. remoteAddress], [.. externalAddress, .. remoteAddress]);
        ushort replyAddresses = Checksums.Delta([.. remoteAddress, .. externalAddress], [.. remoteAddress, .. insideAddress]);
        // Ports, or the echo identifier, which lies in the ICMP header once.
        ushort forwardPorts = icmp ? Checksums.Delta(Word(inside.Port), Word(external.Port))
            : Checksums.Delta([.. Word(inside.Port), .. Word(remote.Port)], [.. Word(external.Port), .. Word(remote.Port)]);
        ushort replyPorts = icmp ? Checksums.Delta(Word(external.Port), Word(inside.Port))
            : Checksums.Delta([.. Word(remote.Port), .. Word(external.Port)], [.. Word(remote.Port), .. Word(inside.Port)]);
        bool pseudoHeader = protocol != 1; // ICMPv4's checksum has no pseudo-header (RFC 792)
        // An echo's identifier stands for both ports of its tuple.
        ushort insidePort = (ushort)inside.Port;
        ushort externalPort = (ushort)external.Port;
        ushort remoteBefore = icmp ? insidePort : (ushort)remote.Port;
        ushort remoteAfter = icmp ? externalPort : (ushort)remote.Port;

        var forward = new FastPathFlowKey(protocol, insideAddress, insidePort, remoteAddress, remoteBefore);
        var forwardValue = new FastPathFlowValue(externalAddress, externalPort, remoteAddress, remoteAfter,
            ipv4 ? forwardAddresses : (ushort)0, pseudoHeader ? forwardAddresses : (ushort)0, forwardPorts,
            FastPathFlowAttributes.Forward | (icmp ? FastPathFlowAttributes.IcmpRequests : FastPathFlowAttributes.None), 7);
        var reply = new FastPathFlowKey(protocol, remoteAddress, remoteAfter, externalAddress, externalPort);
        var replyValue = new FastPathFlowValue(remoteAddress, remoteBefore, insideAddress, insidePort,
            ipv4 ? replyAddresses : (ushort)0, pseudoHeader ? replyAddresses : (ushort)0, replyPorts, FastPathFlowAttributes.None, 7);
        return (forward, forwardValue, reply, replyValue);
    }

    private static byte[] Word(int value) => [(byte)(value >> 8), (byte)value];

    private T Own<T>(T disposable)
        where T : IDisposable
    {
        owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        var failures = new List<Exception>();
        foreach (IDisposable disposable in Enumerable.Reverse(owned))
        {
            try
            {
                disposable.Dispose();
            }
            catch (Exception exception) when (exception is IOException or InvalidOperationException)
            {
                failures.Add(exception);
            }
        }
        try
        {
            Program?.Dispose();
            FastPathProgram.Unpin(PinDirectory);
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException exception)
        {
            failures.Add(exception);
        }
        if (failures.Count > 0)
        {
            throw new AggregateException("the fast path lab was not removed entirely", failures);
        }
    }

    /// <summary>tcpdump writing a file, and the frames it caught.</summary>
    internal sealed class Capture(Background tcpdump, string file)
    {
        /// <summary>Waits for tcpdump to have caught its count of frames, and returns them.</summary>
        public List<byte[]> Frames()
        {
            tcpdump.Wait();
            return Pcap.ReadFrames(file);
        }
    }
}

/// <summary>A program of the test's running in the background; killed (its process tree) on Dispose if still running.</summary>
internal sealed class Background : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly Process process;
    private readonly Task<string> output;
    private readonly Task<string> errors;

    private Background(Process process, Task<string> output, Task<string> errors)
    {
        this.process = process;
        this.output = output;
        this.errors = errors;
    }

    /// <summary>Starts the program and waits for a line of its output (or errors) to contain <paramref name="ready"/>.</summary>
    public static Background Start(string program, string[] arguments, string ready, bool standardError)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        StreamReader watched = standardError ? process.StandardError : process.StandardOutput;
        var seen = new System.Text.StringBuilder();
        Task<string?> line = watched.ReadLineAsync();
        while (true)
        {
            if (!line.Wait(Patience) || line.Result is null)
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} never said \"{ready}\": {seen}{process.StandardError.ReadToEnd()}");
            }
            seen.AppendLine(line.Result);
            if (line.Result.Contains(ready, StringComparison.Ordinal))
            {
                break;
            }
            line = watched.ReadLineAsync();
        }
        Task<string> rest = watched.ReadToEndAsync();
        Task<string> other = (standardError ? process.StandardOutput : process.StandardError).ReadToEndAsync();
        return standardError ? new Background(process, other, rest) : new Background(process, rest, other);
    }

    /// <summary>Waits for the program to end and returns its output; throws when it fails or takes too long.</summary>
    public string Wait()
    {
        if (!process.WaitForExit(Patience))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{process.StartInfo.FileName} {string.Join(' ', process.StartInfo.ArgumentList)} did not end: {errors.Result}");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', process.StartInfo.ArgumentList)} exited {process.ExitCode}: {errors.Result.Trim()}");
        }
        return output.Result;
    }

    public void Dispose()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        process.Dispose();
    }
}
