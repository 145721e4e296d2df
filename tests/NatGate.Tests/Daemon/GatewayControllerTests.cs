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

    [Fact]
    public void Bulk_removals_walk_the_table_a_slice_at_a_time_and_miss_nothing()
    {
        // More slots than several slices, sessions spread over them.
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1, Limits = new Core.Sessions.FlowTableLimits { MaximumSessions = 5 * GatewayController.SlotsPerSlice, MaximumSessionsPerHost = 0 } }, 0);
        var controller = new GatewayController(engine, TimeProvider.System);
        controller.ApplyNetNat(new NetNatModel { Instances = [Lab] });
        Ipv4Address server = Ipv4Address.Parse("203.0.113.7");
        void Open(int count)
        {
            for (int i = 0; i < count; i++)
            {
                byte[] packet = new byte[Ipv4Packet.MinimumHeaderLength + UdpDatagram.HeaderLength + 1];
                Ipv4PacketWriter.WriteUdp(packet, Ipv4Address.Parse("10.0.0.2") + (uint)(i % 200), (ushort)(10000 + i), server, 53, [1], 64);
                Assert.Equal(Verdict.Forward, controller.Run(engine => engine.Translate(packet, packet.Length, controller.NowTicks)).Verdict);
            }
        }
        Open(7000);
        Assert.Equal(7000, controller.FlushSessions());
        Assert.Equal(0, controller.Run(engine => engine.SessionCount));

        Open(3000);
        Assert.Equal(3000, controller.FlushSessionsOn(Ipv4Address.Parse("198.51.100.10")));
        Assert.Equal(0, controller.Run(engine => engine.SessionCount));
        Assert.Equal(3000, controller.Statistics().AddressGone);
    }
}
