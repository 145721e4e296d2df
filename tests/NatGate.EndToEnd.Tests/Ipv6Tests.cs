using NatGate.Core.Addressing;
using NatGate.Core.Translation.Npt;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>IPv6 through the gateway: NPTv6 (RFC 6296) with real clients, in namespaces of the test's own.</summary>
public sealed class Ipv6Tests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    /// <summary>The lab's inside /64 within the /48 the rule names, and the external /48 the outside routes to the gateway.</summary>
    private const string Rule = "bimap wan0 fd00:77::/48 -> 2001:db8:77::/48";

    private static readonly Nptv6Mapping Mapping = new(IpPrefix.Parse("fd00:77::/48", null), IpPrefix.Parse(GatewayLab.ExternalPrefix6, null));

    [Fact]
    public void Nptv6_carries_curl_ping6_udp_and_traceroute6_out_and_lets_the_outside_reach_an_inside_server()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "traceroute", "python3");
        using var lab = new GatewayLab(ipv6: true);
        string in1Outside = Mapping.ToExternal(Ipv6Address.Parse(GatewayLab.Inside1v6, null)).ToString();
        string in2Outside = Mapping.ToExternal(Ipv6Address.Parse(GatewayLab.Inside2v6, null)).ToString();
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, Rule + "\n");
        (BackgroundProcess server, _) = lab.ServePage(lab.Out, GatewayLab.Outside6, 8080, "outside");
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface, "--metrics", "127.0.0.1:9469");

        // Out: the server sees the inside host by its external name, RFC 6296's address.
        CrossesOutAs(lab, daemon, server, in1Outside);

        // The gateway is one hop: the hop limit lost on the way through the TUN is given back.
        (int traceExit, string trace, string traceError) = GatewayLab.Exec(lab.In1, Short, "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "5", GatewayLab.Outside6);
        Assert.True(traceExit == 0, traceError);
        string[] hops = [.. trace.Split('\n').Skip(1).Where(line => line.Trim().Length > 0)];
        Assert.Equal(2, hops.Length);
        Assert.Contains(GatewayLab.GatewayInside6, hops[0], StringComparison.Ordinal);
        Assert.Contains(GatewayLab.Outside6, hops[1], StringComparison.Ordinal);

        // In: stateless both ways, the outside reaches an inside server by its external name
        // without any session first, and the server sees the real outside address.
        (BackgroundProcess inside, _) = lab.ServePage(lab.In2, GatewayLab.Inside2v6, 8081, "inside");
        (int inboundExit, string inboundPage, string inboundError) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "-g", "--retry", "3", "--retry-connrefused",
            $"http://[{in2Outside}]:8081/index.html");
        Assert.True(inboundExit == 0, $"curl from outside failed: {inboundError}\n{daemon.Output}");
        Assert.Equal("inside", inboundPage);
        inside.WaitFor($"client {GatewayLab.Outside6}:", Short);

        // Hairpinning: in1 reaches in2 by its external name.
        (int hairpinExit, string hairpinPage, string hairpinError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", $"http://[{in2Outside}]:8081/index.html");
        Assert.True(hairpinExit == 0, $"hairpinned curl failed: {hairpinError}\n{daemon.Output}");
        Assert.Equal("inside", hairpinPage);
        inside.WaitFor($"client {in1Outside}:", Short);

        string metrics = GatewayLab.ExecChecked(lab.Gateway, "curl", "-sS", "http://127.0.0.1:9469/metrics");
        Assert.Contains("natgate_packets_total{direction=\"out\"}", metrics, StringComparison.Ordinal);

        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
        // The IPv6 routing it installed is gone.
        Assert.DoesNotContain("lookup 100", GatewayLab.Ip(lab.Gateway, "-6", "rule", "list"), StringComparison.Ordinal);
    }

    [Fact]
    public void Nat66_carries_curl_ping6_and_udp_from_one_external_address_and_a_redirect_publishes_an_inside_server()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "python3");
        using var lab = new GatewayLab(ipv6: true);
        const string External = "2001:db8:100::10"; // on-link outside: the gateway answers neighbour solicitations for it
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {External}/128 portmap tcp/udp auto
            map wan0 {GatewayLab.InsidePrefix6} -> {External}/128
            rdr wan0 {External}/128 port 8081 -> {GatewayLab.Inside2v6} port 8081 tcp

            """);
        (BackgroundProcess server, _) = lab.ServePage(lab.Out, GatewayLab.Outside6, 8080, "outside");
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);

        CrossesOutAs(lab, daemon, server, External);
        // Stateful: the outside cannot open a flow of its own to the external address...
        Assert.Equal("timeout", GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.UdpClient, External, "5301", "knock").Trim());

        // ...except through the redirect, to the inside server, which sees the real client.
        (BackgroundProcess inside, _) = lab.ServePage(lab.In2, GatewayLab.Inside2v6, 8081, "inside");
        (int inboundExit, string inboundPage, string inboundError) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "-g", "--retry", "3", "--retry-connrefused",
            $"http://[{External}]:8081/index.html");
        Assert.True(inboundExit == 0, $"curl through the redirect failed: {inboundError}\n{daemon.Output}");
        Assert.Equal("inside", inboundPage);
        inside.WaitFor($"client {GatewayLab.Outside6}:", Short);

        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
        Assert.DoesNotContain("lookup 100", GatewayLab.Ip(lab.Gateway, "-6", "rule", "list"), StringComparison.Ordinal);
    }

    /// <summary>
    /// curl (to <paramref name="server"/> on the outside's port 8080), ping6 and a UDP datagram
    /// (echoed by a server started here on port 5300) cross from in1, and the outside sees in1 as
    /// <paramref name="seenAs"/>, never by its inside address.
    /// </summary>
    private static void CrossesOutAs(GatewayLab lab, BackgroundProcess daemon, BackgroundProcess server, string seenAs)
    {
        (int curlExit, string page, string curlError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "--retry", "3", "--retry-connrefused",
            $"http://[{GatewayLab.Outside6}]:8080/index.html");
        Assert.True(curlExit == 0, $"curl failed: {curlError}\n{daemon.Output}");
        Assert.Equal("outside", page);
        server.WaitFor($"client {seenAs}:", Short);
        Assert.DoesNotContain(GatewayLab.Inside1v6, server.Output, StringComparison.Ordinal);

        (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", GatewayLab.Outside6);
        Assert.True(pingExit == 0, pingOutput + daemon.Output);
        Assert.Contains("3 received", pingOutput, StringComparison.Ordinal);

        // UDP, answered to the sender's address as the outside saw it.
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Outside6, "5300");
        echo.WaitFor("ready", Short);
        Assert.Equal($"hello from {seenAs}", GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.UdpClient, GatewayLab.Outside6, "5300", "hello").Trim());
    }

    /// <summary>NAT66 to an on-link external address (proxy NDP), and IPv4's map beside it.</summary>
    private static string Nat66Rules(GatewayLab lab, string external)
    {
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {external}/128 portmap tcp/udp auto
            map wan0 {GatewayLab.InsidePrefix6} -> {external}/128
            map wan0 {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32 portmap tcp/udp auto
            map wan0 {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32

            """);
        return rules;
    }

    /// <summary>One figure of `natgate stats --json` (ipnat -s).</summary>
    internal static long Statistic(GatewayLab lab, string name)
    {
        string natgate = Path.Combine(AppContext.BaseDirectory, "natgate.dll");
        string json = GatewayLab.ExecChecked(lab.Gateway, Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", natgate, "stats", "--json", "--control", lab.ControlDirectory);
        using var document = System.Text.Json.JsonDocument.Parse(json);
        foreach (System.Text.Json.JsonProperty property in document.RootElement.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return property.Value.GetInt64();
            }
        }
        throw new InvalidOperationException($"natgate stats has no {name}: {json}");
    }

    [Fact]
    public void Nat66_traceroute6_sees_the_gateway_once_and_path_mtu_discovery_learns_the_far_links_1280_through_packet_too_big()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "traceroute", "python3");
        using var lab = new GatewayLab(ipv6: true, farNetwork: true);
        const string External = "2001:db8:100::10";
        BackgroundProcess daemon = lab.StartNatGate("--rules", Nat66Rules(lab, External), "--outside-interface", GatewayLab.OutsideInterface);

        // Neighbours resolved along the path first: a probe's answer that waits on neighbour
        // discovery (the router's for the external address) can miss traceroute's wait.
        (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", GatewayLab.Far6);
        Assert.True(pingExit == 0, pingOutput + daemon.Output);

        // Three hops: the gateway (once: the hop limit lost through the TUN is given back), the
        // router, whose Time Exceeded is translated back to in1, and the far server.
        (int traceExit, string trace, string traceError) = GatewayLab.Exec(lab.In1, Short, "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "6", GatewayLab.Far6);
        Assert.True(traceExit == 0, traceError + daemon.Output);
        string[] hops = [.. trace.Split('\n').Skip(1).Where(line => line.Trim().Length > 0)];
        Assert.True(hops.Length == 3, trace);
        Assert.Contains(GatewayLab.GatewayInside6, hops[0], StringComparison.Ordinal);
        Assert.Contains(GatewayLab.Outside6, hops[1], StringComparison.Ordinal);
        Assert.Contains(GatewayLab.Far6, hops[2], StringComparison.Ordinal);

        // Every link is 1500, so in1's segments are 1500 bytes long until the router's Packet Too
        // Big (about the external address) is translated back to in1, which must learn 1280 to finish.
        byte[] data = new byte[400 * 1024];
        new Random(12).NextBytes(data);
        string site = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "far-site")).FullName;
        File.WriteAllBytes(Path.Combine(site, "data.bin"), data);
        string file = Path.Combine(site, "data.bin");
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
        BackgroundProcess server = lab.StartWebServer(lab.FarHost, "::", 8080, site);
        foreach ((string address, string name) in new[] { ($"[{GatewayLab.Far6}]", GatewayLab.Far6), (GatewayLab.Far, GatewayLab.Far) })
        {
            (int uploadExit, string upload, string uploadError) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60), "curl", "-sS", "-g", "--max-time", "50", "-T", file,
                $"http://{address}:8080/upload");
            Assert.True(uploadExit == 0, $"upload to {name} failed: {uploadError}\n{daemon.Output}");
            Assert.Equal($"received {data.Length} sha256 {hash}", upload.Trim());
            string route = GatewayLab.ExecChecked(lab.In1, "ip", name.Contains(':', StringComparison.Ordinal) ? "-6" : "-4", "route", "get", name);
            Assert.Contains($"mtu {GatewayLab.FarMtu}", route, StringComparison.Ordinal);

            string downloaded = Path.Combine(lab.WorkDirectory, $"downloaded-{name.Replace(':', '-')}.bin");
            (int downloadExit, _, string downloadError) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60), "curl", "-sS", "-g", "--max-time", "50", "-o", downloaded,
                $"http://{address}:8080/data.bin");
            Assert.True(downloadExit == 0, $"download from {name} failed: {downloadError}\n{daemon.Output}");
            Assert.Equal(hash, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(downloaded))));
        }
        server.WaitFor($"client {External}:", Short);
        Assert.DoesNotContain(GatewayLab.Inside1v6, server.Output, StringComparison.Ordinal);
        Assert.True(Statistic(lab, "IcmpErrorsTranslated") >= 3, "the router's Time Exceeded and Packet Too Big, and the far server's unreachable");
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public void Nat66_carries_udp_datagrams_and_echoes_larger_than_the_mtu_as_fragments_both_ways()
    {
        Host.RequireRootAndTools("ip", "ping", "python3");
        using var lab = new GatewayLab(ipv6: true);
        const string External = "2001:db8:100::10";
        BackgroundProcess daemon = lab.StartNatGate("--rules", Nat66Rules(lab, External), "--outside-interface", GatewayLab.OutsideInterface);

        // 3,000 bytes: in1 sends the datagram in three fragments, the echo comes back in three.
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Outside6, "5300");
        echo.WaitFor("ready", Short);
        string text = new('x', 3000);
        Assert.Equal($"{text} from {External}", GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.UdpClient, GatewayLab.Outside6, "5300", text).Trim());

        (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-s", "3000", GatewayLab.Outside6);
        Assert.True(pingExit == 0, pingOutput + daemon.Output);
        Assert.Contains("3 received", pingOutput, StringComparison.Ordinal);
        // The later fragments crossed the NAT as fragments, each way: 2 a datagram, 1 + 3 datagrams each way at least.
        Assert.True(Statistic(lab, "FragmentsTranslated") >= 16, daemon.Output);
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public void Nat66_refuses_a_session_it_has_no_port_for_with_icmpv6_administratively_prohibited_so_the_client_fails_at_once()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab(ipv6: true);
        const string External = "2001:db8:100::10";
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map wan0 {GatewayLab.InsidePrefix6} -> {External}/128 portmap tcp/udp 40000:40000\n");
        (BackgroundProcess server, _) = lab.ServePage(lab.Out, GatewayLab.Outside6, 8080, "outside");
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);

        // in1 takes the one external TCP port (its closed connection's session keeps it for 240 s)...
        (int firstExit, string page, string firstError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", $"http://[{GatewayLab.Outside6}]:8080/index.html");
        Assert.True(firstExit == 0, firstError + daemon.Output);
        Assert.Equal("outside", page);
        server.WaitFor($"client {External}:40000", Short);

        // ...so in2's connection is refused, and told so by ICMPv6 1/1 (EACCES): no 10 s wait for a SYN timeout.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        (int exit, _, string error) = GatewayLab.Exec(lab.In2, Short, "curl", "-sS", "-g", "--connect-timeout", "10", $"http://[{GatewayLab.Outside6}]:8080/index.html");
        clock.Stop();
        Assert.True(exit == 7, $"curl exited {exit}: {error}\n{daemon.Output}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"curl took {clock.Elapsed.TotalSeconds:F1} s: {error}");
        Assert.Single(server.Output.Split('\n'), line => line.StartsWith("client", StringComparison.Ordinal)); // in1's alone
        Assert.True(Statistic(lab, "NoMemory") >= 1, daemon.Output);
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public void An_inside_ipv6_source_never_leaves_untranslated_even_with_the_daemon_killed()
    {
        Host.RequireRootAndTools("ip", "ping", "tcpdump");
        using var lab = new GatewayLab(ipv6: true);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, Rule + "\n");
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);
        LinkCapture capture = LinkCapture.Start(lab, lab.Out, "eth0");
        (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", GatewayLab.Outside6);
        Assert.True(pingExit == 0, pingOutput + daemon.Output); // translated while the daemon runs
        daemon.Kill();
        // With the TUN gone, the inside's packets meet the blackhole behind it, never the main table.
        GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(10), "ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", GatewayLab.Outside6);
        capture.AssertNone("ip6 and src net fd00:77::/48", "an inside IPv6 source on the outside link");
    }
}
