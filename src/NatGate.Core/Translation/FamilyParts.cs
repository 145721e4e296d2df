using NatGate.Core.Addressing;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// What one address family owns in the engine: its flow table, the session store over it, its
/// address pools and its fragment tracker. The packet paths written once for both families take
/// the family's parts.
/// </summary>
internal sealed class FamilyParts<TAddress>(FlowTable<TAddress> table, SessionStore<TAddress> sessions, AddressPools<TAddress> pools, FragmentTracker<TAddress> fragments)
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    public FlowTable<TAddress> Table { get; } = table;

    public SessionStore<TAddress> Sessions { get; } = sessions;

    public AddressPools<TAddress> Pools { get; } = pools;

    /// <summary>The family's fragmented datagrams, and the early fragments held for them.</summary>
    public FragmentTracker<TAddress> Fragments { get; } = fragments;

    /// <summary>
    /// The gateway's own addresses. A packet from one of them that is redirected also gets its
    /// source rewritten to the external address, so the answer comes back through the NAT.
    /// </summary>
    public HashSet<TAddress> LocalAddresses { get; set; } = [];
}
