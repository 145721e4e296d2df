using NatGate.Core.Addressing;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// What one address family owns in the engine: its flow table, the session store over it and its
/// address pools. The packet paths written once for both families take the family's parts.
/// </summary>
internal sealed class FamilyParts<TAddress>(FlowTable<TAddress> table, SessionStore<TAddress> sessions, AddressPools<TAddress> pools)
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    public FlowTable<TAddress> Table { get; } = table;

    public SessionStore<TAddress> Sessions { get; } = sessions;

    public AddressPools<TAddress> Pools { get; } = pools;

    /// <summary>
    /// The gateway's own addresses. A packet from one of them that is redirected also gets its
    /// source rewritten to the external address, so the answer comes back through the NAT.
    /// </summary>
    public HashSet<TAddress> LocalAddresses { get; set; } = [];
}
