using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NatGate.Core.Addressing;
using NatGate.Core.Devices;
using NatGate.Core.Packets;
using NatGate.Linux.Routing;
using NatGate.Linux.Tests.Namespaces;
using NatGate.Linux.Tun;

namespace NatGate.Linux.Tests.Routing;

/// <summary>End-to-end: the plumbing reconciled in, and removed from, namespaces of the test's own.</summary>
public sealed class GatewayPlumbingTests
{
    private static readonly string[] Sysctls =
    [
        "net/ipv4/ip_forward",
        "net/ipv4/conf/all/rp_filter",
        "net/ipv4/conf/natgate0/rp_filter",
        "net/ipv4/neigh/ngout0/proxy_delay",
    ];

    /// <summary>A namespace with an outside veth (203.0.113.1/24 on ngout0) and an inside one (10.1.0.1/16 on ngin0).</summary>
    private static NetworkNamespace Gateway(string role)
    {
        NetworkNamespace network = NetworkNamespace.Create(role);
        network.Ip("link", "add", "ngout0", "type", "veth", "peer", "name", "ngout1");
        network.Ip("link", "add", "ngin0", "type", "veth", "peer", "name", "ngin1");
        network.Ip("addr", "add", "203.0.113.1/24", "dev", "ngout0");
        network.Ip("addr", "add", "10.1.0.1/16", "dev", "ngin0");
        foreach (string link in (string[])["ngout0", "ngout1", "ngin0", "ngin1", "lo"])
        {
            network.Ip("link", "set", link, "up");
        }
        return network;
    }

    /// <summary>The tests' records stay out of /run/natgate, which belongs to a real daemon.</summary>
    private static readonly string Records = Path.Combine(Path.GetTempPath(), "natgate-plumbing-tests");

    private static GatewayPlumbingOptions Options(string tun) => new()
    {
        TunName = tun,
        RecordDirectory = Records,
        InternalPrefixes = [Ipv4Prefix.Parse("10.1.0.0/16")],
        ExternalAddresses = [Ipv4Address.Parse("203.0.113.9"), Ipv4Address.Parse("198.51.100.9")],
        OutsideInterface = "ngout0",
    };

    [Fact]
    public void Apply_installs_the_plan_and_remove_leaves_the_namespace_as_it_was()
    {
        Requires.Root();
        string rootRulesBefore = Command.Run("ip", "rule", "show");
        using NetworkNamespace network = Gateway("plumb");
        network.Run(() =>
        {
            using TunDevice tun = TunDevice.Open(new TunOptions());
            // A strict rp_filter, as some distributions default to, must come back too.
            File.WriteAllText("/proc/sys/net/ipv4/conf/all/rp_filter", "1\n");
            File.WriteAllText("/proc/sys/net/ipv4/conf/natgate0/rp_filter", "1\n");
            string rulesBefore = network.Ip("rule", "show");
            string tableBefore = network.Ip("route", "show", "table", "all");
            string neighboursBefore = network.Ip("neigh", "show", "proxy");
            string firewallBefore = Command.Run("nft", "list", "ruleset");
            string[] sysctlsBefore = ReadSysctls();

            var plumbing = new GatewayPlumbing(Options(tun.Name));
            plumbing.Apply();
            try
            {
                string rules = network.Ip("rule", "show");
                Assert.Contains("999:\tfrom all iif natgate0 goto 1004", rules, StringComparison.Ordinal);
                Assert.Contains("1000:\tfrom 10.1.0.0/16 iif ngin0 lookup 100", rules, StringComparison.Ordinal);
                Assert.Contains("1001:\tfrom 10.1.0.0/16 iif lo goto 1003", rules, StringComparison.Ordinal);
                Assert.Contains("1002:\tfrom 10.1.0.0/16 blackhole", rules, StringComparison.Ordinal);
                Assert.Contains("1003:\tfrom all to 203.0.113.9 lookup 100", rules, StringComparison.Ordinal);
                Assert.Contains("1003:\tfrom all to 198.51.100.9 lookup 100", rules, StringComparison.Ordinal);
                Assert.Contains("1004:\tfrom all nop", rules, StringComparison.Ordinal);
                string table = network.Ip("route", "show", "table", "100");
                Assert.Contains("default dev natgate0", table, StringComparison.Ordinal);
                Assert.Contains("blackhole default metric 4294967295", table, StringComparison.Ordinal);
                Assert.Contains("203.0.113.9 dev ngout0 proxy", network.Ip("neigh", "show", "proxy"), StringComparison.Ordinal);
                Assert.DoesNotContain("198.51.100.9", network.Ip("neigh", "show", "proxy"), StringComparison.Ordinal);
                Assert.Contains("ip saddr 10.1.0.0/16 iifname != {", Command.Run("nft", "list", "table", "ip", "natgate"), StringComparison.Ordinal);
                // Strict becomes loose, nothing weaker.
                Assert.Equal(["1", "2", "2", "0"], ReadSysctls());
                // The kernel sends the inside, arriving on its interface, and the external address into the TUN...
                Assert.Contains("dev natgate0", network.Ip("route", "get", "198.51.100.9"), StringComparison.Ordinal);
                Assert.Contains("dev natgate0", network.Ip("route", "get", "192.0.2.1", "from", "10.1.0.5", "iif", "ngin0"), StringComparison.Ordinal);
                // ...refuses an inside source from the outside...
                Assert.Contains("Invalid argument", RouteGet(network, "192.0.2.1", "from", "10.1.0.5", "iif", "ngout0"), StringComparison.Ordinal);
                // ...and routes the host's own packets from its inside address as the host does.
                Assert.Contains("dev ngin0", network.Ip("route", "get", "10.1.0.5", "from", "10.1.0.1"), StringComparison.Ordinal);
            }
            finally
            {
                plumbing.Remove();
            }

            Assert.Equal(rulesBefore, network.Ip("rule", "show"));
            Assert.Equal(tableBefore, network.Ip("route", "show", "table", "all"));
            Assert.Equal(neighboursBefore, network.Ip("neigh", "show", "proxy"));
            Assert.Equal(firewallBefore, Command.Run("nft", "list", "ruleset"));
            Assert.Equal(sysctlsBefore, ReadSysctls());
        });
        Assert.Equal(rootRulesBefore, Command.Run("ip", "rule", "show"));
    }

