using NatGate.Core.Addressing;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Checksums;

namespace NatGate.Core.Packets;

/// <summary>
/// Full computation and verification of TCP, UDP and ICMP checksums. These walk the whole
/// segment; the NAT's per-packet path uses incremental deltas (<see cref="InternetChecksum"/>)
/// instead, and these serve session setup, the packet writer and tests.
/// </summary>
public static class TransportChecksum
{
    private const int NoChecksumField = -1;

    /// <summary>
    /// The checksum to store in a TCP or UDP segment carried over IPv4, computed as if its
    /// checksum field were zero (RFC 793, RFC 768). A UDP result of 0 is returned as 0xFFFF,
    /// since 0 means "no checksum" (RFC 768). Other protocols get no field skipped.
    /// </summary>
    public static ushort ComputeIpv4(Ipv4Address sourceAddress, Ipv4Address destinationAddress, IpProtocol protocol, ReadOnlySpan<byte> segment)
    {
        ushort pseudoHeader = InternetChecksum.PseudoHeaderSum(sourceAddress, destinationAddress, protocol, segment.Length);
        return Finish(protocol, SumSkippingField(segment, ChecksumOffset(protocol), pseudoHeader));
    }

    /// <summary>
    /// True when a TCP or UDP segment over IPv4 carries a correct checksum. A UDP checksum of 0
    /// means none was sent and is accepted (RFC 768).
    /// </summary>
    public static bool IsValidIpv4(Ipv4Address sourceAddress, Ipv4Address destinationAddress, IpProtocol protocol, ReadOnlySpan<byte> segment)
    {
        int offset = ChecksumOffset(protocol);
        if (offset != NoChecksumField && segment.Length < offset + 2)
        {
            return false;
        }
        if (protocol == IpProtocol.Udp && BinaryPrimitives.ReadUInt16BigEndian(segment[offset..]) == 0)
        {
            return true;
        }
        ushort pseudoHeader = InternetChecksum.PseudoHeaderSum(sourceAddress, destinationAddress, protocol, segment.Length);
        return InternetChecksum.Sum(segment, pseudoHeader) == 0xFFFF;
    }

    /// <summary>
    /// The checksum to store in a TCP, UDP or ICMPv6 message carried over IPv6 (RFC 8200 8.1),
    /// computed as if its checksum field were zero. A UDP result of 0 is returned as 0xFFFF.
    /// </summary>
    public static ushort ComputeIpv6(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, IpProtocol nextHeader, ReadOnlySpan<byte> segment)
        => Finish(nextHeader, SumSkippingField(segment, ChecksumOffset(nextHeader), PseudoHeaderSumIpv6(source, destination, nextHeader, segment.Length)));

    /// <summary>
    /// True when a TCP, UDP or ICMPv6 message over IPv6 carries a correct checksum. A UDP
    /// checksum of 0 is invalid over IPv6 (RFC 8200 8.1).
    /// </summary>
    public static bool IsValidIpv6(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, IpProtocol nextHeader, ReadOnlySpan<byte> segment)
    {
        int offset = ChecksumOffset(nextHeader);
        if (offset != NoChecksumField && segment.Length < offset + 2)
        {
            return false;
        }
        return InternetChecksum.Sum(segment, PseudoHeaderSumIpv6(source, destination, nextHeader, segment.Length)) == 0xFFFF;
    }

    /// <summary>The checksum to store in an ICMPv4 message: no pseudo-header (RFC 792), the field taken as zero.</summary>
    public static ushort ComputeIcmp(ReadOnlySpan<byte> message)
        => (ushort)~SumSkippingField(message, IcmpMessage.Field.Checksum, 0);

    /// <summary>True when an ICMPv4 message of at least 4 bytes carries a correct checksum.</summary>
    public static bool IsValidIcmp(ReadOnlySpan<byte> message)
        => message.Length >= IcmpMessage.Field.Checksum + 2 && InternetChecksum.Sum(message) == 0xFFFF;

    /// <summary>
    /// True when the IP header checksum and the TCP, UDP or ICMP checksum of a complete packet
    /// are correct. An ICMP error's quoted datagram is covered only by the ICMP checksum; its own
    /// checksums are not checked. Fragments and other protocols get the header check only,
    /// since a transport checksum covers the reassembled datagram.
    /// </summary>
    public static bool IsValid(Ipv4Packet packet)
    {
        if (!packet.IsHeaderChecksumValid)
        {
            return false;
        }
        if (packet.IsFragment)
        {
            return true;
        }
        return packet.Protocol switch
        {
            IpProtocol.Tcp or IpProtocol.Udp => IsValidIpv4(packet.SourceAddress, packet.DestinationAddress, packet.Protocol, packet.Payload),
            IpProtocol.Icmp => IsValidIcmp(packet.Payload),
            _ => true,
        };
    }

    /// <summary>The sum of the IPv6 pseudo-header (RFC 8200 8.1): addresses, upper-layer length and next header.</summary>
    public static ushort PseudoHeaderSumIpv6(ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, IpProtocol nextHeader, int transportLength)
    {
        ulong accumulator = (ulong)(uint)transportLength + (byte)nextHeader;
        accumulator += InternetChecksum.Sum(source);
        accumulator += InternetChecksum.Sum(destination);
        return InternetChecksum.Fold(accumulator);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ChecksumOffset(IpProtocol protocol) => protocol switch
    {
        IpProtocol.Tcp => TcpSegment.Field.Checksum,
        IpProtocol.Udp => UdpDatagram.Field.Checksum,
        IpProtocol.Icmp => IcmpMessage.Field.Checksum,
        IpProtocol.Icmpv6 => Icmpv6Message.Field.Checksum,
        _ => NoChecksumField,
    };

    // Summing around the field (offsets are even, so word alignment holds) is exactly
    // "the field taken as zero", without writing to the caller's bytes.
    private static ushort SumSkippingField(ReadOnlySpan<byte> data, int fieldOffset, ushort initial)
    {
        if (fieldOffset == NoChecksumField || data.Length < fieldOffset + 2)
        {
            return InternetChecksum.Sum(data, initial);
        }
        ushort head = InternetChecksum.Sum(data[..fieldOffset], initial);
        return InternetChecksum.Sum(data[(fieldOffset + 2)..], head);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort Finish(IpProtocol protocol, ushort sum)
    {
        ushort checksum = (ushort)~sum;
        return checksum == 0 && protocol == IpProtocol.Udp ? (ushort)0xFFFF : checksum;
    }
}
