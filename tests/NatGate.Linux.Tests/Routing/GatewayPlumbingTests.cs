using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Linux.Routing;
using NatGate.Linux.Tests.Namespaces;
using NatGate.Linux.Tun;

namespace NatGate.Linux.Tests.Routing;

/// <summary>End-to-end: the plumbing applied to, and removed from, a namespace of the test's own.</summary>
public sealed class GatewayPlumbingTests
{
    private static readonly string[] Sysctls =
    [
        "net/ipv4/ip_forward",
        "net/ipv4/conf/all/rp_filter",
        "net/ipv4/conf/natgate0/rp_filter",
        "net/ipv4/neigh/ngout0/proxy_delay",
    ];

    [Fact]
    public void Apply_installs_the_plan_and_remove_leaves_the_namespace_as_it_was()
    {
        Requires.Root();
        string rootRulesBefore = Command.Run("ip", "rule", "show");
        using NetworkNamespace network = NetworkNamespace.Create("plumb");
        network.Ip("link", "add", "ngout0", "type", "veth", "peer", "name", "ngout1");
        network.Ip("addr", "add", "203.0.113.1/24", "dev", "ngout0");
        network.Ip("link", "set", "ngout0", "up");
        network.Ip("link", "set", "ngout1", "up");
        network.Run(() =>
        {
            using TunDevice tun = TunDevice.Open(new TunOptions());
            // A strict rp_filter on the TUN, as some distributions default to, must come back too.
            File.WriteAllText("/proc/sys/net/ipv4/conf/natgate0/rp_filter", "1\n");
            string rulesBefore = network.Ip("rule", "show");
            string tableBefore = network.Ip("route", "show", "table", "all");
            string neighboursBefore = network.Ip("neigh", "show", "proxy");
            string[] sysctlsBefore = ReadSysctls();

            var plumbing = new GatewayPlumbing(new GatewayPlumbingOptions
            {
                TunName = tun.Name,
                InternalPrefixes = [Ipv4Prefix.Parse("10.1.0.0/16")],
                ExternalAddresses = [Ipv4Address.Parse("203.0.113.9"), Ipv4Address.Parse("198.51.100.9")],
                OutsideInterface = "ngout0",
            });
            plumbing.Apply();
            try
            {
                string rules = network.Ip("rule", "show");
                Assert.Contains("999:\tfrom all iif natgate0 lookup main", rules, StringComparison.Ordinal);
                Assert.Contains("1000:\tfrom 10.1.0.0/16 lookup 100", rules, StringComparison.Ordinal);
                Assert.Contains("1001:\tfrom all to 203.0.113.9 lookup 100", rules, StringComparison.Ordinal);
                Assert.Contains("1001:\tfrom all to 198.51.100.9 lookup 100", rules, StringComparison.Ordinal);
                Assert.Contains("default dev natgate0", network.Ip("route", "show", "table", "100"), StringComparison.Ordinal);
                Assert.Contains("203.0.113.9 dev ngout0 proxy", network.Ip("neigh", "show", "proxy"), StringComparison.Ordinal);
                Assert.DoesNotContain("198.51.100.9", network.Ip("neigh", "show", "proxy"), StringComparison.Ordinal);
                Assert.Equal(["1", "0", "0", "0"], ReadSysctls());
                // The kernel now sends a packet for the external address into the TUN.
                Assert.Contains("dev natgate0", network.Ip("route", "get", "198.51.100.9"), StringComparison.Ordinal);
            }
            finally
            {
                plumbing.Remove();
            }

            Assert.Equal(rulesBefore, network.Ip("rule", "show"));
            Assert.Equal(tableBefore, network.Ip("route", "show", "table", "all"));
            Assert.Equal(neighboursBefore, network.Ip("neigh", "show", "proxy"));
            Assert.Equal(sysctlsBefore, ReadSysctls());
        });
        Assert.Equal(rootRulesBefore, Command.Run("ip", "rule", "show"));
    }

    [Fact]
    public void Applying_over_leftovers_of_an_earlier_run_adopts_them()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("again");
        network.Run(() =>
        {
            using TunDevice tun = TunDevice.Open(new TunOptions());
            string rulesBefore = network.Ip("rule", "show");
            var options = new GatewayPlumbingOptions
            {
                TunName = tun.Name,
                InternalPrefixes = [Ipv4Prefix.Parse("10.2.0.0/24")],
                ExternalAddresses = [Ipv4Address.Parse("198.51.100.20")],
            };
            var crashed = new GatewayPlumbing(options);
            crashed.Apply(); // and never removed

            var restarted = new GatewayPlumbing(options);
            restarted.Apply();
            Assert.Contains(restarted.Notes, note => note.Contains("adopted", StringComparison.Ordinal));
            Assert.Contains(restarted.Notes, note => note.Contains("replaced", StringComparison.Ordinal));
            restarted.Remove();
            Assert.Equal(rulesBefore, network.Ip("rule", "show"));
            Assert.Equal(string.Empty, network.Ip("route", "show", "table", "100"));
        });
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
                uint external = Ipv4Address.Parse("203.0.113.9");
                var clock = Stopwatch.StartNew();
                bool seen = false;
                while (!seen && clock.ElapsedMilliseconds < 3000)
                {
                    if (queue.WaitReadable(100) != TunWaitResult.Readable)
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

    private static string[] ReadSysctls() => [.. Sysctls.Select(path => File.ReadAllText("/proc/sys/" + path).Trim())];
}
