using System.Globalization;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Issue 10, "What was seen": each case with real packets in the lab. Every test that sends from
/// the inside captures the outside link and asserts that no packet with an inside source ever
/// appears there; every spoofing test asserts what reaches the inside.
/// </summary>
public sealed class SafetyTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);
    private const string InsideSource = "src net " + GatewayLab.InsidePrefix;
    private static readonly string Dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
    private static readonly string Natgate = Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    private static string[] CommandLineNat => ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface];

    private static void SendOtherProtocols(GatewayLab lab)
    {
        foreach (string protocol in (string[])["proto:47", "proto:50", "proto:253"])
        {
            RawPackets.Send(lab.In1, GatewayLab.Inside1, GatewayLab.Outside, protocol, 20);
        }
    }

    private static long DropsOf(GatewayLab lab, string reason)
    {
        string json = lab.Cli("stats", "--json");
        using var document = System.Text.Json.JsonDocument.Parse(json);
        return document.RootElement.GetProperty("drops").GetProperty(reason).GetInt64();
    }

    [Fact]
    public void Gre_esp_and_other_protocols_never_leave_with_an_inside_source_from_the_command_line_nat_or_a_netnat_instance()
    {
        Host.RequireRootAndTools("ip", "tcpdump", "python3");
        using var lab = new GatewayLab();
        LinkCapture capture = LinkCapture.Start(lab, lab.Out, "eth0");
        lab.StartNatGate(CommandLineNat);
        SendOtherProtocols(lab);
        Assert.Equal(60, DropsOf(lab, "ProtocolNotTranslated"));

        // The same through a NetNat instance, WinNAT's model: TCP, UDP and ICMP only.
        lab.Cli("rules", "flush");
        lab.Cli("nat", "add", "--name", "containers", "--internal-prefix", GatewayLab.InsidePrefix, "--external-address", GatewayLab.External);
        SendOtherProtocols(lab);
        Assert.Equal(120, DropsOf(lab, "ProtocolNotTranslated"));
        // Translated traffic still flows, so the capture saw the link.
        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "1", "-W", "2", GatewayLab.Outside);

        capture.AssertNone(InsideSource, "inside sources on the outside link");
    }

    [Fact]
    public void A_spoofed_inside_source_from_outside_reaches_no_inside_host_opens_no_session_and_is_counted()
    {
        Host.RequireRootAndTools("ip", "tcpdump", "python3", "curl");
        using var lab = new GatewayLab();
        lab.StartNatGate([.. CommandLineNat, "--metrics", "127.0.0.1:9469"]);
        // The attacker routes the inside prefix and a far network through the gateway.
        GatewayLab.Ip(lab.Out, "route", "add", GatewayLab.InsidePrefix, "via", GatewayLab.GatewayOutside);
        GatewayLab.Ip(lab.Out, "route", "add", "203.0.113.0/24", "via", GatewayLab.GatewayOutside);
        LinkCapture inside = LinkCapture.Start(lab, lab.In2, "eth0");

        // Forged inside host 1: to inside host 2 directly, to a far address (which would open a
        // session and a mapping), and to the external address.
        RawPackets.Send(lab.Out, GatewayLab.Inside1, GatewayLab.Inside2, "udp:5000:5000", 50);
        RawPackets.Send(lab.Out, GatewayLab.Inside1, "203.0.113.50", "udp:5000:6000", 50);
        RawPackets.Send(lab.Out, GatewayLab.Inside1, GatewayLab.External, "udp:5000:6000", 50);

        IReadOnlyList<string> arrived = inside.Stop($"src host {GatewayLab.Inside1} and udp");
        Assert.True(arrived.Count == 0, "forged packets reached inside host 2:\n" + string.Join('\n', arrived));
        Assert.DoesNotContain(GatewayLab.Inside1, lab.Cli("sessions"), StringComparison.Ordinal);
        string metrics = GatewayLab.ExecChecked(lab.Gateway, "curl", "-sS", "http://127.0.0.1:9469/metrics");
        string line = metrics.Split('\n').Single(text => text.StartsWith("natgate_spoofed_packets_total ", StringComparison.Ordinal));
        Assert.Equal(150, double.Parse(line.Split(' ')[1], CultureInfo.InvariantCulture));
    }

    [Fact]
    public void An_outside_echo_request_with_an_inside_hosts_identifier_is_not_delivered()
    {
        Host.RequireRootAndTools("ip", "tcpdump", "python3", "ping");
        using var lab = new GatewayLab();
        lab.StartNatGate(CommandLineNat);
        // Inside host 1 pings out with a known identifier; the session lives for 60 s.
        RawPackets.Send(lab.In1, GatewayLab.Inside1, GatewayLab.Outside, "echo:4660", 1);
        Thread.Sleep(200);
        LinkCapture inside = LinkCapture.Start(lab, lab.In1, "eth0");
        // The outside asks the external address with that identifier (4660, preserved).
        RawPackets.Send(lab.Out, GatewayLab.Outside, GatewayLab.External, "echo:4660", 5);
        IReadOnlyList<string> arrived = inside.Stop("icmp[icmptype] == icmp-echo");
        Assert.True(arrived.Count == 0, "an outside echo request reached the inside host:\n" + string.Join('\n', arrived));
        Assert.True(DropsOf(lab, "NoSession") >= 5);
    }

    [Fact]
    public void The_gateways_own_services_answer_the_inside_and_its_own_traffic_leaves_untranslated()
    {
        Host.RequireRootAndTools("ip", "ping", "curl", "python3");
        using var lab = new GatewayLab();
        (BackgroundProcess ownServer, string ownPage) = lab.ServePage(lab.Gateway, GatewayLab.GatewayInside, 8080, "served by the gateway itself\n");
        (BackgroundProcess outsideServer, string outsidePage) = lab.ServePage(lab.Out, GatewayLab.Outside, 8081, "outside page\n");
        (_, string publishedPage) = lab.ServePage(lab.In2, GatewayLab.Inside2, 8090, "published from inside\n");
        string rules = Path.Combine(lab.WorkDirectory, "publish.conf");
        File.WriteAllText(rules, $"rdr {GatewayLab.OutsideInterface} {GatewayLab.External}/32 port 8090 -> {GatewayLab.Inside2} port 8090 tcp\n");
        lab.StartNatGate([.. CommandLineNat, "--rules", rules]);

        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "2", "-W", "2", GatewayLab.GatewayInside);
        Assert.Equal("served by the gateway itself\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "5", ownPage));
        ownServer.WaitFor($"client {GatewayLab.Inside1}:", Short);
        // UDP too: the gateway answers a DNS-like query on its inside address.
        BackgroundProcess echo = lab.Start(lab.Gateway, "python3", "-c",
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('10.77.0.1',5353))\nprint('ready',flush=True)\nd,a=s.recvfrom(100)\ns.sendto(d,a)");
        echo.WaitFor("ready", Short);
        string reply = GatewayLab.ExecChecked(lab.In1, "python3", "-c",
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(3)\ns.sendto(b'ask',('10.77.0.1',5353))\nprint(s.recv(100).decode())");
        Assert.Equal("ask", reply.Trim());

        // The gateway's own connection outward keeps its own address.
        GatewayLab.ExecChecked(lab.Gateway, "curl", "-sS", "-m", "5", outsidePage);
        outsideServer.WaitFor($"client {GatewayLab.GatewayOutside}:", Short);
        Assert.DoesNotContain($"client {GatewayLab.External}:", outsideServer.Output, StringComparison.Ordinal);

        // And it reaches its own published port, as an outside client would.
        string published = publishedPage.Replace($"{GatewayLab.Inside2}:", $"{GatewayLab.External}:", StringComparison.Ordinal);
        Assert.Equal("published from inside\n", GatewayLab.ExecChecked(lab.Gateway, "curl", "-sS", "-m", "5", published));
    }

    [Fact]
    public void A_live_nat_add_and_rules_load_install_their_routing_before_they_report_done()
    {
        Host.RequireRootAndTools("ip", "tcpdump", "curl", "python3");
        using var lab = new GatewayLab();
        (BackgroundProcess server, string page) = lab.ServePage(lab.Out, GatewayLab.Outside, 8080, "outside page\n");
        // At start only inside host 1 is translated.
        lab.StartNatGate("--inside", GatewayLab.Inside1 + "/32", "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);
        GatewayLab.Ip(lab.In2, "addr", "add", "10.77.0.4/24", "dev", "eth0");
        LinkCapture capture = LinkCapture.Start(lab, lab.Out, "eth0");

        // A NAT instance for inside host 2, on a new external address.
        lab.Cli("nat", "add", "--name", "second", "--internal-prefix", GatewayLab.Inside2 + "/32", "--external-address", "198.51.100.11");
        GatewayLab.ExecChecked(lab.In2, "curl", "-sS", "-m", "5", "--interface", GatewayLab.Inside2, page);
        server.WaitFor("client 198.51.100.11:", Short);

        // An ipnat rule for another inside address, on a third external address.
        string rules = Path.Combine(lab.WorkDirectory, "more.conf");
        File.WriteAllText(rules, $"map {GatewayLab.OutsideInterface} 10.77.0.4/32 -> 198.51.100.12/32\n");
        lab.Cli("rules", "load", rules);
        GatewayLab.ExecChecked(lab.In2, "curl", "-sS", "-m", "5", "--interface", "10.77.0.4", page);
        server.WaitFor("client 198.51.100.12:", Short);

        capture.AssertNone(InsideSource, "inside sources on the outside link");
    }

    [Fact]
    public void One_inside_host_cannot_lock_out_the_others_and_refusals_are_answered_at_a_bounded_rate()
    {
        Host.RequireRootAndTools("ip", "tcpdump", "curl", "python3");
        using var lab = new GatewayLab();
        (_, string page) = lab.ServePage(lab.Out, GatewayLab.Outside, 8080, "still reachable\n");
        lab.StartNatGate([.. CommandLineNat, "--max-sessions-per-host", "200"]);
        LinkCapture refusals = LinkCapture.Start(lab, lab.In1, "eth0");

        // Inside host 1 opens 2,000 UDP flows from 2,000 ports, in about two seconds.
        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "1", "-W", "2", GatewayLab.Outside);
        var sending = System.Diagnostics.Stopwatch.StartNew();
        GatewayLab.ExecChecked(lab.In1, "python3", "-c",
            "import socket, time\nfor port in range(20000, 22000):\n s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n s.bind(('10.77.0.2',port))\n s.sendto(b'x',('198.51.100.2',9))\n s.close()\n time.sleep(0.001)");
        sending.Stop();
        Thread.Sleep(500);
        // The host holds its 200 (the ping's ICMP session among them); the rest were refused.
        int held = lab.Cli("sessions", "--address", GatewayLab.Inside1, "--json").Split($"\"internalSourceAddress\":\"{GatewayLab.Inside1}\"").Length - 1;
        Assert.Equal(200, held);
        int udp = lab.Cli("sessions", "--address", GatewayLab.Inside1, "--protocol", "udp", "--json").Split("\"protocol\":\"udp\"").Length - 1;
        // Every flow past the limit that reached NatGate was refused (a loaded machine may lose a
        // few datagrams before the TUN; none may be admitted).
        Assert.InRange(DropsOf(lab, "HostLimit"), 1700, 2000 - udp);
        // Inside host 2 is not refused.
        Assert.Equal("still reachable\n", GatewayLab.ExecChecked(lab.In2, "curl", "-sS", "-m", "5", page));

        // At most the burst of 100, plus 100 a second while the refusals came, got an ICMP error.
        IReadOnlyList<string> answered = refusals.Stop("icmp[icmptype] == icmp-unreach");
        Assert.InRange(answered.Count, 100, 100 + (100 * (int)Math.Ceiling(sending.Elapsed.TotalSeconds + 1)));
    }

    [Fact]
    public void A_second_daemon_refuses_touches_nothing_and_the_first_keeps_forwarding()
    {
        Host.RequireRootAndTools("ip", "ping");
        using var lab = new GatewayLab();
        lab.StartNatGate(CommandLineNat);
        string rulesBefore = GatewayLab.Ip(lab.Gateway, "rule", "show");
        string other = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "second-control")).FullName;
        (int exitCode, string output, string error) = GatewayLab.Exec(lab.Gateway, TimeSpan.FromSeconds(60),
            Dotnet, Natgate, "run", "--tun", "natgate1", "--control", other, "--inside", "10.77.0.0/25", "--external", "198.51.100.20");
        Assert.Equal(1, exitCode);
        Assert.Contains("Another natgate already manages the routing", output + error, StringComparison.Ordinal);
        Assert.Equal(rulesBefore, GatewayLab.Ip(lab.Gateway, "rule", "show"));
        Assert.DoesNotContain("natgate1", GatewayLab.Ip(lab.Gateway, "link", "show"), StringComparison.Ordinal);
        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "1", "-W", "2", GatewayLab.Outside);
    }
}
