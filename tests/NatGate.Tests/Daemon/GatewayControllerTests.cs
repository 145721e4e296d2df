using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using NatGate.Daemon;

namespace NatGate.Tests.Daemon;

public sealed class GatewayControllerTests
{
    private static readonly NatInstance Lab = new()
    {
        Name = "lab",
        InternalIPInterfaceAddressPrefix = Ipv4Prefix.Parse("10.0.0.0/24"),
        ExternalAddresses = [new NatExternalAddress(Ipv4Address.Parse("198.51.100.10"))],
    };

    private static int ActiveRules(GatewayController controller) => controller.Rules().Count(rule => rule.Active);

    [Fact]
    public void Applying_a_changed_model_swaps_its_rules_and_a_bad_one_changes_nothing()
    {
        var controller = new GatewayController(new NatEngine(new NatEngineOptions { RandomSeed = 1 }, 0), TimeProvider.System);
        controller.ApplyNetNat(new NetNatModel { Instances = [Lab] });
        Assert.Equal(1, ActiveRules(controller));

        controller.ApplyNetNat(new NetNatModel { Instances = [Lab with { UdpIdleSessionTimeout = TimeSpan.FromSeconds(600) }] });
        RuleInfo rule = Assert.Single(controller.Rules(), info => info.Active);
        Assert.Equal(TimeSpan.FromSeconds(600), rule.Rule.Policy.UdpIdleTimeout);

        var refused = Assert.Throws<NatControlException>(() => controller.ApplyNetNat(new NetNatModel { Instances = [Lab, Lab] }));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Equal(TimeSpan.FromSeconds(600), Assert.Single(controller.Rules(), info => info.Active).Rule.Policy.UdpIdleTimeout);

        // Applying again after the refusal still replaces exactly the model's rules.
        controller.ApplyNetNat(new NetNatModel { Instances = [Lab] });
        Assert.Equal(1, ActiveRules(controller));
    }

    [Fact]
    public void A_rule_from_a_file_named_like_an_instance_stays_when_the_model_changes()
    {
        var controller = new GatewayController(new NatEngine(new NatEngineOptions { RandomSeed = 1 }, 0), TimeProvider.System);
        controller.ApplyNetNat(new NetNatModel { Instances = [Lab] });
        controller.LoadRules(IpnatParser.Parse("map eth0 10.9.0.0/24 -> 198.51.100.99/32", "nat extra.conf").Rules);
        // Every rule resolves differently now, so the set is replaced and the NetNat bookkeeping redone.
        controller.ResolveRule = rule => rule with { MssClamp = 1400 };
        Assert.True(controller.ResolveAgain());

        controller.ApplyNetNat(new NetNatModel());

        RuleInfo kept = Assert.Single(controller.Rules(), info => info.Active);
        Assert.Equal("nat extra.conf:1", kept.Rule.Label);
    }
}
