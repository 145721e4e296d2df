using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Offload;

/// <summary>
/// The kernel fast path's contract in memory, for tests without root: the entries the engine
/// gives it, and <see cref="TryRewrite"/>, which rewrites a packet from them as the tc program
/// does (the same cases, the same deltas, the same counters), with full checksums.
/// </summary>
public sealed class InMemorySessionOffload : ISessionOffload
{
    private readonly Dictionary<object, Direction> directions = [];

    /// <summary>How many sessions it may hold; a further <see cref="TryAdd{TAddress}"/> is refused.</summary>
    public int Capacity { get; init; } = int.MaxValue;

    /// <summary>Sessions held.</summary>
    public int Count => directions.Count / 2;

    /// <summary>Packets rewritten, and packets left to the engine, since it was made.</summary>
    public long Rewritten { get; private set; }

    public long Passed { get; private set; }

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
