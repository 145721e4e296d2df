using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Properties.ReplayGateway;

namespace NatGate.Core.Tests.Properties;

/// <summary>Which of the gateway's translations a generated packet is meant for.</summary>
internal enum TrafficFamily
{
    Ipv4,
    /// <summary>IPv6 for the prefix translation (NPTv6), or for no one.</summary>
    Nptv6,
    Nat66,
    Nat64,
}

/// <summary>A NAT66 or NAT64 packet the engine forwarded: its flow as it came in and as it left (for NAT64, of two families).</summary>
internal readonly record struct ForwardedFlow(IpFlow Input, IpFlow Output, bool IcmpRequest);

/// <summary>
/// The NAT66 and NAT64 half of the traffic, of the same kinds as IPv4's: new flows from site C
/// (NAT66) and site D (NAT64, to IPv4 hosts through 64:ff9b::/96, now and then to one the prefix
/// must not stand for), continuations and replies of forwarded flows (NAT64's replies are IPv4
/// packets to its external address), unsolicited packets to the external addresses, ICMPv6 and
/// ICMPv4 errors quoting forwarded packets both ways, IPv6 fragments (and IPv4 fragments of
/// NAT64 replies), hairpins through NAT66's addresses and through NAT64 to IPv4's, the
/// gateway's own IPv6, extension headers on some, and garbage.
/// </summary>
internal sealed partial class TrafficGenerator
{
    private static readonly IpProtocol[] Ipv6PortlessProtocols = [(IpProtocol)47, IpProtocol.Esp, (IpProtocol)253];
    private static readonly byte[] Icmpv6ErrorTypes = [Icmpv6Type.DestinationUnreachable, Icmpv6Type.PacketTooBig, Icmpv6Type.TimeExceeded, Icmpv6Type.ParameterProblem];

    private readonly ForwardedFlow[] nat66Forwarded = new ForwardedFlow[2048];
    private int nat66ForwardedCount;
    private readonly ForwardedFlow[] nat64Forwarded = new ForwardedFlow[2048];
    private int nat64ForwardedCount;
    private readonly (IpFlow Flow, uint Identification)[] ipv6Fragmented = new (IpFlow, uint)[256];
    private int ipv6FragmentedCount;
    private readonly byte[] whole = new byte[2048];

    // An IPv6 first fragment owed after its later fragment was sent ahead of it.
    private (IpFlow Flow, uint Identification)? owedIpv6First;

    /// <summary>Remembers a forwarded NAT66 or NAT64 packet (by the families of its two sides).</summary>
    public void Record(ForwardedFlow packet)
    {
        if (packet.Input.Source.IsIpv6 == packet.Output.Source.IsIpv6)
        {
            nat66Forwarded[nat66ForwardedCount++ % nat66Forwarded.Length] = packet;
        }
        else
        {
            nat64Forwarded[nat64ForwardedCount++ % nat64Forwarded.Length] = packet;
        }
    }

    private ForwardedFlow PickNat66() => nat66Forwarded[random.Next(Math.Min(nat66ForwardedCount, nat66Forwarded.Length))];

    private ForwardedFlow PickNat64() => nat64Forwarded[random.Next(Math.Min(nat64ForwardedCount, nat64Forwarded.Length))];

