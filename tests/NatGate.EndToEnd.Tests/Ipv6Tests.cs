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