    [Fact]
    public void After_a_crash_the_inside_meets_the_blackhole_route_and_the_next_run_restores_the_original_sysctls()
    {
        Requires.Root();
        using NetworkNamespace network = Gateway("crash");
        network.Run(() =>
        {
            File.WriteAllText("/proc/sys/net/ipv4/ip_forward", "0\n");
            File.WriteAllText("/proc/sys/net/ipv4/conf/all/rp_filter", "1\n");
            string rulesBefore = network.Ip("rule", "show");
            var crashed = new GatewayPlumbing(Options("natgate0"));
            using (TunDevice first = TunDevice.Open(new TunOptions()))
            {
                crashed.Apply();
                crashed.Abandon();
            }
            // The TUN is gone with its route; forwarding stays on, and the inside meets the blackhole route.
            Assert.Equal("1", File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());
            // (ip route get reports a blackhole as EINVAL; the main table here would say "unreachable".)
            Assert.Contains("Invalid argument", RouteGet(network, "192.0.2.1", "from", "10.1.0.5", "iif", "ngin0"), StringComparison.Ordinal);

            using TunDevice second = TunDevice.Open(new TunOptions());
            var restarted = new GatewayPlumbing(Options(second.Name) with { InternalPrefixes = [Ipv4Prefix.Parse("10.1.2.0/24")] });
            restarted.Apply();
            Assert.Contains(restarted.Notes, note => note.Contains("adopted", StringComparison.Ordinal));
            // The earlier run's rules for 10.1.0.0/16 are gone; the new prefix's are there.
            string rules = network.Ip("rule", "show");
            Assert.DoesNotContain("10.1.0.0/16", rules, StringComparison.Ordinal);
            Assert.Contains("from 10.1.2.0/24 iif ngin0 lookup 100", rules, StringComparison.Ordinal);
            restarted.Remove();

            Assert.Equal(rulesBefore, network.Ip("rule", "show"));
            Assert.Equal(string.Empty, network.Ip("route", "show", "table", "100"));
            // The values from before the first run, not the crash-time ones.
            Assert.Equal("0", File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());
            Assert.Equal("1", File.ReadAllText("/proc/sys/net/ipv4/conf/all/rp_filter").Trim());
        });
    }

    [Fact]
    public void A_second_claim_on_the_same_namespace_is_refused_and_changes_nothing()
    {
        Requires.Root();
        using NetworkNamespace network = Gateway("twice");
        network.Run(() =>
        {
            using TunDevice tun = TunDevice.Open(new TunOptions());
            var first = new GatewayPlumbing(Options(tun.Name));
            first.Apply();
            try
            {
                string rules = network.Ip("rule", "show");
                var second = new GatewayPlumbing(Options("natgate1") with { InternalPrefixes = [Ipv4Prefix.Parse("10.9.0.0/16")] });
                PlumbingException refused = Assert.Throws<PlumbingException>(second.Apply);
                Assert.Contains("Another natgate already manages the routing", refused.Message, StringComparison.Ordinal);
                Assert.Equal(rules, network.Ip("rule", "show"));
                Assert.Contains("default dev natgate0", network.Ip("route", "show", "table", "100"), StringComparison.Ordinal);
            }
            finally
            {
                first.Remove();
            }
            // Once the first has let go, a new one may claim.
            var third = new GatewayPlumbing(Options(tun.Name));
            third.Claim();
            third.Remove();
        });
    }