    /// <summary>A NAT66 packet (site C, its external addresses, or its gateway).</summary>
    private int NextNat66(Span<byte> buffer, out TrafficKind kind)
    {
        if (owedIpv6First is { } owed && !ThroughNat64(owed.Flow) && random.Next(3) == 0)
        {
            owedIpv6First = null;
            kind = TrafficKind.FirstFragment;
            return WriteIpv6FirstFragment(buffer, owed.Flow, owed.Identification);
        }
        bool haveForwarded = nat66ForwardedCount > 0;
        (kind, int length) = random.Next(1000) switch
        {
            < 300 => (TrafficKind.NewOutbound, WriteIpv6(buffer, NewNat66Flow(), OpeningFlags(), Ipv6QueryType(request: random.Next(8) != 0))),
            < 400 when haveForwarded => (TrafficKind.Continuation, WriteIpv6Continuation(buffer, PickNat66())),
            < 620 when haveForwarded => (TrafficKind.Reply, WriteIpv6Reply(buffer, PickNat66())),
            < 720 => (TrafficKind.Unsolicited, WriteIpv6(buffer, UnsolicitedNat66Flow(), OpeningFlags(), Ipv6QueryType(request: random.Next(4) != 0))),
            < 800 => (TrafficKind.IcmpError, WriteNat66Error(buffer)),
            < 850 => (TrafficKind.FirstFragment, WriteIpv6FirstFragment(buffer, NewNat66Flow(), (uint)random.Next())),
            < 910 => (TrafficKind.LaterFragment, WriteIpv6LaterFragment(buffer, NewNat66Flow)),
            < 950 => (TrafficKind.Hairpin, WriteNat66Hairpin(buffer)),
            < 965 => (TrafficKind.FromGateway, WriteIpv6(buffer, new IpFlow(random.Next(2) == 0 ? IpProtocol.Tcp : IpProtocol.Udp, Nat66Gateway, InsidePort(),
                Nat66RedirectExternal, (ushort)(8080 + random.Next(5))), OpeningFlags(), Icmpv6Type.EchoRequest)),
            _ => (TrafficKind.Garbage, WriteIpv6Garbage(buffer, Pick(Nat66Hosts), random.Next(2) == 0 ? Pick(Ipv6Remotes) : Pick(Nat66Externals))),
        };
        return length;
    }

    /// <summary>A NAT64 packet: IPv6 from site D to the NAT64 prefix, or IPv4 to (or about) NAT64's external address.</summary>
    private int NextNat64(Span<byte> buffer, out TrafficKind kind)
    {
        if (owedIpv6First is { } owed && ThroughNat64(owed.Flow) && random.Next(3) == 0)
        {
            owedIpv6First = null;
            kind = TrafficKind.FirstFragment;
            return WriteIpv6FirstFragment(buffer, owed.Flow, owed.Identification);
        }
        bool haveForwarded = nat64ForwardedCount > 0;
        (kind, int length) = random.Next(1000) switch
        {
            < 300 => (TrafficKind.NewOutbound, WriteIpv6(buffer, NewNat64Flow(), OpeningFlags(), Ipv6QueryType(request: random.Next(8) != 0))),
            < 400 when haveForwarded => (TrafficKind.Continuation, WriteIpv6Continuation(buffer, PickNat64())),
            < 620 when haveForwarded => (TrafficKind.Reply, WriteIpv6Reply(buffer, PickNat64())),
            < 720 => (TrafficKind.Unsolicited, WriteNat64Unsolicited(buffer)),
            < 800 => (TrafficKind.IcmpError, WriteNat64Error(buffer)),
            < 850 => (TrafficKind.FirstFragment, WriteNat64FirstFragment(buffer)),
            < 910 => (TrafficKind.LaterFragment, WriteIpv6LaterFragment(buffer, NewNat64Flow)),
            < 960 => (TrafficKind.Hairpin, WriteNat64Hairpin(buffer)),
            _ => (TrafficKind.Garbage, WriteIpv6Garbage(buffer, Pick(Nat64Hosts), Nat64Prefix.WellKnown.Embed(Pick(Remotes)))),
        };
        return length;
    }

    private static bool ThroughNat64(IpFlow flow) => Nat64Prefix.WellKnown.Contains(flow.Destination.AsIpv6);

    private static byte Ipv6QueryType(bool request) => request ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply;

    private IpProtocol PickIpv6Protocol() => random.Next(10) switch
    {
        < 3 => IpProtocol.Tcp,
        < 6 => IpProtocol.Udp,
        < 8 => IpProtocol.Icmpv6,
        _ => Pick(Ipv6PortlessProtocols),
    };

    private static IpFlow FlowOf(IpProtocol protocol, IpAddress source, ushort sourcePort, IpAddress destination, ushort destinationPort) => protocol switch
    {
        IpProtocol.Tcp or IpProtocol.Udp => new(protocol, source, sourcePort, destination, destinationPort),
        IpProtocol.Icmpv6 or IpProtocol.Icmp => new(protocol, source, sourcePort, destination, sourcePort),
        _ => new(protocol, source, 0, destination, 0),
    };

    private IpFlow NewNat66Flow() => FlowOf(PickIpv6Protocol(), random.Next(20) == 0 ? Ipv6Address.Parse("fd00:c::50", null) : Pick(Nat66Hosts), InsidePort(),
        Pick(Ipv6Remotes), RemotePort());

