using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Behaviours;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Tests.Behaviours;

/// <summary>The behaviours as policy types: each names itself, round-trips through a session's attribute bits, and keys its mappings as RFC 4787 says.</summary>
public sealed class BehaviourPolicyTests
{
    [Theory]
    [InlineData(MappingBehavior.EndpointIndependent)]
    [InlineData(MappingBehavior.AddressDependent)]
    [InlineData(MappingBehavior.AddressAndPortDependent)]
    public void A_mapping_policy_survives_a_sessions_attribute_bits(MappingBehavior behavior)
    {
        MappingPolicy policy = MappingPolicy.For(behavior);
        Assert.Equal(behavior, policy.Behavior);
        Assert.Same(policy, MappingPolicy.Of(policy.Flags | SessionAttributes.PortAllocated | SessionAttributes.InitiatedOutside));
    }

    [Fact]
    public void Flows_share_a_mapping_exactly_when_their_keys_are_equal()
    {
        // One inside endpoint, three remote endpoints: two ports on one address, and another address.
        static FlowKey KeyTo(MappingPolicy policy, Ipv4Address remote, ushort port) => policy.Key(IpProtocol.Udp, Ipv4Address.Parse("10.0.0.2"), 5000, remote, port);
        Ipv4Address a = Ipv4Address.Parse("198.51.100.2"), b = Ipv4Address.Parse("198.51.100.3");
        Assert.Equal(KeyTo(MappingPolicy.EndpointIndependent, a, 1), KeyTo(MappingPolicy.EndpointIndependent, b, 2));
        Assert.Equal(KeyTo(MappingPolicy.AddressDependent, a, 1), KeyTo(MappingPolicy.AddressDependent, a, 2));
        Assert.NotEqual(KeyTo(MappingPolicy.AddressDependent, a, 1), KeyTo(MappingPolicy.AddressDependent, b, 1));
        Assert.NotEqual(KeyTo(MappingPolicy.AddressAndPortDependent, a, 1), KeyTo(MappingPolicy.AddressAndPortDependent, a, 2));
    }

    [Theory]
    [InlineData(FilteringBehavior.EndpointIndependent)]
    [InlineData(FilteringBehavior.AddressDependent)]
    [InlineData(FilteringBehavior.AddressAndPortDependent)]
    public void A_filtering_policy_names_its_behaviour(FilteringBehavior behavior)
        => Assert.Equal(behavior, FilteringPolicy.For(behavior).Behavior);
}
