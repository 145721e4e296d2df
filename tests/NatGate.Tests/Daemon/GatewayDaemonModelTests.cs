using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using NatGate.Daemon;

namespace NatGate.Tests.Daemon;

/// <summary>What `natgate run`'s flags make of the rules it is given (<see cref="GatewayDaemon.LoadModel"/>).</summary>
public sealed class GatewayDaemonModelTests : IDisposable
{
    private readonly string rulesFile = Path.GetTempFileName();

    public GatewayDaemonModelTests() => File.WriteAllText(rulesFile, """
        map wan0 10.77.0.0/24 -> 198.51.100.10/32 portmap tcp/udp auto age 90
        map wan0 fd00:77::/64 -> 2001:db8:100::10/128 portmap tcp/udp auto
        rdr wan0 2001:db8:100::10/128 port 8081 -> fd00:77::3 port 8081 tcp

        """);

    public void Dispose() => File.Delete(rulesFile);

    [Fact]
    public void The_behaviour_and_timeout_flags_govern_the_rules_of_the_rules_file_of_both_families()
    {
        var options = new GatewayRunOptions
        {
            RulesFile = rulesFile,
            Mapping = MappingBehavior.AddressAndPortDependent,
            Filtering = FilteringBehavior.EndpointIndependent,
            UdpIdleTimeout = TimeSpan.FromSeconds(600),
            TcpEstablishedTimeout = TimeSpan.FromSeconds(3600),
            TcpTransitoryTimeout = TimeSpan.FromSeconds(120),
            IcmpQueryTimeout = TimeSpan.FromSeconds(90),
        };

        IReadOnlyList<NatRule> rules = GatewayDaemon.LoadModel(options).Rules;

        Assert.Equal(3, rules.Count);
        Assert.All(rules, rule =>
        {
            Assert.Equal(MappingBehavior.AddressAndPortDependent, rule.Policy.Mapping);
            Assert.Equal(FilteringBehavior.EndpointIndependent, rule.Policy.TcpFiltering);
            Assert.Equal(FilteringBehavior.EndpointIndependent, rule.Policy.UdpFiltering);
            Assert.Equal(TimeSpan.FromSeconds(600), rule.Policy.UdpIdleTimeout);
            Assert.Equal(TimeSpan.FromSeconds(3600), rule.Policy.TcpEstablishedTimeout);
            Assert.Equal(TimeSpan.FromSeconds(120), rule.Policy.TcpTransitoryTimeout);
            Assert.Equal(TimeSpan.FromSeconds(90), rule.Policy.IcmpQueryTimeout);
        });
        // A rule's own ipnat words stay its own.
        Assert.Equal(90, rules[0].AgeSeconds);
    }

    [Fact]
    public void A_rules_parity_survives_the_flags_at_start_and_on_a_later_load()
    {
        // Issue 14: the flags' policy replaced the rule's whole policy at start, so "parity" was lost.
        File.WriteAllText(rulesFile, "map wan0 10.77.0.0/24 -> 198.51.100.10/32 portmap tcp/udp 1:65535 parity\nmap wan0 10.78.0.0/24 -> 198.51.100.11/32\n");
        var options = new GatewayRunOptions { RulesFile = rulesFile, Mapping = MappingBehavior.AddressDependent };
        IReadOnlyList<NatRule> rules = GatewayDaemon.LoadModel(options).Rules;
        Assert.Equal((true, MappingBehavior.AddressDependent), (rules[0].Policy.PreservePortParity, rules[0].Policy.Mapping));
        Assert.False(rules[1].Policy.PreservePortParity);

        GatewayController controller = GatewayDaemon.NewController(new NatEngine(new NatEngineOptions(), 0), options, TimeProvider.System);
        controller.LoadRules(IpnatParser.Parse("map wan0 10.79.0.0/24 -> 198.51.100.12/32 parity\n", "later.conf").Rules);
        RuleInfo loaded = Assert.Single(controller.Rules());
        Assert.Equal((true, MappingBehavior.AddressDependent), (loaded.Rule.Policy.PreservePortParity, loaded.Rule.Policy.Mapping));
    }

    [Fact]
    public void Without_flags_the_rules_of_the_rules_file_keep_the_defaults()
    {
        IReadOnlyList<NatRule> rules = GatewayDaemon.LoadModel(new GatewayRunOptions { RulesFile = rulesFile }).Rules;

        Assert.Equal(3, rules.Count);
        Assert.All(rules, rule => Assert.Equal(NatPolicy.Default, rule.Policy));
    }

    private GatewayRunOptions Flags() => new()
    {
        RulesFile = rulesFile,
        Mapping = MappingBehavior.AddressAndPortDependent,
        Filtering = FilteringBehavior.EndpointIndependent,
        UdpIdleTimeout = TimeSpan.FromSeconds(600),
        TcpEstablishedTimeout = TimeSpan.FromSeconds(3600),
        TcpTransitoryTimeout = TimeSpan.FromSeconds(120),
        IcmpQueryTimeout = TimeSpan.FromSeconds(90),
    };

    [Fact]
    public void Rules_loaded_later_through_the_control_api_get_the_flags_as_the_same_rules_at_start_do()
    {
        GatewayRunOptions options = Flags();
        IReadOnlyList<NatRule> atStart = GatewayDaemon.LoadModel(options).Rules;
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 3 }, 0);
        GatewayController controller = GatewayDaemon.NewController(engine, options, TimeProvider.System);
        // What the control server hands the controller for natgate ipnat -f: the file parsed, no policy.
        IReadOnlyList<NatRule> parsed = IpnatParser.ParseFile(rulesFile).Rules;

        foreach (Action reload in new Action[] { () => controller.LoadRules(parsed), () => controller.ReplaceRules(parsed) })
        {
            reload();
            List<RuleInfo> loaded = controller.Rules().Where(rule => rule.Active).ToList();
            Assert.Equal(atStart.Count, loaded.Count);
            Assert.All(loaded, rule => Assert.Equal(atStart[0].Policy, rule.Rule.Policy));
        }

        // And they behave so: address-and-port-dependent mapping gives a second server its own external port.
        var buffer = new byte[128];
        ushort ExternalPortTo(string server)
        {
            int length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("10.77.0.2"), 40000, Ipv4Address.Parse(server), 53, "q"u8);
            Assert.Equal(Verdict.Forward, controller.Run(e => e.Translate(buffer, length, 0)).Verdict);
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(buffer.AsSpan(20));
        }
        Assert.NotEqual(ExternalPortTo("203.0.113.5"), ExternalPortTo("203.0.113.6"));

        // ipnat -r -f of the same file removes them all.
        Assert.Equal(atStart.Count, controller.RemoveRules(parsed));
    }
}
