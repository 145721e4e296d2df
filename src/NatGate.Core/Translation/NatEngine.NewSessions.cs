using NatGate.Core.Addressing;
using NatGate.Core.Behaviours;
using NatGate.Core.Control;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// The slow path: a packet that matches no session. Decides the destination translation
    /// (a redirect, a 1:1 mapping, or a dynamic mapping its filtering admits), then the source
    /// translation (a map rule, or the external address for the gateway's own redirected
    /// packets), and makes the session with its checksum deltas computed once.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a cold path: see NatEngine.Translate
    private TranslationResult CreateSession<TFamily, TAddress>(FamilyParts<TAddress> parts, Span<byte> buffer, in NetworkHeader<TAddress> header,
        Span<byte> transport, FlowKey<TAddress> key, long nowTicks, bool checksumPartial)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FlowTable<TAddress> table = parts.Table;
        AddressPools<TAddress> pools = parts.Pools;
        IRuleLookup<TAddress> lookup = RulesOf<TAddress>();
        Span<byte> packet = buffer[..header.Length];
        IpProtocol protocol = key.Protocol;
        if (protocol == TAddress.IcmpProtocol && !TFamily.IsIcmpQueryRequest(transport[0]))
        {
            // A reply with no query behind it: only a request starts a query session.
            return Drop(DropReason.NoSession);
        }

        // Destination.
        TAddress newDestination = key.Destination;
        ushort newDestinationPort = key.DestinationPort;
        int destinationRule = -1;
        int destinationMapping = -1;
        RuleSlot? redirect = lookup.FindRedirect(key);
        if (redirect is not null)
        {
            destinationRule = redirect.Index;
            (newDestination, newDestinationPort) = RedirectTarget(redirect, key);
        }
        else if (lookup.IsExternalAddress(key.Destination))
        {
            // ICMP queries never come in through a mapping: only answers to ours are admitted.
            int representative = protocol is IpProtocol.Tcp or IpProtocol.Udp
                ? table.FindMappingByExternal(protocol, key.Destination, key.DestinationPort) : -1;
            if (representative < 0)
            {
                return Drop(DropReason.NoSession);
            }
            ref Session<TAddress> mapping = ref table.At(representative);
            destinationMapping = representative;
            destinationRule = mapping.RuleIndex;
            newDestination = mapping.InsideAddress;
            newDestinationPort = mapping.InsidePort;
        }
        bool destinationTranslated = destinationRule >= 0;

        // Source.
        RuleSlot? map = destinationTranslated && parts.LocalAddresses.Contains(newDestination)
            ? null // redirected to the gateway itself (a transparent proxy): the proxy must see the real client
            : lookup.FindMap(key, newDestination, newDestinationPort);
        if (map is not null && !destinationTranslated && map.AddressesOf<TAddress>().SourceContains(key.Destination) != map.Rule.SourceNegated)
        {
            // Back inside (the gateway's own packets to an inside host): a map rule translates
            // traffic leaving for the outside, as IP Filter's map on the outside interface does.
            map = null;
        }
        bool fromGateway = map is null && destinationTranslated && parts.LocalAddresses.Contains(key.Source);
        if (map is null && !destinationTranslated)
        {
            if (lookup.IsInsideOfSomeMap(key, newDestination))
            {
                // From an inside prefix, in a protocol no rule translates: forwarding it would put
                // the inside address on the outside, so it is dropped (docs/RULES.md, "Protocols").
                return Drop(DropReason.ProtocolNotTranslated);
            }
            if (header.MoreFragments)
            {
                RememberPassedFragments<TFamily, TAddress>(parts, header, nowTicks);
            }
            Counters.Passed++;
            return new TranslationResult(Verdict.Forward, DropReason.None, header.Length);
        }
        if (map is not null && destinationTranslated && Hairpinning == HairpinningMode.Disabled)
        {
            return Drop(DropReason.HairpinDisabled);
        }
        if (protocol == IpProtocol.Tcp)
        {
            var flags = (TcpFlags)transport[TcpSegment.Field.Flags];
            bool startsInbound = destinationTranslated && map is null && !fromGateway;
            // Inbound, only a SYN opens a session (RFC 5382 REQ-4: unsolicited non-SYNs are dropped);
            // outbound, any segment but a RST may (a connection picked up after a restart without state).
            if ((flags & TcpFlags.Rst) != 0 || (startsInbound && (flags & (TcpFlags.Syn | TcpFlags.Ack)) != TcpFlags.Syn))
            {
                return Drop(DropReason.NotSyn);
            }
        }
        if (IsLocked)
        {
            return Drop(DropReason.Locked);
        }

        TAddress newSource = key.Source;
        ushort newSourcePort = key.SourcePort;
        int sourceMapping = -1;
        bool startsMapping = false;
        MappingPolicy mappingPolicy = MappingPolicy.EndpointIndependent;
        RuleSlot? sourceRule = map;
        ExternalAddressPool<TAddress>? allocatedFrom = null;
        if (map is not null && map.Rule.Kind == NatRuleKind.Bidirectional)
        {
            RuleAddresses<TAddress> bimap = map.AddressesOf<TAddress>();
            newSource = TAddress.Offset(bimap.TranslatedFirst, bimap.SourceOffsetOf(key.Source));
        }
        else if (map is not null || fromGateway)
        {
            mappingPolicy = map?.Mapping ?? MappingPolicy.EndpointIndependent;
            // Protocols without ports are translated by address alone and make no mapping.
            bool hasPorts = protocol is IpProtocol.Tcp or IpProtocol.Udp || protocol == TAddress.IcmpProtocol;
            FlowKey<TAddress> mappingKey = mappingPolicy.Key(protocol, key.Source, key.SourcePort, newDestination, newDestinationPort);
            sourceMapping = hasPorts ? table.FindMappingByInside(mappingKey) : -1;
            if (sourceMapping >= 0)
            {
                ref Session<TAddress> existing = ref table.At(sourceMapping);
                newSource = existing.ExternalAddress;
                newSourcePort = existing.ExternalPort;
            }
            else if (hasPorts && map is not null && TryPortMappingSource(map, key, out newSource, out newSourcePort))
            {
                // From a port an inside host mapped (PCP, NAT-PMP): out through that mapping's port.
                startsMapping = true;
            }
            else
            {
                DropReason refusal = map is not null
                    ? pools.AllocateFromRule(map, key, nowTicks, out newSource, out newSourcePort, out allocatedFrom)
                    : pools.AllocateOnAddress(pools.PoolOf(key.Destination), PortRange.All, key, nowTicks, preserveParity: false, out newSource, out newSourcePort, out allocatedFrom);
                // One rule's addresses out of ports: the next rule that takes this packet lends its
                // own (several --external addresses, a NetNat instance's, are one pool).
                for (RuleSlot? next = map; refusal == DropReason.PortsExhausted && next is not null;)
                {
                    next = lookup.FindNextMap(key, newDestination, newDestinationPort, next);
                    if (next is not null && next.Rule.Kind != NatRuleKind.Bidirectional)
                    {
                        refusal = pools.AllocateFromRule(next, key, nowTicks, out newSource, out newSourcePort, out allocatedFrom);
                        (map, sourceRule) = refusal == DropReason.None ? (next, next) : (map, sourceRule);
                    }
                }
                if (refusal != DropReason.None)
                {
                    return Refuse<TFamily, TAddress>(buffer, header.Length, refusal, map, nowTicks);
                }
                startsMapping = hasPorts;
            }
            if (fromGateway)
            {
                sourceRule = rules[destinationRule];
            }
        }

        // Filtering, for packets admitted through another host's dynamic mapping (RFC 4787 section 5).
        // It guards against the outside: a hairpinned packet from an inside host (or the gateway)
        // is not filtered, since that host could reach the target directly anyway.
        if (destinationMapping >= 0 && sourceRule is null
            && !rules[table.At(destinationMapping).RuleIndex]!.FilteringFor(protocol).Admits(table, destinationMapping, newSource, newSourcePort))
        {
            pools.ReleaseAllocation(allocatedFrom, protocol, newSourcePort, key.Source, nowTicks);
            return Drop(DropReason.Filtered);
        }

        if (protocol == TAddress.IcmpProtocol)
        {
            // A query's identifier stands in both port fields: one value, translated once.
            newDestinationPort = newSourcePort;
        }
        var translated = new FlowKey<TAddress>(protocol, newSource, newSourcePort, newDestination, newDestinationPort);
        var session = new Session<TAddress>
        {
            Original = key,
            Translated = translated,
            RuleIndex = (sourceRule ?? rules[destinationRule]!).Index,
            CreatedSeconds = table.SecondsSinceEpoch(nowTicks),
            LastSeenSeconds = table.SecondsSinceEpoch(nowTicks),
        };
        (session.IpChecksumDelta, session.TransportChecksumDelta) = PacketRewrite.Deltas<TFamily, TAddress>(key, translated);
        bool sourceTranslated = sourceRule is not null;
        if (!sourceTranslated)
        {
            session.Attributes |= SessionAttributes.InitiatedOutside;
        }
        if (startsMapping || sourceMapping >= 0)
        {
            session.Attributes |= mappingPolicy.Flags;
        }
        else if (destinationMapping >= 0)
        {
            session.Attributes |= table.At(destinationMapping).Attributes
                & (SessionAttributes.MappingAddressDependent | SessionAttributes.MappingAddressAndPortDependent);
        }
        if (startsMapping && allocatedFrom is not null)
        {
            session.Attributes |= SessionAttributes.PortAllocated;
        }
        int join = sourceMapping >= 0 ? sourceMapping : !sourceTranslated ? destinationMapping : -1;

        TableRefusal tableRefusal = table.CheckRoom(session, startsMapping);
        if (tableRefusal != TableRefusal.None)
        {
            pools.ReleaseAllocation(allocatedFrom, protocol, newSourcePort, key.Source, nowTicks);
            return Refuse<TFamily, TAddress>(buffer, header.Length, tableRefusal switch
            {
                TableRefusal.TableFull => DropReason.TableFull,
                TableRefusal.HostLimit => DropReason.HostLimit,
                TableRefusal.BucketFull => DropReason.BucketFull,
                _ => DropReason.Conflict,
            }, map, nowTicks);
        }
        int index = parts.Sessions.Insert(session, join, startsMapping, nowTicks + parts.Sessions.TimeoutOf(session), nowTicks);
        rules[session.RuleIndex]!.Hits++;
        return Apply<TFamily, TAddress>(parts, index, forward: true, packet, header, transport, nowTicks, checksumPartial);
    }

    private (TAddress Address, ushort Port) RedirectTarget<TAddress>(RuleSlot slot, FlowKey<TAddress> key)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        NatRule rule = slot.Rule;
        RuleAddresses<TAddress> addresses = slot.AddressesOf<TAddress>();
        if (rule.Kind == NatRuleKind.Bidirectional)
        {
            return (TAddress.Offset(addresses.SourceNetwork, TAddress.Distance(addresses.TranslatedFirst, key.Destination)), key.DestinationPort);
        }
        int targetIndex = 0;
        int targets = addresses.RedirectTargets.Length;
        if (targets > 1)
        {
            if (rule.Sticky)
            {
                targetIndex = (int)(new FlowKey<TAddress>(0, key.Source, 0, TAddress.Any, 0).Hash(seed) % (ulong)targets);
            }
            else
            {
                targetIndex = slot.NextTarget;
                slot.NextTarget = (slot.NextTarget + 1) % targets;
            }
        }
        ushort port = key.DestinationPort;
        if (rule.RedirectPort != 0 && key.Protocol is IpProtocol.Tcp or IpProtocol.Udp)
        {
            // "rdr ... port 8000-8010 -> 10.0.0.2 port 9000" maps 8000 to 9000, 8001 to 9001 ...
            port = (ushort)(rule.RedirectPort + (key.DestinationPort - rule.DestinationPorts.First));
        }
        return (addresses.RedirectTargets[targetIndex], port);
    }

    /// <summary>The family's rules as the new-session path asks them: IPv4's indexed matcher, or IPv6's walk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private IRuleLookup<TAddress> RulesOf<TAddress>()
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => typeof(TAddress) == typeof(Ipv4Address)
            ? Unsafe.As<IRuleLookup<TAddress>>(ruleSet.Matcher)
            : Unsafe.As<IRuleLookup<TAddress>>(ruleSet.Matcher.Ipv6);

    /// <summary>
    /// A new session refused for want of room (a full table, a host's limit, a full bucket, no
    /// port left): counted, and an outbound packet is answered "administratively prohibited" from
    /// its map rule's address (ICMPv4 3/13 or ICMPv6 1/1, <see cref="IPacketFamily{TAddress}.WriteProhibited"/>),
    /// so the inside host fails at once instead of waiting for a timeout; the replies are rate limited.
    /// </summary>
    private TranslationResult Refuse<TFamily, TAddress>(Span<byte> buffer, int packetLength, DropReason reason, RuleSlot? map, long nowTicks)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        Counters.NoMemory++;
        Counters.CountDrop(reason);
        // RFC 1812 4.3.2.7 and RFC 4443 2.4 e: never an error about an error (the packets refused
        // here are TCP, UDP or queries); none where the rule is unknown or the buffer too small.
        if (!Options.ReplyToRefusedSessions || map is null || !TakeRefusalReply(nowTicks))
        {
            return TranslationResult.Dropped(reason);
        }
        int length = TFamily.WriteProhibited(buffer, packetLength, map.AddressesOf<TAddress>().TranslatedFirst);
        return length == 0 ? TranslationResult.Dropped(reason) : new TranslationResult(Verdict.Reply, reason, length);
    }

    private long refusalTokens = -1;
    private long refusalRefilledTicks;

    /// <summary>A token bucket: <see cref="NatEngineOptions.RefusalRepliesPerSecond"/> a second, as many in a burst.</summary>
    private bool TakeRefusalReply(long nowTicks)
    {
        long rate = Options.RefusalRepliesPerSecond;
        if (rate <= 0)
        {
            return false;
        }
        if (refusalTokens < 0 || nowTicks < refusalRefilledTicks)
        {
            (refusalTokens, refusalRefilledTicks) = (rate, nowTicks);
        }
        long earned = (nowTicks - refusalRefilledTicks) * rate / TimeSpan.TicksPerSecond;
        if (earned > 0)
        {
            refusalTokens = Math.Min(rate, refusalTokens + earned);
            refusalRefilledTicks += earned * TimeSpan.TicksPerSecond / rate;
        }
        if (refusalTokens == 0)
        {
            Counters.RefusalRepliesSuppressed++;
            return false;
        }
        refusalTokens--;
        return true;
    }
}
