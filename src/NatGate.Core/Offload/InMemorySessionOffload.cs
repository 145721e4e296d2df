using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;
using NatGate.Core.Translation.Npt;

namespace NatGate.Core.Offload;

/// <summary>
/// The kernel fast path's contract in memory, for tests without root: the entries the engine
/// gives it, and <see cref="TryRewrite"/>, which rewrites a packet from them as the tc program
/// does (the same cases, the same deltas, the same counters), with full checksums.
/// </summary>
public sealed class InMemorySessionOffload : ISessionOffload
{
    private readonly Dictionary<object, Direction> directions = [];
    private Nptv6Mapping[] prefixTranslations = [];

    /// <summary>How many sessions it may hold; a further <see cref="TryAdd{TAddress}"/> is refused.</summary>
    public int Capacity { get; init; } = int.MaxValue;

    /// <summary>Sessions held.</summary>
    public int Count => directions.Count / 2;

    /// <summary>Packets rewritten, and packets left to the engine, since it was made.</summary>
    public long Rewritten { get; private set; }

    public long Passed { get; private set; }

    /// <summary>Of <see cref="Rewritten"/>, the packets an NPTv6 mapping rewrote.</summary>
    public long PrefixRewritten { get; private set; }

    /// <summary>The NPTv6 mappings it holds, in the engine's matching order.</summary>
    public IReadOnlyList<Nptv6Mapping> PrefixTranslations => prefixTranslations;

    public void SetPrefixTranslations(IReadOnlyList<Nptv6Mapping> mappings)
    {
        ArgumentNullException.ThrowIfNull(mappings);
        prefixTranslations = [.. mappings];
    }

    public bool TryAdd<TAddress>(in OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (!directions.ContainsKey(session.Original) && Count >= Capacity)
        {
            return false;
        }
        bool icmp = session.Original.Protocol == TAddress.IcmpProtocol;
        // A query session is made by its request: requests go the session's way, replies come back.
        directions[session.Original] = new Direction(session.Id, session.Translated, session.ForwardDeltas, Forward: true, CarriesRequests: icmp);
        directions[session.ReplyKey] = new Direction(session.Id, session.ReplyRewrite, session.ReplyDeltas, Forward: false, CarriesRequests: false);
        return true;
    }

    public void Remove<TAddress>(in OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        directions.Remove(session.Original);
        directions.Remove(session.ReplyKey);
    }

