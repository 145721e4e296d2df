using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Properties;

/// <summary>A packet's tuple as read back from its bytes; for ICMP queries both ports hold the identifier.</summary>
internal readonly record struct Tuple5(IpProtocol Protocol, Ipv4Address Source, ushort SourcePort, Ipv4Address Destination, ushort DestinationPort)
{
    public Tuple5 Reverse() => new(Protocol, Destination, DestinationPort, Source, SourcePort);

    public override string ToString()
        => $"{Protocol} {Source}:{SourcePort} -> {Destination}:{DestinationPort}";
}

/// <summary>One inside-to-outside flow a property drives through the engine.</summary>
internal sealed record Flow(IpProtocol Protocol, Ipv4Address Inside, ushort InsidePort, Ipv4Address Remote, ushort RemotePort, byte[] Payload, bool UdpWithoutChecksum)
{
    /// <summary>The tuple of the first outbound packet (for ICMP the identifier is both ports).</summary>
    public Tuple5 Outbound => Protocol == IpProtocol.Icmp
        ? new(Protocol, Inside, InsidePort, Remote, InsidePort)
        : new(Protocol, Inside, InsidePort, Remote, RemotePort);

    public override string ToString()
        => $"{Outbound} payload {Payload.Length}{(UdpWithoutChecksum && Protocol == IpProtocol.Udp ? " no-checksum" : "")}";
}

/// <summary>Engines, generators, packet builders and readers shared by the engine properties.</summary>
internal static class NatHarness
{
    public const int BufferSize = 2048;

    public static readonly long Start = TimeSpan.FromDays(1).Ticks;
    public static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");
    public static readonly Ipv4Address Router = Ipv4Address.Parse("203.0.113.254");

    /// <summary>10.0.0.<paramref name="host"/>.</summary>
    public static Ipv4Address Inside(int host) => Ipv4Address.Parse("10.0.0.0") + (uint)host;

    /// <summary>203.0.113.<paramref name="host"/>.</summary>
    public static Ipv4Address Remote(int host) => Ipv4Address.Parse("203.0.113.0") + (uint)host;

