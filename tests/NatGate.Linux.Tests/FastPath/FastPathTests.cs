using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using NatGate.Linux.FastPath;
using NatGate.Linux.Tests.Namespaces;

namespace NatGate.Linux.Tests.FastPath;

/// <summary>
/// End-to-end: the tc program at the gateway's ingress rewrites real traffic between namespaces
/// from entries written through <see cref="FastPathProgram"/>, and leaves alone what it must.
/// The gateway has no NAT of the kernel's, so every translated address seen here is the program's.
/// </summary>
public sealed class FastPathTests
{
    private const byte Tcp = 6;
    private const byte Udp = 17;
    private const byte Icmp = 1;
    private const byte Icmpv6 = 58;

    /// <summary>Linux's default TTL and hop limit (net.ipv4.ip_default_ttl, net.ipv6.conf.*.hop_limit), which the test hosts keep.</summary>
    private const int DefaultHopLimit = 64;

    private static IPAddress InsideOf(int family) => family == 4 ? FastPathLab.InsideHost : FastPathLab.InsideHost6;

    private static IPAddress OutsideOf(int family) => family == 4 ? FastPathLab.OutsideHost : FastPathLab.OutsideHost6;

    private static IPAddress ExternalOf(int family) => family == 4 ? FastPathLab.External : FastPathLab.External6;

    private static string Text(IPAddress address) => address.ToString();

    /// <summary>CLOCK_MONOTONIC in nanoseconds, the clock of bpf_ktime_get_ns (Stopwatch reads it on Linux).</summary>
    private static ulong MonotonicNanoseconds() =>
        (ulong)(Stopwatch.GetTimestamp() * (1_000_000_000.0 / Stopwatch.Frequency));