    public bool TryGetActivity<TAddress>(in OffloadedSession<TAddress> session, long nowTicks, out OffloadActivity activity)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (!directions.TryGetValue(session.Original, out Direction? forward) || !directions.TryGetValue(session.ReplyKey, out Direction? reply))
        {
            activity = default;
            return false;
        }
        activity = new OffloadActivity(forward.LastSeenTicks, reply.LastSeenTicks, forward.Packets, forward.Bytes, reply.Packets, reply.Bytes);
        return true;
    }

    /// <summary>Whether it holds a direction keyed by <paramref name="key"/>, and what that direction rewrites to.</summary>
    public bool TryGetRewrite<TAddress>(FlowKey<TAddress> key, out FlowKey<TAddress> rewrite, out int sessionId)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (directions.TryGetValue(key, out Direction? direction) && direction.Rewrite is FlowKey<TAddress> target)
        {
            rewrite = target;
            sessionId = direction.Session;
            return true;
        }
        rewrite = default;
        sessionId = -1;
        return false;
    }

    /// <summary>
    /// Rewrites a packet as the tc program would, at <paramref name="nowTicks"/>: true when it was
    /// rewritten, false when it is left, untouched, to the engine (no entry; a TCP SYN, FIN or
    /// RST; a fragment; IPv4 options or IPv6 extension headers; a TTL or hop limit of 1 or
    /// less; an ICMP message other than the echo its direction carries; any other protocol).
    /// An IPv6 packet an NPTv6 mapping takes is rewritten by it first, as the program does
    /// (translate_prefix): see <see cref="TryTranslatePrefix"/>.
    /// </summary>
    public bool TryRewrite(Span<byte> packet, long nowTicks)
    {
        bool rewritten = packet.Length > 0 && (packet[0] >> 4) switch
        {
            4 => TryRewriteIpv4(packet, nowTicks),
            6 => TryRewriteIpv6(packet, nowTicks),
            _ => false,
        };
        if (rewritten)
        {
            Rewritten++;
        }
        else
        {
            Passed++;
        }
        return rewritten;
    }

    private bool TryRewriteIpv4(Span<byte> packet, long nowTicks)
    {
        if (packet.Length < Ipv4Packet.MinimumHeaderLength + 8 || packet[0] != 0x45 || packet[Ipv4Packet.Field.TimeToLive] <= 1
            || (BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.FlagsAndFragmentOffset..]) & 0x3FFF) != 0)
        {
            return false;
        }
        var protocol = (IpProtocol)packet[Ipv4Packet.Field.Protocol];
        Span<byte> transport = packet[Ipv4Packet.MinimumHeaderLength..];
        if (!TryFind(protocol, Ipv4Address.Read(packet[Ipv4Packet.Field.SourceAddress..]), Ipv4Address.Read(packet[Ipv4Packet.Field.DestinationAddress..]),
            transport, request: IcmpType.Echo, reply: IcmpType.EchoReply, out Direction? direction))
        {
            return false;
        }
        var target = (FlowKey<Ipv4Address>)direction.Rewrite;
        target.Source.Write(packet[Ipv4Packet.Field.SourceAddress..]);
        target.Destination.Write(packet[Ipv4Packet.Field.DestinationAddress..]);
        Span<byte> headerChecksum = packet[Ipv4Packet.Field.HeaderChecksum..];
        BinaryPrimitives.WriteUInt16BigEndian(headerChecksum, InternetChecksum.ApplyDelta(BinaryPrimitives.ReadUInt16BigEndian(headerChecksum), direction.Deltas.Ip));
        RewriteTransport(protocol, transport, target.SourcePort, target.DestinationPort, direction.Deltas, udpChecksumOptional: true);
        direction.Count(BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.TotalLength..]), nowTicks);
        return true;
    }

    private bool TryRewriteIpv6(Span<byte> packet, long nowTicks)
    {
        if (packet.Length < Ipv6Packet.HeaderLength + 8 || packet[Ipv6Packet.Field.HopLimit] <= 1)
        {
            return false;
        }
        if (TryTranslatePrefix(packet) is bool translated)
        {
            return translated;
        }
        var protocol = (IpProtocol)packet[Ipv6Packet.Field.NextHeader];
        Span<byte> transport = packet[Ipv6Packet.HeaderLength..];
        if (!TryFind(protocol, Ipv6Address.Read(packet[Ipv6Packet.Field.SourceAddress..]), Ipv6Address.Read(packet[Ipv6Packet.Field.DestinationAddress..]),
            transport, request: Icmpv6Type.EchoRequest, reply: Icmpv6Type.EchoReply, out Direction? direction))
        {
            return false;
        }
        var target = (FlowKey<Ipv6Address>)direction.Rewrite;
        target.Source.Write(packet[Ipv6Packet.Field.SourceAddress..]);
        target.Destination.Write(packet[Ipv6Packet.Field.DestinationAddress..]);
        RewriteTransport(protocol, transport, target.SourcePort, target.DestinationPort, direction.Deltas, udpChecksumOptional: false);
        direction.Count(Ipv6Packet.HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv6Packet.Field.PayloadLength..]), nowTicks);
        return true;
    }

    /// <summary>
    /// NPTv6 as the program does it (natgate_fastpath.bpf.c, translate_prefix): null when no
    /// mapping takes the packet (it goes on to the sessions); true when its address was rewritten;
    /// false when a mapping matched but the engine must see it (both addresses match, which is
    /// hairpinning; ICMPv6 other than echo; extension headers, or a fragment of anything but TCP
    /// or UDP; an adjusted word of 0xFFFF or an all-ones interface identifier). The program also
    /// leaves the host's own traffic, which a cache in memory never sees. The arithmetic is the
    /// program's, word by word from the mapping's prefixes and adjustments (RFC 6296 3.1-3.5),
    /// not <see cref="Nptv6Mapping.Translate"/>, so that a test comparing the two means something.
    /// </summary>
    private bool? TryTranslatePrefix(Span<byte> packet)
    {
        if (prefixTranslations.Length == 0)
        {
            return null;
        }
        Ipv6Address source = Ipv6Address.Read(packet[Ipv6Packet.Field.SourceAddress..]);
        Ipv6Address destination = Ipv6Address.Read(packet[Ipv6Packet.Field.DestinationAddress..]);
        Nptv6Mapping? outbound = null, inbound = null;
        foreach (Nptv6Mapping mapping in prefixTranslations)
        {
            outbound ??= mapping.Internal.Contains(source) ? mapping : null;
            inbound ??= mapping.External.Contains(destination) ? mapping : null;
        }
        if (outbound is null && inbound is null)
        {
            return null;
        }
        if (outbound is not null && inbound is not null)
        {
            return false;
        }
        var protocol = (IpProtocol)packet[Ipv6Packet.Field.NextHeader];
        ReadOnlySpan<byte> transport = packet[Ipv6Packet.HeaderLength..];
        bool carried = protocol switch
        {
            IpProtocol.Tcp or IpProtocol.Udp => true,
            IpProtocol.Icmpv6 => transport[0] is Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply,
            IpProtocol.Fragment => (IpProtocol)transport[0] is IpProtocol.Tcp or IpProtocol.Udp,
            _ => false,
        };
        if (!carried)
        {
            return false;
        }
        Nptv6Mapping taken = outbound ?? inbound!;
        bool isOutbound = outbound is not null;
        Span<byte> address = packet.Slice(isOutbound ? Ipv6Packet.Field.SourceAddress : Ipv6Packet.Field.DestinationAddress, Ipv6Address.Size);
        int length = taken.Internal.Length;
        int word = 3; // bits 48-63 up to a /48 (RFC 6296 3.4)
        if (length > Nptv6Mapping.SubnetAdjustmentMaximumPrefixLength)
        {
            // The first interface identifier word that is not 0xFFFF (RFC 6296 3.5, 3.7).
            word = 4;
            while (word < 8 && BinaryPrimitives.ReadUInt16BigEndian(address[(2 * word)..]) == 0xFFFF)
            {
                word++;
            }
            if (word == 8)
            {
                return false;
            }
        }
        ushort adjusted = BinaryPrimitives.ReadUInt16BigEndian(address[(2 * word)..]);
        if (adjusted == 0xFFFF)
        {
            return false;
        }
        adjusted = InternetChecksum.Add(adjusted, isOutbound ? taken.OutboundAdjustment : taken.InboundAdjustment);
        if (adjusted == 0xFFFF)
        {
            adjusted = 0; // RFC 6296 3.2, 3.3
        }
        UInt128 mask = UInt128.MaxValue << (128 - length);
        UInt128 value = BinaryPrimitives.ReadUInt128BigEndian(address);
        value = ((isOutbound ? taken.External : taken.Internal).Network & mask) | (value & ~mask);
        BinaryPrimitives.WriteUInt128BigEndian(address, value);
        BinaryPrimitives.WriteUInt16BigEndian(address[(2 * word)..], adjusted);
        PrefixRewritten++;
        return true;
    }

    private bool TryFind<TAddress>(IpProtocol protocol, TAddress source, TAddress destination, ReadOnlySpan<byte> transport, byte request, byte reply,
        out Direction direction)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        direction = null!;
        FlowKey<TAddress> key;
        bool? carriesRequests = null;
        if (protocol == IpProtocol.Tcp)
        {
            if (transport.Length < 20 || ((TcpFlags)transport[TcpSegment.Field.Flags] & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) != 0)
            {
                return false;
            }
            key = new FlowKey<TAddress>(protocol, source, BinaryPrimitives.ReadUInt16BigEndian(transport), destination, BinaryPrimitives.ReadUInt16BigEndian(transport[2..]));
        }
        else if (protocol == IpProtocol.Udp)
        {
            key = new FlowKey<TAddress>(protocol, source, BinaryPrimitives.ReadUInt16BigEndian(transport), destination, BinaryPrimitives.ReadUInt16BigEndian(transport[2..]));
        }
        else if (protocol == TAddress.IcmpProtocol && (transport[0] == request || transport[0] == reply))
        {
            ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(transport[IcmpMessage.Field.Identifier..]);
            key = new FlowKey<TAddress>(protocol, source, identifier, destination, identifier);
            carriesRequests = transport[0] == request;
        }
        else
        {
            return false;
        }
        if (!directions.TryGetValue(key, out Direction? found) || (carriesRequests is bool requests && requests != found.CarriesRequests))
        {
            return false;
        }
        direction = found;
        return true;
    }

    private static void RewriteTransport(IpProtocol protocol, Span<byte> transport, ushort sourcePort, ushort destinationPort, OffloadDeltas deltas, bool udpChecksumOptional)
    {
        int checksumOffset;
        if (protocol is IpProtocol.Tcp or IpProtocol.Udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport, sourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(transport[2..], destinationPort);
            checksumOffset = protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport[IcmpMessage.Field.Identifier..], sourcePort);
            checksumOffset = IcmpMessage.Field.Checksum;
        }
        Span<byte> checksum = transport[checksumOffset..];
        ushort value = BinaryPrimitives.ReadUInt16BigEndian(checksum);
        ushort delta = InternetChecksum.Add(deltas.PseudoHeader, deltas.Ports);
        value = protocol == IpProtocol.Udp && udpChecksumOptional ? InternetChecksum.ApplyDeltaUdp(value, delta) : InternetChecksum.ApplyDelta(value, delta);
        BinaryPrimitives.WriteUInt16BigEndian(checksum, value);
    }

    private sealed record class Direction(int Session, object Rewrite, OffloadDeltas Deltas, bool Forward, bool CarriesRequests)
    {
        public long LastSeenTicks { get; private set; }

        public ulong Packets { get; private set; }

        public ulong Bytes { get; private set; }

        public void Count(int length, long nowTicks)
        {
            Packets++;
            Bytes += (ulong)length;
            LastSeenTicks = nowTicks;
        }
    }
}