    /// <summary>From site D to an IPv4 host's address in the Well-Known Prefix; one in twenty to a host it must not stand for.</summary>
    private IpFlow NewNat64Flow() => FlowOf(PickIpv6Protocol(), Pick(Nat64Hosts), InsidePort(),
        Nat64Prefix.WellKnown.Embed(random.Next(20) == 0 ? Pick(NonGlobalRemotes) : Pick(Remotes)), RemotePort());

    private ushort UnsolicitedPort(ushort mapped) => random.Next(4) switch
    {
        0 => (ushort)(8080 + random.Next(6)),
        1 => 443,
        2 => (ushort)(mapped + random.Next(512)),
        _ => (ushort)random.Next(1, 65536),
    };

    private IpFlow UnsolicitedNat66Flow()
    {
        IpProtocol protocol = PickIpv6Protocol();
        ushort port = UnsolicitedPort(30000);
        return FlowOf(protocol, Pick(Ipv6Remotes), protocol == IpProtocol.Icmpv6 ? port : RemotePort(), Pick(Nat66Externals), port);
    }

    /// <summary>An IPv4 remote's new flow to NAT64's external address: its mappings' filtering decides.</summary>
    private int WriteNat64Unsolicited(Span<byte> buffer)
    {
        IpProtocol protocol = PickProtocol();
        ushort port = UnsolicitedPort(40000);
        IpFlow flow = FlowOf(protocol, Pick(Remotes), protocol == IpProtocol.Icmp ? port : RemotePort(), Nat64External, port);
        return WriteAny(buffer, flow, OpeningFlags(), random.Next(4) == 0 ? IcmpType.EchoReply : Pick(QueryRequests));
    }

    /// <summary>A packet of <paramref name="flow"/> in its family: IPv4 through the IPv4 writer, IPv6 here.</summary>
    private int WriteAny(Span<byte> buffer, IpFlow flow, TcpFlags flags, byte icmpType)
        => flow.Source.IsIpv6 ? WriteIpv6(buffer, flow, flags, icmpType) : Write(buffer, Ipv4Tuple(flow), flags, IcmpTypeFor(flow, icmpType));

    private static Tuple5 Ipv4Tuple(IpFlow flow) => new(flow.Protocol, flow.Source.AsIpv4, flow.SourcePort, flow.Destination.AsIpv4, flow.DestinationPort);

    /// <summary>An ICMPv6 echo type said of an IPv4 flow as its ICMPv4 counterpart (and back), so one choice serves both families.</summary>
    private static byte IcmpTypeFor(IpFlow flow, byte type) => (flow.Source.IsIpv6, type) switch
    {
        (false, Icmpv6Type.EchoRequest) => IcmpType.Echo,
        (false, Icmpv6Type.EchoReply) => IcmpType.EchoReply,
        (true, IcmpType.Echo) => Icmpv6Type.EchoRequest,
        (true, IcmpType.EchoReply) => Icmpv6Type.EchoReply,
        _ => type,
    };

    /// <summary>A packet of an IPv6 flow; for ICMPv6 the flow's source port is the identifier.</summary>
    private int WriteIpv6(Span<byte> buffer, IpFlow flow, TcpFlags flags, byte icmpType)
    {
        Ipv6Address source = flow.Source.AsIpv6;
        Ipv6Address destination = flow.Destination.AsIpv6;
        int length = flow.Protocol switch
        {
            IpProtocol.Tcp => Ipv6PacketWriter.WriteTcp(buffer, source, flow.SourcePort, destination, flow.DestinationPort, flags, (uint)random.Next(),
                (flags & TcpFlags.Ack) != 0 ? (uint)random.Next() : 0, Payload(48)),
            IpProtocol.Udp => Ipv6PacketWriter.WriteUdp(buffer, source, flow.SourcePort, destination, flow.DestinationPort, Payload(64)),
            IpProtocol.Icmpv6 => Ipv6PacketWriter.WriteEcho(buffer, source, destination, IcmpTypeFor(flow, icmpType), flow.SourcePort, (ushort)random.Next(65536), Payload(32)),
            _ => WriteIpv6Portless(buffer, flow),
        };
        return random.Next(20) == 0 ? InsertExtensionHeader(buffer, length) : length;
    }

