using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using static NatGate.Core.Tests.Properties.ReplayGateway;

namespace NatGate.Core.Tests.Properties;

/// <summary>What kind of packet the generator wrote; replies and new flows are recorded when forwarded.</summary>
internal enum TrafficKind
{
    NewOutbound,
    Continuation,
    Reply,
    Unsolicited,
    IcmpError,
    FirstFragment,
    LaterFragment,
    Hairpin,
    FromGateway,
    Ipv6,
    Garbage,
}

/// <summary>A packet the engine forwarded: its tuple as it came in and as it left, and for ICMP whether it was a request.</summary>
internal readonly record struct Forwarded(Tuple5 Input, Tuple5 Output, bool IcmpRequest);

/// <summary>
/// Valid packets of every kind the replay sends, both ways: new flows from every inside site in
/// TCP, UDP, ICMP queries and protocols without ports (GRE 47, ESP 50, 253); continuations and
/// replies of flows the engine forwarded; unsolicited inbound packets to every external address;
/// ICMP errors quoting forwarded packets (from routers and from the far end) or unknown ones;
/// first and later fragments (later ones also ahead of their first); hairpinned packets and the
/// gateway's own; IPv4 options on any of them; IPv6 and garbage. Deterministic for a seed.
/// </summary>
internal sealed partial class TrafficGenerator(Random random)
{
    private static readonly IpProtocol[] PortlessProtocols = [(IpProtocol)47, IpProtocol.Esp, (IpProtocol)253];
    private static readonly ushort[] WellKnownPorts = [53, 80, 443, 123, 8080];
    private static readonly byte[] ErrorTypes = [IcmpType.DestinationUnreachable, IcmpType.TimeExceeded, IcmpType.ParameterProblem, IcmpType.SourceQuench, IcmpType.Redirect];
    private static readonly IpProtocol[] Ipv6NextHeaders = [IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmpv6, IpProtocol.Fragment];
    private static readonly byte[] QueryRequests = [IcmpType.Echo, IcmpType.Echo, IcmpType.Echo, IcmpType.Timestamp, IcmpType.InformationRequest, IcmpType.AddressMaskRequest];

    private readonly Forwarded[] forwarded = new Forwarded[4096];
    private int forwardedCount;
    private readonly (Tuple5 Tuple, ushort Identification)[] fragmented = new (Tuple5, ushort)[256];
    private int fragmentedCount;
    private readonly byte[] payload = new byte[1400];
    private readonly byte[] quoted = new byte[2048];

    // A first fragment owed after its later fragment was sent ahead of it.
    private (Tuple5 Tuple, ushort Identification)? owedFirst;

    /// <summary>Remembers a packet the engine forwarded, for replies, continuations, errors and hairpins.</summary>
    public void Record(Forwarded packet) => forwarded[forwardedCount++ % forwarded.Length] = packet;

    /// <summary>
    /// Writes one valid packet into <paramref name="buffer"/>; returns its length. About seven in
    /// ten are IPv4's (with the NPTv6 and garbage among them), the rest NAT66's and NAT64's.
    /// </summary>
    public int Next(Span<byte> buffer, out TrafficKind kind, out TrafficFamily family)
    {
        switch (random.Next(20))
        {
            case < 3:
                family = TrafficFamily.Nat66;
                return NextNat66(buffer, out kind);
            case < 6:
                family = TrafficFamily.Nat64;
                return NextNat64(buffer, out kind);
            default:
                break;
        }
        int length = NextPlain(buffer, out kind);
        family = kind == TrafficKind.Ipv6 ? TrafficFamily.Nptv6 : TrafficFamily.Ipv4;
        if (kind is not (TrafficKind.Ipv6 or TrafficKind.Garbage) && random.Next(20) == 0 && buffer[0] >> 4 == 4)
        {
            length = InsertOptions(buffer, length);
        }
        return length;
    }

