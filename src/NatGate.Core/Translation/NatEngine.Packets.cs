using NatGate.Core.Addressing;
using NatGate.Core.Control;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// Translates one IPv4 packet in place. <paramref name="buffer"/> holds the packet in its first
    /// <paramref name="length"/> bytes and may be longer: a <see cref="Verdict.Reply"/> writes an
    /// ICMP error there (up to 576 bytes).
    /// </summary>
    /// <param name="buffer">The packet, and room for an ICMP error reply.</param>
    /// <param name="length">The packet's length.</param>
    /// <param name="nowTicks">The time.</param>
    /// <param name="checksumPartial">
    /// The TCP or UDP checksum field holds only the pseudo-header sum, not complemented (a TUN
    /// with checksum offload, virtio NEEDS_CSUM): it is updated for the address change alone,
    /// since the ports are summed with the data when the checksum is completed later.
    /// </param>
    [SkipLocalsInit]
    public TranslationResult Translate(Span<byte> buffer, int length, long nowTicks, bool checksumPartial = false)
    {
        if ((uint)length > (uint)buffer.Length)
        {
            return Malformed();
        }
        Span<byte> bytes = buffer[..length];
        // Each family's path is compiled on its own, so a packet pays for its own family's frame
        // only: one method holding both overran the JIT's inlining budget, left trivial helpers
        // as calls, and zeroed a 2 KiB frame on every packet (NAT66: 86 ns at 1,000 flows, not 57).
        return bytes.Length > 0 && bytes[0] >> 4 == 6
            ? TranslateIpv6(buffer, bytes, nowTicks, checksumPartial)
            : TranslateIpv4(buffer, bytes, nowTicks, checksumPartial);
    }

    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateIpv4(Span<byte> buffer, Span<byte> bytes, long nowTicks, bool checksumPartial)
    {
        if (Ipv4Packet.TryParse(bytes, out Ipv4Packet ip) != PacketError.None || !ip.IsHeaderChecksumValid)
        {
            return Malformed();
        }
        IpProtocol protocol = ip.Protocol;
        Span<byte> transport = ip.Payload;
        bool ordinary = ip.FragmentOffset == 0 && protocol switch
        {
            IpProtocol.Tcp => TcpSegment.TryParse(transport, out _) == PacketError.None,
            IpProtocol.Udp => transport.Length >= 8,
            IpProtocol.Icmp => transport.Length >= 8 && IcmpMessage.IsQueryType(transport[0]),
            _ => true,
        };
        if (!ordinary)
        {
            return TranslateIpv4Unusual(buffer, ip, nowTicks);
        }
        FlowKey key = KeyOf(protocol, ip.SourceAddress, ip.DestinationAddress, transport);
        int index = table.Find(key, out bool forward);
        if (index < 0)
        {
            return TranslateIpv4NewFlow(buffer, ip, key, nowTicks, checksumPartial);
        }
        if (ftp is not null && protocol == IpProtocol.Tcp && ftp.IsControlConnection(index))
        {
            return TranslateControlConnection(buffer, ip, index, forward, nowTicks, checksumPartial);
        }
        return Apply<Ipv4Family, Ipv4Address>(ipv4, index, forward, ip.Bytes, HeaderOf(ip), transport, nowTicks, checksumPartial);
    }

    // The cold paths are kept out of TranslateIpv4, so the JIT's inlining budget goes to the
    // established path: with them inline, 21 span conversions and the key's constructor were
    // left as calls, and an established UDP packet took ~7 ns more (bench/results/core-nat66-20261205.md).

    /// <summary>An IPv4 packet with no session key of its own: a later fragment, an ICMP error, a truncated or unknown ICMP message.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateIpv4Unusual(Span<byte> buffer, Ipv4Packet ip, long nowTicks)
    {
        if (ip.FragmentOffset != 0)
        {
            // A NAT64 datagram's (NatEngine.Nat64Fragments), or IPv4's own.
            return nat64 is not null && TryTranslateNat64LaterFragment(buffer, ip, nowTicks, out TranslationResult nat64Fragment) ? nat64Fragment
                : TranslateLaterFragment<Ipv4Family, Ipv4Address>(ipv4, ip.Bytes, HeaderOf(ip), nowTicks);
        }
        Span<byte> transport = ip.Payload;
        return ip.Protocol switch
        {
            IpProtocol.Icmp when transport.Length >= 8 && IcmpMessage.IsErrorType(transport[0]) => ip.MoreFragments ? Unsupported()
                : nat64 is not null && TryTranslateNat64ErrorInbound(buffer, ip, out TranslationResult nat64Error) ? nat64Error
                : TranslateIcmpError<Ipv4Family, Ipv4Address>(ipv4, ip.Bytes, HeaderOf(ip), transport),
            IpProtocol.Icmp when transport.Length >= 8 => Unsupported(),
            _ => Malformed(),
        };
    }

    /// <summary>An IPv4 packet whose flow has no session: a NAT64 session's IPv4 side or a new flow to a NAT64 mapping (NatEngine.Nat64), else a new session.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateIpv4NewFlow(Span<byte> buffer, Ipv4Packet ip, FlowKey key, long nowTicks, bool checksumPartial)
    {
        if (nat64 is not null && TryTranslateNat64Inbound(buffer, ip, key, nowTicks, checksumPartial, out TranslationResult nat64Result))
        {
            return nat64Result;
        }
        if (ftp is not null && ftp.HasExpectations && TryAdmitExpected(buffer, ip, key, nowTicks, checksumPartial, out TranslationResult expected))
        {
            return expected;
        }
        return CreateSession<Ipv4Family, Ipv4Address>(ipv4, buffer, HeaderOf(ip), ip.Payload, key, nowTicks, checksumPartial);
    }

    /// <summary>An IPv4 view's header facts, for the paths shared with IPv6.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static NetworkHeader<Ipv4Address> HeaderOf(Ipv4Packet ip)
        => new(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, ip.HeaderLength, ip.TotalLength, ip.FragmentOffset, ip.MoreFragments, ip.Identification);

    /// <summary>
    /// A packet's tuple: TCP and UDP ports, an ICMP query's identifier as both ports, none for
    /// other protocols. The caller has checked that a TCP, UDP or ICMP header's first 8 bytes are there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static FlowKey<TAddress> KeyOf<TAddress>(IpProtocol protocol, TAddress source, TAddress destination, ReadOnlySpan<byte> transport)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (protocol is IpProtocol.Tcp or IpProtocol.Udp)
        {
            return new FlowKey<TAddress>(protocol, source, BinaryPrimitives.ReadUInt16BigEndian(transport), destination, BinaryPrimitives.ReadUInt16BigEndian(transport[2..]));
        }
        if (protocol == TAddress.IcmpProtocol)
        {
            ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(transport[IcmpMessage.Field.Identifier..]);
            return new FlowKey<TAddress>(protocol, source, identifier, destination, identifier);
        }
        return new FlowKey<TAddress>(protocol, source, 0, destination, 0);
    }

    /// <summary>The per-packet path of an established session, either family: the rewrite (<see cref="PacketRewrite"/>), TCP state, counters and the timer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private TranslationResult Apply<TFamily, TAddress>(FamilyParts<TAddress> parts, int index, bool forward, Span<byte> packet, in NetworkHeader<TAddress> header,
        Span<byte> transport, long nowTicks, bool checksumPartial)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FlowTable<TAddress> flows = parts.Table;
        ref Session<TAddress> session = ref flows.At(index);
        // A query session is made by its request, so requests go the session's way and replies
        // come back: an outside request that carries an inside host's identifier is not an answer
        // to it (RFC 5508 REQ-3 translates replies to the host's own queries, nothing more).
        if (session.Original.Protocol == TAddress.IcmpProtocol && TFamily.IsIcmpQueryRequest(transport[0]) != forward)
        {
            return Drop(DropReason.NoSession);
        }
        if (header.MoreFragments && !HasRoomForFragments(parts, header))
        {
            // A first fragment whose datagram cannot be tracked: its later fragments could never
            // follow it, so it is dropped (and counted) rather than sent on alone.
            return Drop(DropReason.FragmentBufferFull);
        }
        FlowKey<TAddress> target = forward ? session.Translated : session.Original.Reverse();
        ushort ipDelta = forward ? session.IpChecksumDelta : InternetChecksum.Negate(session.IpChecksumDelta);
        ushort transportDelta = forward ? session.TransportChecksumDelta : InternetChecksum.Negate(session.TransportChecksumDelta);

        PacketRewrite.Rewrite<TFamily, TAddress>(packet, transport, target, ipDelta, transportDelta, checksumPartial);
        IpProtocol protocol = target.Protocol;
        if (protocol == IpProtocol.Tcp)
        {
            var flags = (TcpFlags)transport[TcpSegment.Field.Flags];
            if ((flags & TcpFlags.Syn) != 0 && rules[session.RuleIndex]!.Rule.MssClamp != 0)
            {
                ClampMaximumSegmentSize(transport, rules[session.RuleIndex]!.Rule.MssClamp, checksumPartial);
            }
            TrackTcp(parts.Sessions, ref session, index, forward, flags, nowTicks);
        }
        if (header.MoreFragments)
        {
            // A first fragment: later ones carry no ports and follow it by IP identification.
            RememberFragments<TFamily, TAddress>(parts, header, index, forward, nowTicks);
        }

        bool outbound = forward != ((session.Attributes & SessionAttributes.InitiatedOutside) != 0);
        int packetLength = header.Length;
        if (forward)
        {
            session.PacketsForward++;
            session.BytesForward += (ulong)packetLength;
        }
        else
        {
            session.PacketsReply++;
            session.BytesReply += (ulong)packetLength;
        }
        if (outbound)
        {
            Counters.MappedOut++;
            Counters.BytesOut += packetLength;
        }
        else
        {
            Counters.MappedIn++;
            Counters.BytesIn += packetLength;
        }
        // RFC 4787 REQ-6: inbound UDP refreshes the timer only when the NAT is told to (UdpInboundRefresh).
        if (outbound || protocol != IpProtocol.Udp || rules[session.RuleIndex]!.UdpInboundRefresh)
        {
            session.LastSeenSeconds = flows.SecondsSinceEpoch(nowTicks);
        }
        return new TranslationResult(Verdict.Forward, DropReason.None, packetLength);
    }

    /// <summary>
    /// ipnat "mssclamp": lowers the MSS option of a SYN to <paramref name="clamp"/> (for paths
    /// with a smaller MTU than the hosts believe), fixing the checksum for the one changed word.
    /// </summary>
    private static void ClampMaximumSegmentSize(Span<byte> transport, ushort clamp, bool checksumPartial)
    {
        int headerLength = (transport[TcpSegment.Field.DataOffset] >> 4) * 4;
        Span<byte> options = transport[20..Math.Min(headerLength, transport.Length)];
        int offset = 0;
        while (offset < options.Length)
        {
            byte kind = options[offset];
            if (kind == 0)
            {
                return; // end of options
            }
            if (kind == 1)
            {
                offset++; // no-operation
                continue;
            }
            if (offset + 1 >= options.Length || options[offset + 1] < 2 || offset + options[offset + 1] > options.Length)
            {
                return; // a malformed option list: leave it as it is
            }
            if (kind == 2 && options[offset + 1] == 4)
            {
                Span<byte> value = options.Slice(offset + 2, 2);
                ushort mss = BinaryPrimitives.ReadUInt16BigEndian(value);
                if (mss > clamp)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(value, clamp);
                    if (!checksumPartial)
                    {
                        // No-op padding can put the value at an odd offset, across two checksum words.
                        // (A partial checksum needs nothing: the option is summed with the data later.)
                        UpdateChecksumForChange(transport, 20 + offset + 2, mss, clamp);
                    }
                }
                return;
            }
            offset += options[offset + 1];
        }
    }

    private static void UpdateChecksumForChange(Span<byte> transport, int position, ushort oldValue, ushort newValue)
    {
        Span<byte> checksum = transport.Slice(TcpSegment.Field.Checksum, 2);
        ushort value = BinaryPrimitives.ReadUInt16BigEndian(checksum);
        if ((position & 1) == 0)
        {
            value = InternetChecksum.Update(value, oldValue, newValue);
        }
        else
        {
            // An odd position straddles two 16-bit words: each byte moves to the other half of its word.
            ushort oldHigh = (ushort)(oldValue >> 8), newHigh = (ushort)(newValue >> 8);
            ushort oldLow = (ushort)((oldValue & 0xFF) << 8), newLow = (ushort)((newValue & 0xFF) << 8);
            value = InternetChecksum.Update(value, oldHigh, newHigh);
            value = InternetChecksum.Update(value, oldLow, newLow);
        }
        BinaryPrimitives.WriteUInt16BigEndian(checksum, value);
    }

    /// <summary>TCP state per RFC 7857 section 2.2 and RFC 5382 section 5; shortens the timer when a connection closes.</summary>
    private static void TrackTcp<TAddress>(SessionStore<TAddress> store, ref Session<TAddress> session, int index, bool forward, TcpFlags flags, long nowTicks)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        TcpTracking before = session.Tcp;
        TcpTracking after = before;
        if ((flags & TcpFlags.Rst) != 0)
        {
            after |= TcpTracking.Reset;
        }
        else if ((flags & TcpFlags.Syn) != 0)
        {
            if ((before & (TcpTracking.Reset | TcpTracking.ForwardFin | TcpTracking.ReplyFin)) != 0 && (flags & TcpFlags.Ack) == 0)
            {
                // A new connection on a closed one's tuple (RFC 7857 section 2.2: a SYN in the transitory state reopens).
                after = TcpTracking.None;
            }
            after |= forward ? TcpTracking.ForwardSyn : TcpTracking.ReplySyn;
        }
        else
        {
            if ((flags & TcpFlags.Ack) != 0 && (before & (TcpTracking.ForwardSyn | TcpTracking.ReplySyn)) == (TcpTracking.ForwardSyn | TcpTracking.ReplySyn))
            {
                after |= TcpTracking.Established;
            }
            if ((flags & TcpFlags.Fin) != 0)
            {
                after |= forward ? TcpTracking.ForwardFin : TcpTracking.ReplyFin;
            }
        }
        if (after == before)
        {
            return;
        }
        session.Tcp = after;
        store.TcpStateChanged(index, before, nowTicks);
    }

    private TranslationResult Malformed()
    {
        Counters.Bad++;
        Counters.CountDrop(DropReason.Malformed);
        return TranslationResult.Dropped(DropReason.Malformed);
    }

    private TranslationResult Unsupported()
    {
        Counters.CountDrop(DropReason.Unsupported);
        return TranslationResult.Dropped(DropReason.Unsupported);
    }

    private TranslationResult Drop(DropReason reason)
    {
        Counters.CountDrop(reason);
        return TranslationResult.Dropped(reason);
    }
}
