using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class Ipv4PacketWriterTests
{
    private static readonly Ipv4Address Inside = Ipv4Address.Parse("192.168.1.100");
    private static readonly Ipv4Address Outside = Ipv4Address.Parse("93.184.216.34");
    private static readonly Ipv4Address Dns = Ipv4Address.Parse("8.8.8.8");

    [Fact]
    public void WriteIpv4Header_writes_the_known_header()
    {
        // The header of the TCP SYN vector: 60 bytes, id 0x1c46, DF, TTL 64.
        byte[] header = new byte[20];
        Assert.Equal(20, Ipv4PacketWriter.WriteIpv4Header(header, Inside, Outside, IpProtocol.Tcp, 40, identification: 0x1c46, dontFragment: true));
        Assert.Equal(PacketVectors.TcpSyn[..40], Convert.ToHexStringLower(header));
    }

    [Fact]
    public void WriteIpv4Header_writes_fragment_fields()
    {
        byte[] bytes = new byte[20 + 8];
        Ipv4PacketWriter.WriteIpv4Header(bytes, Inside, Outside, IpProtocol.Udp, 8, moreFragments: true, fragmentOffset: 1480);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.True(packet.MoreFragments);
        Assert.False(packet.DontFragment);
        Assert.Equal(1480, packet.FragmentOffset);
        Assert.True(packet.IsHeaderChecksumValid);
        Assert.Throws<ArgumentException>(() => Ipv4PacketWriter.WriteIpv4Header(new byte[20], Inside, Outside, IpProtocol.Udp, 8, fragmentOffset: 3));
    }

    [Fact]
    public void WriteTcp_parses_back_to_the_same_fields()
    {
        byte[] buffer = new byte[100];
        byte[] data = "GET / HTTP/1.1\r\n"u8.ToArray();
        int length = Ipv4PacketWriter.WriteTcp(buffer, Inside, 51234, Outside, 80, TcpFlags.Psh | TcpFlags.Ack, 1000, 2000, data, timeToLive: 32, identification: 7);
        Assert.Equal(20 + 20 + data.Length, length);

        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet packet));
        Assert.True(TransportChecksum.IsValid(packet));
        Assert.Equal(Inside, packet.SourceAddress);
        Assert.Equal(Outside, packet.DestinationAddress);
        Assert.Equal(32, packet.TimeToLive);
        Assert.Equal(7, packet.Identification);
        Assert.Equal(IpProtocol.Tcp, packet.Protocol);
        Assert.Equal(PacketError.None, TcpSegment.TryParse(packet.Payload, out TcpSegment segment));
        Assert.Equal(51234, segment.SourcePort);
        Assert.Equal(80, segment.DestinationPort);
        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, segment.Flags);
        Assert.Equal(1000u, segment.SequenceNumber);
        Assert.Equal(2000u, segment.AcknowledgmentNumber);
        Assert.Equal(65535, segment.Window);
        Assert.Equal(data, segment.Payload.ToArray());
    }

    [Fact]
    public void WriteUdp_reproduces_the_dns_query_vector()
    {
        byte[] expected = PacketVectors.Bytes(PacketVectors.UdpDnsQuery);
        byte[] buffer = new byte[expected.Length];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Inside, 53000, Dns, 53, expected.AsSpan(28), identification: 0x5a3f);
        Assert.Equal(expected.Length, length);
        Assert.Equal(PacketVectors.UdpDnsQuery, Convert.ToHexStringLower(buffer));
    }

    [Fact]
    public void WriteUdp_without_checksum_leaves_zero()
    {
        byte[] buffer = new byte[64];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Inside, 1, Outside, 2, [1, 2, 3], withChecksum: false);
        Assert.Equal(31, length);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer, out Ipv4Packet packet));
        Assert.Equal(PacketError.None, UdpDatagram.TryParse(packet.Payload, out UdpDatagram udp));
        Assert.Equal(0, udp.Checksum);
        Assert.Equal(11, udp.Length);
        Assert.True(TransportChecksum.IsValid(packet));
    }

    [Fact]
    public void WriteIcmpQuery_reproduces_the_echo_vector()
    {
        byte[] expected = PacketVectors.Bytes(PacketVectors.IcmpEcho);
        byte[] buffer = new byte[expected.Length];
        int length = Ipv4PacketWriter.WriteIcmpQuery(buffer, Inside, Dns, IcmpType.Echo, 0x1234, 1, expected.AsSpan(28));
        Assert.Equal(expected.Length, length);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer, out Ipv4Packet packet));
        Assert.True(TransportChecksum.IsValid(packet));
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(packet.Payload, out IcmpMessage icmp));
        Assert.Equal(0x1234, icmp.Identifier);
        Assert.Equal(1, icmp.SequenceNumber);
        // The vector has DF set and id 0x8e2b; the ICMP part must match byte for byte.
        Assert.Equal(PacketVectors.IcmpEcho[40..], Convert.ToHexStringLower(buffer.AsSpan(20)));
    }

    [Fact]
    public void WriteIcmpError_quotes_the_whole_of_a_small_datagram()
    {
        byte[] original = PacketVectors.Bytes(PacketVectors.UdpDnsQuery);
        byte[] buffer = new byte[600];
        int length = Ipv4PacketWriter.WriteIcmpError(buffer, Dns, Inside, IcmpType.DestinationUnreachable, 3, original);
        Assert.Equal(20 + 8 + original.Length, length);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet packet));
        Assert.True(TransportChecksum.IsValid(packet));
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(packet.Payload, out IcmpMessage icmp));
        Assert.Equal(IcmpType.DestinationUnreachable, icmp.Type);
        Assert.Equal(3, icmp.Code);
        Assert.Equal(original, icmp.Payload.ToArray());
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(icmp.Payload, out Ipv4Packet quoted));
        Assert.Equal(Dns, quoted.DestinationAddress);
    }

    [Fact]
    public void WriteIcmpError_keeps_the_packet_within_576_bytes()
    {
        byte[] original = new byte[1500];
        Ipv4PacketWriter.WriteUdp(original, Inside, 1, Outside, 2, new byte[1472]);
        byte[] buffer = new byte[1600];
        int length = Ipv4PacketWriter.WriteIcmpError(buffer, Outside, Inside, IcmpType.DestinationUnreachable, 4, original, restOfHeader: 1400);
        Assert.Equal(576, length);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet packet));
        Assert.True(TransportChecksum.IsValid(packet));
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(packet.Payload, out IcmpMessage icmp));
        Assert.Equal(1400u, icmp.RestOfHeader);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParseEmbedded(icmp.Payload, out Ipv4Packet quoted));
        Assert.Equal(1500, quoted.TotalLength);
        Assert.Equal(548, quoted.Bytes.Length);
    }

    [Fact]
    public void WriteIcmpError_leaves_out_padding_past_the_total_length()
    {
        byte[] original = [.. PacketVectors.Bytes(PacketVectors.UdpDnsQuery), 0, 0, 0];
        byte[] buffer = new byte[200];
        int length = Ipv4PacketWriter.WriteIcmpError(buffer, Outside, Inside, IcmpType.TimeExceeded, 0, original, maximumEmbeddedBytes: 28);
        Assert.Equal(20 + 8 + 28, length);
        length = Ipv4PacketWriter.WriteIcmpError(buffer, Outside, Inside, IcmpType.TimeExceeded, 0, original);
        Assert.Equal(20 + 8 + 57, length);
    }

    [Fact]
    public void Too_short_a_destination_throws()
    {
        Assert.Throws<ArgumentException>(() => Ipv4PacketWriter.WriteIpv4Header(new byte[19], Inside, Outside, IpProtocol.Udp, 0));
        Assert.Throws<ArgumentException>(() => Ipv4PacketWriter.WriteTcp(new byte[39], Inside, 1, Outside, 2, TcpFlags.Syn, 0, 0, []));
        Assert.Throws<ArgumentException>(() => Ipv4PacketWriter.WriteUdp(new byte[28], Inside, 1, Outside, 2, [1]));
        Assert.Throws<ArgumentException>(() => Ipv4PacketWriter.WriteIcmpQuery(new byte[27], Inside, Outside, IcmpType.Echo, 1, 1, []));
        Assert.Throws<ArgumentException>(() => Ipv4PacketWriter.WriteIcmpError(new byte[40], Inside, Outside, IcmpType.TimeExceeded, 0, new byte[28]));
    }
}