    [Fact]
    public void An_update_adds_what_the_new_rules_need_and_removes_what_nothing_needs_any_more()
    {
        Requires.Root();
        using NetworkNamespace network = Gateway("update");
        network.Run(() =>
        {
            using TunDevice tun = TunDevice.Open(new TunOptions());
            var plumbing = new GatewayPlumbing(Options(tun.Name) with { ExternalAddresses = [] });
            plumbing.Apply();
            try
            {
                Assert.Empty(network.Ip("neigh", "show", "proxy").Trim());
                Assert.Equal("0.8", ReadProxyDelay());
                plumbing.Update(Options(tun.Name));
                Assert.Contains("203.0.113.9 dev ngout0 proxy", network.Ip("neigh", "show", "proxy"), StringComparison.Ordinal);
                Assert.Contains("to 203.0.113.9 lookup 100", network.Ip("rule", "show"), StringComparison.Ordinal);
                Assert.Equal("0", ReadProxyDelay());
                plumbing.Update(Options(tun.Name) with { ExternalAddresses = [Ipv4Address.Parse("198.51.100.9")] });
                Assert.Empty(network.Ip("neigh", "show", "proxy").Trim());
                Assert.DoesNotContain("203.0.113.9", network.Ip("rule", "show"), StringComparison.Ordinal);
                Assert.Equal("0.8", ReadProxyDelay());
            }
            finally
            {
                plumbing.Remove();
            }
        });

        static string ReadProxyDelay()
        {
            // Kept in jiffies and shown in seconds; "80" on some kernels.
            string value = File.ReadAllText("/proc/sys/net/ipv4/neigh/ngout0/proxy_delay").Trim();
            return value == "80" ? "0.8" : value == "0" ? "0" : value;
        }
    }

    [Fact]
    public void A_neighbour_outside_reaches_the_tun_through_the_proxy_neighbour_entry()
    {
        Requires.Root();
        using NetworkNamespace gateway = NetworkNamespace.Create("gw");
        using NetworkNamespace outside = NetworkNamespace.Create("out");
        gateway.Ip("link", "add", "ngout0", "type", "veth", "peer", "name", "ngout1", "netns", outside.Name);
        gateway.Ip("addr", "add", "203.0.113.1/24", "dev", "ngout0");
        gateway.Ip("link", "set", "ngout0", "up");
        outside.Ip("addr", "add", "203.0.113.2/24", "dev", "ngout1");
        outside.Ip("link", "set", "ngout1", "up");
        gateway.Run(() =>
        {
            using TunDevice tun = TunDevice.Open(new TunOptions());
            var plumbing = new GatewayPlumbing(new GatewayPlumbingOptions
            {
                TunName = tun.Name,
                RecordDirectory = Records,
                InternalPrefixes = [Ipv4Prefix.Parse("10.3.0.0/24")],
                ExternalAddresses = [Ipv4Address.Parse("203.0.113.9")],
                OutsideInterface = "ngout0",
            });
            plumbing.Apply();
            try
            {
                TunQueue queue = tun.Queue(0);
                PacketBatch batch = queue.CreateBatch();
                outside.Run(() =>
                {
                    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    socket.SendTo([7, 7, 7], new IPEndPoint(IPAddress.Parse("203.0.113.9"), 4000));
                });
                // The outside host resolved 203.0.113.9 to the gateway's MAC, and the datagram came out of the TUN.
                Ipv4Address external = Ipv4Address.Parse("203.0.113.9");
                var clock = Stopwatch.StartNew();
                bool seen = false;
                while (!seen && clock.ElapsedMilliseconds < 3000)
                {
                    if (queue.WaitReadable(100) != PacketWaitResult.Readable)
                    {
                        continue;
                    }
                    int count = queue.ReadBatch(batch);
                    for (int index = 0; index < count && !seen; index++)
                    {
                        seen = Ipv4Packet.TryParse(batch.Packet(index), out Ipv4Packet ip) == PacketError.None
                            && ip.DestinationAddress == external && ip.SourceAddress == Ipv4Address.Parse("203.0.113.2");
                    }
                }
                Assert.True(seen, "the datagram to the external address never reached the TUN");
                string gatewayMac = gateway.Ip("-br", "link", "show", "ngout0").Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
                Assert.Contains("lladdr " + gatewayMac, outside.Ip("neigh", "show", "203.0.113.9"), StringComparison.Ordinal);
            }
            finally
            {
                plumbing.Remove();
            }
        });
    }

    /// <summary>`ip route get`, whose refusals (blackhole, prohibit) come back as errors.</summary>
    private static string RouteGet(NetworkNamespace network, params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])["-n", network.Name, "route", "get", .. arguments])
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return output;
    }

    private static string[] ReadSysctls() => [.. Sysctls.Select(path => File.ReadAllText("/proc/sys/" + path).Trim())];
}
