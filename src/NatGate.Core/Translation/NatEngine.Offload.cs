using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Offload;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// Takes into the table a session that an offload cache carries (a restart adopting the
    /// kernel fast path's map, whose program kept rewriting while no process ran): the rule that
    /// would have made it is found as its first packet would have found it, and the session goes
    /// through put's checks ("as if made"), joining or starting its mapping. The cache holds TCP
    /// sessions only once established, so they come in established. False, with the reason,
    /// when no loaded rule could have made it or put's checks refuse it; false with no reason
    /// when the table has it already (restored from the state file).
    /// </summary>
    public bool AdoptOffloaded(OffloadedSession<Ipv4Address> offloaded, long lastSeenTicks, long nowTicks, out string? problem)
        => Adopt<Ipv4Family, Ipv4Address>(ipv4, offloaded, lastSeenTicks, nowTicks, out problem);

    /// <inheritdoc cref="AdoptOffloaded(OffloadedSession{Ipv4Address}, long, long, out string?)"/>
    public bool AdoptOffloaded(OffloadedSession<Ipv6Address> offloaded, long lastSeenTicks, long nowTicks, out string? problem)
        => Adopt<Ipv6Family, Ipv6Address>(Ipv6Parts(), offloaded, lastSeenTicks, nowTicks, out problem);

    private bool Adopt<TFamily, TAddress>(FamilyParts<TAddress> parts, OffloadedSession<TAddress> offloaded, long lastSeenTicks, long nowTicks, out string? problem)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FlowKey<TAddress> original = offloaded.Original;
        FlowKey<TAddress> translated = offloaded.Translated;
        FlowTable<TAddress> flows = parts.Table;
        problem = null;
        if (flows.Contains(original) || flows.Contains(translated.Reverse()))
        {
            return false;
        }
        IpProtocol protocol = original.Protocol;
        bool hasPorts = protocol is IpProtocol.Tcp or IpProtocol.Udp || protocol == TAddress.IcmpProtocol;
        IRuleLookup<TAddress> lookup = RulesOf<TAddress>();
        // As CreateSession decides: a redirect by the destination; else, from inside, the map
        // that takes the source (a dynamic one puts the session in a mapping); from outside
        // through another session's mapping, that mapping's rule.
        RuleSlot? rule = lookup.FindRedirect(original);
        bool inMapping = false;
        if (rule is null && !offloaded.InitiatedOutside)
        {
            rule = lookup.FindMap(original, translated.Destination, translated.DestinationPort);
            inMapping = rule is not null && rule.Rule.Kind != NatRuleKind.Bidirectional && hasPorts;
        }
        else if (rule is null && hasPorts)
        {
            int owner = flows.FindMappingByExternal(protocol, original.Destination, original.DestinationPort);
            if (owner >= 0)
            {
                rule = rules[flows.At(owner).RuleIndex];
                inMapping = true;
            }
        }
        if (rule is null)
        {
            problem = $"no loaded rule makes {IpFlow.Of(original)} into {IpFlow.Of(translated)}";
            return false;
        }
        var record = new SessionRecord
        {
            Rule = rule.Rule,
            Original = IpFlow.Of(original),
            Translated = IpFlow.Of(translated),
            InitiatedOutside = offloaded.InitiatedOutside,
            InMapping = inMapping,
            Mapping = rule.Rule.Policy.Mapping,
            Tcp = protocol == IpProtocol.Tcp ? TcpTracking.ForwardSyn | TcpTracking.ReplySyn | TcpTracking.Established : TcpTracking.None,
            CreatedTicks = lastSeenTicks > 0 ? lastSeenTicks : nowTicks,
            LastSeenTicks = lastSeenTicks > 0 ? lastSeenTicks : nowTicks,
        };
        try
        {
            CheckAsIfMade(parts, record, original, translated, rule.Index);
            Insert<TFamily, TAddress>(parts, new FamilyPorts<TAddress>(parts.Pools), record, original, translated, rule.Index, nowTicks);
            return true;
        }
        catch (NatControlException refused)
        {
            problem = refused.Message;
            return false;
        }
    }
}
