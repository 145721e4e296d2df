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
        static FlowKey KeyTo(MappingPolicy policy, uint remote, ushort port) => policy.Key(IpProtocol.Udp, 0x0a000002, 5000, remote, port);
        const uint A = 0xc6336402, B = 0xc6336403;
        Assert.Equal(KeyTo(MappingPolicy.EndpointIndependent, A, 1), KeyTo(MappingPolicy.EndpointIndependent, B, 2));
        Assert.Equal(KeyTo(MappingPolicy.AddressDependent, A, 1), KeyTo(MappingPolicy.AddressDependent, A, 2));
        Assert.NotEqual(KeyTo(MappingPolicy.AddressDependent, A, 1), KeyTo(MappingPolicy.AddressDependent, B, 1));
        Assert.NotEqual(KeyTo(MappingPolicy.AddressAndPortDependent, A, 1), KeyTo(MappingPolicy.AddressAndPortDependent, A, 2));
    }

    [Theory]
    [InlineData(FilteringBehavior.EndpointIndependent)]
    [InlineData(FilteringBehavior.AddressDependent)]
    [InlineData(FilteringBehavior.AddressAndPortDependent)]
    public void A_filtering_policy_names_its_behaviour(FilteringBehavior behavior)
        => Assert.Equal(behavior, FilteringPolicy.For(behavior).Behavior);
}