    private int NextPlain(Span<byte> buffer, out TrafficKind kind)
    {
        if (owedFirst is { } owed && random.Next(3) == 0)
        {
            owedFirst = null;
            kind = TrafficKind.FirstFragment;
            return WriteFirstFragment(buffer, owed.Tuple, owed.Identification);
        }
        int roll = random.Next(1000);
        bool haveForwarded = forwardedCount > 0;
        (kind, int length) = roll switch
        {
            < 300 => (TrafficKind.NewOutbound, WriteNewOutbound(buffer)),
            < 400 when haveForwarded => (TrafficKind.Continuation, WriteContinuation(buffer)),
            < 620 when haveForwarded => (TrafficKind.Reply, WriteReply(buffer)),
            < 720 => (TrafficKind.Unsolicited, WriteUnsolicited(buffer)),
            < 800 => (TrafficKind.IcmpError, WriteIcmpError(buffer)),
            < 850 => (TrafficKind.FirstFragment, WriteNewFirstFragment(buffer)),
            < 910 => (TrafficKind.LaterFragment, WriteLaterFragment(buffer)),
            < 940 => (TrafficKind.Hairpin, WriteHairpin(buffer)),
            < 950 => (TrafficKind.FromGateway, WriteFromGateway(buffer)),
            < 975 => (TrafficKind.Ipv6, WriteIpv6(buffer)),
            _ => (TrafficKind.Garbage, WriteGarbage(buffer)),
        };
        return length;
    }

    private T Pick<T>(T[] items) => items[random.Next(items.Length)];

    private Forwarded PickForwarded() => forwarded[random.Next(Math.Min(forwardedCount, forwarded.Length))];

    private ReadOnlySpan<byte> Payload(int maximum)
    {
        int length = random.Next(maximum + 1);
        random.NextBytes(payload.AsSpan(0, length));
        return payload.AsSpan(0, length);
    }

    private IpProtocol PickProtocol() => random.Next(10) switch
    {
        < 3 => IpProtocol.Tcp,
        < 6 => IpProtocol.Udp,
        < 8 => IpProtocol.Icmp,
        _ => Pick(PortlessProtocols),
    };

    /// <summary>Inside ports repeat (so mappings are shared and ports collide); remote ports are mostly well known.</summary>
    private ushort InsidePort() => random.Next(4) == 0 ? (ushort)random.Next(1, 65536) : (ushort)(1000 + random.Next(24));

    private ushort RemotePort() => random.Next(3) == 0 ? (ushort)random.Next(1, 65536) : Pick(WellKnownPorts);

    private TcpFlags OpeningFlags() => random.Next(10) switch
    {
        < 7 => TcpFlags.Syn,
        7 => TcpFlags.Ack,
        8 => TcpFlags.Rst,
        _ => (TcpFlags)random.Next(256),
    };

    private TcpFlags FollowingFlags() => random.Next(10) switch
    {
        < 2 => TcpFlags.Syn | TcpFlags.Ack,
        < 6 => TcpFlags.Ack | TcpFlags.Psh,
        < 8 => TcpFlags.Fin | TcpFlags.Ack,
        8 => TcpFlags.Rst,
        _ => (TcpFlags)random.Next(256),
    };

    /// <summary>A packet of <paramref name="tuple"/>'s protocol; for ICMP the tuple's source port is the identifier.</summary>
    private int Write(Span<byte> buffer, Tuple5 tuple, TcpFlags flags, byte icmpType, ushort identification = 0)
        => tuple.Protocol switch
        {
            IpProtocol.Tcp => Ipv4PacketWriter.WriteTcp(buffer, tuple.Source, tuple.SourcePort, tuple.Destination, tuple.DestinationPort,
                flags, (uint)random.Next(), (flags & TcpFlags.Ack) != 0 ? (uint)random.Next() : 0, Payload(48), identification: identification),
            IpProtocol.Udp => Ipv4PacketWriter.WriteUdp(buffer, tuple.Source, tuple.SourcePort, tuple.Destination, tuple.DestinationPort,
                Payload(64), identification: identification, withChecksum: random.Next(8) != 0),
            IpProtocol.Icmp => Ipv4PacketWriter.WriteIcmpQuery(buffer, tuple.Source, tuple.Destination, icmpType, tuple.SourcePort, (ushort)random.Next(65536), Payload(32)),
            _ => WritePortless(buffer, tuple, identification),
        };

