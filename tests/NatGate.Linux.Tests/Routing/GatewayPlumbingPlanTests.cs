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
        Assert.DoesNotContain(plan.Commands, command => command.Contains("eth1.accept_local", StringComparison.Ordinal));
        Assert.DoesNotContain(notes, note => note.Contains("ephemeral", StringComparison.Ordinal));

        // With the kernel fast path, rewritten packets carry the shared address from the inside
        // interfaces' ingress (a martian there without accept_local, dropped before routing).
        PlumbingPlan fast = PlumbingPlan.Create(options with { KernelFastPath = true, InsideInterfaces = ["eth1"] },
            Facts with { LocalAddresses = [shared, Ipv4Address.Parse("10.0.0.1")], ReservedPorts = "8080,9000" }, notes);
        Assert.Contains("sysctl -w net.ipv4.conf.eth1.accept_local=1", fast.Commands);
        Assert.DoesNotContain(PlumbingPlan.Create(Options with { KernelFastPath = true, InsideInterfaces = ["eth1"] }, Facts, notes).Commands,
            command => command.Contains("eth1.accept_local", StringComparison.Ordinal));

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
            Assert.Equal(rule, PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(RuleJson(rule)).RootElement));
        }
    }

    /// <summary>What `ip -j rule show` (`ip -6 -j rule show`) prints for NatGate's kinds of rules.</summary>
    private static string RuleJson(PolicyRule rule)
    {
        int host = rule.IsIpv6 ? 128 : 32;
        var parts = new List<string> { $"\"priority\":{rule.Preference}" };
        parts.Add(rule.From is { } from ? $"\"src\":\"{from.First}\",\"srclen\":{from.Length}" : "\"src\":\"all\"");
        if (rule.To is { } to)
        {
            parts.Add(to.Length == host ? $"\"dst\":\"{to.First}\"" : $"\"dst\":\"{to.First}\",\"dstlen\":{to.Length}");
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

    private static readonly GatewayPlumbingOptions Ipv6Options = Options with
    {
        Ipv6InternalPrefixes = [IpPrefix.Parse("fd00:1::/64", null)],
        Ipv6ExternalPrefixes = [IpPrefix.Parse("2001:db8:77::/48", null), IpPrefix.Parse("2001:db8:1::9/128", null)],
    };

    private static readonly PlumbingFacts Ipv6Facts = Facts with
    {
        Ipv6OutsidePrefixes = [IpPrefix.Parse("2001:db8:1::/64", null)],
        Ipv6MainRoutes = [(IpPrefix.Parse("fd00:1::/64", null), "br0"), (IpPrefix.Parse("2001:db8:1::/64", null), "eth0"), (IpPrefix.Parse("fe80::/64", null), "br0")],
        Ipv6LocalAddresses = [Ipv6Address.Parse("2001:db8:1::1", null), Ipv6Address.Parse("fd00:1::1", null)],
        RouterAdvertisedInterfaces = ["eth0"],
    };

    [Fact]
    public void The_replies_of_a_local_service_an_ipv6_redirect_leads_to_go_to_the_tun_from_the_ipv6_rule_list()
    {
        var proxy = new LocalRedirect(Ipv6Address.Parse("fd00:1::1", null), "tcp", new Core.Ports.PortRange(3128, 3128));
        PlumbingPlan plan = PlumbingPlan.Create(Ipv6Options with { LocalRedirects = [proxy] }, Ipv6Facts);
        IReadOnlyList<string> commands = plan.Commands;
        int redirect = commands.ToList().IndexOf("ip -6 rule add pref 1000 from fd00:1::1/128 iif lo ipproto tcp sport 3128 lookup 100");
        Assert.True(redirect >= 0, string.Join('\n', commands));
        // Before the rule that hands the host's other packets back to the host's own routing, and never in IPv4's list.
        Assert.True(redirect < commands.ToList().IndexOf("ip -6 rule add pref 1001 from fd00:1::/64 iif lo goto 1003"));
        Assert.DoesNotContain(commands, command => command.StartsWith("ip rule", StringComparison.Ordinal) && command.Contains("fd00:1::1", StringComparison.Ordinal));
        PolicyRule written = Assert.Single(plan.Rules, rule => rule.IsIpv6 && rule.Protocol == "tcp");
        const string Json = "{\"priority\":1000,\"src\":\"fd00:1::1\",\"srclen\":128,\"iif\":\"lo\",\"ipproto\":\"tcp\",\"sport\":3128,\"table\":\"100\"}";
        Assert.Equal(written, PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(Json).RootElement, ipv6: true));
    }

    [Fact]
    public void Ipv6_mirrors_the_ipv4_plan_in_the_ipv6_rule_list_and_the_same_table()
    {
        var notes = new List<string>();
        PlumbingPlan plan = PlumbingPlan.Create(Ipv6Options, Ipv6Facts, notes);
        IReadOnlyList<string> ipv4 = PlumbingPlan.Create(Options, Facts).Commands;
        Assert.True(plan.HasIpv6);
        Assert.Equal(
        [
            // IPv4 as it was...
            .. ipv4.Where(command => !command.StartsWith("sysctl", StringComparison.Ordinal)),
            // ...then the same layout again for IPv6: the TUN's route (IPv6 has no metric 0) and the guard route behind it,
            "ip -6 route add default dev natgate0 table 100 metric 1024",
            "ip -6 route add blackhole default table 100 metric 4294967295",
            "ip -6 rule add pref 999 iif natgate0 goto 1004",
            "ip -6 rule add pref 1000 from fd00:1::/64 iif br0 lookup 100",
            "ip -6 rule add pref 1001 from fd00:1::/64 iif lo goto 1003",
            "ip -6 rule add pref 1002 from fd00:1::/64 blackhole",
            "ip -6 rule add pref 1003 to 2001:db8:1::9/128 lookup 100",
            "ip -6 rule add pref 1003 to 2001:db8:77::/48 lookup 100",
            "ip -6 rule add pref 1004 nop",
            "ip -6 neigh add proxy 2001:db8:1::9 dev eth0",
            "nft: drop and count packets from fd00:1::/64 arriving on anything but br0, lo, natgate0",
            .. ipv4.Where(command => command.StartsWith("sysctl", StringComparison.Ordinal)),
            "sysctl -w net.ipv6.conf.eth0.proxy_ndp=1",
            "sysctl -w net.ipv6.neigh.eth0.proxy_delay=0",
            // Forwarding would drop eth0's default route learned from router advertisements.
            "sysctl -w net.ipv6.conf.eth0.accept_ra=2 (unless 0)",
            "sysctl -w net.ipv6.conf.all.forwarding=1",
        ], plan.Commands);
        Assert.Contains(notes, note => note.StartsWith("2001:db8:77::/48 is a prefix, and proxy NDP answers for single addresses", StringComparison.Ordinal));
        Assert.All(plan.Rules.Where(rule => rule.From is { } from && from.IsIpv6 || rule.To is { } to && to.IsIpv6), rule => Assert.True(rule.IsIpv6));
        Assert.Single(plan.Guard, guard => guard.Source.IsIpv6);
    }

    [Fact]
    public void Without_ipv6_prefixes_the_plan_is_ipv4_alone_whatever_the_host_holds()
    {
        PlumbingPlan plan = PlumbingPlan.Create(Options, Ipv6Facts);
        Assert.False(plan.HasIpv6);
        Assert.Equal(PlumbingPlan.Create(Options, Facts).Commands, plan.Commands);
        Assert.DoesNotContain(plan.Commands, command => command.Contains("-6", StringComparison.Ordinal) || command.Contains("ipv6", StringComparison.Ordinal));
        Assert.DoesNotContain(plan.Rules, rule => rule.IsIpv6);
        Assert.DoesNotContain(plan.Routes, route => route.IsIpv6);
    }

    [Fact]
    public void An_external_ipv6_prefix_alone_steers_inbound_and_the_gotos_land_on_a_rule()
    {
        GatewayPlumbingOptions options = Options with { Ipv6ExternalPrefixes = [IpPrefix.Parse("2001:db8:77::/48", null)] };
        PlumbingPlan plan = PlumbingPlan.Create(options, Ipv6Facts);
        Assert.Equal(
        [
            "ip -6 rule add pref 999 iif natgate0 goto 1004",
            "ip -6 rule add pref 1003 to 2001:db8:77::/48 lookup 100",
            "ip -6 rule add pref 1004 nop",
        ], plan.Rules.Where(rule => rule.IsIpv6).Select(rule => rule.ToString()));
        Assert.DoesNotContain(plan.Guard, guard => guard.Source.IsIpv6);
        Assert.DoesNotContain(plan.ProxyNeighbours, neighbour => neighbour.Address.IsIpv6);
        Assert.DoesNotContain(plan.Sysctls, sysctl => sysctl.Path.Contains("proxy_ndp", StringComparison.Ordinal));
        Assert.Equal("net/ipv6/conf/all/forwarding", plan.Sysctls[^1].Path);

        PlumbingPlan inside = PlumbingPlan.Create(Options with { Ipv6InternalPrefixes = [IpPrefix.Parse("fd00:1::/64", null)], OutsideInterface = null }, Ipv6Facts);
        Assert.Contains("ip -6 rule add pref 1001 from fd00:1::/64 iif lo goto 1004", inside.Commands);
        foreach (PolicyRule jump in inside.Rules.Where(rule => rule.IsIpv6 && rule.Action == PolicyRuleAction.Goto))
        {
            Assert.Contains(inside.Rules, rule => rule.IsIpv6 && rule.Preference == jump.Target);
        }
    }

    [Fact]
    public void A_nat64_prefix_is_steered_by_destination_alone_and_never_proxied()
    {
        var notes = new List<string>();
        GatewayPlumbingOptions options = Options with { Nat64Prefixes = [IpPrefix.Parse("64:ff9b::/96", null)], Nat64InsidePrefixes = [IpPrefix.Parse("fd00:1::/64", null)] };
        PlumbingPlan plan = PlumbingPlan.Create(options, Ipv6Facts, notes);
        Assert.Equal(
        [
            "ip -6 rule add pref 999 iif natgate0 goto 1004",
            "ip -6 rule add pref 1003 to 64:ff9b::/96 lookup 100",
            "ip -6 rule add pref 1004 nop",
        ], plan.Rules.Where(rule => rule.IsIpv6).Select(rule => rule.ToString()));
        // The inside's other IPv6 traffic is not steered (no rule "from" it), nor is the prefix proxied;
        // but the inside is guarded, so the outside cannot use the NAT64 with an inside host's address.
        Assert.Contains("nft: drop and count packets from fd00:1::/64 arriving on anything but br0, lo, natgate0", plan.Commands);
        Assert.DoesNotContain(plan.ProxyNeighbours, neighbour => neighbour.Address.IsIpv6);
        Assert.DoesNotContain(notes, note => note.Contains("64:ff9b", StringComparison.Ordinal));
        Assert.Contains("ip -6 route add default dev natgate0 table 100 metric 1024", plan.Commands);
        Assert.Equal("net/ipv6/conf/all/forwarding", plan.Sysctls[^1].Path);
        // The IPv4 side (the rules' external addresses) is IPv4's plan, as ever.
        Assert.Contains("ip rule add pref 1003 to 203.0.113.5/32 lookup 100", plan.Commands);

        ArgumentException refused = Assert.Throws<ArgumentException>(() => (Options with { Nat64Prefixes = [IpPrefix.Parse("10.0.0.0/8", null)] }).Validate());
        Assert.Contains("NAT64", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_hosts_own_ipv6_address_is_not_steered_nor_proxied_and_an_address_off_link_is_explained()
    {
        var notes = new List<string>();
        GatewayPlumbingOptions options = Options with
        {
            Ipv6ExternalPrefixes = [IpPrefix.Parse("2001:db8:1::1/128", null), IpPrefix.Parse("2001:db8:5::9/128", null)],
        };
        PlumbingPlan plan = PlumbingPlan.Create(options, Ipv6Facts, notes);
        Assert.DoesNotContain(plan.Rules, rule => rule.To == IpPrefix.Parse("2001:db8:1::1/128", null));
        Assert.Contains("ip -6 rule add pref 1003 to 2001:db8:5::9/128 lookup 100", plan.Commands);
        Assert.DoesNotContain(plan.ProxyNeighbours, neighbour => neighbour.Address.IsIpv6);
        Assert.Contains(notes, note => note.StartsWith("2001:db8:1::1 is this host's own address", StringComparison.Ordinal));
        Assert.Contains(notes, note => note.StartsWith("2001:db8:5::9 is not on-link on eth0", StringComparison.Ordinal));
    }

    [Fact]
    public void Ipv6_inside_prefixes_aggregate_and_follow_named_inside_interfaces()
    {
        GatewayPlumbingOptions options = Options with
        {
            Ipv6InternalPrefixes = [IpPrefix.Parse("fd00:1::/65", null), IpPrefix.Parse("fd00:1:0:0:8000::/65", null), IpPrefix.Parse("fd00:1::5/128", null)],
            InsideInterfaces = ["veth7"],
        };
        PlumbingPlan plan = PlumbingPlan.Create(options, Ipv6Facts);
        Assert.Equal(["ip -6 rule add pref 1000 from fd00:1::/64 iif veth7 lookup 100"],
            plan.Rules.Where(rule => rule.IsIpv6 && rule.Action == PolicyRuleAction.Lookup && rule.From is not null).Select(rule => rule.ToString()));

        var notes = new List<string>();
        PlumbingPlan unrouted = PlumbingPlan.Create(Ipv6Options, Facts, notes);
        Assert.Contains("ip -6 rule add pref 1002 from fd00:1::/64 blackhole", unrouted.Commands);
        Assert.Contains(notes, note => note.StartsWith("no interface routes fd00:1::/64", StringComparison.Ordinal));
    }

    [Fact]
    public void An_ipv6_rule_reads_back_from_ip_json_as_it_was_written()
    {
        foreach (PolicyRule rule in PlumbingPlan.Create(Ipv6Options, Ipv6Facts).Rules.Where(rule => rule.IsIpv6))
        {
            Assert.Equal(rule, PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(RuleJson(rule)).RootElement, ipv6: true));
        }
        // As iproute2 6.1 prints them.
        const string Inside = "{\"priority\":1000,\"src\":\"fd00:1::\",\"srclen\":64,\"iif\":\"d0\",\"table\":\"100\"}";
        const string External = "{\"priority\":1003,\"src\":\"all\",\"dst\":\"2001:db8:1::9\",\"table\":\"100\"}";
        Assert.Equal(new PolicyRule(1000, IpPrefix.Parse("fd00:1::/64", null), null, "d0", PolicyRuleAction.Lookup, 100) { IsIpv6 = true },
            PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(Inside).RootElement, ipv6: true));
        Assert.Equal(new PolicyRule(1003, null, IpPrefix.Parse("2001:db8:1::9/128", null), null, PolicyRuleAction.Lookup, 100) { IsIpv6 = true },
            PolicyRule.FromJson(System.Text.Json.JsonDocument.Parse(External).RootElement, ipv6: true));
    }

    [Theory]
    [InlineData("10.0.0.0/8", "is not an IPv6 prefix")]
    [InlineData("fe80::/64", "overlaps the link-local fe80::/10")]
    [InlineData("ff02::1/128", "overlaps the multicast ff00::/8")]
    public void Ipv6_options_refuse_what_is_not_a_translatable_ipv6_prefix(string prefix, string reason)
    {
        IpPrefix parsed = IpPrefix.Parse(prefix, null);
        ArgumentException inside = Assert.Throws<ArgumentException>(() => (Options with { Ipv6InternalPrefixes = [parsed] }).Validate());
        Assert.Contains(reason, inside.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(GatewayPlumbingOptions.Ipv6InternalPrefixes), inside.ParamName);
        ArgumentException external = Assert.Throws<ArgumentException>(() => (Options with { Ipv6ExternalPrefixes = [parsed] }).Validate());
        Assert.Contains(reason, external.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_inside_ipv6_whole_space_is_steered_by_source_as_ipv4_s_0_0_but_never_as_a_destination()
    {
        IpPrefix everything = IpPrefix.Parse("::/0", null);
        PlumbingPlan plan = PlumbingPlan.Create(Ipv6Options with { Ipv6InternalPrefixes = [everything] }, Ipv6Facts);
        // From every inside interface into the table; the host's own packets (iif lo) only jump past it.
        Assert.Contains(plan.Rules, rule => rule.IsIpv6 && rule.From == everything && rule.InputInterface == "br0" && rule.Action == PolicyRuleAction.Lookup);
        Assert.All(plan.Rules.Where(rule => rule.IsIpv6 && rule.InputInterface == "lo"), rule => Assert.Equal(PolicyRuleAction.Goto, rule.Action));
        Assert.DoesNotContain(plan.Rules, rule => rule.To is { Length: 0 });

        ArgumentException external = Assert.Throws<ArgumentException>(() => (Options with { Ipv6ExternalPrefixes = [everything] }).Validate());
        Assert.Contains("overlaps the link-local fe80::/10", external.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ipv6_needs_a_tun_mtu_of_1280()
    {
        ArgumentException refused = Assert.Throws<ArgumentException>(() => (Ipv6Options with { Mtu = 1279 }).Validate());
        Assert.Contains("too small for IPv6", refused.Message, StringComparison.Ordinal);
        (Ipv6Options with { Mtu = 1280 }).Validate();
        (Options with { Mtu = 576 }).Validate();
    }
}