    [Theory]
    [InlineData(4, true)]
    [InlineData(4, false)]
    [InlineData(6, true)]
    [InlineData(6, false)]
    public void Udp_is_translated_both_ways_and_counted(int family, bool offloads)
    {
        Requires.Root();
        FastPathRequires.Tools(offloads ? ["python3", "tcpdump"] : ["python3", "tcpdump", "ethtool"]);
        using FastPathLab lab = FastPathLab.Create($"u{family}{(offloads ? "on" : "off")}", offloads);
        FastPathProgram program = lab.Program!;
        IPAddress inside = InsideOf(family), outside = OutsideOf(family), external = ExternalOf(family);
        var entries = FastPathLab.Translation(Udp, new IPEndPoint(inside, 40000), new IPEndPoint(outside, 5000), new IPEndPoint(external, 61000));
        Assert.True(program.TryAdd(entries.Forward, entries.ForwardValue));
        Assert.True(program.TryAdd(entries.Reply, entries.ReplyValue));

        const int Datagrams = 5, Payload = 300;
        FastPathLab.Capture leaving = lab.CaptureOn(lab.Outside, "out0", Datagrams, $"udp and src host {Text(external)}");
        FastPathLab.Capture answers = lab.CaptureOn(lab.Inside, "in0", Datagrams, $"udp and dst host {Text(inside)}");
        Background server = lab.Serve(lab.Outside, "udp-server", Text(outside), "5000", $"{Datagrams}");
        ulong before = MonotonicNanoseconds();
        string client = lab.Run(lab.Inside, "udp-client", Text(inside), "40000", Text(outside), "5000", $"{Datagrams}", $"{Payload}");
        ulong after = MonotonicNanoseconds();
        string seen = server.Wait();

        // The outside saw the external address and port; the inside got every answer back.
        Assert.Equal(Enumerable.Repeat($"from {Text(external)} 61000 {Payload}", Datagrams), Lines(seen));
        Assert.Equal(Enumerable.Repeat($"answer {Text(outside)} 5000 {Payload}", Datagrams), Lines(client));
        // Checksums as the wire has them: complete, or (offloads on) the pseudo-header sum a NIC completes.
        foreach (byte[] frame in leaving.Frames().Concat(answers.Frames()))
        {
            AssertChecksum(frame, offloads);
            if (family == 4)
            {
                Assert.True(Checksums.Ipv4HeaderVerifies(frame), "the IPv4 header checksum is wrong");
            }
            // Forwarded once: by the program (bpf_redirect) or by the kernel, never both or neither.
            Assert.Equal(DefaultHopLimit - 1, frame[family == 4 ? 14 + 8 : 14 + 7]);
        }

        ulong length = (ulong)((family == 4 ? 20 : 40) + 8 + Payload);
        foreach (FastPathFlowKey key in (FastPathFlowKey[])[entries.Forward, entries.Reply])
        {
            Assert.True(program.TryGet(key, out FastPathFlowValue value));
            Assert.Equal((ulong)Datagrams, value.Packets);
            Assert.Equal(Datagrams * length, value.Bytes);
            Assert.InRange(value.LastSeenNanoseconds, before, after);
            Assert.Equal(7u, value.Session);
        }
        FastPathStatistics statistics = program.ReadStatistics();
        Assert.Equal(2UL * Datagrams, statistics.Rewritten);
        Assert.Equal(2UL * Datagrams * length, statistics.RewrittenBytes);
        Assert.Equal(0UL, statistics.RewriteFailed);
        // Once the neighbours are known (after at most the first packet each way), the program
        // hands the rewritten packets to their egress device itself.
        Assert.InRange(statistics.Forwarded, 2UL * Datagrams - 2, 2UL * Datagrams);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(6)]
    public void Icmp_echo_is_translated_with_its_identifier(int family)
    {
        Requires.Root();
        FastPathRequires.Tools("ping", "tcpdump");
        using FastPathLab lab = FastPathLab.Create($"i{family}");
        FastPathProgram program = lab.Program!;
        IPAddress inside = InsideOf(family), outside = OutsideOf(family), external = ExternalOf(family);
        byte protocol = family == 4 ? Icmp : Icmpv6;
        var entries = FastPathLab.Translation(protocol, new IPEndPoint(inside, 4242), new IPEndPoint(outside, 0), new IPEndPoint(external, 5353));
        Assert.True(program.TryAdd(entries.Forward, entries.ForwardValue));
        Assert.True(program.TryAdd(entries.Reply, entries.ReplyValue));

        FastPathLab.Capture leaving = lab.CaptureOn(lab.Outside, "out0", 3, $"{(family == 4 ? "icmp" : "icmp6")} and src host {Text(external)}");
        string ping = lab.Inside.Exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "-e", "4242", Text(outside));

