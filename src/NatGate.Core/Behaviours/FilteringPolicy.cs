using NatGate.Core.Addressing;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Behaviours;

/// <summary>
/// A filtering behaviour (RFC 4787 section 5): which packets from the outside a mapping admits.
/// Each asks the table only what it needs, in constant time (issue 10: a flood at a busy
/// mapping costs what one at an idle mapping does). A policy is described by which parts of the
/// remote endpoint must have been talked to, so the check is one non-virtual method for both families.
/// </summary>
internal abstract class FilteringPolicy(bool checksRemoteAddress, bool checksRemotePort)
{
    public static FilteringPolicy EndpointIndependent { get; } = new EndpointIndependentFiltering();

    public static FilteringPolicy AddressDependent { get; } = new AddressDependentFiltering();

    public static FilteringPolicy AddressAndPortDependent { get; } = new AddressAndPortDependentFiltering();

    public abstract FilteringBehavior Behavior { get; }

    /// <summary>Whether the mapping whose representative is <paramref name="representative"/> admits a packet from the remote endpoint given.</summary>
    public bool Admits<TAddress>(FlowTable<TAddress> table, int representative, TAddress remoteAddress, ushort remotePort)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => !checksRemoteAddress || table.MappingTalksTo(representative, remoteAddress, checksRemotePort ? remotePort : null);

    public static FilteringPolicy For(FilteringBehavior behavior) => behavior switch
    {
        FilteringBehavior.AddressDependent => AddressDependent,
        FilteringBehavior.AddressAndPortDependent => AddressAndPortDependent,
        _ => EndpointIndependent,
    };

    /// <summary>Anyone may send to the mapping (what peer-to-peer applications hope for).</summary>
    private sealed class EndpointIndependentFiltering() : FilteringPolicy(checksRemoteAddress: false, checksRemotePort: false)
    {
        public override FilteringBehavior Behavior => FilteringBehavior.EndpointIndependent;
    }

    /// <summary>Only addresses the inside endpoint has sent to (RFC 4787 REQ-8 recommends this or the above).</summary>
    private sealed class AddressDependentFiltering() : FilteringPolicy(checksRemoteAddress: true, checksRemotePort: false)
    {
        public override FilteringBehavior Behavior => FilteringBehavior.AddressDependent;
    }

    /// <summary>Only address and port pairs the inside endpoint has sent to.</summary>
    private sealed class AddressAndPortDependentFiltering() : FilteringPolicy(checksRemoteAddress: true, checksRemotePort: true)
    {
        public override FilteringBehavior Behavior => FilteringBehavior.AddressAndPortDependent;
    }
}
