using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Linux.Routing;

namespace NatGate.Linux.Tests.Routing;

/// <summary>The plan: a pure function of the options and what the host holds; no root needed.</summary>
public sealed class GatewayPlumbingPlanTests
{
    private static readonly GatewayPlumbingOptions Options = new()
    {
        TunName = "natgate0",
        InternalPrefixes = [Ipv4Prefix.Parse("10.0.0.0/24"), Ipv4Prefix.Parse("172.16.5.0/24")],
        ExternalAddresses = [Ipv4Address.Parse("203.0.113.5"), Ipv4Address.Parse("198.51.100.7")],
        OutsideInterface = "eth0",
    };

    private static readonly PlumbingFacts Facts = new(
        [InterfaceAddress.Parse("203.0.113.1/24")],
        [(Ipv4Prefix.Parse("10.0.0.0/24"), "br0"), (Ipv4Prefix.Parse("172.16.0.0/16"), "lan1"), (Ipv4Prefix.Parse("203.0.113.0/24"), "eth0")]);

    [Fact]
    public void Plan_lists_the_commands_of_the_design_in_order()
    {
        var notes = new List<string>();
        PlumbingPlan plan = PlumbingPlan.Create(Options, Facts, notes);
        Assert.Equal(
        [
            "ip link set dev natgate0 mtu 1500 up",
            "ip route add default dev natgate0 table 100 metric 0",
            "ip route add blackhole default table 100 metric 4294967295",
            "ip rule add pref 999 iif natgate0 goto 1004",
            "ip rule add pref 1000 from 10.0.0.0/24 iif br0 lookup 100",
            "ip rule add pref 1000 from 172.16.5.0/24 iif lan1 lookup 100",
            "ip rule add pref 1001 from 10.0.0.0/24 iif lo goto 1003",
            "ip rule add pref 1001 from 172.16.5.0/24 iif lo goto 1003",
            "ip rule add pref 1002 from 10.0.0.0/24 blackhole",
            "ip rule add pref 1002 from 172.16.5.0/24 blackhole",
            "ip rule add pref 1003 to 198.51.100.7/32 lookup 100",
            "ip rule add pref 1003 to 203.0.113.5/32 lookup 100",
            "ip rule add pref 1004 nop",
            "ip neigh add proxy 203.0.113.5 dev eth0",
            "nft: drop and count packets from 10.0.0.0/24 arriving on anything but br0, lo, natgate0",
            "nft: drop and count packets from 172.16.5.0/24 arriving on anything but lan1, lo, natgate0",
            "sysctl -w net.ipv4.conf.all.rp_filter=2 (unless 0)",
            "sysctl -w net.ipv4.conf.natgate0.rp_filter=2 (unless 0)",
            "sysctl -w net.ipv4.neigh.eth0.proxy_delay=0",
            "sysctl -w net.ipv4.ip_forward=1",
        ], plan.Commands);
        Assert.Contains(notes, note => note.StartsWith("198.51.100.7 is not on-link on eth0", StringComparison.Ordinal));
    }

    [Fact]
    public void Thousands_of_rules_cost_a_handful_of_policy_rules()
    {
        GatewayPlumbingOptions options = Options with
        {
            InternalPrefixes = [.. Enumerable.Range(0, 4096).Select(offset => Ipv4Prefix.Host(Ipv4Address.Parse("10.1.0.0") + (uint)offset))],
            ExternalAddresses = [.. Enumerable.Range(0, 256).Select(offset => Ipv4Address.Parse("198.51.100.0") + (uint)offset)],
            OutsideInterface = null,
        };
        PlumbingPlan plan = PlumbingPlan.Create(options, new PlumbingFacts([], [(Ipv4Prefix.Parse("10.1.0.0/16"), "br0")]));
        // iif TUN, one each of lookup / lo / blackhole for 10.1.0.0/20, one for 198.51.100.0/24, nop.
        Assert.Equal(6, plan.Rules.Count);
        Assert.Contains(plan.Rules, rule => rule.From == Ipv4Prefix.Parse("10.1.0.0/20") && rule.Action == PolicyRuleAction.Blackhole);
        Assert.Contains(plan.Rules, rule => rule.To == Ipv4Prefix.Parse("198.51.100.0/24"));
    }

