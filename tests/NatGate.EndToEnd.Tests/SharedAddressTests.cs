using System.Globalization;
using System.Text.RegularExpressions;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The gateway's own outside address as the NAT's (issue 11, "Sharing the host's own address,
/// and following it"): WinNAT's usual case on a single-address host, and IP Filter's
/// "map eth0 ... -> 0/32". The host keeps its services and its own connections on the address;
/// only the NAT's ports are steered to NatGate; a changed address is followed.
/// </summary>
public sealed partial class SharedAddressTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    [Fact]
    public void The_host_keeps_its_service_and_connections_while_the_inside_is_translated_to_the_same_address()
    {
        Host.RequireRootAndTools("ip", "curl", "python3", "ping", "nft", "traceroute");
        using var lab = new GatewayLab();
        string before = Sysctl(lab.Gateway, "net.ipv4.ip_local_reserved_ports");
        (BackgroundProcess outsideServer, _) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "outside\n");
        (BackgroundProcess hostService, _) = lab.ServePage(lab.Gateway, GatewayLab.GatewayOutside, 80, "the gateway's own service\n");
        (BackgroundProcess insideServer, _) = lab.ServePage(lab.In2, GatewayLab.Inside2, 80, "inside, through a port mapping\n");
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"rdr {GatewayLab.OutsideInterface} {GatewayLab.GatewayOutside}/32 port 8080 -> {GatewayLab.Inside2} port 80 tcp\n");
        // --external names the interface: its address, shared, with ports 61000-65535 for the NAT.
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.OutsideInterface,
            "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules);

        // The inside is translated to the host's address, on a port of the NAT's range.
        Assert.Equal("outside\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", $"http://{GatewayLab.Outside}/"));
        int insidePort = LastClientPort(outsideServer, GatewayLab.GatewayOutside);
        Assert.InRange(insidePort, 61000, 65535);
        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "2", "-W", "2", GatewayLab.Outside);
        // traceroute's last hop is the server's "port unreachable" to the shared address, quoting a
        // datagram from one of the NAT's ports: steered by its quoted header, translated back inside.
        string trace = GatewayLab.ExecChecked(lab.In1, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "3", GatewayLab.Outside);
        Assert.Matches($@"(?m)^\s*2\s+{Regex.Escape(GatewayLab.Outside)}\s", trace);

        // The host's own connection from the same address gets a port the kernel chose, outside the NAT's.
        Assert.Equal("outside\n", GatewayLab.ExecChecked(lab.Gateway, "curl", "-sS", "-m", "10", $"http://{GatewayLab.Outside}/"));
        int hostPort = LastClientPort(outsideServer, GatewayLab.GatewayOutside);
        Assert.InRange(hostPort, 1024, 60999);
        GatewayLab.ExecChecked(lab.Gateway, "ping", "-c", "1", "-W", "2", GatewayLab.Outside);

        // The host's service on that address answers the outside; the NAT's port mapping too.
        Assert.Equal("the gateway's own service\n", GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "-m", "10", $"http://{GatewayLab.GatewayOutside}/"));
        Assert.Equal("inside, through a port mapping\n", GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "-m", "10", $"http://{GatewayLab.GatewayOutside}:8080/"));
        Assert.Contains($"client {GatewayLab.Outside}:", insideServer.Output, StringComparison.Ordinal);
        GatewayLab.ExecChecked(lab.Out, "ping", "-c", "1", "-W", "2", GatewayLab.GatewayOutside);

        // The kernel keeps the NAT's ports for the NAT, and the mark's rule stands before the local table's.
        Assert.Contains("61000-65535", Sysctl(lab.Gateway, "net.ipv4.ip_local_reserved_ports"), StringComparison.Ordinal);
        string[] first = [.. GatewayLab.Ip(lab.Gateway, "rule", "show").Split('\n').Where(line => line.StartsWith("0:", StringComparison.Ordinal))];
        Assert.Equal(2, first.Length);
        Assert.Contains("fwmark 0x4e470000/0xffff0000 lookup 100", first[0], StringComparison.Ordinal);
        Assert.Contains("lookup local", first[1], StringComparison.Ordinal);

        Assert.Equal(0, daemon.Stop(Short));
        // Gone at stop: the rule, the mark, the reservation; the host is as it was.
        Assert.Equal(["0:\tfrom all lookup local"], GatewayLab.Ip(lab.Gateway, "rule", "show").Split('\n').Where(line => line.StartsWith("0:", StringComparison.Ordinal)));
        Assert.Equal(before, Sysctl(lab.Gateway, "net.ipv4.ip_local_reserved_ports"));
        Assert.Equal("the gateway's own service\n", GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "-m", "10", $"http://{GatewayLab.GatewayOutside}/"));
        Assert.False(hostService.HasExited);
    }

    [Fact]
    public void A_changed_address_is_followed_sessions_on_the_old_one_end_and_are_counted()
    {
        Host.RequireRootAndTools("ip", "curl", "python3", "ping", "nft");
        using var lab = new GatewayLab();
        const string NewAddress = "198.51.100.4";
        (BackgroundProcess outsideServer, _) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "outside\n");
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        // IP Filter's form: the interface's address at the time.
        File.WriteAllText(rules, $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> 0/32 portmap tcp/udp 40000:50000\n"
            + $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> 0/32\n");
        lab.StartNatGate("--outside-interface", GatewayLab.OutsideInterface, "--rules", rules, "--metrics", "127.0.0.1:9469");

        Assert.Equal("outside\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", $"http://{GatewayLab.Outside}/"));
        Assert.InRange(LastClientPort(outsideServer, GatewayLab.GatewayOutside), 40000, 50000);
        // A ping runs across the change: it keeps being answered, from the new address.
        BackgroundProcess ping = lab.Start(lab.In1, "ping", "-i", "0.2", "-c", "40", "-W", "1", GatewayLab.Outside);
        Thread.Sleep(1500);

        // A DHCP renewal with a new lease: the old address goes, a new one comes.
        GatewayLab.Ip(lab.Gateway, "addr", "del", GatewayLab.GatewayOutside + "/24", "dev", GatewayLab.OutsideInterface);
        GatewayLab.Ip(lab.Gateway, "addr", "add", NewAddress + "/24", "dev", GatewayLab.OutsideInterface);

        // The sessions on the old address end, counted; new ones leave from the new address.
        WaitFor(() => Metric(lab, "natgate_sessions_address_gone_total") >= 2, Short, "the sessions on the old address to be ended");
        WaitFor(() => GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(15), "curl", "-sS", "-m", "3", $"http://{GatewayLab.Outside}/").ExitCode == 0
            && outsideServer.Output.Contains($"client {NewAddress}:", StringComparison.Ordinal), Short, "a connection from the new address");
        Assert.InRange(LastClientPort(outsideServer, NewAddress), 40000, 50000);
        Assert.Contains($"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> 0/32",
            GatewayLab.ExecChecked(lab.Gateway, Dotnet, Path.Combine(AppContext.BaseDirectory, "natgate.dll"), "ipnat", "-l", "--control", lab.ControlDirectory),
            StringComparison.Ordinal);
        // The routing moved with it: the shared address's steering names the new address only.
        string steering = Host.Check("ip", "netns", "exec", lab.Gateway, "nft", "list", "chain", "ip", "natgate", "steer");
        Assert.Contains(NewAddress, steering, StringComparison.Ordinal);
        Assert.DoesNotContain(GatewayLab.GatewayOutside + " ", steering, StringComparison.Ordinal);

        ping.WaitForExit(Short);
        // Replies came back after the change (40 requests over 8 s, the change at 1.5 s).
        Match received = Regex.Match(ping.Output, @"(\d+) received");
        Assert.True(received.Success, ping.Output);
        Assert.InRange(int.Parse(received.Groups[1].Value, CultureInfo.InvariantCulture), 20, 40);
    }

    [Fact]
    public void A_redirect_to_the_gateways_loopback_reaches_a_transparent_proxy_there()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab();
        (BackgroundProcess server, _) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "the real page\n");
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        // IP Filter's transparent proxy: web traffic to a proxy on the gateway's loopback.
        File.WriteAllText(rules, "rdr natgate0 0.0.0.0/0 port 80 -> 127.0.0.1 port 3128 tcp\n");
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
            "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules);
        BackgroundProcess proxy = lab.Start(lab.Gateway, Dotnet, Path.Combine(AppContext.BaseDirectory, "natgate-sample-proxy.dll"),
            "127.0.0.1:3128", lab.ControlDirectory);
        proxy.WaitFor("proxy listening", Short);

        Assert.Equal("the real page\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", $"http://{GatewayLab.Outside}/"));
        // The proxy saw the inside client and learned the real destination from NatGate.
        proxy.WaitFor($"-> {GatewayLab.Outside}:80", Short);
        Assert.Contains($"{GatewayLab.Inside1}:", proxy.Output, StringComparison.Ordinal);
        server.WaitFor($"client {GatewayLab.GatewayOutside}:", Short);
    }

    private static string Sysctl(string space, string key) => GatewayLab.ExecChecked(space, "sysctl", "-n", key).Trim();

    private static int LastClientPort(BackgroundProcess server, string address)
    {
        MatchCollection matches = Regex.Matches(server.Output, $@"client {Regex.Escape(address)}:(\d+)");
        Assert.NotEmpty(matches);
        return int.Parse(matches[^1].Groups[1].Value, CultureInfo.InvariantCulture);
    }

    private static double Metric(GatewayLab lab, string name)
    {
        (int exitCode, string text, _) = GatewayLab.Exec(lab.Gateway, TimeSpan.FromSeconds(10), "curl", "-sS", "-m", "5", "http://127.0.0.1:9469/metrics");
        if (exitCode != 0)
        {
            return -1;
        }
        Match match = Regex.Match(text, $@"^{name} (\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }

    private static void WaitFor(Func<bool> condition, TimeSpan timeout, string what)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"waited {timeout.TotalSeconds} s for {what}");
            }
            Thread.Sleep(200);
        }
    }
}