    public static NatEngine NewEngine(MappingBehavior mapping, FilteringBehavior filtering, NatPolicy? policy = null, PortRange? ports = null, long? startTicks = null)
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1, Limits = new() { MaximumSessions = 4096 } }, startTicks ?? Start);
        engine.AddRule(NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), External, ports,
            (policy ?? NatPolicy.Default) with { Mapping = mapping, UdpFiltering = filtering, TcpFiltering = filtering }));
        return engine;
    }

    public static readonly Gen<MappingBehavior> Mapping = Gen.Int[0, 2].Select(i => (MappingBehavior)i);
    public static readonly Gen<FilteringBehavior> Filtering = Gen.Int[0, 2].Select(i => (FilteringBehavior)i);
    public static readonly Gen<IpProtocol> Protocol = Gen.Int[0, 2].Select(i => i == 0 ? IpProtocol.Tcp : i == 1 ? IpProtocol.Udp : IpProtocol.Icmp);

    /// <summary>Flows over a few hosts and ports, so that endpoints repeat and mappings are shared; ICMP identifiers collide freely.</summary>
    public static readonly Gen<Flow> FlowGenCollidingIdentifiers =
        Gen.Select(Protocol, Gen.Int[1, 12], Gen.OneOf(Gen.UShort[1, 65535], Gen.UShort[1000, 1003]), Gen.Int[1, 6],
            Gen.OneOf(Gen.UShort[1, 65535], Gen.UShort[53, 55]), Gen.Byte.Array[0, 64], Gen.Bool,
            (protocol, host, port, remote, remotePort, payload, noChecksum) => new Flow(protocol, Inside(host), port, Remote(remote), remotePort, payload, noChecksum));

    /// <summary>The flows the properties draw from: identifiers and ports collide, so the engine must change some.</summary>
    public static readonly Gen<Flow> FlowGen = FlowGenCollidingIdentifiers;

    /// <summary>
    /// Writes a TCP, UDP or ICMP query packet. For ICMP <paramref name="sourcePort"/> is the identifier;
    /// <paramref name="reply"/> makes an echo reply or a SYN-ACK instead of an echo request or a SYN.
    /// </summary>
    public static int Write(Span<byte> buffer, IpProtocol protocol, Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort,
        ReadOnlySpan<byte> payload, bool reply = false, bool udpWithoutChecksum = false, ushort identification = 0)
        => protocol switch
        {
            IpProtocol.Tcp => Ipv4PacketWriter.WriteTcp(buffer, source, sourcePort, destination, destinationPort,
                reply ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn, 1000, reply ? 1001u : 0u, payload, identification: identification),
            IpProtocol.Udp => Ipv4PacketWriter.WriteUdp(buffer, source, sourcePort, destination, destinationPort, payload,
                identification: identification, withChecksum: !udpWithoutChecksum),
            _ => Ipv4PacketWriter.WriteIcmpQuery(buffer, source, destination, reply ? IcmpType.EchoReply : IcmpType.Echo, sourcePort, 7, payload),
        };

    public static int WriteOutbound(Span<byte> buffer, Flow flow)
        => Write(buffer, flow.Protocol, flow.Inside, flow.InsidePort, flow.Remote, flow.RemotePort, flow.Payload, udpWithoutChecksum: flow.UdpWithoutChecksum);

    /// <summary>The answer from the remote to a translated outbound packet: its tuple reversed.</summary>
    public static int WriteReply(Span<byte> buffer, Flow flow, Tuple5 translated)
        => Write(buffer, flow.Protocol, translated.Destination, translated.DestinationPort, translated.Source, translated.SourcePort,
            flow.Payload, reply: true, udpWithoutChecksum: flow.UdpWithoutChecksum);

    /// <summary>Reads the tuple of a complete packet.</summary>
    public static Tuple5 Read(Span<byte> bytes)
    {
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        return ReadTuple(packet);
    }

    public static Tuple5 ReadTuple(Ipv4Packet packet)
    {
        Span<byte> transport = packet.Payload;
        return packet.Protocol switch
        {
            IpProtocol.Tcp or IpProtocol.Udp => new(packet.Protocol, packet.SourceAddress, BinaryPrimitives.ReadUInt16BigEndian(transport),
                packet.DestinationAddress, BinaryPrimitives.ReadUInt16BigEndian(transport[2..])),
            IpProtocol.Icmp => new(packet.Protocol, packet.SourceAddress, BinaryPrimitives.ReadUInt16BigEndian(transport[4..]),
                packet.DestinationAddress, BinaryPrimitives.ReadUInt16BigEndian(transport[4..])),
            _ => new(packet.Protocol, packet.SourceAddress, 0, packet.DestinationAddress, 0),
        };
    }

    /// <summary>Translates and requires <paramref name="expected"/>; returns the result.</summary>
    public static TranslationResult Translate(NatEngine engine, byte[] buffer, int length, long now, Verdict expected, string what)
    {
        TranslationResult result = engine.Translate(buffer, length, now);
        Assert.True(result.Verdict == expected, $"{what}: expected {expected}, got {result.Verdict} ({result.Reason})");
        return result;
    }

    /// <summary>
    /// Asserts the IP header checksum and the transport checksum of an emitted packet by full
    /// recomputation; for an ICMP error also the quoted header's checksum and, when the quoted
    /// datagram is complete, its transport checksum.
    /// </summary>
    public static void AssertChecksumsValid(Span<byte> bytes, string what)
    {
        Assert.True(Ipv4Packet.TryParse(bytes, out Ipv4Packet packet) == PacketError.None, $"{what}: emitted packet does not parse");
        Assert.True(packet.TotalLength == bytes.Length, $"{what}: result length {bytes.Length} but total length {packet.TotalLength}");
        Assert.True(packet.IsHeaderChecksumValid, $"{what}: IP header checksum wrong");
        Assert.True(TransportChecksum.IsValid(packet), $"{what}: transport checksum wrong");
        if (packet.Protocol == IpProtocol.Icmp && IcmpMessage.IsErrorType(packet.Payload[0]))
        {
            Assert.True(Ipv4Packet.TryParseEmbedded(packet.Payload[IcmpMessage.HeaderLength..], out Ipv4Packet inner) == PacketError.None,
                $"{what}: quoted datagram does not parse");
            Assert.True(inner.IsHeaderChecksumValid, $"{what}: quoted IP header checksum wrong");
            if (inner.Bytes.Length == inner.TotalLength && inner.Protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp)
            {
                Assert.True(TransportChecksum.IsValid(inner), $"{what}: quoted transport checksum wrong");
            }
        }
    }

    /// <summary>The quoted datagram of an ICMP error (a copy).</summary>
    public static byte[] Quoted(Span<byte> bytes)
    {
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        return packet.Payload[IcmpMessage.HeaderLength..].ToArray();
    }

    /// <summary>A copy with the IP header checksum and the transport checksum field zeroed, for comparing contents.</summary>
    public static byte[] WithoutChecksums(ReadOnlySpan<byte> datagram)
    {
        byte[] copy = datagram.ToArray();
        copy[Ipv4Packet.Field.HeaderChecksum] = 0;
        copy[Ipv4Packet.Field.HeaderChecksum + 1] = 0;
        int header = (copy[0] & 0x0F) * 4;
        int field = (IpProtocol)copy[Ipv4Packet.Field.Protocol] switch
        {
            IpProtocol.Tcp => TcpSegment.Field.Checksum,
            IpProtocol.Udp => UdpDatagram.Field.Checksum,
            _ => IcmpMessage.Field.Checksum,
        };
        // A quote that cuts the field in two keeps a half the engine cannot fix: blank what is there.
        for (int offset = header + field; offset < Math.Min(copy.Length, header + field + 2); offset++)
        {
            copy[offset] = 0;
        }
        return copy;
    }
}
