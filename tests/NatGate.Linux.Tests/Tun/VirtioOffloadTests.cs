using NatGate.Core.Addressing;
using System.Buffers.Binary;
using NatGate.Core.Packets;
using NatGate.Linux.Tun;

namespace NatGate.Linux.Tests.Tun;

/// <summary>
/// Between a TUN's virtio header and the data path's "checksum partial" flag: bytes in, the
/// flag and the bytes out. No device, so no root.
/// </summary>
public sealed class VirtioOffloadTests
{
    private static readonly Ipv4Address Inside = Ipv4Address.Parse("10.0.0.2");
    private static readonly Ipv4Address Outside = Ipv4Address.Parse("198.51.100.7");

    /// <summary>A virtio_net_hdr (little-endian fields, linux/virtio_net.h).</summary>
    private static byte[] Header(byte flags, byte gsoType = VirtioNetHeader.GsoNone, ushort checksumStart = 0, ushort checksumOffset = 0, ushort gsoSize = 0)
    {
        byte[] header = new byte[VirtioNetHeader.Length];
        header[0] = flags;
        header[1] = gsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), gsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(6), checksumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(8), checksumOffset);
        return header;
    }

    private static byte[] Udp()
    {
        byte[] packet = new byte[Ipv4Packet.MinimumHeaderLength + UdpDatagram.HeaderLength + 4];
        Ipv4PacketWriter.WriteUdp(packet, Inside, 40000, Outside, 53, [1, 2, 3, 4]);
        return packet;
    }

    [Fact]
    public void A_partial_udp_checksum_stays_partial_and_the_packet_is_untouched()
    {
        byte[] packet = Udp();
        byte[] before = [.. packet];
        byte[] header = Header(VirtioNetHeader.NeedsChecksumFlag, checksumStart: 20, checksumOffset: 6);

        Assert.True(VirtioOffload.PrepareRead(header, packet, out bool partial));

        Assert.True(partial);
        Assert.Equal(before, packet);
        Assert.True(new VirtioNetHeader(header).NeedsChecksum);
    }

    /// <summary>
    /// A TCP or UDP packet over IPv6 as the kernel hands it over with offloads: the checksum field
    /// holds the pseudo-header sum (RFC 8200 section 8.1), not complemented.
    /// </summary>
    private static byte[] PartialOverIpv6(IpProtocol protocol, int dataLength)
    {
        int transportLength = (protocol == IpProtocol.Tcp ? TcpSegment.MinimumHeaderLength : UdpDatagram.HeaderLength) + dataLength;
        byte[] packet = new byte[Ipv6Packet.HeaderLength + transportLength];
        packet[0] = 6 << 4;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(Ipv6Packet.Field.PayloadLength), (ushort)transportLength);
        packet[Ipv6Packet.Field.NextHeader] = (byte)protocol;
        packet[Ipv6Packet.Field.HopLimit] = 64;
        Ipv6Address.Parse("fd00:77::2", null).Write(packet.AsSpan(Ipv6Packet.Field.SourceAddress));
        Ipv6Address.Parse("2001:db8:100::2", null).Write(packet.AsSpan(Ipv6Packet.Field.DestinationAddress));
        Span<byte> transport = packet.AsSpan(Ipv6Packet.HeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(transport, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(transport[2..], 5201);
        int checksum = protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        if (protocol == IpProtocol.Tcp)
        {
            transport[12] = 5 << 4;
            transport[13] = (byte)TcpFlags.Ack;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport[4..], (ushort)transportLength);
        }
        transport[^dataLength..].Fill(0xd5);
        BinaryPrimitives.WriteUInt16BigEndian(transport[checksum..], TransportChecksum.PseudoHeaderSumIpv6(
            packet.AsSpan(Ipv6Packet.Field.SourceAddress, 16), packet.AsSpan(Ipv6Packet.Field.DestinationAddress, 16), protocol, transportLength));
        return packet;
    }

    /// <summary>
    /// A TSO or USO super-packet over IPv6 keeps its partial checksum and its header, so that the
    /// kernel can still cut it into segments after translation: completed and sent with a cleared
    /// header, 64 KiB went out as one packet too big for any link, and bulk TCP over IPv6 crawled
    /// at a few hundred kbit/s of retransmissions.
    /// </summary>
    [Theory]
    [InlineData(IpProtocol.Tcp, VirtioNetHeader.GsoTcpV6, 16)]
    [InlineData(IpProtocol.Udp, VirtioNetHeader.GsoUdpL4, 6)]
    public void A_partial_checksum_over_ipv6_stays_partial_with_its_segmentation_and_the_packet_is_untouched(IpProtocol protocol, byte gsoType, ushort checksumOffset)
    {
        byte[] packet = PartialOverIpv6(protocol, 8000);
        byte[] before = [.. packet];
        byte[] header = Header(VirtioNetHeader.NeedsChecksumFlag, gsoType, checksumStart: Ipv6Packet.HeaderLength, checksumOffset: checksumOffset, gsoSize: 1400);
        byte[] headerBefore = [.. header];

        Assert.True(VirtioOffload.PrepareRead(header, packet, out bool partial));
        Assert.True(partial);
        Assert.Equal(before, packet);

        VirtioOffload.PrepareWrite(header, packet, partial);
        Assert.Equal(headerBefore, header);
    }

    [Fact]
    public void A_partial_checksum_over_ipv6_that_starts_elsewhere_than_the_transport_is_completed_on_read()
    {
        byte[] packet = PartialOverIpv6(IpProtocol.Udp, 100);
        // Not where the transport header starts: the engine could not find the sum it updates.
        byte[] header = Header(VirtioNetHeader.NeedsChecksumFlag, checksumStart: Ipv6Packet.HeaderLength + 8, checksumOffset: 0);

        Assert.True(VirtioOffload.PrepareRead(header, packet, out bool partial));

        Assert.False(partial);
        Assert.False(new VirtioNetHeader(header).NeedsChecksum);
    }

    [Fact]
    public void A_packet_without_needs_checksum_is_whole()
    {
        byte[] packet = Udp();
        byte[] header = Header(0);

        Assert.True(VirtioOffload.PrepareRead(header, packet, out bool partial));

        Assert.False(partial);
    }

    [Fact]
    public void A_partial_checksum_on_icmp_is_completed_on_read()
    {
        byte[] packet = new byte[Ipv4Packet.MinimumHeaderLength + 8 + 4];
        Ipv4PacketWriter.WriteIcmpQuery(packet, Inside, Outside, 8, 7, 1, [5, 6, 7, 8]);
        // As the kernel leaves it: the checksum field holds no sum yet (ICMP has no pseudo-header).
        packet[22] = 0;
        packet[23] = 0;
        byte[] header = Header(VirtioNetHeader.NeedsChecksumFlag, checksumStart: 20, checksumOffset: 2);

        Assert.True(VirtioOffload.PrepareRead(header, packet, out bool partial));

        Assert.False(partial);
        Assert.False(new VirtioNetHeader(header).NeedsChecksum);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.True(TransportChecksum.IsValid(ip));
    }

    [Fact]
    public void A_header_whose_checksum_lies_beyond_the_packet_is_refused()
    {
        byte[] packet = new byte[Ipv4Packet.MinimumHeaderLength + 8 + 4];
        Ipv4PacketWriter.WriteIcmpQuery(packet, Inside, Outside, 8, 7, 1, [5, 6, 7, 8]);
        byte[] header = Header(VirtioNetHeader.NeedsChecksumFlag, checksumStart: 20, checksumOffset: 200);

        Assert.False(VirtioOffload.PrepareRead(header, packet, out bool partial));
        Assert.False(partial);
    }

    [Fact]
    public void A_write_keeps_the_header_of_a_partial_packet_and_clears_any_other()
    {
        byte[] offloaded = Header(VirtioNetHeader.NeedsChecksumFlag, VirtioNetHeader.GsoTcpV4, checksumStart: 20, checksumOffset: 16, gsoSize: 1448);
        byte[] kept = [.. offloaded];
        VirtioOffload.PrepareWrite(offloaded, Tcp4(), checksumPartial: true);
        Assert.Equal(kept, offloaded);

        // The same slot after the engine wrote an ICMP error of its own into it.
        VirtioOffload.PrepareWrite(offloaded, Tcp4(), checksumPartial: false);
        Assert.Equal(new byte[VirtioNetHeader.Length], offloaded);
    }

    private static byte[] Tcp4()
    {
        byte[] packet = new byte[Ipv4Packet.MinimumHeaderLength + TcpSegment.MinimumHeaderLength];
        Ipv4PacketWriter.WriteIpv4Header(packet, Inside, Outside, IpProtocol.Tcp, TcpSegment.MinimumHeaderLength, 64, 1, dontFragment: true, moreFragments: false, fragmentOffset: 0);
        packet[20 + 12] = 5 << 4;
        return packet;
    }

    private static byte[] Tcp6()
    {
        byte[] packet = new byte[Ipv6Packet.HeaderLength + TcpSegment.MinimumHeaderLength];
        packet[0] = 6 << 4;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), TcpSegment.MinimumHeaderLength);
        packet[Ipv6Packet.Field.NextHeader] = (byte)IpProtocol.Tcp;
        packet[Ipv6Packet.Field.HopLimit] = 64;
        Ipv6Address.Parse("fd00:77::2", null).Write(packet.AsSpan(Ipv6Packet.Field.SourceAddress));
        Ipv6Address.Parse("64:ff9b::c633:6407", null).Write(packet.AsSpan(Ipv6Packet.Field.DestinationAddress));
        packet[40 + 12] = 5 << 4;
        return packet;
    }

    [Fact]
    public void A_packet_that_nat64_moved_to_the_other_family_gets_its_header_moved_with_it()
    {
        // Read as an IPv4 TCP super-packet (with ECN), written as IPv6: the transport header is 20 bytes further on.
        byte[] header = Header(VirtioNetHeader.NeedsChecksumFlag, VirtioNetHeader.GsoTcpV4 | VirtioNetHeader.GsoEcn, checksumStart: 20, checksumOffset: 16, gsoSize: 1448);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(2), 20 + 32);
        VirtioOffload.PrepareWrite(header, Tcp6(), checksumPartial: true);
        var moved = new VirtioNetHeader(header);
        Assert.Equal(VirtioNetHeader.GsoTcpV6 | VirtioNetHeader.GsoEcn, moved.GsoType);
        Assert.Equal(40, moved.ChecksumStart);
        Assert.Equal(16, moved.ChecksumOffset);
        Assert.Equal(40 + 32, moved.HeaderLength);
        Assert.Equal(1448, moved.GsoSize);
        Assert.True(moved.NeedsChecksum);

        // And back: IPv6 read, IPv4 written.
        VirtioOffload.PrepareWrite(header, Tcp4(), checksumPartial: true);
        Assert.Equal(VirtioNetHeader.GsoTcpV4 | VirtioNetHeader.GsoEcn, moved.GsoType);
        Assert.Equal(20, moved.ChecksumStart);
        Assert.Equal(20 + 32, moved.HeaderLength);

        // A UDP super-packet's type is the same for both families; only the offsets move.
        byte[] udp = Header(VirtioNetHeader.NeedsChecksumFlag, VirtioNetHeader.GsoUdpL4, checksumStart: 20, checksumOffset: 6, gsoSize: 1400);
        byte[] udp6 = Tcp6();
        udp6[Ipv6Packet.Field.NextHeader] = (byte)IpProtocol.Udp;
        VirtioOffload.PrepareWrite(udp, udp6, checksumPartial: true);
        Assert.Equal(VirtioNetHeader.GsoUdpL4, new VirtioNetHeader(udp).GsoType);
        Assert.Equal(40, new VirtioNetHeader(udp).ChecksumStart);
    }
}