    private int WriteIpv6Portless(Span<byte> buffer, IpFlow flow)
    {
        ReadOnlySpan<byte> data = Payload(64);
        int header = Ipv6PacketWriter.WriteIpv6Header(buffer, flow.Source.AsIpv6, flow.Destination.AsIpv6, flow.Protocol, data.Length);
        data.CopyTo(buffer[header..]);
        return header + data.Length;
    }

    /// <summary>Another packet of a forwarded flow, the same way (for NAT64 from outside, an IPv4 packet).</summary>
    private int WriteIpv6Continuation(Span<byte> buffer, ForwardedFlow packet)
        => WriteAny(buffer, packet.Input, FollowingFlags(), packet.IcmpRequest ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply);

    /// <summary>The far end answers a forwarded packet: its flow reversed, in the output's family (for NAT64, IPv4 to the external address).</summary>
    private int WriteIpv6Reply(Span<byte> buffer, ForwardedFlow packet)
    {
        IpFlow reply = packet.Output.Reverse();
        byte icmpType = random.Next(10) == 0 ? Icmpv6Type.EchoRequest : packet.IcmpRequest ? Icmpv6Type.EchoReply : Icmpv6Type.EchoRequest;
        if (random.Next(10) == 0 && reply.Protocol is IpProtocol.Tcp or IpProtocol.Udp)
        {
            // Another remote, or another port of it: filtering decides.
            IpAddress other = reply.Source.IsIpv6 ? Pick(Ipv6Remotes) : Pick(Remotes);
            reply = random.Next(2) == 0 ? reply with { Source = other } : reply with { SourcePort = RemotePort() };
        }
        return WriteAny(buffer, reply, FollowingFlags(), icmpType);
    }

    /// <summary>
    /// An ICMPv6 error about a NAT66 packet: from the far end or a router about a packet that left
    /// (to its external source), or from an inside host about a reply it was given; sometimes about
    /// a flow nobody knows, or of a type no one translates.
    /// </summary>
    private int WriteNat66Error(Span<byte> buffer)
    {
        if (nat66ForwardedCount == 0 || random.Next(5) == 0)
        {
            IpFlow unknown = UnsolicitedNat66Flow().Reverse();
            return WriteIcmpv6ErrorAbout(buffer, unknown, Pick(Ipv6Remotes), unknown.Source.AsIpv6);
        }
        ForwardedFlow packet = PickNat66();
        if (random.Next(3) == 0)
        {
            // From the inside host about the reply it received: the input flow reversed.
            IpFlow received = packet.Input.Reverse();
            return WriteIcmpv6ErrorAbout(buffer, received, received.Destination.AsIpv6, received.Source.AsIpv6);
        }
        IpFlow about = packet.Output;
        return WriteIcmpv6ErrorAbout(buffer, about, random.Next(2) == 0 ? about.Destination.AsIpv6 : Ipv6Router, about.Source.AsIpv6);
    }

    /// <summary>
    /// An error about a NAT64 packet: ICMPv4 from the IPv4 host or a router about a packet that left
    /// as IPv4, or ICMPv6 from an inside host about a reply it was given (to the IPv4 host's
    /// embedded address); sometimes about a flow nobody knows.
    /// </summary>
    private int WriteNat64Error(Span<byte> buffer)
    {
        if (nat64ForwardedCount == 0 || random.Next(5) == 0)
        {
            IpFlow unknown = NewNat64Flow().Reverse();
            return WriteIcmpv6ErrorAbout(buffer, unknown, unknown.Destination.AsIpv6, unknown.Source.AsIpv6);
        }
        ForwardedFlow packet = PickNat64();
        // Outbound: whichever side of the session is IPv6 received something from the IPv4 host.
        IpFlow ipv6Side = packet.Input.Source.IsIpv6 ? packet.Input.Reverse() : packet.Output;
        IpFlow ipv4Side = packet.Input.Source.IsIpv6 ? packet.Output : packet.Input.Reverse();
        if (random.Next(3) == 0)
        {
            return WriteIcmpv6ErrorAbout(buffer, ipv6Side, ipv6Side.Destination.AsIpv6, ipv6Side.Source.AsIpv6);
        }
        Tuple5 about = Ipv4Tuple(ipv4Side);
        int quotedLength = random.Next(12) switch
        {
            0 => Ipv4PacketWriter.WriteIcmpError(quoted, about.Source, about.Destination, IcmpType.DestinationUnreachable, 3, Payload(40)),
            1 => WritePortless(quoted, about, (ushort)random.Next(65536), moreFragments: true, fragmentOffset: 8 * random.Next(1, 100)),
            _ => Write(quoted, about, FollowingFlags(), Pick(QueryRequests)),
        };
        Ipv4Address from = random.Next(2) == 0 ? about.Destination : Router;
        // Fragmentation needed (3/4) carries an MTU that becomes a Packet Too Big's (RFC 7915 4.2).
        byte type = random.Next(4) == 0 ? IcmpType.DestinationUnreachable : Pick(ErrorTypes);
        byte code = type == IcmpType.DestinationUnreachable && random.Next(2) == 0 ? (byte)4 : (byte)random.Next(16);
        int quote = random.Next(4) == 0 ? 28 + random.Next(20) : Ipv4PacketWriter.MaximumIcmpErrorLength - 28;
        return Ipv4PacketWriter.WriteIcmpError(buffer, from, about.Source, type, code, quoted.AsSpan(0, quotedLength), quote,
            restOfHeader: random.Next(2) == 0 ? (uint)random.Next(1200, 1500) : (uint)random.Next());
    }