        // ping matches replies by its identifier: all three came back with 4242 restored.
        Assert.Contains("3 received", ping, StringComparison.Ordinal);
        List<byte[]> frames = leaving.Frames();
        Assert.Equal(3, frames.Count);
        int transport = 14 + (family == 4 ? 20 : 40);
        foreach (byte[] frame in frames)
        {
            Assert.Equal(family == 4 ? 8 : 128, frame[transport]); // echo requests
            Assert.Equal(5353, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(transport + 4)));
            Assert.Equal(Checksums.Verdict.Complete, Checksums.Transport(frame));
        }
        Assert.True(program.TryGet(entries.Forward, out FastPathFlowValue forward));
        Assert.True(program.TryGet(entries.Reply, out FastPathFlowValue reply));
        Assert.Equal(3UL, forward.Packets);
        Assert.Equal(3UL, reply.Packets);

        // A request that matches the replies' entry is the other kind: left to the engine, not rewritten.
        Assert.Throws<InvalidOperationException>(() => lab.Outside.Exec("ping", "-c", "1", "-W", "1", "-e", "5353", Text(external)));
        Assert.True(program.TryGet(entries.Reply, out reply));
        Assert.Equal(3UL, reply.Packets);
        Assert.Equal(6UL, program.ReadStatistics().Rewritten);
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(4, false)]
    [InlineData(6, true)]
    [InlineData(6, false)]
    public void Tcp_bulk_data_arrives_intact_both_ways(int family, bool offloads)
    {
        Requires.Root();
        FastPathRequires.Tools(offloads ? ["python3", "nft"] : ["python3", "nft", "ethtool"]);
        using FastPathLab lab = FastPathLab.Create($"t{family}{(offloads ? "on" : "off")}", offloads);
        FastPathProgram program = lab.Program!;
        IPAddress inside = InsideOf(family), outside = OutsideOf(family), external = ExternalOf(family);
        var entries = FastPathLab.Translation(Tcp, new IPEndPoint(inside, 40001), new IPEndPoint(outside, 5001), new IPEndPoint(external, 61001));
        Assert.True(program.TryAdd(entries.Forward, entries.ForwardValue));
        Assert.True(program.TryAdd(entries.Reply, entries.ReplyValue));
        StandInForTheEngine(lab, family, inside, 40001, external, 61001);

        const int Size = 4 << 20;
        string up = Path.Combine(lab.Directory, "up.bin"), down = Path.Combine(lab.Directory, "down.bin");
        File.WriteAllBytes(up, RandomNumberGenerator.GetBytes(Size));
        File.WriteAllBytes(down, RandomNumberGenerator.GetBytes(Size));
        FastPathLab.Capture leaving = lab.CaptureOn(lab.Outside, "out0", 40, $"tcp and src host {Text(external)}");
        Background server = lab.Serve(lab.Outside, "tcp-server", Text(outside), "5001", down);
        string client = lab.Run(lab.Inside, "tcp-client", Text(inside), "40001", Text(outside), "5001", up);
        string seen = server.Wait();

        Assert.Equal([$"peer {Text(external)} 61001", $"received {Sha256(up)}"], Lines(seen));
        Assert.Equal([$"received {Sha256(down)}"], Lines(client));
        // With offloads on, veths never verify a partial checksum, so the wire is checked here: the
        // segments the program rewrote carry the pseudo-header sum of their new addresses (which a
        // NIC or the GSO code completes) or, offloads off, a complete checksum.
        int rewritten = 0;
        foreach (byte[] frame in leaving.Frames())
        {
            int flags = frame[14 + (family == 4 ? 20 : 40) + 13];
            if ((flags & 0x07) == 0)
            {
                rewritten++;
                AssertChecksum(frame, offloads);
            }
        }
        Assert.InRange(rewritten, 30, 40);
        // The program carried the bulk: all but the segments that also carry SYN or FIN (with GSO,
        // the last one may be a 64 KiB super-packet).
        Assert.True(program.TryGet(entries.Forward, out FastPathFlowValue forward));
        Assert.True(program.TryGet(entries.Reply, out FastPathFlowValue reply));
        Assert.InRange(forward.Bytes, (ulong)Size - (128 << 10), (ulong)Size * 2);
        Assert.InRange(reply.Bytes, (ulong)Size - (128 << 10), (ulong)Size * 2);
        FastPathStatistics statistics = program.ReadStatistics();
        Assert.Equal(forward.Packets + reply.Packets, statistics.Rewritten);
        Assert.InRange(statistics.TcpControl, 3UL, 100UL); // SYN, SYN-ACK, the FINs: the engine's
        Assert.Equal(0UL, statistics.RewriteFailed);
    }

    [Fact]
    public void A_syn_and_a_packet_without_an_entry_pass_untouched()
    {
        Requires.Root();
        FastPathRequires.Tools("python3", "tcpdump");
        using FastPathLab lab = FastPathLab.Create("pass");
        FastPathProgram program = lab.Program!;
        IPAddress inside = FastPathLab.InsideHost, outside = FastPathLab.OutsideHost, external = FastPathLab.External;
        var tcp = FastPathLab.Translation(Tcp, new IPEndPoint(inside, 40012), new IPEndPoint(outside, 5012), new IPEndPoint(external, 61012));
        Assert.True(program.TryAdd(tcp.Forward, tcp.ForwardValue));

        // A datagram with no entry is forwarded as it is: the outside sees the inside address.
        Background server = lab.Serve(lab.Outside, "udp-server", Text(outside), "5011", "1");
        lab.Run(lab.Inside, "udp-client", Text(inside), "40011", Text(outside), "5011", "1", "100", "noreply");
        Assert.Equal($"from {Text(inside)} 40011 100", Lines(server.Wait())[0]);

        // Fragments are the engine's even when their flow has an entry: only the first has the ports.
        var udp = FastPathLab.Translation(Udp, new IPEndPoint(inside, 40013), new IPEndPoint(outside, 5013), new IPEndPoint(external, 61013));
        Assert.True(program.TryAdd(udp.Forward, udp.ForwardValue));
        Background fragments = lab.Serve(lab.Outside, "udp-server", Text(outside), "5013", "1");
        lab.Run(lab.Inside, "udp-client", Text(inside), "40013", Text(outside), "5013", "1", "3000", "noreply");
        Assert.Equal($"from {Text(inside)} 40013 3000", Lines(fragments.Wait())[0]);
        Assert.Equal(3UL, program.ReadStatistics().Fragments); // 3,028 bytes of IP in 1,500-byte frames

        // A SYN of a flow that has an entry is still the engine's: it leaves untranslated.
        FastPathLab.Capture syn = lab.CaptureOn(lab.Outside, "out0", 1, "tcp and dst port 5012");
        lab.Run(lab.Inside, "tcp-client", Text(inside), "40012", Text(outside), "5012", Path.Combine(lab.Directory, "none"), "tryonly");
        byte[] frame = Assert.Single(syn.Frames());
        Assert.Equal(inside.GetAddressBytes(), frame.AsSpan(14 + 12, 4).ToArray());
        Assert.Equal(40012, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(14 + 20)));
        Assert.Equal(0x02, frame[14 + 20 + 13] & 0x17); // SYN alone

        Assert.True(program.TryGet(tcp.Forward, out FastPathFlowValue value));
        Assert.Equal(0UL, value.Packets);
        Assert.True(program.TryGet(udp.Forward, out value));
        Assert.Equal(0UL, value.Packets);
        FastPathStatistics statistics = program.ReadStatistics();
        Assert.Equal(0UL, statistics.Rewritten);
        Assert.InRange(statistics.Missed, 1UL, 100UL);
        Assert.InRange(statistics.TcpControl, 1UL, 100UL);
    }

    [Fact]
    public void Pinned_maps_and_filters_outlive_the_loader_and_a_second_load_adopts_them()
    {
        Requires.Root();
        FastPathRequires.Tools("python3");
        using FastPathLab lab = FastPathLab.Create("adopt");
        FastPathProgram first = lab.Program!;
        Assert.False(first.AdoptedMaps);
        IPAddress inside = FastPathLab.InsideHost, outside = FastPathLab.OutsideHost, external = FastPathLab.External;
        var entries = FastPathLab.Translation(Udp, new IPEndPoint(inside, 40020), new IPEndPoint(outside, 5020), new IPEndPoint(external, 61020));
        Assert.True(first.TryAdd(entries.Forward, entries.ForwardValue));
        Assert.True(first.TryAdd(entries.Reply, entries.ReplyValue));
        uint firstProgram = first.ProgramId;
        Exchange(lab, 40020, 5020, "from 203.0.113.7 61020 64");

        // No process holds anything now: the filters keep the program, bpffs the maps.
        first.Dispose();
        lab.Program = null;
        Exchange(lab, 40020, 5020, "from 203.0.113.7 61020 64");

        FastPathProgram second = FastPathProgram.Load(lab.PinDirectory, 4096);
        lab.Program = second;
        Assert.True(second.AdoptedMaps);
        Assert.Equal(1024, second.MaximumEntries); // the pinned map keeps its size
        Assert.True(second.TryGet(entries.Forward, out FastPathFlowValue carried));
        Assert.Equal(4UL, carried.Packets);
        Assert.Equal([entries.Reply, entries.Forward], second.EnumerateEntries().Select(entry => entry.Key).OrderBy(key => key.SourcePort));

        lab.AttachBothSides(second);
        Assert.NotEqual(firstProgram, second.ProgramId);
        lab.Gateway.Run(() =>
        {
            Assert.Equal(second.ProgramId, FastPathProgram.AttachedProgramId(lab.GatewayInsideIndex));
            Assert.Equal(second.ProgramId, FastPathProgram.AttachedProgramId(lab.GatewayOutsideIndex));
        });
        // Replaced in place: one filter, not two.
        Assert.Single(Lines(lab.Gateway.Exec("tc", "filter", "show", "dev", "gwin", "ingress")), line => line.Contains("handle 0x4e47", StringComparison.Ordinal));
        Exchange(lab, 40020, 5020, "from 203.0.113.7 61020 64");
        Assert.True(second.TryGet(entries.Forward, out carried));
        Assert.Equal(6UL, carried.Packets);

        // Full teardown: filters gone, maps unpinned, the directory removed.
        lab.Gateway.Run(() =>
        {
            second.Detach(lab.GatewayInsideIndex);
            second.Detach(lab.GatewayOutsideIndex);
            Assert.Null(FastPathProgram.AttachedProgramId(lab.GatewayInsideIndex));
        });
        second.Dispose();
        lab.Program = null;
        FastPathProgram.Unpin(lab.PinDirectory);
        Assert.False(Directory.Exists(lab.PinDirectory));
        Assert.Empty(lab.Gateway.Exec("tc", "filter", "show", "dev", "gwin", "ingress").Trim());
        Assert.Empty(lab.Gateway.Exec("tc", "filter", "show", "dev", "gwout", "ingress").Trim());
    }

    [Fact]
    public void A_full_map_refuses_a_new_entry_and_keeps_the_others()
    {
        Requires.Root();
        // Nested, as the daemon's /sys/fs/bpf/natgate/<instance>: neither directory exists yet.
        string parent = Path.Combine("/sys/fs/bpf", "ngt-full-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)));
        string pin = Path.Combine(parent, "instance");
        try
        {
            using FastPathProgram program = FastPathProgram.Load(pin, 2);
            var entries = FastPathLab.Translation(Udp, new IPEndPoint(FastPathLab.InsideHost, 1), new IPEndPoint(FastPathLab.OutsideHost, 2), new IPEndPoint(FastPathLab.External, 3));
            var more = FastPathLab.Translation(Udp, new IPEndPoint(FastPathLab.InsideHost, 4), new IPEndPoint(FastPathLab.OutsideHost, 5), new IPEndPoint(FastPathLab.External, 6));
            Assert.True(program.TryAdd(entries.Forward, entries.ForwardValue));
            Assert.True(program.TryAdd(entries.Reply, entries.ReplyValue));
            Assert.False(program.TryAdd(more.Forward, more.ForwardValue));
            Assert.True(program.TryAdd(entries.Forward, entries.ForwardValue)); // replacing is no new entry
            Assert.True(program.Remove(entries.Reply));
            Assert.False(program.Remove(entries.Reply));
            Assert.True(program.TryAdd(more.Forward, more.ForwardValue));
            Assert.False(program.TryGet(entries.Reply, out _));
            program.Dispose();
            // The daemon's parent (/sys/fs/bpf/natgate) goes with its last instance: nothing is left in bpffs.
            FastPathProgram.Unpin(pin);
            Assert.False(Directory.Exists(parent));
        }
        finally
        {
            FastPathProgram.Unpin(pin);
            if (Directory.Exists(parent))
            {
                Directory.Delete(parent);
            }
        }
    }

    [Fact]
    public void Failures_say_what_failed_why_and_what_libbpf_said()
    {
        Requires.Root();
        string pin = Path.Combine("/sys/fs/bpf", "ngt-bad-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)));
        string directory = Directory.CreateTempSubdirectory("natgate-fastpath-").FullName;
        try
        {
            // Not an ELF object: libbpf refuses it and says why, through the print callback.
            string garbage = Path.Combine(directory, "natgate_fastpath.bpf.o");
            File.WriteAllText(garbage, "not an object\n");
            FastPathException open = Assert.Throws<FastPathException>(() => FastPathProgram.Load(pin, 1024, garbage));
            Assert.StartsWith($"opening {garbage} failed: LIBBPF_ERRNO__FORMAT (not a BPF ELF object); libbpf said: libbpf: ", open.Message, StringComparison.Ordinal);
            Assert.Contains("is not a proper ELF object", open.Message, StringComparison.Ordinal);

            // An interface that is not in the namespace.
            using FastPathProgram program = FastPathProgram.Load(pin, 16);
            using NetworkNamespace empty = NetworkNamespace.Create("fpbad");
            FastPathException attach = Assert.Throws<FastPathException>(() => empty.Run(() => program.Attach(99999)));
            Assert.StartsWith("creating the clsact qdisc on interface 99999 failed: ENODEV (no such interface in this network namespace)", attach.Message, StringComparison.Ordinal);
        }
        finally
        {
            FastPathProgram.Unpin(pin);
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Loading_a_program_that_was_not_built_says_so()
    {
        FastPathException failure = Assert.Throws<FastPathException>(() =>
            FastPathProgram.Load("/sys/fs/bpf/ngt-never", 1024, "/nonexistent/natgate_fastpath.bpf.o"));
        Assert.StartsWith("the fast path program was not built: /nonexistent/natgate_fastpath.bpf.o is missing", failure.Message, StringComparison.Ordinal);
    }

    /// <summary>Two datagrams of 64 bytes from the inside host, each answered; the outside's first line must be <paramref name="expected"/>.</summary>
    private static void Exchange(FastPathLab lab, int insidePort, int outsidePort, string expected)
    {
        Background server = lab.Serve(lab.Outside, "udp-server", "198.51.100.2", $"{outsidePort}", "2");
        lab.Run(lab.Inside, "udp-client", "10.77.0.2", $"{insidePort}", "198.51.100.2", $"{outsidePort}", "2", "64");
        Assert.Equal([expected, expected], Lines(server.Wait()));
    }

    /// <summary>
    /// The engine's part for TCP's control segments, which the program leaves to it: a stateless
    /// rewrite of SYN, FIN and RST in the gateway's prerouting (payload statements, no NAT and no
    /// conntrack), so the connection can open and close. Data segments are the program's alone.
    /// </summary>
    private static void StandInForTheEngine(FastPathLab lab, int family, IPAddress inside, int insidePort, IPAddress external, int externalPort)
    {
        string ip = family == 4 ? "ip" : "ip6";
        string rules = $$"""
            table inet natgate_test_slow_path {
              chain prerouting {
                type filter hook prerouting priority -300;
                {{ip}} saddr {{inside}} tcp sport {{insidePort}} tcp flags & (fin|syn|rst) != 0 {{ip}} saddr set {{external}} tcp sport set {{externalPort}}
                {{ip}} daddr {{external}} tcp dport {{externalPort}} tcp flags & (fin|syn|rst) != 0 {{ip}} daddr set {{inside}} tcp dport set {{insidePort}}
              }
            }
            """;
        string file = Path.Combine(lab.Directory, "slow-path.nft");
        File.WriteAllText(file, rules);
        lab.Gateway.Exec("nft", "-f", file);
    }

    /// <summary>A complete transport checksum, or with offloads on the pseudo-header sum of a CHECKSUM_PARTIAL packet.</summary>
    private static void AssertChecksum(byte[] frame, bool offloads)
    {
        Checksums.Verdict verdict = Checksums.Transport(frame);
        Assert.True(verdict == Checksums.Verdict.Complete || (offloads && verdict == Checksums.Verdict.PartialPseudoHeader),
            $"the transport checksum is {verdict} (offloads {(offloads ? "on" : "off")})");
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
