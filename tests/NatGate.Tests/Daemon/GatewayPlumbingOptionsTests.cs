using NatGate.Core.Addressing;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using NatGate.Daemon;
using NatGate.Linux.Routing;

namespace NatGate.Tests.Daemon;

/// <summary>
/// What the daemon asks of the routing for the rules it holds (<see cref="GatewayDaemon.PlumbingOptionsOf"/>),
/// and the plan made of it: ::/0 is treated as IPv4's 0/0, and never steers the host's own IPv6.
/// </summary>
public sealed class GatewayPlumbingOptionsTests
{
    private static readonly PlumbingFacts Facts = new(
        [InterfaceAddress.Parse("203.0.113.1/24")],
        [(Ipv4Prefix.Parse("10.0.0.0/24"), "br0"), (Ipv4Prefix.Parse("203.0.113.0/24"), "eth0")])
    {
        Ipv6MainRoutes = [(IpPrefix.Parse("fd00:77::/64", null), "br0"), (IpPrefix.Parse("2001:db8:1::/64", null), "eth0"), (IpPrefix.Parse("fe80::/64", null), "eth0")],
        Ipv6LocalAddresses = [Ipv6Address.Parse("2001:db8:1::1", null)],
    };

    private static GatewayPlumbingOptions OptionsOf(string rules)
    {
        IReadOnlyList<RuleInfo> loaded = [.. IpnatParser.Parse(rules, "ipnat.conf").Rules.Select((rule, index) => new RuleInfo(index, rule, Active: true, Sessions: 0))];
        return GatewayDaemon.PlumbingOptionsOf(new GatewayRunOptions(), loaded, [], []);
    }

    /// <summary>A policy rule's shape, its family left out: preference, whether its source and destination are the whole space, input interface, action.</summary>
    private static string[] Shapes(PlumbingPlan plan, bool ipv6)
        => [.. plan.Rules.Where(rule => rule.IsIpv6 == ipv6)
            .Select(rule => $"{rule.Preference} from {(rule.From is { } from ? from.Length == 0 ? "all" : "some" : "-")} to {(rule.To is { } to ? to.Length == 0 ? "all" : "some" : "-")} iif {rule.InputInterface ?? "-"} {rule.Action}")
            .Order(StringComparer.Ordinal)];

    [Fact]
    public void Ipv6_whole_space_prefixes_are_planned_as_ipv4_s_0_0_and_never_steer_the_host_s_own_traffic()
    {
        GatewayPlumbingOptions ipv6 = OptionsOf("""
            map wan0 ::/0 -> 2001:db8::10/128 portmap tcp/udp auto
            rdr wan0 from any to ::/0 port 80 -> fd00:77::3 port 80 tcp
            map wan0 fd00:77::/64 -> ::/0 portmap tcp/udp auto
            """);

        // Inside ::/0 is steered by source; as a destination or an external range it asks for nothing.
        Assert.Equal([IpPrefix.Parse("::/0", null), IpPrefix.Parse("fd00:77::/64", null)], ipv6.Ipv6InternalPrefixes);
        Assert.Equal([IpPrefix.Parse("2001:db8::10/128", null)], ipv6.Ipv6ExternalPrefixes);

        PlumbingPlan plan = PlumbingPlan.Create(ipv6, Facts);

        // Nothing is looked up in NatGate's table by destination ::/0, and the host's own packets
        // (iif lo) only jump past the steering, except to the NAT's own external address.
        Assert.DoesNotContain(plan.Rules, rule => rule.To is { Length: 0 });
        Assert.All(plan.Rules.Where(rule => rule.IsIpv6 && rule.InputInterface == "lo"), rule => Assert.Equal(PolicyRuleAction.Goto, rule.Action));
        Assert.All(plan.Rules.Where(rule => rule.IsIpv6 && rule.Action == PolicyRuleAction.Lookup && rule.InputInterface is null),
            rule => Assert.Equal(IpPrefix.Parse("2001:db8::10/128", null), rule.To));

        // The same rule set written with IPv4's 0/0 plans alike, rule for rule.
        GatewayPlumbingOptions ipv4 = OptionsOf("""
            map wan0 0/0 -> 198.51.100.10/32 portmap tcp/udp auto
            rdr wan0 from any to 0/0 port 80 -> 10.0.0.3 port 80 tcp
            map wan0 10.0.0.0/24 -> 0/0 portmap tcp/udp auto
            """);
        Assert.Equal(Shapes(PlumbingPlan.Create(ipv4, Facts), ipv6: false), Shapes(plan, ipv6: true));

        // A NAT64 map from ::/0 is steered by its prefix alone, and its inside, like "any", is not guarded.
        GatewayPlumbingOptions nat64 = OptionsOf("map wan0 ::/0 -> 203.0.113.10/32 portmap tcp/udp auto");
        Assert.Empty(nat64.Nat64InsidePrefixes);
        PlumbingPlan nat64Plan = PlumbingPlan.Create(nat64, Facts);
        Assert.Equal([IpPrefix.Parse("64:ff9b::/96", null)], nat64Plan.Rules.Where(rule => rule.IsIpv6 && rule.Action == PolicyRuleAction.Lookup).Select(rule => rule.To));
        Assert.DoesNotContain(nat64Plan.Guard, guard => guard.Source.IsIpv6);
    }

    [Fact]
    public void A_whole_space_external_or_nat64_prefix_given_to_the_plan_is_still_refused()
    {
        GatewayPlumbingOptions options = OptionsOf("map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto");

        ArgumentException external = Assert.Throws<ArgumentException>(() => PlumbingPlan.Create(options with { Ipv6ExternalPrefixes = [IpPrefix.Parse("::/0", null)] }, Facts));
        Assert.Contains("overlaps", external.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => PlumbingPlan.Create(options with { Nat64InsidePrefixes = [IpPrefix.Parse("::/0", null)] }, Facts));
    }
}
