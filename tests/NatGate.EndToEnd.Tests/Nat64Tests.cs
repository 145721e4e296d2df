using System.Text.Json;
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

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static string Natgate => Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    [Fact]
    public void Nat64_sessions_are_listed_with_ipv6_inside_and_ipv4_outside_carried_over_a_restart_by_ipfs_and_flushed_by_ipnat_F()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab(ipv6: true);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {GatewayLab.External}/32 portmap tcp/udp auto

            """);
        string server6 = Nat64Prefix.WellKnown.Embed(Ipv4Address.Parse(GatewayLab.Outside)).ToString();
        string[] arguments = ["--rules", rules, "--outside-interface", GatewayLab.OutsideInterface, "--state-directory", lab.WorkDirectory];
        (BackgroundProcess web, _) = lab.ServePage(lab.Out, GatewayLab.Outside, 8080, "outside over IPv4");
        BackgroundProcess first = lab.StartNatGate(arguments);

        // curl's NAT64 session: the IPv6 inside, the IPv4 outside, never an IPv4-mapped address.
        (int curlExit, string page, string curlError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "--retry", "3", "--retry-connrefused",
            $"http://[{server6}]:8080/index.html");
        Assert.True(curlExit == 0, $"curl failed: {curlError}\n{first.Output}");
        Assert.Equal("outside over IPv4", page);
        web.WaitFor($"client {GatewayLab.External}:", Short);
        JsonElement curlSession = Assert.Single(lab.SessionsJson(), session => session.GetProperty("internalSourceAddress").GetString() == GatewayLab.Inside1v6);
        Assert.Equal(("nat64", "tcp", server6, 8080), (curlSession.GetProperty("family").GetString(), curlSession.GetProperty("protocol").GetString(),
            curlSession.GetProperty("internalDestinationAddress").GetString(), curlSession.GetProperty("internalDestinationPort").GetInt32()));
        Assert.Equal((GatewayLab.External, GatewayLab.Outside, 8080), (curlSession.GetProperty("externalSourceAddress").GetString(),
            curlSession.GetProperty("externalDestinationAddress").GetString(), curlSession.GetProperty("externalDestinationPort").GetInt32()));
        string table = lab.Cli("sessions");
        Assert.Contains($"[{GatewayLab.Inside1v6}]:", table, StringComparison.Ordinal);
        Assert.Contains($"-> {GatewayLab.Outside}:8080", table, StringComparison.Ordinal);
        Assert.DoesNotContain("::ffff:", table, StringComparison.OrdinalIgnoreCase);

        // A TCP connection to the IPv4 server through the prefix, kept open.
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", Ipv6ControlEndToEndTests.LineEcho, GatewayLab.Outside, "8081");
        echo.WaitFor("ready", Short);
        string goSecond = Path.Combine(lab.WorkDirectory, "second");
        string goThird = Path.Combine(lab.WorkDirectory, "third");
        BackgroundProcess client = lab.Start(lab.In1, "python3", "-c", Ipv6ControlEndToEndTests.LongConnection, server6, "8081", goSecond, goThird);
        client.WaitFor("first: echo one", Short);
        string clientPort = client.Output.Split('\n').First(line => line.StartsWith("local port ", StringComparison.Ordinal))["local port ".Length..].Trim();
        echo.WaitFor($"client {GatewayLab.External} ", Short);

        // ipfs -W with the table locked, a restart, ipfs -R: the established connection goes on.
        string state = Path.Combine(lab.WorkDirectory, "nat64.state");
        lab.Cli("lock", "on");
        int saved = lab.SessionsJson().Length;
        Assert.True(saved >= 2, $"{saved} sessions: the curl one and the long connection were expected");
        Assert.Contains($"Saved {saved} sessions", lab.Cli("ipfs", "-W", "-f", state), StringComparison.Ordinal);
        Assert.Contains("\"version\":3", File.ReadLines(state).First(), StringComparison.Ordinal);
        Assert.Equal(0, first.Stop(Short));
        BackgroundProcess second = lab.StartNatGate(arguments);
        Assert.Empty(lab.SessionsJson());
        Assert.Contains($"Restored {saved} sessions from {state}; 0 refusals", lab.Cli("ipfs", "-R", "-f", state), StringComparison.Ordinal);
        File.WriteAllText(goSecond, "");
        client.WaitFor("second: echo two", Short);
        Assert.Contains(lab.SessionsJson(), session => session.GetProperty("internalSourcePort").GetInt32() == int.Parse(clientPort, System.Globalization.CultureInfo.InvariantCulture)
            && session.GetProperty("family").GetString() == "nat64" && session.GetProperty("state").GetString() == "Established");

        // ipnat -F removes the NAT64 sessions. The inside's next segment makes a session again, as
        // IPv4's outbound segments do (any but a RST may: a connection picked up without state),
        // from the same external port, so the connection goes on.
        lab.Cli("ipnat", "-F");
        Assert.Empty(lab.SessionsJson());
        using (JsonDocument stats = JsonDocument.Parse(lab.Cli("stats", "--json")))
        {
            Assert.Equal((0, 0), (stats.RootElement.GetProperty("inUse").GetInt32(), stats.RootElement.GetProperty("inUseNat64").GetInt32()));
        }
        File.WriteAllText(goThird, "");
        client.WaitFor("third: echo three", Short);
        JsonElement pickedUp = Assert.Single(lab.SessionsJson());
        Assert.Equal(("nat64", int.Parse(clientPort, System.Globalization.CultureInfo.InvariantCulture)),
            (pickedUp.GetProperty("family").GetString(), pickedUp.GetProperty("internalSourcePort").GetInt32()));
        Assert.False(second.HasExited);
    }

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

    [Fact]
    public void Udp_datagrams_and_echoes_larger_than_the_mtu_cross_as_fragments_both_ways()
    {
        Host.RequireRootAndTools("ip", "ping", "python3");
        using var lab = new GatewayLab(ipv6: true);
        BackgroundProcess daemon = lab.StartNatGate("--rules", WellKnownRules(lab), "--outside-interface", GatewayLab.OutsideInterface);
        string server6 = Nat64Prefix.WellKnown.Embed(Ipv4Address.Parse(GatewayLab.Outside)).ToString();

        // 3,000 bytes: in1 sends the datagram as three IPv6 fragments, which leave as IPv4 fragments;
        // the echo comes back as IPv4 fragments of 1,500 bytes, each split in two to fit 1,280 (RFC 7915 4.1).
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Outside, "5300");
        echo.WaitFor("ready", Short);
        string text = new('x', 3000);
        Assert.Equal($"{text} from {GatewayLab.External}",
            GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.UdpClient, server6, "5300", text).Trim());

        // An echo's first fragment waits for its last, which tells the length its checksum needs.
        (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-s", "3000", server6);
        Assert.True(pingExit == 0, pingOutput + daemon.Output);
        Assert.Contains("3 received", pingOutput, StringComparison.Ordinal);
        // Later fragments, each way: 2 of the datagram and 2 of its echo, 2 of each ping and 2 of each reply.
        Assert.True(Ipv6Tests.Statistic(lab, "FragmentsTranslated") >= 16, daemon.Output);
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
    }

    [Fact]
    public void Traceroute6_sees_the_gateway_once_and_path_mtu_discovery_to_an_ipv4_server_beyond_a_1280_link_learns_1300()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "traceroute", "python3");
        using var lab = new GatewayLab(ipv6: true, farNetwork: true);
        BackgroundProcess daemon = lab.StartNatGate("--rules", WellKnownRules(lab), "--outside-interface", GatewayLab.OutsideInterface);
        string far6 = Nat64Prefix.WellKnown.Embed(Ipv4Address.Parse(GatewayLab.Far)).ToString();
        string router6 = Nat64Prefix.WellKnown.Embed(Ipv4Address.Parse(GatewayLab.Outside)).ToString();

        // Neighbours resolved along the path first, so no probe's answer waits on them.
        (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", far6);
        Assert.True(pingExit == 0, pingOutput + daemon.Output);

        // Three hops: the gateway once (the hop lost through the TUN is given back), the IPv4
        // router, whose Time Exceeded comes back as ICMPv6 from its IPv4-embedded address, and the server.
        (int traceExit, string trace, string traceError) = GatewayLab.Exec(lab.In1, Short, "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "6", far6);
        Assert.True(traceExit == 0, traceError + daemon.Output);
        string[] hops = [.. trace.Split('\n').Skip(1).Where(line => line.Trim().Length > 0)];
        Assert.True(hops.Length == 3, trace);
        Assert.Contains(GatewayLab.GatewayInside6, hops[0], StringComparison.Ordinal);
        Assert.Contains(router6, hops[1], StringComparison.Ordinal);
        Assert.Contains(far6, hops[2], StringComparison.Ordinal);

        // in1's segments are 1,500 bytes of IPv6, 1,480 of IPv4 with DF (RFC 7915 5.1), until the
        // router's Fragmentation Needed (1,280) comes back as a Packet Too Big of 1,300 (RFC 7915 4.2).
        byte[] data = new byte[400 * 1024];
        new Random(64).NextBytes(data);
        string site = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "far-site")).FullName;
        string file = Path.Combine(site, "data.bin");
        File.WriteAllBytes(file, data);
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
        BackgroundProcess server = lab.StartWebServer(lab.FarHost, "0.0.0.0", 8080, site);
        (int uploadExit, string upload, string uploadError) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60), "curl", "-sS", "-g", "--max-time", "50", "-T", file,
            $"http://[{far6}]:8080/upload");
        Assert.True(uploadExit == 0, $"upload failed: {uploadError}\n{daemon.Output}");
        Assert.Equal($"received {data.Length} sha256 {hash}", upload.Trim());
        string route = GatewayLab.ExecChecked(lab.In1, "ip", "-6", "route", "get", far6);
        Assert.Contains($"mtu {GatewayLab.FarMtu + 20}", route, StringComparison.Ordinal);

        string downloaded = Path.Combine(lab.WorkDirectory, "downloaded.bin");
        (int downloadExit, _, string downloadError) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60), "curl", "-sS", "-g", "--max-time", "50", "-o", downloaded,
            $"http://[{far6}]:8080/data.bin");
        Assert.True(downloadExit == 0, $"download failed: {downloadError}\n{daemon.Output}");
        Assert.Equal(hash, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(downloaded))));
        server.WaitFor($"client {GatewayLab.External}:", Short);
        Assert.True(Ipv6Tests.Statistic(lab, "IcmpErrorsTranslated") >= 3, "the router's Time Exceeded and Fragmentation Needed, and the far server's unreachable");
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
    }

    /// <summary>NAT64 through the Well-Known Prefix for TCP, UDP and ICMP, from the lab's inside to its external address.</summary>
    private static string WellKnownRules(GatewayLab lab)
    {
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {GatewayLab.External}/32 portmap tcp/udp auto
            map wan0 {GatewayLab.InsidePrefix6} -> {GatewayLab.External}/32

            """);
        return rules;
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
