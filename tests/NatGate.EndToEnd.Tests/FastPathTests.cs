using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The kernel fast path (issue 13): established flows rewritten by the tc program that NatGate
/// programs, the rest through the TUN. Each test checks what the user gets (bytes intact, errors
/// delivered, sessions kept) and, from NatGate's own counters, that the kernel carried the bulk.
/// </summary>
[Collection(RunsAlone.Name)]
public sealed class FastPathTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    private static JsonElement FastPath(GatewayLab lab, bool check = false)
    {
        using JsonDocument document = JsonDocument.Parse(check ? lab.Cli("fastpath", "--check", "--json") : lab.Cli("fastpath", "--json"));
        return document.RootElement.Clone();
    }

    /// <summary>Random bytes in a file of the lab's, and their sha256.</summary>
    private static (byte[] Data, string File, string Sha256) WriteData(GatewayLab lab, int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        string file = Path.Combine(lab.WorkDirectory, "data.bin");
        File.WriteAllBytes(file, data);
        return (data, file, Convert.ToHexStringLower(SHA256.HashData(data)));
    }

    /// <summary>Hash sinks on port 9000 over IPv6: one outside, one on the second inside host.</summary>
    private static (BackgroundProcess Outside, BackgroundProcess Inside) StartSinks6(GatewayLab lab)
    {
        BackgroundProcess outside = lab.Start(lab.Out, "python3", "-c", LabPrograms.HashSink, GatewayLab.Outside6, "9000");
        BackgroundProcess inside = lab.Start(lab.In2, "python3", "-c", LabPrograms.HashSink, GatewayLab.Inside2v6, "9000");
        outside.WaitFor("ready", Long);
        inside.WaitFor("ready", Long);
        return (outside, inside);
    }

    /// <summary>A UDP echo server on the outside host, port 7000.</summary>
    private static BackgroundProcess StartEcho(GatewayLab lab)
    {
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Outside, "7000");
        echo.WaitFor("ready", Long);
        return echo;
    }

    private static JsonElement Statistics(GatewayLab lab)
    {
        using JsonDocument document = JsonDocument.Parse(lab.Cli("stats", "--json"));
        return document.RootElement.Clone();
    }

    /// <summary>The map holds exactly the sessions the engine gave it, each as it decided it.</summary>
    private static void AssertMapEqualsTable(GatewayLab lab, string after)
    {
        JsonElement check = FastPath(lab, check: true).GetProperty("check");
        Assert.True(check.GetProperty("missing").GetInt32() == 0 && check.GetProperty("stale").GetInt32() == 0 && check.GetProperty("differing").GetInt32() == 0,
            $"after {after}, the map differs from the table: {check}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Bulk_tcp_crosses_intact_both_ways_and_the_kernel_carries_it(bool offloads)
    {
        Host.RequireRootAndTools("ip", "python3", "ethtool");
        using var lab = new GatewayLab();
        if (!offloads)
        {
            // No checksum offload, no segmentation, no GRO anywhere in the lab: every packet is a
            // wire-sized one with a complete checksum, which the program's deltas must keep right.
            foreach (string space in new[] { lab.In1, lab.In2, lab.Gateway, lab.Out })
            {
                foreach (string device in Devices(space))
                {
                    GatewayLab.Exec(space, Long, "ethtool", "-K", device, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
                }
            }
        }
        (byte[] data, string file, string expected) = WriteData(lab, 24 << 20, seed: 13);
        (BackgroundProcess outsideSink, BackgroundProcess insideSink, string rules) = lab.StartHashSinksBehindRdr();
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules);
        JsonElement before = FastPath(lab);
        Assert.True(before.GetProperty("enabled").GetBoolean(), before.ToString());

        // Out through the source translation, in through the redirect.
        GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside, "9000", file);
        outsideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);
        GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.FileSender, GatewayLab.External, "9000", file);
        insideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);

        JsonElement after = FastPath(lab);
        JsonElement statistics = Statistics(lab);
        ulong rewrittenBytes = after.GetProperty("rewrittenBytes").GetUInt64();
        long translatedByEngine = statistics.GetProperty("mappedIn").GetInt64() + statistics.GetProperty("mappedOut").GetInt64();
        // Both transfers' data (48 MiB) went through the kernel; the engine saw the handshakes,
        // the closes and the first segments before each session was established.
        Assert.True(rewrittenBytes >= (ulong)(2 * data.Length * 0.9), $"the kernel rewrote {rewrittenBytes} bytes of {2 * data.Length}: {after}");
        Assert.True(after.GetProperty("rewritten").GetUInt64() > 20 * (ulong)translatedByEngine,
            $"the engine translated {translatedByEngine} packets, the kernel {after.GetProperty("rewritten")}: {after}");
        Assert.Equal(0UL, after.GetProperty("rewriteFailed").GetUInt64());
    }

    /// <summary>NAT66 through the kernel too: out through the map, in through the redirect, the data carried by the program.</summary>
    [Fact]
    public void Nat66_bulk_tcp_crosses_intact_both_ways_and_the_kernel_carries_it()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab(ipv6: true);
        (byte[] data, string file, string expected) = WriteData(lab, 16 << 20, seed: 19);
        (BackgroundProcess outsideSink, BackgroundProcess insideSink) = StartSinks6(lab);
        const string External6 = "2001:db8:100::10";
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map wan0 {GatewayLab.InsidePrefix6} -> {External6}/128 portmap tcp/udp auto\n"
            + $"rdr wan0 {External6}/128 port 9000 -> {GatewayLab.Inside2v6} port 9000 tcp\n");
        lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);

        GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside6, "9000", file);
        outsideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);
        GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.FileSender, External6, "9000", file);
        insideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);

        JsonElement after = FastPath(lab);
        Assert.True(after.GetProperty("rewrittenBytes").GetUInt64() >= (ulong)(2 * data.Length * 0.9), $"the kernel did not carry the transfers: {after}");
        AssertMapEqualsTable(lab, "NAT66 transfers");
    }

    /// <summary>
    /// A UDP flow carried by the kernel, then its server goes: the port unreachable that comes back
    /// is an ICMP error, which the program leaves to the engine, and the engine translates it to
    /// the inside host, whose connected socket reports the refusal.
    /// </summary>
    [Fact]
    public void An_icmp_error_about_a_kernel_carried_flow_reaches_the_inside_host()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        BackgroundProcess echo = StartEcho(lab);
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);
        string go = Path.Combine(lab.WorkDirectory, "go");
        BackgroundProcess client = lab.Start(lab.In1, "python3", "-c", """
            import os, socket, sys, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect((sys.argv[1], int(sys.argv[2])))
            s.settimeout(2)
            for i in range(20):
                s.send(b"ping %d" % i)
                s.recv(1000)
            print("echoed", flush=True)
            for _ in range(600):
                if os.path.exists(sys.argv[3]):
                    break
                time.sleep(0.1)
            try:
                s.send(b"after")
                s.recv(1000)
                print("answered", flush=True)
            except ConnectionRefusedError:
                print("refused", flush=True)
            except socket.timeout:
                print("timeout", flush=True)
            """, GatewayLab.Outside, "7000", go);
        client.WaitFor("echoed", Long);
        JsonElement carried = FastPath(lab);
        Assert.True(carried.GetProperty("rewritten").GetUInt64() >= 30, $"the kernel did not carry the echoes: {carried}");
        long errorsBefore = Statistics(lab).GetProperty("icmpErrorsTranslated").GetInt64();

        echo.Kill();
        File.WriteAllText(go, "");
        client.WaitFor("refused", Long);
        Assert.True(Statistics(lab).GetProperty("icmpErrorsTranslated").GetInt64() > errorsBefore);
    }

    /// <summary>
    /// A UDP flow whose packets all go through the kernel keeps its session past the idle
    /// timeout: expiry asks the map when the flow was last seen. One session is made, none expires.
    /// </summary>
    [Fact]
    public void A_udp_flow_busy_only_in_the_kernel_does_not_expire()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        BackgroundProcess echo = StartEcho(lab);
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface,
            "--udp-timeout", "2");
        // 8 seconds of one datagram every 200 ms: four idle timeouts' worth, never idle for one.
        string output = GatewayLab.ExecChecked(lab.In1, "python3", "-c", """
            import socket, sys, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect((sys.argv[1], int(sys.argv[2])))
            s.settimeout(2)
            seen = set()
            for i in range(40):
                s.send(b"tick %d" % i)
                seen.add(s.recv(1000).split(b" from ")[1])
                time.sleep(0.2)
            print("answers from", sorted(seen), flush=True)
            """, GatewayLab.Outside, "7000");
        Assert.Contains(GatewayLab.External, output, StringComparison.Ordinal);
        JsonElement statistics = Statistics(lab);
        Assert.True(statistics.GetProperty("added").GetInt64() == 1 && statistics.GetProperty("expired").GetInt64() == 0,
            $"the flow's session was not kept: {statistics}");
        Assert.True(FastPath(lab).GetProperty("rewritten").GetUInt64() >= 70, "the kernel did not carry the flow");
    }

    /// <summary>The map against the table after each operation that changes the table from outside traffic.</summary>
    [Fact]
    public void The_map_equals_the_table_after_flush_lock_put_restore_and_rule_removal()
    {
        Host.RequireRootAndTools("ip", "python3", "ping");
        using var lab = new GatewayLab();
        BackgroundProcess echo = StartEcho(lab);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32 portmap tcp/udp auto\n"
            + $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32\n");
        lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface, "--state-directory", lab.WorkDirectory);
        void Traffic()
        {
            foreach (string space in new[] { lab.In1, lab.In2 })
            {
                for (int i = 0; i < 3; i++)
                {
                    Assert.Contains("from", GatewayLab.ExecChecked(space, "python3", "-c", LabPrograms.UdpClient, GatewayLab.Outside, "7000", $"hello {i}"), StringComparison.Ordinal);
                }
                GatewayLab.ExecChecked(space, "ping", "-c", "2", "-i", "0.2", "-W", "2", GatewayLab.Outside);
            }
        }
        Traffic();
        Assert.True(FastPath(lab).GetProperty("sessions").GetInt64() >= 8);
        AssertMapEqualsTable(lab, "traffic");

        string state = Path.Combine(lab.WorkDirectory, "sessions.state");
        lab.Cli("state", "save", state);
        lab.Cli("ipnat", "-F");
        Assert.Equal(0, FastPath(lab).GetProperty("sessions").GetInt64());
        AssertMapEqualsTable(lab, "a flush");

        lab.Cli("lock", "on");
        lab.Cli("state", "restore", state);
        lab.Cli("lock", "off");
        Assert.True(FastPath(lab).GetProperty("sessions").GetInt64() >= 8);
        AssertMapEqualsTable(lab, "lock and restore");

        using JsonDocument sessions = JsonDocument.Parse(lab.Cli("sessions", "--json"));
        string removeOne = sessions.RootElement[0].GetProperty("id").GetInt32().ToString(CultureInfo.InvariantCulture);
        GatewayLab.ExecChecked(lab.Gateway, "curl", "-sf", "-X", "DELETE", "--unix-socket", Path.Combine(lab.ControlDirectory, "control.sock"),
            $"http://natgate/v1/sessions/{removeOne}");
        AssertMapEqualsTable(lab, "removing one session");

        lab.Cli("rules", "remove", rules);
        lab.Cli("rules", "purge");
        Assert.Equal(0, FastPath(lab).GetProperty("sessions").GetInt64());
        AssertMapEqualsTable(lab, "rule removal and purge");

        lab.Cli("rules", "load", rules);
        Traffic();
        AssertMapEqualsTable(lab, "traffic again");
    }

    /// <summary>
    /// An iperf3 TCP stream and a paced file transfer, through a hand-over and a restart, then a
    /// kill -9 and a start: the established flows run on in the kernel while no daemon reads the
    /// TUN, each new daemon takes the kernel's sessions over, and both end whole (the file's
    /// sha256 equal; iperf3 3.12's own -F truncates, so the file goes by a second connection),
    /// with no stall of a second or more, and no inside address ever seen outside.
    /// </summary>
    [Fact]
    public void Transfers_run_through_a_hand_over_and_a_kill_without_a_stall()
    {
        Host.RequireRootAndTools("ip", "iperf3", "tcpdump", "python3");
        using var lab = new GatewayLab();
        (byte[] data, string file, string expected) = WriteData(lab, 32 << 20, seed: 17);
        BackgroundProcess server = lab.Start(lab.Out, "iperf3", "-s", "-1", "-B", GatewayLab.Outside, "-p", "5299", "-i", "0.1", "--json");
        BackgroundProcess sink = lab.Start(lab.Out, "python3", "-c", LabPrograms.HashSink, GatewayLab.Outside, "9000");
        sink.WaitFor("ready", Long);
        GatewayLab.WaitListening(lab.Out, "tcp", GatewayLab.Outside, 5299, Long);
        LinkCapture capture = LinkCapture.Start(lab, lab.Out, "eth0");
        string[] arguments = ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface,
            "--state", Path.Combine(lab.WorkDirectory, "natgate.state"), "--state-directory", lab.WorkDirectory];
        BackgroundProcess first = lab.StartNatGate(arguments);

        // iperf3 for ten seconds at 32 Mbit/s; the file (below) 32 MiB in 64 KiB writes every 20 ms.
        BackgroundProcess client = lab.Start(lab.In1, "iperf3", "-c", GatewayLab.Outside, "-p", "5299", "-t", "10", "-b", "32M", "--json");
        Thread.Sleep(2000);
        lab.Cli("handover");
        Assert.Equal(0, first.WaitForExit(Long));
        Assert.Contains("handed over", first.Output, StringComparison.Ordinal);
        BackgroundProcess second = lab.StartNatGate(arguments);
        Assert.Contains("took over the kernel's map", second.Output, StringComparison.Ordinal);
        // The file's connection opens now: its session is in the second daemon's table and the
        // kernel's map, never in a state file, so only the map can give it to the third.
        BackgroundProcess sender = lab.Start(lab.In1, "python3", "-c", """
            import socket, sys, time
            with socket.create_connection((sys.argv[1], int(sys.argv[2]))) as s, open(sys.argv[3], "rb") as f:
                while chunk := f.read(65536):
                    s.sendall(chunk)
                    time.sleep(0.02)
            print("sent", flush=True)
            """, GatewayLab.Outside, "9000", file);
        Thread.Sleep(2000);
        second.Kill();
        Thread.Sleep(500);
        BackgroundProcess third = lab.StartNatGate(arguments);
        Match tookOver = Regex.Match(third.Output, @"took over the kernel's map of an earlier run: (\d+) sessions it carried came into the table, (\d+) refused");
        Assert.True(tookOver.Success && int.Parse(tookOver.Groups[1].Value, CultureInfo.InvariantCulture) >= 1 && tookOver.Groups[2].Value == "0", third.Output);

        Assert.Equal(0, client.WaitForExit(Long));
        Assert.Equal(0, server.WaitForExit(Long));
        sender.WaitFor("sent", Long);
        sink.WaitFor($"received {data.Length} sha256 {expected}", Long);
        // The receiver's 0.1 s intervals: never a second's worth of empty ones in a row.
        using JsonDocument report = JsonDocument.Parse(server.Output[server.Output.IndexOf('{', StringComparison.Ordinal)..]);
        double longestStall = 0, stall = 0;
        foreach (JsonElement interval in report.RootElement.GetProperty("intervals").EnumerateArray())
        {
            JsonElement sum = interval.GetProperty("sum");
            stall = sum.GetProperty("bytes").GetInt64() == 0 ? stall + sum.GetProperty("seconds").GetDouble() : 0;
            longestStall = Math.Max(longestStall, stall);
        }
        Assert.True(longestStall < 1.0, $"the iperf3 stream stalled for {longestStall:F1} s");
        Assert.True(report.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bytes").GetInt64() > 30_000_000, "iperf3 carried too little");
        capture.AssertNone("src net " + GatewayLab.InsidePrefix, "inside sources on the outside link through the restarts");
        Assert.Equal(0, third.Stop(Long));
    }

    /// <summary>--fast-path off: the TUN carries everything, the kernel nothing, and the metrics say so.</summary>
    [Fact]
    public void With_the_fast_path_off_the_tun_carries_everything()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        BackgroundProcess echo = StartEcho(lab);
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface,
            "--fast-path", "off", "--metrics", "127.0.0.1:9477");
        for (int i = 0; i < 5; i++)
        {
            Assert.Contains($"from {GatewayLab.External}", GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.UdpClient, GatewayLab.Outside, "7000", "x"), StringComparison.Ordinal);
        }
        JsonElement view = FastPath(lab);
        Assert.False(view.GetProperty("enabled").GetBoolean());
        Assert.Contains("--fast-path off", view.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Contains("fast path off", daemon.Output, StringComparison.Ordinal);
        Assert.True(Statistics(lab).GetProperty("mappedOut").GetInt64() >= 5);
        string metrics = GatewayLab.ExecChecked(lab.Gateway, "curl", "-s", "http://127.0.0.1:9477/metrics");
        Assert.Contains("natgate_fast_path_enabled 0", metrics, StringComparison.Ordinal);
        Assert.Empty(GatewayLab.ExecChecked(lab.Gateway, "tc", "filter", "show", "dev", GatewayLab.OutsideInterface, "ingress").Trim());
    }

    /// <summary>
    /// Where the program cannot load (here: its object is missing), --fast-path auto runs on the
    /// TUN alone and says so once, and --fast-path on refuses to start with one line and exit 2.
    /// </summary>
    [Fact]
    public void Without_a_loadable_program_auto_falls_back_to_the_tun_and_on_refuses_to_start()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        StartEcho(lab);
        string[] missing = ["NATGATE_FAST_PATH_OBJECT=" + Path.Combine(lab.WorkDirectory, "absent.bpf.o")];
        string[] arguments = ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface];

        BackgroundProcess refused = lab.Start(lab.Gateway, ["env", .. missing, Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet",
            Path.Combine(AppContext.BaseDirectory, "natgate.dll"), "run", "--control", lab.ControlDirectory, .. arguments, "--fast-path", "on"]);
        Assert.Equal(2, refused.WaitForExit(Long));
        Assert.Contains("--fast-path on: the fast path program was not built", refused.Output, StringComparison.Ordinal);

        BackgroundProcess daemon = lab.StartNatGateWith(missing, [.. arguments, "--fast-path", "auto"]);
        Assert.Single(Regex.Matches(daemon.Output, "fast path off: the fast path program was not built"));
        Assert.Contains($"from {GatewayLab.External}", GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.UdpClient, GatewayLab.Outside, "7000", "x"), StringComparison.Ordinal);
        JsonElement view = FastPath(lab);
        Assert.False(view.GetProperty("enabled").GetBoolean());
        Assert.Contains("was not built", view.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.Empty(GatewayLab.ExecChecked(lab.Gateway, "tc", "filter", "show", "dev", GatewayLab.OutsideInterface, "ingress").Trim());
    }

    /// <summary>
    /// NPTv6 (RFC 6296) in the kernel: a bimap's prefix translation is the rules', not a
    /// session's, so the engine writes it into the program's prefix map when the rules load, and
    /// bulk TCP both ways (handshakes and closes included, nothing of it stateful) crosses with no
    /// packet of it through the TUN. The prefix map follows a flush and a reload of the rules.
    /// </summary>
    [Fact]
    public void Nptv6_bulk_tcp_crosses_both_ways_in_the_kernel_and_the_prefix_map_follows_the_rules()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab(ipv6: true);
        (byte[] data, string file, string expected) = WriteData(lab, 24 << 20, seed: 17);
        (BackgroundProcess outsideSink, BackgroundProcess insideSink) = StartSinks6(lab);
        var mapping = new Core.Translation.Npt.Nptv6Mapping(Core.Addressing.IpPrefix.Parse("fd00:77::/48", null), Core.Addressing.IpPrefix.Parse(GatewayLab.ExternalPrefix6, null));
        string in2Outside = mapping.ToExternal(Core.Addressing.Ipv6Address.Parse(GatewayLab.Inside2v6, null)).ToString();
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"bimap wan0 fd00:77::/48 -> {GatewayLab.ExternalPrefix6}\n");
        lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);
        AssertMapEqualsTable(lab, "the start");
        Assert.Equal(2, FastPath(lab, check: true).GetProperty("check").GetProperty("found").GetInt32()); // the mapping's two prefixes

        GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside6, "9000", file);
        outsideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);
        GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.FileSender, in2Outside, "9000", file);
        insideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);

        JsonElement after = FastPath(lab);
        JsonElement statistics = Statistics(lab);
        ulong prefixBytes = after.GetProperty("prefixRewrittenBytes").GetUInt64();
        long translatedByEngine = statistics.GetProperty("mappedIn").GetInt64() + statistics.GetProperty("mappedOut").GetInt64();
        Assert.True(prefixBytes >= (ulong)(2 * data.Length), $"the kernel translated {prefixBytes} bytes of NPTv6 of {2 * data.Length}: {after}");
        Assert.True(after.GetProperty("prefixRewritten").GetUInt64() > 100 * (ulong)(translatedByEngine + 1),
            $"the engine translated {translatedByEngine} packets, the kernel {after.GetProperty("prefixRewritten")}: {after}");
        Assert.Equal(0UL, after.GetProperty("rewritten").GetUInt64()); // no session: NPTv6 is stateless
        Assert.Equal(0UL, after.GetProperty("rewriteFailed").GetUInt64());
        AssertMapEqualsTable(lab, "the transfers");

        lab.Cli("rules", "flush");
        AssertMapEqualsTable(lab, "a flush of the rules");
        Assert.Equal(0, FastPath(lab, check: true).GetProperty("check").GetProperty("found").GetInt32());
        lab.Cli("rules", "load", rules);
        AssertMapEqualsTable(lab, "a reload of the rules");
        Assert.Equal(2, FastPath(lab, check: true).GetProperty("check").GetProperty("found").GetInt32());

        // And the kernel carries it again (the sink's second line of the file).
        GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside6, "9000", file);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Regex.Count(outsideSink.Output, $"received {data.Length} sha256 {expected}") < 2)
        {
            Assert.True(clock.Elapsed < Long, $"the file did not arrive whole a second time: {outsideSink.Output}");
            Thread.Sleep(100);
        }
        Assert.True(FastPath(lab).GetProperty("prefixRewrittenBytes").GetUInt64() >= prefixBytes + (ulong)data.Length);
    }

    private static IEnumerable<string> Devices(string space)
        => GatewayLab.ExecChecked(space, "ip", "-o", "link", "show").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(':')[1].Trim().Split('@')[0])
            .Where(name => name != "lo");
}
