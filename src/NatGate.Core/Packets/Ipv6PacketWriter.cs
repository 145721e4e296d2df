using System.Buffers.Binary;
using NatGate.Core.Addressing;

namespace NatGate.Core.Packets;

/// <summary>
/// Builds IPv6 packets with correct checksums (RFC 8200 8.1), for the ICMPv6 errors the NAT sends,
/// and for tests and benchmarks. Each method returns the number of bytes written and throws
/// <see cref="ArgumentException"/> when <c>destination</c> is too short; none of this is on the
/// parse path.
/// </summary>
public static class Ipv6PacketWriter
{
    /// <summary>The IPv6 minimum link MTU, which an ICMPv6 error never exceeds (RFC 8200 5, RFC 4443 2.4 c).</summary>
    public const int MinimumMtu = 1280;

    /// <summary>The most of the invoking packet an ICMPv6 error quotes: the minimum MTU less the two headers.</summary>
    public const int MaximumQuotedBytes = MinimumMtu - Ipv6Packet.HeaderLength - Icmpv6Message.HeaderLength;

    private const int FragmentHeaderLength = 8;

    /// <summary>Writes a 40-byte fixed header (traffic class and flow label 0); returns 40.</summary>
    public static int WriteIpv6Header(Span<byte> destination, Ipv6Address sourceAddress, Ipv6Address destinationAddress, IpProtocol nextHeader, int payloadLength,
        byte hopLimit = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(payloadLength, ushort.MaxValue);
        EnsureLength(destination, Ipv6Packet.HeaderLength);
        Span<byte> header = destination[..Ipv6Packet.HeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(header, 6u << 28);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv6Packet.Field.PayloadLength..], (ushort)payloadLength);
        header[Ipv6Packet.Field.NextHeader] = (byte)nextHeader;
        header[Ipv6Packet.Field.HopLimit] = hopLimit;
        sourceAddress.Write(header[Ipv6Packet.Field.SourceAddress..]);
        destinationAddress.Write(header[Ipv6Packet.Field.DestinationAddress..]);
        return Ipv6Packet.HeaderLength;
    }

    /// <summary>Writes a UDP datagram inside an IPv6 packet, its checksum filled (never 0 over IPv6, RFC 8200 8.1).</summary>
    public static int WriteUdp(Span<byte> destination, Ipv6Address sourceAddress, ushort sourcePort, Ipv6Address destinationAddress, ushort destinationPort,
        ReadOnlySpan<byte> payload, byte hopLimit = 64)
    {
        int datagramLength = UdpDatagram.HeaderLength + payload.Length;
        int length = Ipv6Packet.HeaderLength + datagramLength;
        EnsureLength(destination, length);
        WriteIpv6Header(destination, sourceAddress, destinationAddress, IpProtocol.Udp, datagramLength, hopLimit);
        Span<byte> datagram = destination.Slice(Ipv6Packet.HeaderLength, datagramLength);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.SourcePort..], sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.DestinationPort..], destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram[UdpDatagram.Field.Length..], (ushort)datagramLength);
        payload.CopyTo(datagram[UdpDatagram.HeaderLength..]);
        FillChecksum(destination[..length], IpProtocol.Udp, UdpDatagram.Field.Checksum);
        return length;
    }

    /// <summary>Writes a TCP segment with a 20-byte header (no options) inside an IPv6 packet.</summary>
    public static int WriteTcp(Span<byte> destination, Ipv6Address sourceAddress, ushort sourcePort, Ipv6Address destinationAddress, ushort destinationPort,
        TcpFlags flags, uint sequenceNumber, uint acknowledgmentNumber, ReadOnlySpan<byte> payload, byte hopLimit = 64, ushort window = 65535)
    {
        int segmentLength = TcpSegment.MinimumHeaderLength + payload.Length;
        int length = Ipv6Packet.HeaderLength + segmentLength;
        EnsureLength(destination, length);
        WriteIpv6Header(destination, sourceAddress, destinationAddress, IpProtocol.Tcp, segmentLength, hopLimit);
        Span<byte> segment = destination.Slice(Ipv6Packet.HeaderLength, segmentLength);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.SourcePort..], sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.DestinationPort..], destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(segment[TcpSegment.Field.SequenceNumber..], sequenceNumber);
        BinaryPrimitives.WriteUInt32BigEndian(segment[TcpSegment.Field.AcknowledgmentNumber..], acknowledgmentNumber);
        segment[TcpSegment.Field.DataOffset] = (TcpSegment.MinimumHeaderLength / 4) << 4;
        segment[TcpSegment.Field.Flags] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.Window..], window);
        BinaryPrimitives.WriteUInt16BigEndian(segment[TcpSegment.Field.UrgentPointer..], 0);
        payload.CopyTo(segment[TcpSegment.MinimumHeaderLength..]);
        FillChecksum(destination[..length], IpProtocol.Tcp, TcpSegment.Field.Checksum);
        return length;
    }

    /// <summary>Writes an ICMPv6 echo request or reply (RFC 4443 4).</summary>
    public static int WriteEcho(Span<byte> destination, Ipv6Address sourceAddress, Ipv6Address destinationAddress, byte type, ushort identifier,
        ushort sequenceNumber, ReadOnlySpan<byte> payload, byte hopLimit = 64)
        => WriteIcmpv6(destination, sourceAddress, destinationAddress, type, 0, (uint)identifier << 16 | sequenceNumber, payload, hopLimit);

    /// <summary>
    /// Writes an ICMPv6 error (RFC 4443 3) quoting <paramref name="invokingPacket"/>: as much of it
    /// as keeps the error within the minimum MTU (RFC 4443 2.4 c), and no bytes past its payload
    /// length. <paramref name="parameter"/> fills bytes 4 to 7: Packet Too Big's MTU, Parameter
    /// Problem's pointer, 0 otherwise.
    /// </summary>
    public static int WriteIcmpv6Error(Span<byte> destination, Ipv6Address sourceAddress, Ipv6Address destinationAddress, byte type, byte code, uint parameter,
        ReadOnlySpan<byte> invokingPacket, byte hopLimit = 64)
    {
        int quoted = Math.Min(invokingPacket.Length, MaximumQuotedBytes);
        if (invokingPacket.Length >= Ipv6Packet.HeaderLength)
        {
            // Link-layer padding after the invoking packet's payload is not part of it.
            quoted = Math.Min(quoted, Ipv6Packet.HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(invokingPacket[Ipv6Packet.Field.PayloadLength..]));
        }
        return WriteIcmpv6(destination, sourceAddress, destinationAddress, type, code, parameter, invokingPacket[..quoted], hopLimit);
    }

    /// <summary>
    /// Writes one fragment of an IPv6 packet (RFC 8200 4.5): the fixed header, a Fragment header
    /// and <paramref name="fragmentData"/>, the bytes at <paramref name="fragmentOffset"/> (a multiple
    /// of 8) of the packet's fragmentable part, whose first header is <paramref name="nextHeader"/>.
    /// </summary>
    public static int WriteFragment(Span<byte> destination, Ipv6Address sourceAddress, Ipv6Address destinationAddress, IpProtocol nextHeader, uint identification,
        int fragmentOffset, bool moreFragments, ReadOnlySpan<byte> fragmentData, byte hopLimit = 64)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fragmentOffset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fragmentOffset, 0x1FFF * 8);
        if (fragmentOffset % 8 != 0)
        {
            throw new ArgumentException("The fragment offset must be a multiple of 8 bytes (RFC 8200 4.5).", nameof(fragmentOffset));
        }
        int length = Ipv6Packet.HeaderLength + FragmentHeaderLength + fragmentData.Length;
        EnsureLength(destination, length);
        WriteIpv6Header(destination, sourceAddress, destinationAddress, IpProtocol.Fragment, FragmentHeaderLength + fragmentData.Length, hopLimit);
        Span<byte> fragment = destination[Ipv6Packet.HeaderLength..];
        fragment[0] = (byte)nextHeader;
        fragment[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(fragment[2..], (ushort)(fragmentOffset | (moreFragments ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(fragment[4..], identification);
        fragmentData.CopyTo(fragment[FragmentHeaderLength..]);
        return length;
    }

    private static int WriteIcmpv6(Span<byte> destination, Ipv6Address sourceAddress, Ipv6Address destinationAddress, byte type, byte code, uint restOfHeader,
        ReadOnlySpan<byte> payload, byte hopLimit)
    {
        int messageLength = Icmpv6Message.HeaderLength + payload.Length;
        int length = Ipv6Packet.HeaderLength + messageLength;
        EnsureLength(destination, length);
        // The payload may be the invoking packet at the start of this same buffer: move it first.
        payload.CopyTo(destination[(Ipv6Packet.HeaderLength + Icmpv6Message.HeaderLength)..]);
        WriteIpv6Header(destination, sourceAddress, destinationAddress, IpProtocol.Icmpv6, messageLength, hopLimit);
        Span<byte> message = destination.Slice(Ipv6Packet.HeaderLength, messageLength);
        message[Icmpv6Message.Field.Type] = type;
        message[Icmpv6Message.Field.Code] = code;
        BinaryPrimitives.WriteUInt32BigEndian(message[4..], restOfHeader);
        FillChecksum(destination[..length], IpProtocol.Icmpv6, Icmpv6Message.Field.Checksum);
        return length;
    }

    private static void FillChecksum(Span<byte> packet, IpProtocol nextHeader, int checksumOffset)
    {
        Span<byte> upper = packet[Ipv6Packet.HeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(upper[checksumOffset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(upper[checksumOffset..], TransportChecksum.ComputeIpv6(
            packet.Slice(Ipv6Packet.Field.SourceAddress, 16), packet.Slice(Ipv6Packet.Field.DestinationAddress, 16), nextHeader, upper));
    }

    private static void EnsureLength(Span<byte> destination, int length)
    {
        if (destination.Length < length)
        {
            throw new ArgumentException($"The destination holds {destination.Length} bytes but the packet needs {length}.", nameof(destination));
        }
    }
}