    [Fact]
    public void Named_inside_interfaces_win_over_the_routes_and_an_unrouted_prefix_is_explained()
    {
        var notes = new List<string>();
        PlumbingPlan named = PlumbingPlan.Create(Options with { InsideInterfaces = ["veth7"] }, Facts, notes);
        Assert.All(named.Rules.Where(rule => rule.Action == PolicyRuleAction.Lookup && rule.From is not null), rule => Assert.Equal("veth7", rule.InputInterface));

        PlumbingPlan unrouted = PlumbingPlan.Create(Options, PlumbingFacts.None, notes);
        Assert.DoesNotContain(unrouted.Rules, rule => rule.From is not null && rule.Action == PolicyRuleAction.Lookup);
        // Spoofed sources are still refused, and the host's own packets still pass.
        Assert.Contains(unrouted.Rules, rule => rule.From == Ipv4Prefix.Parse("10.0.0.0/24") && rule.Action == PolicyRuleAction.Blackhole);
        Assert.Contains(notes, note => note.StartsWith("no interface routes 10.0.0.0/24", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_an_outside_interface_or_externals_the_plan_has_no_neighbours_and_gotos_land_on_a_rule()
    {
        GatewayPlumbingOptions options = Options with { OutsideInterface = null, ExternalAddresses = [], Table = 7, Mtu = 1400, FirstRulePreference = 500 };
        PlumbingPlan plan = PlumbingPlan.Create(options, Facts);
        Assert.Empty(plan.ProxyNeighbours);
        Assert.Contains("ip link set dev natgate0 mtu 1400 up", plan.Commands);
        Assert.Contains("ip rule add pref 502 from 10.0.0.0/24 iif lo goto 505", plan.Commands);
        Assert.Contains("ip route add default dev natgate0 table 7 metric 0", plan.Commands);
        foreach (PolicyRule jump in plan.Rules.Where(rule => rule.Action == PolicyRuleAction.Goto))
        {
            Assert.Contains(plan.Rules, rule => rule.Preference == jump.Target);
        }
        Assert.DoesNotContain(plan.Sysctls, sysctl => sysctl.Path.Contains("proxy_delay", StringComparison.Ordinal));
    }

    [Fact]
    public void The_replies_of_a_local_service_a_redirect_leads_to_go_to_the_tun_and_nothing_else_of_the_host()
    {
        GatewayPlumbingOptions options = Options with
        {
            LocalRedirects = [new LocalRedirect(Ipv4Address.Parse("10.0.0.1"), "tcp", new Core.Ports.PortRange(3128, 3128)), new LocalRedirect(Ipv4Address.Parse("10.0.0.1"), "udp", new Core.Ports.PortRange(5000, 5010))],
        };
        PlumbingPlan plan = PlumbingPlan.Create(options, Facts);
        Assert.Contains("ip rule add pref 1000 from 10.0.0.1/32 iif lo ipproto tcp sport 3128 lookup 100", plan.Commands);
        Assert.Contains("ip rule add pref 1000 from 10.0.0.1/32 iif lo ipproto udp sport 5000-5010 lookup 100", plan.Commands);
        // Before the rule that hands the host's other packets back to the host's own routing.
        Assert.Contains("ip rule add pref 1001 from 10.0.0.0/24 iif lo goto 1003", plan.Commands);
        PolicyRule written = plan.Rules.First(rule => rule.Protocol == "udp");
        const string Json = "{\"priority\":1000,\"src\":\"10.0.0.1\",\"iif\":\"lo\",\"ipproto\":\"udp\",\"sport_start\":5000,\"sport_end\":5010,\"table\":\"100\"}";
        Assert.Equal(written, PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(Json).RootElement));
    }

    [Fact]
    public void The_outside_interfaces_own_address_is_not_proxied_and_is_explained()
    {
        var notes = new List<string>();
        PlumbingPlan plan = PlumbingPlan.Create(Options, Facts with { OutsideAddresses = [InterfaceAddress.Parse("203.0.113.5/24")] }, notes);
        Assert.Empty(plan.ProxyNeighbours);
        Assert.Contains(notes, note => note.StartsWith("203.0.113.5 is this host's own address, and no rule gives it ports", StringComparison.Ordinal));
    }

    [Fact]
    public void A_shared_address_steers_only_the_nats_ports_and_reserves_them_from_the_kernel()
    {
        Ipv4Address shared = Ipv4Address.Parse("203.0.113.1");
        var ports = new Core.Ports.PortRange(61000, 65535);
        GatewayPlumbingOptions options = Options with
        {
            ExternalAddresses = [shared, Ipv4Address.Parse("203.0.113.5")],
            ExternalPorts = [new SteeredPorts(shared, "tcp", ports), new SteeredPorts(shared, "udp", ports), new SteeredPorts(shared, "icmp", ports),
                new SteeredPorts(shared, "tcp", new Core.Ports.PortRange(8080, 8080)), new SteeredPorts(Ipv4Address.Parse("203.0.113.5"), "tcp", ports)],
        };
        var notes = new List<string>();
        PlumbingPlan plan = PlumbingPlan.Create(options, Facts with { LocalAddresses = [shared, Ipv4Address.Parse("10.0.0.1")], ReservedPorts = "8080,9000" }, notes);
        // No whole-address rule for the shared one (the local table would win anyway); the other keeps its own.
        Assert.DoesNotContain("ip rule add pref 1003 to 203.0.113.1/32 lookup 100", plan.Commands);
        Assert.Contains("ip rule add pref 1003 to 203.0.113.5/32 lookup 100", plan.Commands);
        Assert.DoesNotContain(plan.ProxyNeighbours, neighbour => neighbour.Address == shared);
        Assert.Equal(["203.0.113.1 icmp 61000-65535", "203.0.113.1 tcp 8080", "203.0.113.1 tcp 61000-65535", "203.0.113.1 udp 61000-65535"],
            plan.Steering.Select(steered => steered.ToString()));
        Assert.Contains("ip rule add pref 0 fwmark 0x4e470000/0xffff0000 lookup 100   # ahead of 'lookup local', which stays at 0", plan.Commands);
        // The host's reservations stay, the NAT's are added; ICMP identifiers are not ports.
        Assert.Contains("sysctl -w net.ipv4.ip_local_reserved_ports=8080,9000,61000-65535", plan.Commands);
        Assert.Contains("sysctl -w net.ipv4.conf.natgate0.accept_local=1", plan.Commands);
        Assert.DoesNotContain(notes, note => note.Contains("ephemeral", StringComparison.Ordinal));

        PlumbingPlan greedy = PlumbingPlan.Create(options with { ExternalPorts = [new SteeredPorts(shared, "udp", new Core.Ports.PortRange(1024, 65535))] },
            Facts with { LocalAddresses = [shared] }, notes);
        Assert.Contains(notes, note => note.StartsWith("ports 1024-65535 overlap the host's own ephemeral ports 32768-60999", StringComparison.Ordinal));
        Assert.Single(greedy.Steering);
    }

    [Theory]
    [InlineData("", "61000-65535", "61000-65535")]
    [InlineData("8080", "61000-65535", "8080,61000-65535")]
    [InlineData("60000-61000,65535", "61000-65535", "60000-65535")]
    [InlineData("1-10,20", "11-19", "1-20")]
    [InlineData("5000", "5000", "5000")]
    public void Reserved_ports_merge_as_the_kernel_writes_them(string original, string added, string merged)
        => Assert.Equal(merged, SharedAddress.MergeReserved(original, SharedAddress.ParseReserved(added)));

    [Fact]
    public void A_redirect_to_loopback_lets_the_tun_carry_127_addresses()
    {
        PlumbingPlan plan = PlumbingPlan.Create(Options with { LocalRedirects = [new LocalRedirect(Ipv4Address.Parse("127.0.0.1"), "tcp", new Core.Ports.PortRange(3128, 3128))] }, Facts);
        Assert.Contains("sysctl -w net.ipv4.conf.natgate0.route_localnet=1", plan.Commands);
        Assert.Contains("ip rule add pref 1000 from 127.0.0.1/32 iif lo ipproto tcp sport 3128 lookup 100", plan.Commands);
        Assert.DoesNotContain(PlumbingPlan.Create(Options, Facts).Commands, command => command.Contains("route_localnet", StringComparison.Ordinal));
    }

    [Fact]
    public void The_steering_rule_reads_back_from_ip_json()
    {
        const string Json = "{\"priority\":0,\"src\":\"all\",\"fwmark\":\"0x4e470000\",\"fwmask\":\"0xffff0000\",\"table\":\"100\"}";
        PolicyRule? rule = PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(Json).RootElement);
        Assert.Equal(new PolicyRule(0, null, null, null, PolicyRuleAction.Lookup, 100) { FirewallMark = SharedAddress.Mark, FirewallMask = SharedAddress.MarkMask }, rule);
    }

    [Fact]
    public void Reverse_path_filtering_is_loosened_only_from_strict()
    {
        SysctlSetting all = Assert.Single(PlumbingPlan.Create(Options, Facts).Sysctls, sysctl => sysctl.Path == "net/ipv4/conf/all/rp_filter");
        Assert.True(all.IsSatisfiedBy("0"));
        Assert.True(all.IsSatisfiedBy("2"));
        Assert.False(all.IsSatisfiedBy("1"));
    }

    [Fact]
    public void A_dot_in_an_interface_name_becomes_a_slash_in_the_sysctl_name()
    {
        PlumbingPlan plan = PlumbingPlan.Create(Options with { OutsideInterface = "eth0.100" }, Facts);
        Assert.Contains("sysctl -w net.ipv4.neigh.eth0/100.proxy_delay=0", plan.Commands);
    }

    [Fact]
    public void Options_refuse_reserved_tables_and_bad_names()
    {
        Assert.Throws<ArgumentException>(() => (Options with { Table = 254 }).Validate());
        Assert.Throws<ArgumentException>(() => (Options with { TunName = "a/b" }).Validate());
        Assert.Throws<ArgumentException>(() => (Options with { InsideInterfaces = ["much-too-long-a-name"] }).Validate());
        Assert.Throws<ArgumentException>(() => (Options with { FirstRulePreference = 32761 }).Validate());
    }

    [Fact]
    public void A_rule_reads_back_from_ip_json_as_it_was_written()
    {
        foreach (PolicyRule rule in PlumbingPlan.Create(Options, Facts).Rules)
        {
            Assert.Equal(rule, PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(ToJson(rule)).RootElement));
        }

        // What `ip -j rule show` prints for NatGate's kinds of rules.
        static string ToJson(PolicyRule rule)
        {
            var parts = new List<string> { $"\"priority\":{rule.Preference}" };
            parts.Add(rule.From is { } from ? $"\"src\":\"{from.Network.ToString()}\",\"srclen\":{from.Length}" : "\"src\":\"all\"");
            if (rule.To is { } to)
            {
                parts.Add(to.Length == 32 ? $"\"dst\":\"{to.Network.ToString()}\"" : $"\"dst\":\"{to.Network.ToString()}\",\"dstlen\":{to.Length}");
            }
            if (rule.InputInterface is { } input)
            {
                parts.Add($"\"iif\":\"{input}\",\"iif_detached\":null");
            }
            parts.Add(rule.Action switch
            {
                PolicyRuleAction.Lookup => $"\"table\":\"{rule.Target}\"",
                PolicyRuleAction.Goto => $"\"goto\":{rule.Target}",
                PolicyRuleAction.Blackhole => "\"action\":\"blackhole\"",
                _ => "\"nop\":null",
            });
            return "{" + string.Join(',', parts) + "}";
        }
    }
}