    /// <summary>An ICMPv6 error from <paramref name="from"/> to <paramref name="to"/> quoting a packet of <paramref name="about"/>.</summary>
    private int WriteIcmpv6ErrorAbout(Span<byte> buffer, IpFlow about, Ipv6Address from, Ipv6Address to)
    {
        int quotedLength = random.Next(12) switch
        {
            0 => Ipv6PacketWriter.WriteIcmpv6Error(quoted, about.Source.AsIpv6, about.Destination.AsIpv6, Icmpv6Type.DestinationUnreachable, 4, 0, Payload(40)),
            1 => Ipv6PacketWriter.WriteFragment(quoted, about.Source.AsIpv6, about.Destination.AsIpv6, about.Protocol, (uint)random.Next(), 8 * random.Next(1, 100),
                true, Payload(40)),
            _ => WriteIpv6(quoted, about, FollowingFlags(), Icmpv6Type.EchoRequest),
        };
        if (random.Next(4) == 0)
        {
            quotedLength = Math.Min(quotedLength, 40 + random.Next(16));
        }
        byte type = random.Next(15) == 0 ? (byte)(130 + random.Next(10)) : Pick(Icmpv6ErrorTypes);
        byte code = (byte)random.Next(type == Icmpv6Type.DestinationUnreachable ? 7 : 3);
        uint parameter = type switch
        {
            Icmpv6Type.PacketTooBig => (uint)random.Next(1200, 1500),
            Icmpv6Type.ParameterProblem => (uint)random.Next(48),
            _ => 0,
        };
        return Ipv6PacketWriter.WriteIcmpv6Error(buffer, from, to, type, code, parameter, quoted.AsSpan(0, quotedLength));
    }

    /// <summary>
    /// A first fragment (offset 0, more to come): the packet's fragmentable part cut after its first
    /// bytes, a multiple of 8, with the transport header whole; remembered for later fragments.
    /// </summary>
    private int WriteIpv6FirstFragment(Span<byte> buffer, IpFlow flow, uint identification)
    {
        int length = WriteIpv6(whole, flow, OpeningFlags(), Icmpv6Type.EchoRequest);
        if (whole[Ipv6Packet.Field.NextHeader] is 0 or 60)
        {
            length = RemoveExtensionHeader(whole, length);
        }
        int fragmentable = length - Ipv6Packet.HeaderLength;
        int cut = Math.Max(8, fragmentable / 8 * 8);
        ipv6Fragmented[ipv6FragmentedCount++ % ipv6Fragmented.Length] = (flow, identification);
        return Ipv6PacketWriter.WriteFragment(buffer, flow.Source.AsIpv6, flow.Destination.AsIpv6, flow.Protocol, identification, 0, true,
            whole.AsSpan(Ipv6Packet.HeaderLength, Math.Min(cut, fragmentable)));
    }

