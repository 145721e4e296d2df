using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>NAT64's vocabulary: a map from IPv6 inside addresses to IPv4 external ones, through the Well-Known Prefix or one named after "to".</summary>
public sealed class Nat64RuleTests
{
    [Theory]
    [InlineData("map eth0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp auto", "64:ff9b::/96")]
    [InlineData("map eth0 from fd00:77::/64 to 64:ff9b::/96 -> 203.0.113.10/32 portmap tcp/udp auto", "64:ff9b::/96")]
    [InlineData("map eth0 from fd00:77::/64 to 2001:db8:100::/40 -> range 203.0.113.10-203.0.113.11", "2001:db8:100::/40")]
    [InlineData("map eth0 from fd00:77::/64 to 2001:db8:64::/32 -> 203.0.113.10/32 portmap udp 2000:3000", "2001:db8::/32")]
    public void A_map_from_ipv6_to_ipv4_is_nat64_and_prints_back_as_written(string line, string prefix)
    {
        NatRule rule = Assert.Single(IpnatParser.Parse(line, "ipnat.conf").Rules);
        Assert.True(rule.IsNat64);
        Assert.Null(rule.FamilyProblem);
        Assert.Equal(Nat64Prefix.Parse(prefix), Nat64Mapping.PrefixOf(rule));
        Assert.Equal(rule, Assert.Single(IpnatParser.Parse(IpnatPrinter.Print(rule), "ipnat.conf").Rules), RuleComparerAdapter.Instance);

        var engine = new NatEngine(new NatEngineOptions(), 0);
        engine.AddRule(rule);
        Assert.Single(engine.ListRules());
    }

    [Theory]
    [InlineData("map eth0 from fd00:77::/64 to 2001:db8::/80 -> 203.0.113.10/32", 31, "/32, /40, /48, /56, /64 and /96")]
    [InlineData("map eth0 from fd00:77::/64 to !64:ff9b::/96 -> 203.0.113.10/32", 31, "cannot be negated")]
    [InlineData("map eth0 from fd00:77::/64 to 2001:db8:0:0:ff00::/96 -> 203.0.113.10/32", 31, "bits 64 to 71")]
    [InlineData("map eth0 from fd00:77::/64 to 10.0.0.0/8 -> 203.0.113.10/32", 45, "mixes IPv4 and IPv6")]
    [InlineData("map eth0 10.0.0.0/8 -> 2001:db8::1/128", 24, "mixes IPv4 and IPv6")]
    public void A_bad_nat64_rule_is_refused_at_its_line_and_column(string line, int column, string what)
    {
        RuleSyntaxException error = Assert.Throws<RuleSyntaxException>(() => IpnatParser.Parse("# NAT64\n" + line, "ipnat.conf"));
        Assert.StartsWith($"ipnat.conf:2:{column}:", error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_engine_refuses_a_bad_nat64_rule_from_the_api_with_einval()
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        var rule = new NatRule
        {
            Kind = NatRuleKind.Map,
            Source = IpPrefix.Parse("fd00:77::/64", null),
            Destination = IpPrefix.Parse("2001:db8::/72", null),
            TranslatedFirst = Ipv4Address.Parse("203.0.113.10"),
            TranslatedLast = Ipv4Address.Parse("203.0.113.10"),
        };
        Assert.True(rule.IsNat64);
        NatControlException refused = Assert.Throws<NatControlException>(() => engine.AddRule(rule));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Contains("NAT64 prefix", refused.Message, StringComparison.Ordinal);
        Assert.Empty(engine.ListRules());
    }

    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("198.51.100.20", true)] // documentation: stands for a public address
    [InlineData("10.1.2.3", false)]
    [InlineData("172.16.0.1", false)]
    [InlineData("172.32.0.1", true)]
    [InlineData("192.168.1.1", false)]
    [InlineData("100.64.0.1", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("169.254.1.1", false)]
    [InlineData("224.0.0.1", false)]
    [InlineData("0.1.2.3", false)]
    public void The_well_known_prefix_stands_for_global_ipv4_only(string address, bool global)
        => Assert.Equal(global, Nat64Mapping.IsGlobal(Ipv4Address.Parse(address)));

    private sealed class RuleComparerAdapter : IEqualityComparer<NatRule>
    {
        public static RuleComparerAdapter Instance { get; } = new();

        public bool Equals(NatRule? x, NatRule? y) => x is not null && y is not null && RuleComparer.Equal(x, y);

        public int GetHashCode(NatRule obj) => 0;
    }
}