    private int WritePortless(Span<byte> buffer, Tuple5 tuple, ushort identification, bool moreFragments = false, int fragmentOffset = 0)
    {
        ReadOnlySpan<byte> data = Payload(64);
        int header = Ipv4PacketWriter.WriteIpv4Header(buffer, tuple.Source, tuple.Destination, tuple.Protocol, data.Length,
            identification: identification, moreFragments: moreFragments, fragmentOffset: fragmentOffset);
        data.CopyTo(buffer[header..]);
        return header + data.Length;
    }

    private Tuple5 NewOutboundTuple(Ipv4Address inside)
    {
        IpProtocol protocol = PickProtocol();
        Ipv4Address remote = Pick(Remotes);
        return protocol switch
        {
            IpProtocol.Tcp or IpProtocol.Udp => new(protocol, inside, InsidePort(), remote, RemotePort()),
            IpProtocol.Icmp => new(protocol, inside, InsidePort(), remote, 0),
            _ => new(protocol, inside, 0, remote, 0),
        };
    }

    private int WriteNewOutbound(Span<byte> buffer)
        => Write(buffer, NewOutboundTuple(Pick(InsideHosts)), OpeningFlags(), random.Next(8) == 0 ? IcmpType.EchoReply : Pick(QueryRequests));

    /// <summary>Another packet of a forwarded flow, the same way.</summary>
    private int WriteContinuation(Span<byte> buffer)
    {
        Forwarded packet = PickForwarded();
        return Write(buffer, packet.Input, FollowingFlags(), packet.IcmpRequest ? Pick(QueryRequests) : IcmpType.EchoReply);
    }

    /// <summary>The far end answers a forwarded packet: its tuple reversed (for ICMP, the matching reply type, usually).</summary>
    private int WriteReply(Span<byte> buffer)
    {
        Forwarded packet = PickForwarded();
        Tuple5 reply = packet.Output.Reverse();
        byte icmpType = random.Next(10) == 0 ? Pick(QueryRequests) : ReplyTypeOf(packet.IcmpRequest);
        if (random.Next(10) == 0 && reply.Protocol is IpProtocol.Tcp or IpProtocol.Udp)
        {
            // Another remote, or another port of it: filtering decides.
            reply = random.Next(2) == 0 ? reply with { Source = Pick(Remotes) } : reply with { SourcePort = RemotePort() };
        }
        return Write(buffer, reply, FollowingFlags(), icmpType);
    }

    private byte ReplyTypeOf(bool request) => request ? (random.Next(4) == 0 ? IcmpType.TimestampReply : IcmpType.EchoReply) : IcmpType.Echo;

    private int WriteUnsolicited(Span<byte> buffer)
    {
        Ipv4Address external = Pick(Externals);
        Ipv4Address remote = Pick(Remotes);
        IpProtocol protocol = PickProtocol();
        ushort port = random.Next(4) switch
        {
            0 => (ushort)(8080 + random.Next(12)),
            1 => 443,
            2 => (ushort)(20000 + random.Next(1024)),
            _ => (ushort)random.Next(1, 65536),
        };
        Tuple5 tuple = protocol switch
        {
            IpProtocol.Tcp or IpProtocol.Udp => new(protocol, remote, RemotePort(), external, port),
            IpProtocol.Icmp => new(protocol, remote, port, external, port),
            _ => new(protocol, remote, 0, external, 0),
        };
        return Write(buffer, tuple, OpeningFlags(), random.Next(4) == 0 ? IcmpType.EchoReply : Pick(QueryRequests));
    }

    /// <summary>
    /// An error about a packet that left the engine, sent back towards its source by the far end
    /// or a router; sometimes about a flow nobody knows, or quoting an ICMP error or a later fragment.
    /// </summary>
    private int WriteIcmpError(Span<byte> buffer)
    {
        Tuple5 about = forwardedCount > 0 && random.Next(5) != 0 ? PickForwarded().Output : NewOutboundTuple(Pick(Remotes));
        int quotedLength = random.Next(12) switch
        {
            0 => Ipv4PacketWriter.WriteIcmpError(quoted, about.Source, about.Destination, IcmpType.DestinationUnreachable, 3, Payload(40)),
            1 => WritePortless(quoted, about, (ushort)random.Next(65536), moreFragments: true, fragmentOffset: 8 * random.Next(1, 100)),
            _ => Write(quoted, about, FollowingFlags(), Pick(QueryRequests)),
        };
        Ipv4Address from = random.Next(2) == 0 ? about.Destination : Router;
        byte type = Pick(ErrorTypes);
        int quote = random.Next(4) == 0 ? 28 + random.Next(20) : Ipv4PacketWriter.MaximumIcmpErrorLength - 28;
        return Ipv4PacketWriter.WriteIcmpError(buffer, from, about.Source, type, (byte)random.Next(6), quoted.AsSpan(0, quotedLength), quote,
            restOfHeader: (uint)random.Next());
    }