    /// <summary>NAT64's first fragments: IPv6 ones to the prefix, or IPv4 ones of a reply to NAT64's external address.</summary>
    private int WriteNat64FirstFragment(Span<byte> buffer)
    {
        if (random.Next(3) == 0 && nat64ForwardedCount > 0 && PickNat64() is { Output.Source.IsIpv6: false } packet)
        {
            return WriteFirstFragment(buffer, Ipv4Tuple(packet.Output.Reverse()), (ushort)random.Next(65536));
        }
        return WriteIpv6FirstFragment(buffer, NewNat64Flow(), (uint)random.Next());
    }

    /// <summary>A later IPv6 fragment: of a datagram whose first went by, of one whose first is still to come, or of none.</summary>
    private int WriteIpv6LaterFragment(Span<byte> buffer, Func<IpFlow> newFlow)
    {
        IpFlow flow;
        uint identification;
        int choice = random.Next(10);
        if (choice < 5 && ipv6FragmentedCount > 0)
        {
            (flow, identification) = ipv6Fragmented[random.Next(Math.Min(ipv6FragmentedCount, ipv6Fragmented.Length))];
        }
        else
        {
            flow = choice < 8 ? newFlow() : newFlow().Reverse();
            identification = (uint)random.Next();
            if (choice < 8 && owedIpv6First is null)
            {
                owedIpv6First = (flow, identification);
            }
        }
        ReadOnlySpan<byte> data = Payload(random.Next(8) == 0 ? 1200 : 96);
        return Ipv6PacketWriter.WriteFragment(buffer, flow.Source.AsIpv6, flow.Destination.AsIpv6, flow.Protocol, identification, 8 * random.Next(1, 0x1FFF),
            random.Next(2) == 0, data);
    }

    /// <summary>A site C host reaching the published service, or another host's mapping, by its external address.</summary>
    private int WriteNat66Hairpin(Span<byte> buffer)
    {
        Ipv6Address inside = Pick(Nat66Hosts);
        IpFlow flow;
        if (random.Next(2) == 0 && nat66ForwardedCount > 0 && PickNat66().Output is { Protocol: IpProtocol.Tcp or IpProtocol.Udp } mapped
            && mapped.Source == Nat66External)
        {
            flow = new(mapped.Protocol, inside, InsidePort(), mapped.Source, mapped.SourcePort);
        }
        else
        {
            flow = new(random.Next(2) == 0 ? IpProtocol.Tcp : IpProtocol.Udp, inside, InsidePort(), Nat66RedirectExternal, (ushort)(8080 + random.Next(5)));
        }
        return WriteHairpinned(buffer, flow);
    }

    /// <summary>
    /// A site D host reaching an IPv4 external address through NAT64 (RFC 6146 3.8): another NAT64
    /// host's mapping, IPv4's published service, or an IPv4 host's mapping.
    /// </summary>
    private int WriteNat64Hairpin(Span<byte> buffer)
    {
        Ipv6Address inside = Pick(Nat64Hosts);
        IpProtocol protocol = random.Next(2) == 0 ? IpProtocol.Tcp : IpProtocol.Udp;
        (Ipv4Address target, ushort port) = random.Next(3) switch
        {
            0 when nat64ForwardedCount > 0 && PickNat64().Output is { Source.IsIpv6: false, Protocol: IpProtocol.Tcp or IpProtocol.Udp } mapped
                => (mapped.Source.AsIpv4, mapped.SourcePort),
            1 when forwardedCount > 0 && PickForwarded().Output is { Protocol: IpProtocol.Tcp or IpProtocol.Udp } mapped
                && Array.IndexOf(Externals, mapped.Source) >= 0 => (mapped.Source, mapped.SourcePort),
            _ => (RedirectExternal, random.Next(2) == 0 ? (ushort)443 : (ushort)(8080 + random.Next(10))),
        };
        return WriteHairpinned(buffer, new IpFlow(protocol, inside, InsidePort(), Nat64Prefix.WellKnown.Embed(target), port));
    }

    /// <summary>A hairpinned packet, one in four a first fragment (its later fragments follow as any others do).</summary>
    private int WriteHairpinned(Span<byte> buffer, IpFlow flow)
        => random.Next(4) == 0 ? WriteIpv6FirstFragment(buffer, flow, (uint)random.Next()) : WriteIpv6(buffer, flow, OpeningFlags(), Icmpv6Type.EchoRequest);

