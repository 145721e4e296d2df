using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class Ipv6PacketTests
{
    private static readonly byte[] Source = Convert.FromHexString("20010db8000000000000000000000001");
    private static readonly byte[] Destination = Convert.FromHexString("20010db8000000000000000000000002");

    [Fact]
    public void Walks_hop_by_hop_fragment_and_destination_options_to_udp()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Ipv6WithExtensionHeaders);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        Assert.Equal(bytes.Length, packet.Bytes.Length);
        Assert.Equal(41, packet.PayloadLength);
        Assert.Equal(IpProtocol.HopByHop, packet.NextHeader);
        Assert.Equal(64, packet.HopLimit);
        Assert.Equal(0xb8, packet.TrafficClass);
        Assert.Equal(0x12345u, packet.FlowLabel);
        Assert.Equal(Source, packet.SourceAddress.ToArray());
        Assert.Equal(Destination, packet.DestinationAddress.ToArray());
        Assert.Equal(IpProtocol.Udp, packet.TransportProtocol);
        Assert.Equal(64, packet.TransportOffset);
        Assert.Equal(17, packet.Transport.Length);
        Assert.True(packet.IsFragment);
        Assert.Equal(0, packet.FragmentOffset);
        Assert.True(packet.MoreFragments);
        Assert.Equal(0xdeadbeefu, packet.FragmentIdentification);
        Assert.Equal(IpProtocol.DestinationOptions, packet.FragmentNextHeader);

        Assert.Equal(PacketError.None, UdpDatagram.TryParse(packet.Transport, out UdpDatagram udp));
        Assert.Equal(40000, udp.SourcePort);
        Assert.Equal(4789, udp.DestinationPort);
        Assert.Equal("hello, v6"u8.ToArray(), udp.Payload.ToArray());
        Assert.True(TransportChecksum.IsValidIpv6(packet.SourceAddress, packet.DestinationAddress, IpProtocol.Udp, packet.Transport));
    }

    [Fact]
    public void A_non_first_fragment_stops_at_the_fragment_header()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Ipv6WithExtensionHeaders);
        // Fragment header at 48: offset 1480 bytes (185 units), M clear.
        bytes[50] = 0x05;
        bytes[51] = 0xc8;
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        Assert.True(packet.IsFragment);
        Assert.Equal(1480, packet.FragmentOffset);
        Assert.False(packet.MoreFragments);
        Assert.Equal(IpProtocol.Fragment, packet.TransportProtocol);
        Assert.Equal(IpProtocol.DestinationOptions, packet.FragmentNextHeader);
        Assert.Equal(56, packet.TransportOffset);
        Assert.Equal(25, packet.Transport.Length);
    }

    [Fact]
    public void A_packet_without_extension_headers_has_its_transport_at_40()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Icmpv6Echo);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        Assert.Equal(IpProtocol.Icmpv6, packet.TransportProtocol);
        Assert.Equal(40, packet.TransportOffset);
        Assert.Equal(12, packet.Transport.Length);
        Assert.False(packet.IsFragment);
        Assert.Equal(0, packet.FragmentOffset);
        Assert.False(packet.MoreFragments);
        Assert.Equal(0u, packet.FragmentIdentification);
        Assert.Equal(IpProtocol.NoNextHeader, packet.FragmentNextHeader);
        Assert.Equal(0, packet.TrafficClass);
        Assert.Equal(0u, packet.FlowLabel);
    }

    [Fact]
    public void Walks_routing_and_authentication_headers()
    {
        // Routing (type 0 style, Hdr Ext Len 0: 8 bytes) -> AH (Payload Len 4: 24 bytes) -> TCP.
        byte[] payload = [(byte)IpProtocol.Ah, 0, 0, 0, 0, 0, 0, 0, (byte)IpProtocol.Tcp, 4, .. new byte[22], .. new byte[20]];
        byte[] bytes = Ipv6(IpProtocol.Routing, payload);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        Assert.Equal(IpProtocol.Tcp, packet.TransportProtocol);
        Assert.Equal(40 + 8 + 24, packet.TransportOffset);
        Assert.Equal(20, packet.Transport.Length);
    }

    [Fact]
    public void Esp_and_no_next_header_end_the_walk()
    {
        byte[] bytes = Ipv6(IpProtocol.Esp, new byte[16]);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        Assert.Equal(IpProtocol.Esp, packet.TransportProtocol);
        Assert.Equal(40, packet.TransportOffset);

        bytes = Ipv6(IpProtocol.NoNextHeader, []);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out packet));
        Assert.Equal(IpProtocol.NoNextHeader, packet.TransportProtocol);
        Assert.True(packet.Transport.IsEmpty);
    }

    [Fact]
    public void Trailing_bytes_past_the_payload_length_are_left_out()
    {
        byte[] bytes = [.. PacketVectors.Bytes(PacketVectors.Icmpv6Echo), 1, 2, 3];
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        Assert.Equal(52, packet.Bytes.Length);
        Assert.Equal(12, packet.Transport.Length);
    }

    [Fact]
    public void HopLimit_setter_round_trips()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Icmpv6Echo);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        packet.HopLimit = 1;
        Assert.Equal(1, packet.HopLimit);
        Assert.Equal(1, bytes[7]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(39)]
    [InlineData(51)]
    public void Fewer_bytes_than_the_header_or_payload_length_is_truncated(int length)
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Icmpv6Echo)[..length];
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParse(bytes, out _));
    }

    [Fact]
    public void An_extension_header_running_past_the_payload_is_truncated()
    {
        // Destination Options claiming 16 bytes in an 8-byte payload.
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParse(Ipv6(IpProtocol.DestinationOptions, [(byte)IpProtocol.Udp, 1, 0, 0, 0, 0, 0, 0]), out _));
        // A Fragment header cut short.
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParse(Ipv6(IpProtocol.Fragment, [(byte)IpProtocol.Udp, 0, 0, 0]), out _));
        // Not even the length byte of a Routing or AH header.
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParse(Ipv6(IpProtocol.Routing, [(byte)IpProtocol.Udp]), out _));
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParse(Ipv6(IpProtocol.Ah, [(byte)IpProtocol.Udp]), out _));
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParse(Ipv6(IpProtocol.HopByHop, [(byte)IpProtocol.Udp]), out _));
    }

    [Fact]
    public void A_version_other_than_6_is_refused()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Icmpv6Echo);
        bytes[0] = 0x45;
        Assert.Equal(PacketError.BadVersion, Ipv6Packet.TryParse(bytes, out _));
    }

    [Fact]
    public void A_jumbogram_is_unsupported()
    {
        // RFC 2675: payload length 0 with a Hop-by-Hop header carrying the Jumbo Payload option.
        byte[] bytes = Ipv6(IpProtocol.HopByHop, [(byte)IpProtocol.Udp, 0, 0xC2, 4, 0, 1, 0, 0]);
        bytes[4] = 0;
        bytes[5] = 0;
        Assert.Equal(PacketError.Unsupported, Ipv6Packet.TryParse(bytes, out _));
    }

    [Fact]
    public void A_hop_by_hop_header_after_the_first_is_unsupported()
    {
        byte[] payload = [(byte)IpProtocol.HopByHop, 0, 1, 4, 0, 0, 0, 0, (byte)IpProtocol.Udp, 0, 1, 4, 0, 0, 0, 0];
        Assert.Equal(PacketError.Unsupported, Ipv6Packet.TryParse(Ipv6(IpProtocol.DestinationOptions, payload), out _));
    }

    [Fact]
    public void Eight_extension_headers_parse_and_nine_are_too_many()
    {
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(Ipv6(IpProtocol.DestinationOptions, ChainOfDestinationOptions(8)), out Ipv6Packet packet));
        Assert.Equal(IpProtocol.Udp, packet.TransportProtocol);
        Assert.Equal(40 + 64, packet.TransportOffset);
        Assert.Equal(PacketError.TooManyExtensionHeaders, Ipv6Packet.TryParse(Ipv6(IpProtocol.DestinationOptions, ChainOfDestinationOptions(9)), out _));
    }

    private static byte[] ChainOfDestinationOptions(int count)
    {
        byte[] payload = new byte[count * 8 + 8];
        for (int i = 0; i < count; i++)
        {
            payload[i * 8] = (byte)(i == count - 1 ? IpProtocol.Udp : IpProtocol.DestinationOptions);
            payload[i * 8 + 2] = 1; // PadN
            payload[i * 8 + 3] = 4;
        }
        return payload;
    }

    private static byte[] Ipv6(IpProtocol nextHeader, byte[] payload)
    {
        byte[] bytes = new byte[40 + payload.Length];
        bytes[0] = 0x60;
        bytes[4] = (byte)(payload.Length >> 8);
        bytes[5] = (byte)payload.Length;
        bytes[6] = (byte)nextHeader;
        bytes[7] = 64;
        Source.CopyTo(bytes, 8);
        Destination.CopyTo(bytes, 24);
        payload.CopyTo(bytes, 40);
        return bytes;
    }
}