    private int WriteNewFirstFragment(Span<byte> buffer)
    {
        Tuple5 tuple = random.Next(3) == 0 && forwardedCount > 0 ? PickForwarded().Output.Reverse() : NewOutboundTuple(Pick(InsideHosts));
        return WriteFirstFragment(buffer, tuple, (ushort)random.Next(65536));
    }

    private int WriteFirstFragment(Span<byte> buffer, Tuple5 tuple, ushort identification)
    {
        int length = Write(buffer, tuple, OpeningFlags(), Pick(QueryRequests), identification);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(buffer[Ipv4Packet.Field.FlagsAndFragmentOffset..]);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.FlagsAndFragmentOffset..], (ushort)(flags | 0x2000));
        BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.Identification..], identification);
        PacketMutator.FixHeaderChecksum(buffer, length);
        fragmented[fragmentedCount++ % fragmented.Length] = (tuple, identification);
        return length;
    }

    /// <summary>A later fragment: of a datagram whose first went by, of one whose first is still to come, or of none.</summary>
    private int WriteLaterFragment(Span<byte> buffer)
    {
        Tuple5 tuple;
        ushort identification;
        int choice = random.Next(10);
        if (choice < 5 && fragmentedCount > 0)
        {
            (tuple, identification) = fragmented[random.Next(Math.Min(fragmentedCount, fragmented.Length))];
        }
        else
        {
            tuple = choice < 8 ? NewOutboundTuple(Pick(InsideHosts)) : NewOutboundTuple(Pick(Remotes)) with { Destination = Pick(Externals) };
            identification = (ushort)random.Next(65536);
            if (choice < 8 && owedFirst is null)
            {
                owedFirst = (tuple, identification);
            }
        }
        ReadOnlySpan<byte> data = Payload(random.Next(8) == 0 ? 1400 : 96);
        int header = Ipv4PacketWriter.WriteIpv4Header(buffer, tuple.Source, tuple.Destination, tuple.Protocol, data.Length,
            identification: identification, moreFragments: random.Next(2) == 0, fragmentOffset: 8 * random.Next(1, 0x1FFF));
        data.CopyTo(buffer[header..]);
        return header + data.Length;
    }

    /// <summary>An inside host reaching a published service or another host's mapping by its external address.</summary>
    private int WriteHairpin(Span<byte> buffer)
    {
        Ipv4Address inside = Pick(InsideHosts);
        Tuple5 tuple;
        if (random.Next(2) == 0 && forwardedCount > 0 && PickForwarded().Output is { Protocol: IpProtocol.Tcp or IpProtocol.Udp } mapped
            && Array.IndexOf(Externals, mapped.Source) >= 0)
        {
            tuple = new(mapped.Protocol, inside, InsidePort(), mapped.Source, mapped.SourcePort);
        }
        else
        {
            ushort port = random.Next(2) == 0 ? (ushort)443 : (ushort)(8080 + random.Next(10));
            tuple = new(random.Next(2) == 0 ? IpProtocol.Tcp : IpProtocol.Udp, inside, InsidePort(), random.Next(4) == 0 ? BimapExternal : RedirectExternal, port);
        }
        return Write(buffer, tuple, OpeningFlags(), IcmpType.Echo);
    }

    /// <summary>The gateway's own packet to a published service (its source becomes the external address).</summary>
    private int WriteFromGateway(Span<byte> buffer)
    {
        var tuple = new Tuple5(random.Next(2) == 0 ? IpProtocol.Tcp : IpProtocol.Udp, Gateway, InsidePort(), RedirectExternal, (ushort)(8080 + random.Next(10)));
        return Write(buffer, tuple, OpeningFlags(), IcmpType.Echo);
    }

    private int WriteIpv6(Span<byte> buffer)
    {
        int payloadLength = random.Next(64);
        random.NextBytes(buffer[..(40 + payloadLength)]);
        buffer[0] = (byte)(0x60 | (buffer[0] & 0x0F));
        BinaryPrimitives.WriteUInt16BigEndian(buffer[4..], (ushort)payloadLength);
        buffer[6] = (byte)Pick(Ipv6NextHeaders);
        // Half of it from the IPv6 bimap's inside or to its outside, now and then with the subnet
        // word NPTv6 cannot carry over (0xFFFF); the rest from and to strangers.
        switch (random.Next(4))
        {
            case 0:
                ReplayGateway.Ipv6Internal.CopyTo(buffer[8..]);
                BinaryPrimitives.WriteUInt16BigEndian(buffer[14..], random.Next(6) == 0 ? (ushort)0xFFFF : (ushort)random.Next(0xFFFF));
                break;
            case 1:
                ReplayGateway.Ipv6External.CopyTo(buffer[24..]);
                break;
            default:
                break;
        }
        return 40 + payloadLength;
    }

    private int WriteGarbage(Span<byte> buffer)
    {
        int length = random.Next(121);
        random.NextBytes(buffer[..length]);
        if (length > 0 && random.Next(3) == 0)
        {
            buffer[0] = 0x45;
        }
        return length;
    }

    /// <summary>Puts 4 to 40 bytes of IPv4 options (no-ops, router alert, a record route) after the header.</summary>
    private int InsertOptions(Span<byte> buffer, int length)
    {
        if (length < Ipv4Packet.MinimumHeaderLength || (buffer[0] & 0x0F) != 5)
        {
            return length;
        }
        int optionsLength = 4 * random.Next(1, 11);
        buffer[Ipv4Packet.MinimumHeaderLength..length].CopyTo(buffer[(Ipv4Packet.MinimumHeaderLength + optionsLength)..]);
        Span<byte> options = buffer.Slice(Ipv4Packet.MinimumHeaderLength, optionsLength);
        options.Fill(1);
        switch (random.Next(3))
        {
            case 0:
                // Router alert (RFC 2113).
                options[0] = 148;
                options[1] = 4;
                options[2] = 0;
                options[3] = 0;
                break;
            case 1 when optionsLength >= 8:
                // Record route with room for one address.
                options[0] = 7;
                options[1] = 7;
                options[2] = 4;
                options[3..7].Clear();
                options[7] = 0;
                break;
            default:
                options[^1] = 0;
                break;
        }
        buffer[0] = (byte)(0x40 | ((Ipv4Packet.MinimumHeaderLength + optionsLength) / 4));
        int total = BinaryPrimitives.ReadUInt16BigEndian(buffer[Ipv4Packet.Field.TotalLength..]) + optionsLength;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.TotalLength..], (ushort)total);
        PacketMutator.FixHeaderChecksum(buffer, length + optionsLength);
        return length + optionsLength;
    }

    /// <summary>Reads a packet's tuple (for ICMP, a query's), to answer or continue it later; false for what has none.</summary>
    public static bool TryRead(Span<byte> packet, out Tuple5 tuple, out bool icmpRequest)
    {
        tuple = default;
        icmpRequest = false;
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != PacketError.None || ip.FragmentOffset != 0)
        {
            return false;
        }
        Span<byte> transport = ip.Payload;
        switch (ip.Protocol)
        {
            case IpProtocol.Tcp or IpProtocol.Udp when transport.Length >= 4:
                tuple = new(ip.Protocol, ip.SourceAddress, BinaryPrimitives.ReadUInt16BigEndian(transport), ip.DestinationAddress,
                    BinaryPrimitives.ReadUInt16BigEndian(transport[2..]));
                return true;
            case IpProtocol.Icmp when transport.Length >= 8 && IcmpMessage.IsQueryType(transport[0]):
                ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(transport[IcmpMessage.Field.Identifier..]);
                tuple = new(ip.Protocol, ip.SourceAddress, identifier, ip.DestinationAddress, identifier);
                icmpRequest = IcmpMessage.IsQueryRequestType(transport[0]);
                return true;
            case IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp:
                return false;
            default:
                tuple = new(ip.Protocol, ip.SourceAddress, 0, ip.DestinationAddress, 0);
                return true;
        }
    }
}