    /// <summary>Random bytes after a valid IPv6 header between two of the site's addresses, of a random next header.</summary>
    private int WriteIpv6Garbage(Span<byte> buffer, Ipv6Address inside, Ipv6Address outside)
    {
        int payloadLength = random.Next(64);
        bool inbound = random.Next(2) == 0;
        byte nextHeader = random.Next(3) == 0 ? (byte)random.Next(256) : (byte)Pick(Ipv6NextHeaders);
        int header = Ipv6PacketWriter.WriteIpv6Header(buffer, inbound ? outside : inside, inbound ? inside : outside, (IpProtocol)nextHeader, payloadLength);
        random.NextBytes(buffer.Slice(header, payloadLength));
        return header + payloadLength;
    }

    /// <summary>Puts an 8-byte hop-by-hop or destination options header (a PadN option) after the fixed header.</summary>
    private int InsertExtensionHeader(Span<byte> buffer, int length)
    {
        const int extension = 8;
        if (length + extension > buffer.Length)
        {
            return length;
        }
        buffer[Ipv6Packet.HeaderLength..length].CopyTo(buffer[(Ipv6Packet.HeaderLength + extension)..]);
        Span<byte> options = buffer.Slice(Ipv6Packet.HeaderLength, extension);
        options[0] = buffer[Ipv6Packet.Field.NextHeader];
        options[1] = 0;
        options[2] = 1; // PadN (RFC 8200 4.2)
        options[3] = 4;
        options[4..].Clear();
        buffer[Ipv6Packet.Field.NextHeader] = random.Next(2) == 0 ? (byte)0 : (byte)60;
        BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv6Packet.Field.PayloadLength..], (ushort)(length + extension - Ipv6Packet.HeaderLength));
        return length + extension;
    }

    private static int RemoveExtensionHeader(Span<byte> buffer, int length)
    {
        const int extension = 8;
        buffer[Ipv6Packet.Field.NextHeader] = buffer[Ipv6Packet.HeaderLength];
        buffer[(Ipv6Packet.HeaderLength + extension)..length].CopyTo(buffer[Ipv6Packet.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv6Packet.Field.PayloadLength..], (ushort)(length - extension - Ipv6Packet.HeaderLength));
        return length - extension;
    }

    /// <summary>
    /// Reads a packet's flow, of either family (for ICMP and ICMPv6, a query's), to answer or
    /// continue it later; false for what has none: fragments, errors, IPv6 with extension headers.
    /// </summary>
    public static bool TryReadFlow(Span<byte> packet, out IpFlow flow, out bool icmpRequest)
    {
        flow = default;
        icmpRequest = false;
        if (packet.Length == 0 || packet[0] >> 4 != 6)
        {
            if (!TryRead(packet, out Tuple5 tuple, out icmpRequest))
            {
                return false;
            }
            flow = new IpFlow(tuple.Protocol, tuple.Source, tuple.SourcePort, tuple.Destination, tuple.DestinationPort);
            return true;
        }
        if (packet.Length < Ipv6Packet.HeaderLength)
        {
            return false;
        }
        var protocol = (IpProtocol)packet[Ipv6Packet.Field.NextHeader];
        Span<byte> transport = packet[Ipv6Packet.HeaderLength..];
        Ipv6Address source = Ipv6Address.Read(packet[Ipv6Packet.Field.SourceAddress..]);
        Ipv6Address destination = Ipv6Address.Read(packet[Ipv6Packet.Field.DestinationAddress..]);
        switch (protocol)
        {
            case IpProtocol.Tcp or IpProtocol.Udp when transport.Length >= 4:
                flow = new(protocol, source, BinaryPrimitives.ReadUInt16BigEndian(transport), destination, BinaryPrimitives.ReadUInt16BigEndian(transport[2..]));
                return true;
            case IpProtocol.Icmpv6 when transport.Length >= 8 && transport[0] is Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply:
                ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(transport[4..]);
                flow = new(protocol, source, identifier, destination, identifier);
                icmpRequest = transport[0] == Icmpv6Type.EchoRequest;
                return true;
            case IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmpv6 or IpProtocol.Fragment or (IpProtocol)0 or (IpProtocol)60 or (IpProtocol)43:
                return false;
            default:
                flow = new(protocol, source, 0, destination, 0);
                return true;
        }
    }
}
