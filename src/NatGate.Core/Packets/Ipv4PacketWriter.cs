using NatGate.Core.Addressing;
using System.Buffers.Binary;
using NatGate.Core.Checksums;

namespace NatGate.Core.Packets;

/// <summary>
/// Builds IPv4 packets with correct checksums, for tests, benchmarks and the ICMP errors the
/// NAT emits. Each method returns the number of bytes written and throws
/// <see cref="ArgumentException"/> when <c>destination</c> is too short; none of this is on
/// the parse path.
/// </summary>
public static class Ipv4PacketWriter
{
    /// <summary>The largest ICMP error a router should send (RFC 1812 4.3.2.3).</summary>
    public const int MaximumIcmpErrorLength = 576;

    private const int IcmpErrorOverhead = Ipv4Packet.MinimumHeaderLength + IcmpMessage.HeaderLength;

    /// <summary>Writes a 20-byte header without options, checksum filled; returns 20.</summary>
    public static int WriteIpv4Header(Span<byte> destination, Ipv4Address sourceAddress, Ipv4Address destinationAddress, IpProtocol protocol, int payloadLength,
        byte timeToLive = 64, ushort identification = 0, bool dontFragment = false, bool moreFragments = false, int fragmentOffset = 0)
    {
        const int headerLength = Ipv4Packet.MinimumHeaderLength;
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payloadLength, ushort.MaxValue - headerLength);
        ArgumentOutOfRangeException.ThrowIfNegative(fragmentOffset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fragmentOffset, 0x1FFF * 8);
        if (fragmentOffset % 8 != 0)
        {
            throw new ArgumentException("The fragment offset must be a multiple of 8 bytes (RFC 791).", nameof(fragmentOffset));
        }
        EnsureLength(destination, headerLength);

