using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Behaviours;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation.Nat64;

using System.Runtime.CompilerServices;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    // Made with the first packet a NAT64 rule takes (its table reserves memory up front).
    private Nat64Parts? nat64;

    /// <summary>NAT64 sessions in the table.</summary>
    public int Nat64SessionCount => nat64?.Table.Count ?? 0;

    /// <summary>For tests: what is wrong with NAT64's table (<see cref="FlowTable{TAddress}.CheckConsistency"/>); empty when nothing is.</summary>
    internal IReadOnlyList<string> CheckNat64Consistency() => nat64?.Table.CheckConsistency(everySessionScheduled: true) ?? [];

    private Nat64Parts Nat64State() => nat64 ??= MakeNat64Parts();

    /// <summary>Whether an IPv6 packet to <paramref name="destination"/> is NAT64's: within a NAT64 rule's prefix, or one its sessions were made through.</summary>
    private bool IsNat64Destination(Ipv6Address destination)
    {
        foreach (RuleSlot slot in ruleSet.Matcher.Nat64)
        {
            if (slot.Nat64!.Prefix.Contains(destination))
            {
                return true;
            }
        }
        if (nat64 is not null)
        {
            foreach (Nat64Prefix prefix in nat64.Prefixes)
            {
                if (prefix.Contains(destination))
                {
                    return true;
                }
            }
        }
        return false;
    }

    /// <summary>
    /// Stateful NAT64 (RFC 6146), IPv6 to IPv4: a packet from the inside to an IPv4 host's
    /// IPv4-embedded address (RFC 6052) leaves as IPv4 from an external address and port of its
    /// rule (RFC 7915 section 5 for the header), making its session first if it has none.
    /// The packet shrinks by its IPv6 header's 20 extra bytes or more. A fragment keeps its
    /// identification's low 16 bits (RFC 7915 5.1.1); later fragments follow their first.
    /// <paramref name="buffer"/> starts with <paramref name="packet"/> and may hold more: room for a refusal's reply.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a cold path: see NatEngine.Translate
    private TranslationResult TranslateNat64Outbound(Span<byte> buffer, Span<byte> packet, in NetworkHeader<Ipv6Address> header, long nowTicks, bool checksumPartial)
    {
        packet = packet[..header.Length];
        if (header.FragmentOffset != 0)
        {
            // RFC 6146 3.4: a later fragment follows its first fragment's session, or waits for it.
            return TranslateNat64LaterFragment(Nat64State(), buffer, FragmentKey<Ipv6Address>.Of(header), fromIpv6: true,
                header.FragmentOffset + header.Length - header.TransportOffset, !header.MoreFragments, nowTicks);
        }
        IpProtocol protocol = header.Protocol;
        Span<byte> transport = header.Transport(packet);
        switch (protocol)
        {
            case IpProtocol.Tcp when TcpSegment.TryParse(transport, out _) != PacketError.None:
            case IpProtocol.Udp or IpProtocol.Icmpv6 when transport.Length < 8:
            // RFC 8200 8.1: a UDP checksum of zero is not allowed over IPv6.
            case IpProtocol.Udp when transport[UdpDatagram.Field.Checksum] == 0 && transport[UdpDatagram.Field.Checksum + 1] == 0 && !checksumPartial:
                return Malformed();
            case IpProtocol.Icmpv6 when Ipv6Family.IsIcmpError(transport[0]):
                return TranslateNat64ErrorOutbound(packet, transport);
            case IpProtocol.Icmpv6 when !Ipv6Family.IsIcmpQuery(transport[0]):
                return Unsupported(); // neighbour discovery and other informational types never cross
            case not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmpv6):
                return Drop(DropReason.ProtocolNotTranslated); // RFC 6146 translates TCP, UDP and ICMP only
            default:
                break;
        }
        Nat64Parts parts = Nat64State();
        FragmentKey<Ipv6Address>? datagram = header.MoreFragments ? FragmentKey<Ipv6Address>.Of(header) : null;
        if (datagram is { } first && !parts.Fragments.HasRoom(first))
        {
            return Drop(DropReason.FragmentBufferFull); // its later fragments could never follow it
        }
        FlowKey<Ipv6Address> key = KeyOf(protocol, header.Source, header.Destination, transport);
        int index = parts.Table.Find(key, out bool forward);
        if (index < 0)
        {
            DropReason refusal = CreateNat64Outbound(parts, key, transport, nowTicks, out index);
            if (refusal != DropReason.None)
            {
                return RefuseNat64Outbound(buffer, packet.Length, refusal, nowTicks);
            }
            forward = true;
        }
        TranslationResult result = ApplyNat64(parts, index, forward, packet, packet.Length, header.TransportOffset, fromIpv6: true, datagram, nowTicks,
            checksumPartial);
        if (result.Verdict == Verdict.Forward && IsExternalAddress(Ipv4Address.Read(packet[Ipv4Packet.Field.DestinationAddress..])))
        {
            // RFC 6146 3.8, hairpinning: to another inside host through its own mapping. The IPv4
            // packet is at once an inbound one, and takes the inbound path (which makes it IPv6
            // again, with the buffer's room for a Fragment header or a split). It is one packet,
            // counted once: by the inbound half, or by its drop there; the outbound half's count is taken back.
            Counters.MappedOut--;
            Counters.BytesOut -= packet.Length;
            return Translate(buffer, result.Length, nowTicks, checksumPartial);
        }
        return result;
    }

    /// <summary>
    /// The IPv4 half of NAT64 for a packet that matched no IPv4 session: one of a NAT64 session's,
    /// or a new flow to a NAT64 mapping that its filtering admits (RFC 6146 3.5.1.1, 3.5.2.2).
    /// False when it is neither, and IPv4's own paths take the packet.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a cold path: see NatEngine.Translate
    private bool TryTranslateNat64Inbound(Span<byte> buffer, Ipv4Packet ip, in FlowKey key4, long nowTicks, bool checksumPartial, out TranslationResult result)
    {
        Nat64Parts parts = nat64!;
        IpProtocol protocol = key4.Protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : key4.Protocol;
        var key = new FlowKey<Ipv6Address>(protocol, Ipv6Address.MapIpv4(key4.Source), key4.SourcePort, Ipv6Address.MapIpv4(key4.Destination), key4.DestinationPort);
        int index = parts.Table.Find(key, out bool forward);
        FragmentKey<Ipv6Address>? datagram = ip.MoreFragments ? Nat64FragmentKey(ip) : null;
        if (index < 0)
        {
            int representative = protocol is IpProtocol.Tcp or IpProtocol.Udp ? parts.Table.FindMappingByExternal(protocol, key.Destination, key.DestinationPort) : -1;
            if (representative < 0)
            {
                result = default;
                return false;
            }
            if (datagram is { } first && !parts.Fragments.HasRoom(first))
            {
                result = Drop(DropReason.FragmentBufferFull); // a first fragment makes no session its later fragments could not follow
                return true;
            }
            DropReason refusal = CreateNat64Inbound(parts, representative, key, ip.Payload, nowTicks, out index);
            if (refusal != DropReason.None)
            {
                result = RefuseNat64(refusal);
                return true;
            }
            forward = true;
        }
        if (datagram is { } known && !parts.Fragments.HasRoom(known))
        {
            result = Drop(DropReason.FragmentBufferFull);
            return true;
        }
        result = ApplyNat64(parts, index, forward, buffer, ip.TotalLength, ip.HeaderLength, fromIpv6: false, datagram, nowTicks, checksumPartial);
        return true;
    }

    /// <summary>The new-session path of an IPv6 packet to a NAT64 prefix: the rule, the IPv4 server, the mapping (reused or allocated), the session.</summary>
    private DropReason CreateNat64Outbound(Nat64Parts parts, in FlowKey<Ipv6Address> key, ReadOnlySpan<byte> transport, long nowTicks, out int index)
    {
        index = -1;
        IpProtocol protocol = key.Protocol;
        if (protocol == IpProtocol.Icmpv6 && !Ipv6Family.IsIcmpQueryRequest(transport[0]))
        {
            return DropReason.NoSession; // a reply with no query behind it
        }
        RuleSlot? slot = null;
        bool insideOfSome = false;
        foreach (RuleSlot candidate in ruleSet.Matcher.Nat64)
        {
            Nat64Mapping rule = candidate.Nat64!;
            if (rule.Prefix.Contains(key.Destination) && rule.SourceMatches(key.Source))
            {
                insideOfSome = true;
                if (rule.Matches(key))
                {
                    slot = candidate;
                    break;
                }
            }
        }
        if (slot is null)
        {
            // From a NAT64 inside in a protocol or to ports no rule translates: dropped, as IPv4's are.
            return insideOfSome ? DropReason.ProtocolNotTranslated : DropReason.NoSession;
        }
        Nat64Mapping mapping = slot.Nat64!;
        if (!mapping.Prefix.TryExtract(key.Destination, out Ipv4Address server) || !mapping.Allows(server))
        {
            return DropReason.UntranslatableAcrossFamilies; // RFC 6052 3.1: the Well-Known Prefix stands for global IPv4 only
        }
        if (protocol == IpProtocol.Tcp && ((TcpFlags)transport[TcpSegment.Field.Flags] & TcpFlags.Rst) != 0)
        {
            return DropReason.NotSyn;
        }
        if (Hairpinning == HairpinningMode.Disabled && IsExternalAddress(server))
        {
            return DropReason.HairpinDisabled;
        }
        if (IsLocked)
        {
            return DropReason.Locked;
        }

        Ipv6Address remote = Ipv6Address.MapIpv4(server);
        MappingPolicy policy = slot.Mapping;
        int sourceMapping = parts.Table.FindMappingByInside(policy.Key(protocol, key.Source, key.SourcePort, remote, key.DestinationPort));
        Ipv4Address external;
        ushort externalPort;
        ExternalAddressPool<Ipv4Address>? allocatedFrom = null;
        if (sourceMapping >= 0)
        {
            ref Session<Ipv6Address> existing = ref parts.Table.At(sourceMapping);
            external = existing.ExternalAddress.MappedIpv4;
            externalPort = existing.ExternalPort;
        }
        else
        {
            DropReason refusal = AllocateNat64(slot, key, nowTicks, out external, out externalPort, out allocatedFrom);
            if (refusal != DropReason.None)
            {
                return refusal;
            }
        }
        // An echo's identifier stands in both port fields: one value, translated once.
        var translated = new FlowKey<Ipv6Address>(protocol, Ipv6Address.MapIpv4(external), externalPort, remote,
            protocol == IpProtocol.Icmpv6 ? externalPort : key.DestinationPort);
        bool startsMapping = sourceMapping < 0;
        var session = new Session<Ipv6Address>
        {
            Original = key,
            Translated = translated,
            RuleIndex = slot.Index,
            CreatedSeconds = parts.Table.SecondsSinceEpoch(nowTicks),
            LastSeenSeconds = parts.Table.SecondsSinceEpoch(nowTicks),
            Attributes = policy.Flags | (startsMapping && allocatedFrom is not null ? SessionAttributes.PortAllocated : 0),
        };
        // The IPv6 pseudo-header's change, since a mapped address sums as its IPv4 address does;
        // kept for listings and saved state, the packets themselves go through the translators.
        (session.IpChecksumDelta, session.TransportChecksumDelta) = PacketRewrite.Deltas<Ipv6Family, Ipv6Address>(key, translated);
        DropReason roomRefusal = Nat64Room(parts, session, startsMapping);
        if (roomRefusal != DropReason.None)
        {
            ReleaseNat64Allocation(allocatedFrom, protocol, externalPort, key.Source, nowTicks);
            return roomRefusal;
        }
        index = parts.Sessions.Insert(session, sourceMapping, startsMapping, nowTicks + parts.Sessions.TimeoutOf(session), nowTicks);
        slot.Hits++;
        parts.Remember(mapping.Prefix);
        return DropReason.None;
    }

    /// <summary>
    /// A new flow from the IPv4 side to a NAT64 mapping's external endpoint: admitted when the
    /// mapping's filtering lets the remote in (RFC 6146 3.5.1.1 and 3.5.2.2, RFC 4787 REQ-8), or
    /// when the remote is the gateway's own external address (a hairpinned packet, RFC 6146 3.8).
    /// </summary>
    private DropReason CreateNat64Inbound(Nat64Parts parts, int representative, in FlowKey<Ipv6Address> key, ReadOnlySpan<byte> transport, long nowTicks, out int index)
    {
        index = -1;
        IpProtocol protocol = key.Protocol;
        ref Session<Ipv6Address> mapping = ref parts.Table.At(representative);
        RuleSlot rule = rules[mapping.RuleIndex]!;
        Nat64Mapping nat = rule.Nat64!;
        Ipv4Address remote = key.Source.MappedIpv4;
        if (protocol == IpProtocol.Tcp && ((TcpFlags)transport[TcpSegment.Field.Flags] & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) != TcpFlags.Syn)
        {
            return DropReason.NotSyn; // RFC 6146 3.5.2.2: only a SYN opens a session from outside
        }
        bool hairpin = IsExternalAddress(remote);
        if (!hairpin && !rule.FilteringFor(protocol).Admits(parts.Table, representative, key.Source, key.SourcePort))
        {
            return DropReason.Filtered;
        }
        if (!nat.Allows(remote))
        {
            return DropReason.UntranslatableAcrossFamilies;
        }
        if (IsLocked)
        {
            return DropReason.Locked;
        }
        var session = new Session<Ipv6Address>
        {
            Original = key,
            Translated = new FlowKey<Ipv6Address>(protocol, nat.Prefix.Embed(remote), key.SourcePort, mapping.InsideAddress, mapping.InsidePort),
            RuleIndex = mapping.RuleIndex,
            CreatedSeconds = parts.Table.SecondsSinceEpoch(nowTicks),
            LastSeenSeconds = parts.Table.SecondsSinceEpoch(nowTicks),
            Attributes = SessionAttributes.InitiatedOutside
                | (mapping.Attributes & (SessionAttributes.MappingAddressDependent | SessionAttributes.MappingAddressAndPortDependent)),
        };
        (session.IpChecksumDelta, session.TransportChecksumDelta) = PacketRewrite.Deltas<Ipv6Family, Ipv6Address>(session.Original, session.Translated);
        DropReason roomRefusal = Nat64Room(parts, session, startsMapping: false);
        if (roomRefusal != DropReason.None)
        {
            return roomRefusal;
        }
        index = parts.Sessions.Insert(session, representative, startsMapping: false, nowTicks + parts.Sessions.TimeoutOf(session), nowTicks);
        rule.Hits++;
        return DropReason.None;
    }

    private static DropReason Nat64Room(Nat64Parts parts, in Session<Ipv6Address> session, bool startsMapping) => parts.Table.CheckRoom(session, startsMapping) switch
    {
        TableRefusal.None => DropReason.None,
        TableRefusal.TableFull => DropReason.TableFull,
        TableRefusal.HostLimit => DropReason.HostLimit,
        TableRefusal.BucketFull => DropReason.BucketFull,
        _ => DropReason.Conflict,
    };

    /// <summary>
    /// An external IPv4 address and port for a new NAT64 mapping, from the IPv4 allocators that
    /// IPv4 NAPT uses for the same address: one inside host starts from the same address (RFC
    /// 4787 REQ-2, paired pooling), and its port is kept when free (REQ-3).
    /// </summary>
    private DropReason AllocateNat64(RuleSlot slot, in FlowKey<Ipv6Address> key, long nowTicks, out Ipv4Address address, out ushort port,
        out ExternalAddressPool<Ipv4Address>? allocatedFrom)
    {
        Nat64Mapping mapping = slot.Nat64!;
        IpProtocol protocol = key.Protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : key.Protocol;
        ulong count = mapping.TranslatedCount;
        ulong first = new FlowKey<Ipv6Address>(0, key.Source, 0, Ipv6Address.Unspecified, 0).Hash(seed) % count;
        PortRange range = slot.RangeFor(protocol);
        ulong attempts = Math.Min(count, 64);
        for (ulong attempt = 0; attempt < attempts; attempt++)
        {
            var candidate = new Ipv4Address((uint)(mapping.TranslatedFirst.Value + (first + attempt) % count));
            ExternalAddressPool<Ipv4Address> pool = pools.PoolOf(candidate);
            PortAllocator allocator = pools.AllocatorOf(pool, protocol);
            if (allocator.TryAllocate(key.SourcePort, key.Source, nowTicks, slot.Rule.Policy.PreservePortParity, allowClassChange: true, range, out port))
            {
                address = candidate;
                allocatedFrom = pool;
                return DropReason.None;
            }
        }
        address = Ipv4Address.Any;
        port = 0;
        allocatedFrom = null;
        return DropReason.PortsExhausted;
    }

    private void ReleaseNat64Allocation(ExternalAddressPool<Ipv4Address>? pool, IpProtocol protocol, ushort port, Ipv6Address inside, long nowTicks)
    {
        if (pool is not null)
        {
            pools.AllocatorOf(pool, protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : protocol).Release(port, inside, nowTicks);
        }
    }

    /// <summary>
    /// A NAT64 session's packet, either family, translated to the other (RFC 7915 sections 4 and
    /// 5) with the session's addresses and ports or identifier, then copied back over the packet
    /// (the result is 20 bytes shorter or longer, or split to fit the minimum IPv6 MTU, RFC 7915
    /// 4.1, its first piece in the buffer); TCP state, counters and the timer as for any
    /// session. A packet from IPv6 goes to the session's IPv4-mapped tuple, one from IPv4 to its IPv6 tuple.
    /// </summary>
    /// <remarks>
    /// A first fragment (<paramref name="datagram"/> set) is remembered, so its later fragments
    /// follow (<see cref="TranslateNat64LaterFragment"/>). An ICMP echo's first fragment needs the
    /// whole message's length for its checksum's pseudo-header: until the last fragment has told
    /// it, the first is held, and translated again when it has.
    /// </remarks>
    private TranslationResult ApplyNat64(Nat64Parts parts, int index, bool forward, Span<byte> buffer, int length, int transportOffset, bool fromIpv6,
        FragmentKey<Ipv6Address>? datagram, long nowTicks, bool checksumPartial)
    {
        ref Session<Ipv6Address> session = ref parts.Table.At(index);
        IpProtocol protocol = session.Original.Protocol;
        ReadOnlySpan<byte> packet = buffer[..length];
        ReadOnlySpan<byte> transport = packet[transportOffset..];
        // Requests go the session's way and replies come back (RFC 5508 REQ-3, as for IPv4).
        if (protocol == IpProtocol.Icmpv6
            && (fromIpv6 ? Ipv6Family.IsIcmpQueryRequest(transport[0]) : Ipv4Family.IsIcmpQueryRequest(transport[0])) != forward)
        {
            return Drop(DropReason.NoSession);
        }
        FlowKey<Ipv6Address> target = forward ? session.Translated : session.Original.Reverse();
        bool ported = protocol is IpProtocol.Tcp or IpProtocol.Udp;
        ushort? identifier = protocol == IpProtocol.Icmpv6 ? target.SourcePort : null;
        int? messageLength = null;
        if (datagram is { } first && protocol == IpProtocol.Icmpv6)
        {
            parts.Fragments.TryGetDestination(first, out _, out _, out int datagramLength);
            if (datagramLength == 0)
            {
                return HoldNat64FirstFragment(parts, first, target, packet, fromIpv6, nowTicks);
            }
            messageLength = datagramLength;
        }
        // A partial checksum (checksum offload) holds the pseudo-header sum alone: it takes the
        // addresses' change and nothing else, so it is kept aside and fixed after the translation.
        int checksumField = protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        bool partial = checksumPartial && ported && transport.Length >= checksumField + 2;
        ushort partialSum = partial ? BinaryPrimitives.ReadUInt16BigEndian(transport[checksumField..]) : (ushort)0;
        ushort oldAddresses = fromIpv6
            ? InternetChecksum.Sum(packet.Slice(Ipv6Packet.Field.SourceAddress, 32))
            : InternetChecksum.Sum(packet.Slice(Ipv4Packet.Field.SourceAddress, 8));

        Span<byte> output = parts.Output;
        Nat64TranslationResult translation;
        int written;
        if (fromIpv6)
        {
            var endpoints = new Ipv4Endpoints(target.Source.MappedIpv4, target.Destination.MappedIpv4)
            {
                SourcePort = ported ? target.SourcePort : null,
                DestinationPort = ported ? target.DestinationPort : null,
                IcmpIdentifier = identifier,
                Identification = parts.NextIdentification(),
                IcmpMessageLength = messageLength,
            };
            translation = Ipv6ToIpv4Translator.Translate(packet, endpoints, output, out written);
        }
        else
        {
            var endpoints = new Ipv6Endpoints(target.Source, target.Destination)
            {
                SourcePort = ported ? target.SourcePort : null,
                DestinationPort = ported ? target.DestinationPort : null,
                IcmpIdentifier = identifier,
                IcmpMessageLength = messageLength,
                // An offload's super-packet (its checksum partial) cannot be split.
                KeepWhole = partial,
            };
            translation = Ipv4ToIpv6Translator.Translate(packet, endpoints, output, out written);
        }
        if (!translation.IsTranslated)
        {
            return Nat64Failed(translation.DropReason);
        }
        if (datagram is { } translatedFirst)
        {
            RememberNat64Datagram(parts, translatedFirst, target, packet, fromIpv6, nowTicks);
        }
        DropReason undelivered = DeliverNat64(parts, written, buffer, out written);
        if (undelivered != DropReason.None)
        {
            return Drop(undelivered);
        }
        // After IPv6's Fragment header when the translation has one (a first fragment, or a long packet without DF).
        int translatedOffset = fromIpv6 ? Ipv4Packet.MinimumHeaderLength
            : Ipv6Packet.HeaderLength + (buffer[Ipv6Packet.Field.NextHeader] == (byte)IpProtocol.Fragment ? Ipv6FragmentSplitter.PrefixLength - Ipv6Packet.HeaderLength : 0);
        Span<byte> translatedTransport = buffer[translatedOffset..written];
        if (partial)
        {
            ushort newAddresses = fromIpv6
                ? InternetChecksum.Sum(buffer.Slice(Ipv4Packet.Field.SourceAddress, 8))
                : InternetChecksum.Sum(buffer.Slice(Ipv6Packet.Field.SourceAddress, 32));
            BinaryPrimitives.WriteUInt16BigEndian(translatedTransport[checksumField..],
                InternetChecksum.Add(partialSum, InternetChecksum.Add(newAddresses, (ushort)~oldAddresses)));
        }
        if (protocol == IpProtocol.Tcp)
        {
            var flags = (TcpFlags)translatedTransport[TcpSegment.Field.Flags];
            if ((flags & TcpFlags.Syn) != 0 && rules[session.RuleIndex]!.Rule.MssClamp != 0)
            {
                ClampMaximumSegmentSize(translatedTransport, rules[session.RuleIndex]!.Rule.MssClamp, partial);
            }
            TrackTcp(parts.Sessions, ref session, index, forward, flags, nowTicks);
        }

        bool outbound = forward != ((session.Attributes & SessionAttributes.InitiatedOutside) != 0);
        if (forward)
        {
            session.PacketsForward++;
            session.BytesForward += (ulong)length;
        }
        else
        {
            session.PacketsReply++;
            session.BytesReply += (ulong)length;
        }
        if (outbound)
        {
            Counters.MappedOut++;
            Counters.BytesOut += length;
        }
        else
        {
            Counters.MappedIn++;
            Counters.BytesIn += length;
        }
        // RFC 4787 REQ-6: inbound UDP refreshes the timer only when the NAT is told to (UdpInboundRefresh).
        if (outbound || protocol != IpProtocol.Udp || rules[session.RuleIndex]!.UdpInboundRefresh)
        {
            session.LastSeenSeconds = parts.Table.SecondsSinceEpoch(nowTicks);
        }
        return new TranslationResult(Verdict.Forward, DropReason.None, written);
    }

    /// <summary>
    /// An ICMPv6 error from the inside about a NAT64 session's packet (a port unreachable, a
    /// Packet Too Big from an inside router): it goes to the IPv4 host as ICMPv4, its quoted packet
    /// restored to what that host sent (RFC 7915 5.2 and 5.3, RFC 6146 3.5.4). It never makes or
    /// refreshes a session. The source is the session's external address: an inside router's IPv6
    /// address has no IPv4 form.
    /// </summary>
    private TranslationResult TranslateNat64ErrorOutbound(Span<byte> packet, ReadOnlySpan<byte> message)
    {
        ReadOnlySpan<byte> quoted = message[Icmpv6Message.HeaderLength..];
        if (nat64 is null)
        {
            return Drop(DropReason.IcmpErrorNoSession);
        }
        // The quote's extension headers walked, cut short as it may be (RFC 4443 3: as much of the
        // packet as fits); a later fragment's has no ports to find its session by.
        if (Ipv6Family.ParseQuoted(quoted, out NetworkHeader<Ipv6Address> quotedHeader) != PacketError.None)
        {
            return Malformed();
        }
        if (quotedHeader.FragmentOffset != 0)
        {
            return Drop(DropReason.IcmpErrorNoSession);
        }
        if (quotedHeader.Length - quotedHeader.TransportOffset < 8)
        {
            return Malformed();
        }
        IpProtocol protocol = quotedHeader.Protocol;
        ReadOnlySpan<byte> quotedTransport = quoted[quotedHeader.TransportOffset..quotedHeader.Length];
        if (protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmpv6)
            || (protocol == IpProtocol.Icmpv6 && !Ipv6Family.IsIcmpQuery(quotedTransport[0])))
        {
            return Drop(DropReason.IcmpErrorNoSession); // of no session NAT64 keeps
        }
        FlowKey<Ipv6Address> embedded = KeyOf(protocol, quotedHeader.Source, quotedHeader.Destination, quotedTransport);
        // The error travels opposite to the packet it quotes: look that packet up reversed.
        int index = nat64.Table.Find(embedded.Reverse(), out bool forward);
        if (index < 0)
        {
            return Drop(DropReason.IcmpErrorNoSession);
        }
        ref Session<Ipv6Address> session = ref nat64.Table.At(index);
        // The quoted packet as the IPv4 host sent it, in IPv4-mapped addresses.
        FlowKey<Ipv6Address> restored = forward ? session.Translated.Reverse() : session.Original;
        bool ported = protocol is IpProtocol.Tcp or IpProtocol.Udp;
        var outer = new Ipv4Endpoints(restored.Destination.MappedIpv4, restored.Source.MappedIpv4) { Identification = nat64.NextIdentification() };
        var inner = new Ipv4Endpoints(restored.Source.MappedIpv4, restored.Destination.MappedIpv4)
        {
            SourcePort = ported ? restored.SourcePort : null,
            DestinationPort = ported ? restored.DestinationPort : null,
            IcmpIdentifier = ported ? null : restored.SourcePort,
        };
        Nat64TranslationResult translation = Ipv6ToIpv4Translator.Translate(packet, outer, inner, nat64.Output, out int written);
        if (!translation.IsTranslated)
        {
            return Nat64Failed(translation.DropReason);
        }
        nat64.Output.AsSpan(0, written).CopyTo(packet);
        Counters.IcmpErrorsTranslated++;
        return new TranslationResult(Verdict.Forward, DropReason.None, written);
    }

    /// <summary>
    /// An ICMPv4 error about a NAT64 session's packet (a port unreachable from the server, a
    /// fragmentation needed from a router on the way): it goes to the inside host as ICMPv6, its
    /// quoted packet restored to what that host sent, a fragmentation needed becoming a Packet
    /// Too Big with the MTU raised by 20 (RFC 7915 4.2). The source is the sender's
    /// IPv4-embedded address. False when the quoted packet is none of NAT64's.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a cold path: see NatEngine.Translate
    private bool TryTranslateNat64ErrorInbound(Span<byte> buffer, Ipv4Packet ip, out TranslationResult result)
    {
        result = default;
        Nat64Parts parts = nat64!;
        Span<byte> icmp = ip.Payload;
        if (icmp.Length < IcmpMessage.HeaderLength
            || Ipv4Packet.TryParseEmbedded(icmp[IcmpMessage.HeaderLength..], out Ipv4Packet quoted) != PacketError.None || quoted.FragmentOffset != 0)
        {
            return false;
        }
        IpProtocol protocol = quoted.Protocol;
        Span<byte> quotedTransport = quoted.Payload;
        if (protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp) || quotedTransport.Length < 8
            || (protocol == IpProtocol.Icmp && !IcmpMessage.IsQueryType(quotedTransport[0])))
        {
            return false;
        }
        FlowKey embedded = KeyOf(protocol, quoted.SourceAddress, quoted.DestinationAddress, quotedTransport);
        var reversed = new FlowKey<Ipv6Address>(protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : protocol,
            Ipv6Address.MapIpv4(embedded.Destination), embedded.DestinationPort, Ipv6Address.MapIpv4(embedded.Source), embedded.SourcePort);
        int index = parts.Table.Find(reversed, out bool forward);
        if (index < 0)
        {
            return false;
        }
        ref Session<Ipv6Address> session = ref parts.Table.At(index);
        // The quoted packet as the inside host sent it.
        FlowKey<Ipv6Address> restored = forward ? session.Translated.Reverse() : session.Original;
        Nat64Mapping? mapping = rules[session.RuleIndex]?.Nat64;
        Ipv6Address sender = ip.SourceAddress == embedded.Destination ? restored.Destination
            : mapping?.Prefix.Embed(ip.SourceAddress) ?? Nat64Prefix.WellKnown.Embed(ip.SourceAddress);
        bool ported = protocol is IpProtocol.Tcp or IpProtocol.Udp;
        var outer = new Ipv6Endpoints(sender, restored.Source);
        var inner = new Ipv6Endpoints(restored.Source, restored.Destination)
        {
            SourcePort = ported ? restored.SourcePort : null,
            DestinationPort = ported ? restored.DestinationPort : null,
            IcmpIdentifier = ported ? null : restored.SourcePort,
        };
        Nat64TranslationResult translation = Ipv4ToIpv6Translator.Translate(ip.Bytes, outer, inner, parts.Output, out int written);
        if (!translation.IsTranslated)
        {
            result = Nat64Failed(translation.DropReason);
            return true;
        }
        if (written > buffer.Length)
        {
            result = Drop(DropReason.UntranslatableAcrossFamilies);
            return true;
        }
        parts.Output.AsSpan(0, written).CopyTo(buffer);
        Counters.IcmpErrorsTranslated++;
        result = new TranslationResult(Verdict.Forward, DropReason.None, written);
        return true;
    }

    /// <summary>
    /// An inside host's new flow refused for want of room or ports: besides the count, the host
    /// hears of it at once (RFC 6146 3.5.1 and 3.5.2.2: ICMPv6 destination unreachable, code 3
    /// "address unreachable", from the address it tried), within the refusal replies' rate.
    /// </summary>
    private TranslationResult RefuseNat64Outbound(Span<byte> buffer, int packetLength, DropReason reason, long nowTicks)
    {
        TranslationResult refused = RefuseNat64(reason);
        if (reason is not (DropReason.TableFull or DropReason.HostLimit or DropReason.BucketFull or DropReason.PortsExhausted)
            || !Options.ReplyToRefusedSessions || buffer.Length < Ipv6Packet.HeaderLength + Icmpv6Message.HeaderLength + Math.Min(packetLength, Ipv6PacketWriter.MaximumQuotedBytes)
            || !TakeRefusalReply(nowTicks))
        {
            return refused;
        }
        Ipv6Address unreachable = Ipv6Address.Read(buffer[Ipv6Packet.Field.DestinationAddress..]);
        Ipv6Address host = Ipv6Address.Read(buffer[Ipv6Packet.Field.SourceAddress..]);
        int length = Ipv6PacketWriter.WriteIcmpv6Error(buffer, unreachable, host, Icmpv6Type.DestinationUnreachable, 3, 0, buffer[..packetLength]);
        return length == 0 ? refused : new TranslationResult(Verdict.Reply, reason, length);
    }

    private TranslationResult RefuseNat64(DropReason reason)
    {
        if (reason is DropReason.TableFull or DropReason.HostLimit or DropReason.BucketFull or DropReason.PortsExhausted)
        {
            Counters.NoMemory++;
        }
        return Drop(reason);
    }

    /// <summary>A translator's refusal as the engine counts it: bad bytes are malformed, fragments unsupported, the rest untranslatable.</summary>
    private TranslationResult Nat64Failed(Nat64DropReason reason) => reason switch
    {
        Nat64DropReason.MalformedPacket or Nat64DropReason.HeaderChecksumInvalid or Nat64DropReason.TransportTruncated
            or Nat64DropReason.IcmpChecksumInvalid or Nat64DropReason.QuotedPacketMalformed => Malformed(),
        Nat64DropReason.FragmentedIcmp or Nat64DropReason.FragmentedUdpWithoutChecksum => Unsupported(),
        _ => Drop(DropReason.UntranslatableAcrossFamilies),
    };
}
