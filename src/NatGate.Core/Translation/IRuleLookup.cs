using NatGate.Core.Addressing;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// A family's active rules as the new-session path asks them: which redirect or bimap takes a
/// packet, which map translates its source, and whether an address is the NAT's. IPv4's is the
/// indexed <see cref="RuleMatcher"/>; IPv6's (<see cref="Ipv6RuleLookup"/>) walks its few rules in
/// IP Filter's order. Both are immutable and swapped in whole when the rules change.
/// </summary>
internal interface IRuleLookup<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    /// <summary>The first redirect or bimap, in matching order, that takes <paramref name="key"/>.</summary>
    RuleSlot? FindRedirect(FlowKey<TAddress> key);

    /// <summary>The first map rule that translates <paramref name="key"/>'s source, its destination being the one given (after any redirect).</summary>
    RuleSlot? FindMap(FlowKey<TAddress> key, TAddress destination, ushort destinationPort);

    /// <summary>The next map rule after <paramref name="previous"/> that takes the packet (a pool of several rules' addresses).</summary>
    RuleSlot? FindNextMap(FlowKey<TAddress> key, TAddress destination, ushort destinationPort, RuleSlot previous);

    /// <summary>Whether a map rule would take the packet but for its protocol.</summary>
    bool IsInsideOfSomeMap(FlowKey<TAddress> key, TAddress destination);

    /// <summary>Whether the address is one the NAT answers for (a map's, a redirect's or a bimap's).</summary>
    bool IsExternalAddress(TAddress address);
}
