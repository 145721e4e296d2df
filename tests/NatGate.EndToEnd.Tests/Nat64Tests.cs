using NatGate.Core.Addressing;
using NatGate.Core.Translation.Nat64;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// NAT64 (RFC 6146) with real clients, in namespaces of the test's own: inside hosts reach the
/// outside's IPv4 server over IPv6 alone, by its IPv4-embedded address (RFC 6052), and the
/// server sees them as the gateway's external IPv4 address.
/// </summary>
public sealed class Nat64Tests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    [Fact]
    public void Curl_ping_and_udp_reach_an_ipv4_server_through_the_well_known_prefix_and_the_outside_cannot_get_in()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "python3", "nft");
        using var lab = new GatewayLab(ipv6: true);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {GatewayLab.External}/32 portmap tcp/udp auto
            map wan0 {GatewayLab.InsidePrefix6} -> {GatewayLab.External}/32

            """);
        string server6 = Nat64Prefix.WellKnown.Embed(Ipv4Address.Parse(GatewayLab.Outside)).ToString();
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);

        CrossesToIpv4(lab, daemon, server6);
        // The inside is guarded: its source arriving from the outside would be dropped before the NAT64 took it.
        string guard = GatewayLab.ExecChecked(lab.Gateway, "nft", "list", "table", "ip6", "natgate");
        Assert.Contains($"ip6 saddr {GatewayLab.InsidePrefix6}", guard, StringComparison.Ordinal);

        // A page of many segments both ways: the TUN's offloads hand the reply over as IPv4
        // super-packets, which leave as IPv6.
        (BackgroundProcess bulk, _) = lab.ServePage(lab.Out, GatewayLab.Outside, 8082, new string('x', 300_000));
        (int bulkExit, string bulkPage, string bulkError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", $"http://[{server6}]:8082/index.html");
        Assert.True(bulkExit == 0, $"curl of 300 kB failed: {bulkError}\n{daemon.Output}");
        Assert.Equal(300_000, bulkPage.Length);
        bulk.WaitFor($"client {GatewayLab.External}:", Short);

        // Stateful: the outside cannot open a flow of its own to the external address.
        Assert.Equal("timeout", GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.UdpClient, GatewayLab.External, "5301", "knock").Trim());

        // The well-known prefix stands for global IPv4 only (RFC 6052 3.1): the inside's own 10.77.0.1 is refused.
        string privateAddress = Nat64Prefix.WellKnown.Embed(Ipv4Address.Parse(GatewayLab.GatewayInside)).ToString();
        (int refusedExit, _, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "1", "-W", "1", privateAddress);
        Assert.NotEqual(0, refusedExit);

        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
        // The routing it installed for both families is gone.
        Assert.DoesNotContain("64:ff9b::", GatewayLab.Ip(lab.Gateway, "-6", "rule", "list"), StringComparison.Ordinal);
        Assert.DoesNotContain("lookup 100", GatewayLab.Ip(lab.Gateway, "rule", "list"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_configured_prefix_carries_curl_ping_and_udp_to_the_ipv4_server()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "python3");
        using var lab = new GatewayLab(ipv6: true);
        var prefix = Nat64Prefix.Parse("2001:db8:64::/96");
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 from {GatewayLab.InsidePrefix6} to {prefix} -> {GatewayLab.External}/32 portmap tcp/udp auto
            map wan0 from {GatewayLab.InsidePrefix6} to {prefix} -> {GatewayLab.External}/32

            """);
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);

        CrossesToIpv4(lab, daemon, prefix.Embed(Ipv4Address.Parse(GatewayLab.Outside)).ToString());

        // The well-known prefix is not this gateway's: nothing answers there.
        string wellKnown = Nat64Prefix.WellKnown.Embed(Ipv4Address.Parse(GatewayLab.Outside)).ToString();
        (int otherExit, _, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "1", "-W", "1", wellKnown);
        Assert.NotEqual(0, otherExit);
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
    }

    /// <summary>
    /// curl (to a page the outside serves on its IPv4 address), ping and a UDP datagram cross from
    /// in1 to the outside's IPv4 address <paramref name="server6"/> stands for, and the outside
    /// sees in1 as the gateway's external IPv4 address.
    /// </summary>
    private static void CrossesToIpv4(GatewayLab lab, BackgroundProcess daemon, string server6)
    {
        (BackgroundProcess server, _) = lab.ServePage(lab.Out, GatewayLab.Outside, 8080, "outside over IPv4");
        (int curlExit, string page, string curlError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "--retry", "3", "--retry-connrefused",
            $"http://[{server6}]:8080/index.html");
        Assert.True(curlExit == 0, $"curl failed: {curlError}\n{daemon.Output}");
        Assert.Equal("outside over IPv4", page);
        server.WaitFor($"client {GatewayLab.External}:", Short);
        Assert.DoesNotContain(GatewayLab.Inside1, server.Output, StringComparison.Ordinal);

        (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", server6);
        Assert.True(pingExit == 0, pingOutput + daemon.Output);
        Assert.Contains("3 received", pingOutput, StringComparison.Ordinal);

        // UDP, answered to the sender's address as the IPv4 outside saw it.
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Outside, "5300");
        echo.WaitFor("ready", Short);
        Assert.Equal($"hello from {GatewayLab.External}", GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.UdpClient, server6, "5300", "hello").Trim());
    }
}
