using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.PortMappings;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// What the port mapping protocols (PCP, NAT-PMP) ask of the engine: the external address and
/// ports an inside host's traffic goes out with, an external port taken for a mapping, and PEER's
/// outbound session. The mappings themselves are rules (<see cref="PortMappingTable"/>).
/// </summary>
public sealed partial class NatEngine
{
    private PortMappingTable? portMappings;

    // The matching order the port mappings were last checked against: checked again when it changes.
    private RuleMatcher? portMappingsCheckedAgainst;

    /// <summary>The timers' part: mappings end with their lifetime, and, after any rule change, those the rules lost.</summary>
    private void ExpirePortMappings(long nowTicks)
    {
        if (portMappings is null)
        {
            return;
        }
        portMappings.Expire(this, nowTicks);
        if (portMappings.Count > 0 && !ReferenceEquals(portMappingsCheckedAgainst, ruleSet.Matcher))
        {
            portMappings.EndLost(this, nowTicks);
            portMappingsCheckedAgainst = ruleSet.Matcher;
        }
    }

    /// <summary>The port mappings inside hosts asked for with PCP or NAT-PMP: redirects with a lifetime.</summary>
    public PortMappingTable PortMappings => portMappings ??= new PortMappingTable();

    /// <summary>
    /// The map rule that would translate <paramref name="inside"/>'s outbound <paramref name="protocol"/>
    /// traffic to any remote, with the external address paired pooling gives that host first (RFC 4787
    /// REQ-2) and the rule's port range for the protocol; false when no map (or map-block) takes it.
    /// </summary>
    internal bool TryFindExternalFor(Ipv4Address inside, IpProtocol protocol, out Ipv4Address external, out PortRange ports, out NatRule? mapRule)
    {
        var key = new FlowKey<Ipv4Address>(protocol, inside, 1, Ipv4Address.Any, 0);
        RuleSlot? map = ruleSet.Matcher.FindMap(key, Ipv4Address.Any, 0);
        external = Ipv4Address.Any;
        ports = default;
        mapRule = null;
        if (map is null || map.Rule.Kind is not (NatRuleKind.Map or NatRuleKind.MapBlock))
        {
            return false;
        }
        ulong count = map.Rule.TranslatedCount;
        ulong first = new FlowKey<Ipv4Address>(0, inside, 0, Ipv4Address.Any, 0).Hash(seed) % count;
        external = map.AddressesOf<Ipv4Address>().TranslatedFirst + (uint)first;
        ports = map.RangeFor(protocol);
        mapRule = map.Rule;
        return true;
    }

    /// <summary>
    /// Takes an external port of <paramref name="external"/> for a port mapping: <paramref name="preferred"/>
    /// when it is in <paramref name="ports"/> and free, else (unless <paramref name="exactly"/>) a free
    /// one of the range, never one another host's mapping gave back in its quarantine (RFC 6888 REQ-8).
    /// The redirect loaded next finds it taken, and gives it back when it is removed.
    /// </summary>
    internal bool TryTakePort(Ipv4Address external, IpProtocol protocol, PortRange ports, ushort preferred, Ipv4Address inside, bool exactly, long nowTicks, out ushort port)
    {
        PortAllocator allocator = pools.AllocatorOf(pools.PoolOf(external), protocol);
        if (!allocator.TryAllocate(preferred, inside, nowTicks, preserveParity: false, allowClassChange: true, ports, out port))
        {
            return false;
        }
        if (exactly && port != preferred)
        {
            allocator.Release(port, inside, nowTicks);
            port = 0;
            return false;
        }
        return true;
    }

    /// <summary>Takes exactly <paramref name="port"/> when it is free, whatever its quarantine: a mapping made again on its own port.</summary>
    internal bool TryReservePort(Ipv4Address external, IpProtocol protocol, ushort port) => pools.AllocatorOf(pools.PoolOf(external), protocol).TryReserve(port);

    /// <summary>Gives back a port <see cref="TryTakePort"/> took when its redirect could not be loaded.</summary>
    internal void ReleasePort(Ipv4Address external, IpProtocol protocol, ushort port) => pools.Release(external, protocol, port, Ipv4Address.Any, 0);

    /// <summary>Whether a loaded, active rule equals <paramref name="rule"/> (a mapping's redirect may have gone with ipnat -C).</summary>
    internal bool IsLoaded(NatRule rule)
    {
        int index = FindRule(rule);
        return index >= 0 && rules[index] is { Active: true } slot && RuleComparer.Equal(slot.Rule, rule);
    }

