using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>
/// Packets built from scratch, with every checksum computed in full, to compare translations
/// against: the expected output of a translation is built here independently of the translator.
/// </summary>
internal static class Nat64TestPackets
{
    public static readonly Nat64Prefix Prefix = Nat64Prefix.WellKnown;
    public static readonly Ipv6Address Client = Ipv6Address.Parse("2001:db8::1", null);
    public static readonly Ipv4Address Server4 = Ipv4Address.Parse("198.51.100.10");
    public static readonly Ipv6Address Server6 = Prefix.Embed(Server4);
    public static readonly Ipv4Address Pool = Ipv4Address.Parse("203.0.113.1");

    public static byte[] Tcp(ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        byte[] segment = new byte[TcpSegment.MinimumHeaderLength + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(segment, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), 0x01020304);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(8), 0x0a0b0c0d);
        segment[12] = 5 << 4;
        segment[13] = (byte)(TcpFlags.Ack | TcpFlags.Psh);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(14), 64240);
        payload.CopyTo(segment.AsSpan(TcpSegment.MinimumHeaderLength));
        return segment;
    }

    public static byte[] Udp(ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> payload)
    {
        byte[] datagram = new byte[UdpDatagram.HeaderLength + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(datagram, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(4), (ushort)datagram.Length);
        payload.CopyTo(datagram.AsSpan(UdpDatagram.HeaderLength));
        return datagram;
    }

    /// <summary>An ICMP or ICMPv6 message with bytes 4 to 7 given, checksum left zero.</summary>
    public static byte[] Icmp(byte type, byte code, uint restOfHeader, ReadOnlySpan<byte> payload)
    {
        byte[] message = new byte[8 + payload.Length];
        message[0] = type;
        message[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(4), restOfHeader);
        payload.CopyTo(message.AsSpan(8));
        return message;
    }

    public static byte[] Echo(byte type, ushort identifier, ushort sequenceNumber, ReadOnlySpan<byte> payload)
        => Icmp(type, 0, (uint)identifier << 16 | sequenceNumber, payload);

    /// <summary>An IPv6 packet; <paramref name="extensionHeaders"/> (if any) start the payload and <paramref name="firstNextHeader"/> names the first of them.</summary>
    public static byte[] Ipv6(Ipv6Address source, Ipv6Address destination, IpProtocol protocol, ReadOnlySpan<byte> transport, byte hopLimit = 64,
        byte trafficClass = 0, bool fillChecksum = true, ReadOnlySpan<byte> extensionHeaders = default, IpProtocol? firstNextHeader = null,
        int? transportLength = null)
    {
        byte[] packet = new byte[40 + extensionHeaders.Length + transport.Length];
        BinaryPrimitives.WriteUInt32BigEndian(packet, 6u << 28 | (uint)trafficClass << 20);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)(extensionHeaders.Length + (transportLength ?? transport.Length)));
        packet[6] = (byte)(firstNextHeader ?? protocol);
        packet[7] = hopLimit;
        source.Write(packet.AsSpan(8));
        destination.Write(packet.AsSpan(24));
        extensionHeaders.CopyTo(packet.AsSpan(40));
        Span<byte> segment = packet.AsSpan(40 + extensionHeaders.Length);
        transport.CopyTo(segment);
        if (fillChecksum)
        {
            int offset = ChecksumOffset(protocol);
            BinaryPrimitives.WriteUInt16BigEndian(segment[offset..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(segment[offset..], TransportChecksum.ComputeIpv6(packet.AsSpan(8, 16), packet.AsSpan(24, 16), protocol, segment));
        }
        return packet;
    }

    public static byte[] Ipv4(Ipv4Address source, Ipv4Address destination, IpProtocol protocol, ReadOnlySpan<byte> transport, byte timeToLive = 64,
        byte typeOfService = 0, ushort identification = 0, bool dontFragment = false, bool moreFragments = false, int fragmentOffset = 0,
        bool fillChecksum = true, int? transportLength = null)
    {
        byte[] packet = new byte[20 + transport.Length];
        Ipv4PacketWriter.WriteIpv4Header(packet, source, destination, protocol, transportLength ?? transport.Length, timeToLive, identification, dontFragment,
            moreFragments, fragmentOffset);
        Span<byte> segment = packet.AsSpan(20);
        transport.CopyTo(segment);
        if (typeOfService != 0)
        {
            packet[1] = typeOfService;
            packet[10] = 0;
            packet[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), NatGate.Core.Checksums.InternetChecksum.Compute(packet.AsSpan(0, 20)));
        }
        if (fillChecksum)
        {
            int offset = ChecksumOffset(protocol);
            BinaryPrimitives.WriteUInt16BigEndian(segment[offset..], 0);
            ushort checksum = protocol == IpProtocol.Icmp ? TransportChecksum.ComputeIcmp(segment) : TransportChecksum.ComputeIpv4(source, destination, protocol, segment);
            BinaryPrimitives.WriteUInt16BigEndian(segment[offset..], checksum);
        }
        return packet;
    }

    public static int ChecksumOffset(IpProtocol protocol) => protocol == IpProtocol.Tcp ? 16 : protocol == IpProtocol.Udp ? 6 : 2;

    /// <summary>True when the IPv4 packet's header checksum and its TCP, UDP or ICMP checksum hold, recomputed in full.</summary>
    public static bool Ipv4ChecksumsValid(byte[] packet)
        => Ipv4Packet.TryParse(packet, out Ipv4Packet parsed) == PacketError.None && TransportChecksum.IsValid(parsed);

    /// <summary>True when the IPv6 packet's TCP, UDP or ICMPv6 checksum holds, recomputed in full (no extension headers).</summary>
    public static bool Ipv6ChecksumValid(byte[] packet)
        => TransportChecksum.IsValidIpv6(packet.AsSpan(8, 16), packet.AsSpan(24, 16), (IpProtocol)packet[6], packet.AsSpan(40));

    public static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);
}
