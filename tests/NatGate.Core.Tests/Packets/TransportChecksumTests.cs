using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class TransportChecksumTests
{
    [Theory]
    [InlineData(PacketVectors.TcpSyn, IpProtocol.Tcp, 0x9816)]
    [InlineData(PacketVectors.UdpDnsQuery, IpProtocol.Udp, 0xe30e)]
    public void ComputeIpv4_gives_the_stored_checksum_whatever_the_field_holds(string hex, IpProtocol protocol, int expected)
    {
        byte[] bytes = PacketVectors.Bytes(hex);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.Equal(expected, TransportChecksum.ComputeIpv4(packet.SourceAddress, packet.DestinationAddress, protocol, packet.Payload));
        Assert.True(TransportChecksum.IsValidIpv4(packet.SourceAddress, packet.DestinationAddress, protocol, packet.Payload));
        Assert.True(TransportChecksum.IsValid(packet));

        int field = protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        packet.Payload[field] ^= 0x5A;
        Assert.Equal(expected, TransportChecksum.ComputeIpv4(packet.SourceAddress, packet.DestinationAddress, protocol, packet.Payload));
        Assert.False(TransportChecksum.IsValidIpv4(packet.SourceAddress, packet.DestinationAddress, protocol, packet.Payload));
        Assert.False(TransportChecksum.IsValid(packet));
    }

    [Fact]
    public void Changing_an_address_invalidates_the_transport_checksum()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        packet.SourceAddress = Ipv4Address.Parse("10.0.0.1");
        packet.UpdateHeaderChecksum();
        Assert.True(packet.IsHeaderChecksumValid);
        Assert.False(TransportChecksum.IsValid(packet));
    }

    [Fact]
    public void A_udp_checksum_of_zero_means_none_over_ipv4_but_is_invalid_over_ipv6()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.UdpDnsQuery);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        bytes[20 + UdpDatagram.Field.Checksum] = 0;
        bytes[20 + UdpDatagram.Field.Checksum + 1] = 0;
        Assert.True(TransportChecksum.IsValidIpv4(packet.SourceAddress, packet.DestinationAddress, IpProtocol.Udp, packet.Payload));
        Assert.True(TransportChecksum.IsValid(packet));

        byte[] v6 = PacketVectors.Bytes(PacketVectors.Ipv6WithExtensionHeaders);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(v6, out Ipv6Packet packet6));
        packet6.Transport[UdpDatagram.Field.Checksum] = 0;
        packet6.Transport[UdpDatagram.Field.Checksum + 1] = 0;
        Assert.False(TransportChecksum.IsValidIpv6(packet6.SourceAddress, packet6.DestinationAddress, IpProtocol.Udp, packet6.Transport));
        Assert.Equal(0x5aed, TransportChecksum.ComputeIpv6(packet6.SourceAddress, packet6.DestinationAddress, IpProtocol.Udp, packet6.Transport));
    }

    [Fact]
    public void A_udp_sum_of_zero_is_sent_as_ffff()
    {
        // Setting the last payload word to the checksum makes the data sum 0xFFFF, so the
        // checksum 0, which UDP must send as 0xFFFF (RFC 768).
        byte[] udp = Convert.FromHexString("12345678000a00000000");
        Ipv4Address source = Ipv4Address.Parse("10.0.0.1"), destination = Ipv4Address.Parse("10.0.0.2");
        ushort checksum = TransportChecksum.ComputeIpv4(source, destination, IpProtocol.Udp, udp);
        udp[8] = (byte)(checksum >> 8);
        udp[9] = (byte)checksum;
        Assert.Equal(0xFFFF, TransportChecksum.ComputeIpv4(source, destination, IpProtocol.Udp, udp));
        udp[6] = 0xFF;
        udp[7] = 0xFF;
        Assert.True(TransportChecksum.IsValidIpv4(source, destination, IpProtocol.Udp, udp));
    }

    [Fact]
    public void Icmp_checksum_has_no_pseudo_header()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.IcmpEcho);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.Equal(0x2cf6, TransportChecksum.ComputeIcmp(packet.Payload));
        Assert.True(TransportChecksum.IsValidIcmp(packet.Payload));
        Assert.True(TransportChecksum.IsValid(packet));
        packet.Payload[^1] ^= 1;
        Assert.False(TransportChecksum.IsValidIcmp(packet.Payload));
        Assert.False(TransportChecksum.IsValid(packet));
    }

    [Fact]
    public void An_icmp_error_is_valid_whatever_its_quoted_checksums_say()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.IcmpPortUnreachable);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.True(TransportChecksum.IsValid(packet));
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(packet.Payload, out IcmpMessage icmp));
        // Breaking the quoted IP header checksum and fixing the ICMP checksum keeps the packet valid.
        icmp.Payload[Ipv4Packet.Field.HeaderChecksum] ^= 0xFF;
        icmp.Checksum = TransportChecksum.ComputeIcmp(icmp.Bytes);
        Assert.True(TransportChecksum.IsValid(packet));
    }

    [Fact]
    public void A_bad_header_checksum_makes_the_packet_invalid()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.UdpDnsQuery);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        packet.TimeToLive--;
        Assert.False(TransportChecksum.IsValid(packet));
    }

    [Fact]
    public void Segments_too_short_to_hold_a_checksum_are_invalid()
    {
        Assert.False(TransportChecksum.IsValidIpv4(new Ipv4Address(1), new Ipv4Address(2), IpProtocol.Tcp, new byte[17]));
        Assert.False(TransportChecksum.IsValidIpv4(new Ipv4Address(1), new Ipv4Address(2), IpProtocol.Udp, new byte[7]));
        Assert.False(TransportChecksum.IsValidIpv6(new byte[16], new byte[16], IpProtocol.Udp, new byte[7]));
        Assert.False(TransportChecksum.IsValidIcmp(new byte[3]));
    }

    [Fact]
    public void A_fragment_is_checked_for_its_header_only()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.UdpDnsQuery);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        bytes[Ipv4Packet.Field.FlagsAndFragmentOffset] = 0x20;
        packet.Payload[^1] ^= 1;
        packet.UpdateHeaderChecksum();
        Assert.True(TransportChecksum.IsValid(packet));
    }
}
