using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Behaviours;

/// <summary>
/// A mapping behaviour (RFC 4787 section 4.1): which outbound flows of one inside endpoint
/// share an external endpoint. Each is a key: the flows whose keys are equal share a mapping.
/// The session remembers its behaviour in two attribute bits, so the table can find its key
/// again without its rule. A policy is described by which parts of the remote endpoint its key
/// keeps, so the key is one non-virtual method for both address families.
/// </summary>
public abstract class MappingPolicy(bool keepsRemoteAddress, bool keepsRemotePort)
{
    public static MappingPolicy EndpointIndependent { get; } = new EndpointIndependentMapping();

    public static MappingPolicy AddressDependent { get; } = new AddressDependentMapping();

    public static MappingPolicy AddressAndPortDependent { get; } = new AddressAndPortDependentMapping();

    public abstract MappingBehavior Behavior { get; }

    /// <summary>The attribute bits a session of such a mapping carries.</summary>
    public abstract SessionAttributes Flags { get; }

    /// <summary>The key an inside endpoint's mapping is found by, for a flow to the remote endpoint given.</summary>
    public FlowKey<TAddress> Key<TAddress>(IpProtocol protocol, TAddress insideAddress, ushort insidePort, TAddress remoteAddress, ushort remotePort)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => new(protocol, insideAddress, insidePort, keepsRemoteAddress ? remoteAddress : TAddress.Any, keepsRemotePort ? remotePort : (ushort)0);

    public static MappingPolicy For(MappingBehavior behavior) => behavior switch
    {
        MappingBehavior.AddressDependent => AddressDependent,
        MappingBehavior.AddressAndPortDependent => AddressAndPortDependent,
        _ => EndpointIndependent,
    };

    /// <summary>The behaviour a session's attribute bits name.</summary>
    public static MappingPolicy Of(SessionAttributes flags)
        => (flags & SessionAttributes.MappingAddressAndPortDependent) != 0 ? AddressAndPortDependent
        : (flags & SessionAttributes.MappingAddressDependent) != 0 ? AddressDependent
        : EndpointIndependent;

    /// <summary>RFC 4787 REQ-1: one external endpoint per inside endpoint, whatever the destination.</summary>
    private sealed class EndpointIndependentMapping() : MappingPolicy(keepsRemoteAddress: false, keepsRemotePort: false)
    {
        public override MappingBehavior Behavior => MappingBehavior.EndpointIndependent;

        public override SessionAttributes Flags => SessionAttributes.None;
    }

    /// <summary>A new external endpoint per destination address.</summary>
    private sealed class AddressDependentMapping() : MappingPolicy(keepsRemoteAddress: true, keepsRemotePort: false)
    {
        public override MappingBehavior Behavior => MappingBehavior.AddressDependent;

        public override SessionAttributes Flags => SessionAttributes.MappingAddressDependent;
    }

    /// <summary>A new external endpoint per destination address and port (a "symmetric" NAT).</summary>
    private sealed class AddressAndPortDependentMapping() : MappingPolicy(keepsRemoteAddress: true, keepsRemotePort: true)
    {
        public override MappingBehavior Behavior => MappingBehavior.AddressAndPortDependent;

        public override SessionAttributes Flags => SessionAttributes.MappingAddressAndPortDependent;
    }
}