        Span<byte> header = destination[..headerLength];
        header[Ipv4Packet.Field.VersionAndHeaderLength] = 0x45;
        header[Ipv4Packet.Field.TypeOfService] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.TotalLength..], (ushort)(headerLength + payloadLength));
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.Identification..], identification);
        int flagsAndOffset = (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0) | (fragmentOffset / 8);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.FlagsAndFragmentOffset..], (ushort)flagsAndOffset);
        header[Ipv4Packet.Field.TimeToLive] = timeToLive;
        header[Ipv4Packet.Field.Protocol] = (byte)protocol;
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.HeaderChecksum..], 0);
        sourceAddress.Write(header[Ipv4Packet.Field.SourceAddress..]);
        destinationAddress.Write(header[Ipv4Packet.Field.DestinationAddress..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.HeaderChecksum..], InternetChecksum.Compute(header));
        return headerLength;
    }

    /// <summary>Writes a TCP segment with a 20-byte header (no options) inside an IPv4 packet.</summary>
    public static int WriteTcp(Span<byte> destination, Ipv4Address sourceAddress, ushort sourcePort, Ipv4Address destinationAddress, ushort destinationPort,
        TcpFlags flags, uint sequenceNumber, uint acknowledgmentNumber, ReadOnlySpan<byte> payload, byte timeToLive = 64, ushort identification = 0,
        ushort window = 65535)
    {
        int segmentLength = TcpSegment.MinimumHeaderLength + payload.Length;
        int length = Ipv4Packet.MinimumHeaderLength + segmentLength;
        EnsureLength(destination, length);
        WriteIpv4Header(destination, sourceAddress, destinationAddress, IpProtocol.Tcp, segmentLength, timeToLive, identification);

        Span<byte> segment = destination.Slice(Ipv4Packet.MinimumHeaderLength, segmentLength);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.SourcePort..], sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.DestinationPort..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(segment[TcpSegment.Field.SequenceNumber..], sequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(segment[TcpSegment.Field.AcknowledgmentNumber..], acknowledgmentNumber);
        segment[TcpSegment.Field.DataOffset] = (TcpSegment.MinimumHeaderLength / 4) << 4;
        segment[TcpSegment.Field.Flags] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Window..], window);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.UrgentPointer..], 0);
        payload.CopyTo(segment[TcpSegment.MinimumHeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Checksum..],
            TransportChecksum.ComputeIpv4(sourceAddress, destinationAddress, IpProtocol.Tcp, segment));
        return length;
    }

    /// <summary>Writes a UDP datagram inside an IPv4 packet; <paramref name="withChecksum"/> false leaves the checksum 0 (RFC 768).</summary>
    public static int WriteUdp(Span<byte> destination, Ipv4Address sourceAddress, ushort sourcePort, Ipv4Address destinationAddress, ushort destinationPort,
        ReadOnlySpan<byte> payload, byte timeToLive = 64, ushort identification = 0, bool withChecksum = true)
    {
        int datagramLength = UdpDatagram.HeaderLength + payload.Length;
        int length = Ipv4Packet.MinimumHeaderLength + datagramLength;
        EnsureLength(destination, length);
        WriteIpv4Header(destination, sourceAddress, destinationAddress, IpProtocol.Udp, datagramLength, timeToLive, identification);

        Span<byte> datagram = destination.Slice(Ipv4Packet.MinimumHeaderLength, datagramLength);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.SourcePort..], sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.DestinationPort..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.Length..], (ushort)datagramLength);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.Checksum..], 0);
        payload.CopyTo(datagram[UdpDatagram.HeaderLength..]);
        if (withChecksum)
        {
            BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.Checksum..],
                TransportChecksum.ComputeIpv4(sourceAddress, destinationAddress, IpProtocol.Udp, datagram));
        }
        return length;
    }

    /// <summary>Writes an ICMP query or reply (echo, timestamp, ...) with its identifier and sequence number.</summary>
    public static int WriteIcmpQuery(Span<byte> destination, Ipv4Address sourceAddress, Ipv4Address destinationAddress, byte type, ushort identifier,
        ushort sequenceNumber, ReadOnlySpan<byte> payload, byte timeToLive = 64)
    {
        uint restOfHeader = (uint)identifier << 16 | sequenceNumber;
        return WriteIcmp(destination, sourceAddress, destinationAddress, type, 0, restOfHeader, payload, timeToLive);
    }

    /// <summary>
    /// Writes an ICMP error quoting <paramref name="originalDatagram"/>: its IP header and as much
    /// of the rest as fits in <paramref name="maximumEmbeddedBytes"/> (548 keeps the whole packet
    /// within 576 bytes, RFC 1812 4.3.2.3). Bytes past the original's total length are not quoted.
    /// <paramref name="restOfHeader"/> fills bytes 4 to 7 (a next-hop MTU, a pointer, a gateway).
    /// </summary>
    public static int WriteIcmpError(Span<byte> destination, Ipv4Address sourceAddress, Ipv4Address destinationAddress, byte type, byte code,
        ReadOnlySpan<byte> originalDatagram, int maximumEmbeddedBytes = MaximumIcmpErrorLength - IcmpErrorOverhead, byte timeToLive = 64,
        uint restOfHeader = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maximumEmbeddedBytes);
        int embedded = Math.Min(originalDatagram.Length, maximumEmbeddedBytes);
        if (originalDatagram.Length >= Ipv4Packet.Field.TotalLength + 2)
        {
            // Link-layer padding after the original's total length is not part of it.
            int originalLength = BinaryPrimitives.ReadUInt16BigEndian(originalDatagram[Ipv4Packet.Field.TotalLength..]);
            if (originalLength >= Ipv4Packet.MinimumHeaderLength)
            {
                embedded = Math.Min(embedded, originalLength);
            }
        }
        return WriteIcmp(destination, sourceAddress, destinationAddress, type, code, restOfHeader, originalDatagram[..embedded], timeToLive);
    }

    private static int WriteIcmp(Span<byte> destination, Ipv4Address sourceAddress, Ipv4Address destinationAddress, byte type, byte code, uint restOfHeader,
        ReadOnlySpan<byte> payload, byte timeToLive)
    {
        int messageLength = IcmpMessage.HeaderLength + payload.Length;
        int length = Ipv4Packet.MinimumHeaderLength + messageLength;
        EnsureLength(destination, length);
        WriteIpv4Header(destination, sourceAddress, destinationAddress, IpProtocol.Icmp, messageLength, timeToLive);

        Span<byte> message = destination.Slice(Ipv4Packet.MinimumHeaderLength, messageLength);
        message[IcmpMessage.Field.Type] = type;
        message[IcmpMessage.Field.Code] = code;
        BinaryPrimitives.WriteUInt16BigEndian(message[IcmpMessage.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(message[IcmpMessage.Field.RestOfHeader..], restOfHeader);
        payload.CopyTo(message[IcmpMessage.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(message[IcmpMessage.Field.Checksum..], TransportChecksum.ComputeIcmp(message));
        return length;
    }

    private static void EnsureLength(Span<byte> destination, int length)
    {
        if (destination.Length < length)
        {
            throw new ArgumentException($"The destination holds {destination.Length} bytes but the packet needs {length}.", nameof(destination));
        }
    }
}
