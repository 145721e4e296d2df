using NatGate.Core.Addressing;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Behaviours;

/// <summary>
/// A filtering behaviour (RFC 4787 section 5): which packets from the outside a mapping admits.
/// Each asks the table only what it needs, in constant time (issue 10: a flood at a busy
/// mapping costs what one at an idle mapping does).
/// </summary>
internal abstract class FilteringPolicy
{
    public static FilteringPolicy EndpointIndependent { get; } = new EndpointIndependentFiltering();

    public static FilteringPolicy AddressDependent { get; } = new AddressDependentFiltering();

    public static FilteringPolicy AddressAndPortDependent { get; } = new AddressAndPortDependentFiltering();

    public abstract FilteringBehavior Behavior { get; }

    /// <summary>Whether the mapping whose representative is <paramref name="representative"/> admits a packet from the remote endpoint given.</summary>
    public abstract bool Admits(FlowTable table, int representative, Ipv4Address remoteAddress, ushort remotePort);

    public static FilteringPolicy For(FilteringBehavior behavior) => behavior switch
    {
        FilteringBehavior.AddressDependent => AddressDependent,
        FilteringBehavior.AddressAndPortDependent => AddressAndPortDependent,
        _ => EndpointIndependent,
    };

    /// <summary>Anyone may send to the mapping (what peer-to-peer applications hope for).</summary>
    private sealed class EndpointIndependentFiltering : FilteringPolicy
    {
        public override FilteringBehavior Behavior => FilteringBehavior.EndpointIndependent;

        public override bool Admits(FlowTable table, int representative, Ipv4Address remoteAddress, ushort remotePort) => true;
    }

    /// <summary>Only addresses the inside endpoint has sent to (RFC 4787 REQ-8 recommends this or the above).</summary>
    private sealed class AddressDependentFiltering : FilteringPolicy
    {
        public override FilteringBehavior Behavior => FilteringBehavior.AddressDependent;

        public override bool Admits(FlowTable table, int representative, Ipv4Address remoteAddress, ushort remotePort)
            => table.MappingTalksTo(representative, remoteAddress, null);
    }

    /// <summary>Only address and port pairs the inside endpoint has sent to.</summary>
    private sealed class AddressAndPortDependentFiltering : FilteringPolicy
    {
        public override FilteringBehavior Behavior => FilteringBehavior.AddressAndPortDependent;

        public override bool Admits(FlowTable table, int representative, Ipv4Address remoteAddress, ushort remotePort)
            => table.MappingTalksTo(representative, remoteAddress, remotePort);
    }
}
