using NatGate.Core.Rules;
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
    public void Without_flags_the_rules_of_the_rules_file_keep_the_defaults()
    {
        IReadOnlyList<NatRule> rules = GatewayDaemon.LoadModel(new GatewayRunOptions { RulesFile = rulesFile }).Rules;

        Assert.Equal(3, rules.Count);
        Assert.All(rules, rule => Assert.Equal(NatPolicy.Default, rule.Policy));
    }
}