    /// <summary>
    /// PCP PEER (RFC 6887 12): the outbound mapping of <paramref name="inside"/>:<paramref name="insidePort"/>
    /// toward the peer. An existing session answers with its external endpoint; otherwise one is made
    /// as the first outbound packet would make it (joining the endpoint's mapping, or starting one on
    /// a port of its map rule, the suggested one when free), so the peer's packets come in through it.
    /// Returns the result code, the external endpoint and the seconds the session lives without traffic.
    /// </summary>
    internal PcpResultCode Peer(IpProtocol protocol, Ipv4Address inside, ushort insidePort, Ipv4Address peer, ushort peerPort, ushort suggestedPort,
        long nowTicks, out Ipv4Address external, out ushort externalPort, out uint lifetimeSeconds)
    {
        external = Ipv4Address.Any;
        externalPort = 0;
        lifetimeSeconds = 0;
        var original = new FlowKey<Ipv4Address>(protocol, inside, insidePort, peer, peerPort);
        int existing = table.Find(original, out bool forward);
        if (existing >= 0)
        {
            // Begun inside, the flow leaves from its translated source; begun by the peer (through a
            // mapping or redirect), it came in at its first packet's destination.
            ref Session<Ipv4Address> session = ref table.At(existing);
            (external, externalPort) = forward
                ? (session.Translated.Source, session.Translated.SourcePort)
                : (session.Original.Destination, session.Original.DestinationPort);
            lifetimeSeconds = RemainingSeconds(session, nowTicks);
            return PcpResultCode.Success;
        }
        if (IsLocked)
        {
            return PcpResultCode.NoResources;
        }
        RuleSlot? map = ruleSet.Matcher.FindMap(original, peer, peerPort);
        if (map is null || map.Rule.Kind is not (NatRuleKind.Map or NatRuleKind.MapBlock))
        {
            return PcpResultCode.NotAuthorized;
        }
        if (table.Limits.MaximumSessionsPerHost > 0 && table.SessionsOfHost(inside) >= table.Limits.MaximumSessionsPerHost)
        {
            return PcpResultCode.UserExceededQuota;
        }
        Behaviours.MappingPolicy policy = map.Mapping;
        int mapping = table.FindMappingByInside(policy.Key(protocol, inside, insidePort, peer, peerPort));
        if (mapping >= 0)
        {
            external = table.At(mapping).ExternalAddress;
            externalPort = table.At(mapping).ExternalPort;
        }
        else if (TryPortMappingSource(map, original, out external, out externalPort))
        {
            // The endpoint has a MAP mapping: PEER's flow goes out through it too.
        }
        else
        {
            // The port as the first packet would get it (the suggested one stands in for the inside
            // port as the port kept when free), handed back so the insertion reserves it itself.
            var asked = new FlowKey<Ipv4Address>(protocol, inside, suggestedPort != 0 ? suggestedPort : insidePort, peer, peerPort);
            if (pools.AllocateFromRule(map, asked, nowTicks, out external, out externalPort, out _) != DropReason.None)
            {
                return PcpResultCode.NoResources;
            }
            pools.Release(external, protocol, externalPort, inside, nowTicks);
        }
        var record = new SessionRecord
        {
            Rule = map.Rule,
            Original = original,
            Translated = new FlowKey<Ipv4Address>(protocol, external, externalPort, peer, peerPort),
            InMapping = true,
            Mapping = map.Rule.Policy.Mapping,
        };
        try
        {
            int index = Insert<Ipv4Family, Ipv4Address>(ipv4, new FamilyPorts<Ipv4Address>(pools), record, record.Original.AsIpv4, record.Translated.AsIpv4, map.Index, nowTicks);
            lifetimeSeconds = RemainingSeconds(table.At(index), nowTicks);
            return PcpResultCode.Success;
        }
        catch (NatControlException)
        {
            return PcpResultCode.NoResources;
        }
    }

    /// <summary>
    /// RFC 6887 11.1: a MAP mapping is endpoint-independent both ways, so outbound traffic from its
    /// internal port leaves with its external endpoint. For a new session of <paramref name="map"/>
    /// (an endpoint-independent map of IPv4) from a mapped internal port: that endpoint, whose port
    /// the mapping's redirect holds (the session allocates none).
    /// </summary>
    private bool TryPortMappingSource<TAddress>(RuleSlot map, in FlowKey<TAddress> key, out TAddress source, out ushort port)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        source = TAddress.Any;
        port = 0;
        if (portMappings is not { Count: > 0 } || TAddress.Size != Ipv4Address.Size || map.Rule.Kind != NatRuleKind.Map
            || map.Mapping.Behavior != MappingBehavior.EndpointIndependent
            || !portMappings.TryFindByInternal(key.Protocol, TAddress.ToIpAddress(key.Source).AsIpv4, key.SourcePort, out Ipv4Address external, out port))
        {
            return false;
        }
        source = TAddress.From(external);
        return true;
    }

    /// <summary>Whether a port mapping's redirect holds <paramref name="external"/>:<paramref name="port"/> for the inside endpoint (a restored outbound session of it).</summary>
    private bool HeldByPortMapping<TAddress>(IpProtocol protocol, TAddress inside, ushort insidePort, TAddress external, ushort port)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => portMappings is { Count: > 0 } && TAddress.Size == Ipv4Address.Size
            && portMappings.TryFindByInternal(protocol, TAddress.ToIpAddress(inside).AsIpv4, insidePort, out Ipv4Address mapped, out ushort mappedPort)
            && TAddress.From(mapped) == external && mappedPort == port;

    /// <summary>
    /// A port mapping ended while outbound sessions still use its external port (made through
    /// <see cref="TryPortMappingSource"/>): their mapping takes the port over, to give back when it ends.
    /// </summary>
    internal void KeepPortOfOutboundMapping(IpProtocol protocol, Ipv4Address external, ushort port)
    {
        int representative = table.FindMappingByExternal(protocol, external, port);
        if (representative >= 0 && pools.AllocatorOf(pools.PoolOf(external), protocol).TryReserve(port))
        {
            table.At(representative).Attributes |= SessionAttributes.PortAllocated;
        }
    }

    private uint RemainingSeconds(in Session<Ipv4Address> session, long nowTicks)
        => (uint)Math.Clamp((sessions.DeadlineOf(session) - nowTicks) / TimeSpan.TicksPerSecond, 0, uint.MaxValue);
}
