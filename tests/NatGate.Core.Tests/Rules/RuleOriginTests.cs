using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Tests.Translation;

namespace NatGate.Core.Tests.RuleOrigins;

public sealed class RuleOriginTests
{
    [Fact]
    public void Each_origin_reads_as_listings_have_always_shown_it()
    {
        Assert.Equal("ipnat.conf:12", new RuleOrigin.IpnatLine("ipnat.conf", 12).Text);
        Assert.Equal("control:2", new RuleOrigin.ControlApi(2).Text);
        Assert.Equal("nat containers", new RuleOrigin.NetNatInstance("containers").Text);
        Assert.Equal("nat containers mapping 3", new RuleOrigin.NetNatStaticMapping("containers", 3).Text);
        Assert.Equal("--inside 10.0.0.0/24 --external eth0", new RuleOrigin.CommandLine(Ipv4Prefix.Parse("10.0.0.0/24"), "eth0").Text);
        Assert.Equal("lan", new NatRule { Label = "lan" }.Origin!.Text);
    }

    [Fact]
    public void Only_netnat_origins_name_an_instance_whatever_their_text_says()
    {
        Assert.Equal("lan", new RuleOrigin.NetNatInstance("lan").NetNatInstanceName);
        Assert.Equal("lan mapping 2", new RuleOrigin.NetNatStaticMapping("lan mapping 2", 7).NetNatInstanceName);
        // A file whose name begins "nat " once read as an instance's rule.
        NatRule fromFile = Assert.Single(IpnatParser.Parse("map eth0 10.0.0.0/24 -> 198.51.100.1/32", "nat extra.conf").Rules);
        Assert.Equal("nat extra.conf:1", fromFile.Label);
        Assert.Null(fromFile.Origin!.NetNatInstanceName);
        Assert.Null(new RuleOrigin.Described("nat lan").NetNatInstanceName);
    }

    [Fact]
    public void Rules_that_differ_only_in_origin_are_one_rule()
    {
        NatRule instance = NetNatRules.Map(Lab.InsidePrefix, Lab.External, null, NatPolicy.Default, new RuleOrigin.NetNatInstance("lan"));
        NatRule readBack = instance with { Label = "nat lan" };
        NatRule elsewhere = instance with { Origin = new RuleOrigin.IpnatLine("ipnat.conf", 4) };
        Assert.True(RuleComparer.Equal(instance, readBack));
        Assert.True(RuleComparer.Equal(instance, elsewhere));
        Assert.True(RuleComparer.Equal(instance, instance with { Origin = null }));
        Assert.False(RuleComparer.Equal(instance, instance with { TranslatedFirst = Lab.External + 1 }));
    }
}
