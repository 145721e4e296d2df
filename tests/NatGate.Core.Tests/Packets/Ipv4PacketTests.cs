using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class Ipv4PacketTests
{
    [Fact]
    public void Parses_every_field_of_a_tcp_syn()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.Equal(60, packet.Bytes.Length);
        Assert.Equal(20, packet.HeaderLength);
        Assert.Equal(60, packet.TotalLength);
        Assert.Equal(0, packet.TypeOfService);
        Assert.Equal(0x1c46, packet.Identification);
        Assert.True(packet.DontFragment);
        Assert.False(packet.MoreFragments);
        Assert.Equal(0, packet.FragmentOffset);
        Assert.False(packet.IsFragment);
        Assert.Equal(64, packet.TimeToLive);
        Assert.Equal(IpProtocol.Tcp, packet.Protocol);
        Assert.Equal(0x268f, packet.HeaderChecksum);
        Assert.Equal(Ipv4Address.Parse("192.168.1.100"), packet.SourceAddress);
        Assert.Equal(Ipv4Address.Parse("93.184.216.34"), packet.DestinationAddress);
        Assert.True(packet.Options.IsEmpty);
        Assert.Equal(40, packet.Payload.Length);
        Assert.Equal(0xc8, packet.Payload[0]);
        Assert.True(packet.IsHeaderChecksumValid);
    }

    [Fact]
    public void Parses_the_tos_of_an_icmp_error()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.IcmpPortUnreachable);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.Equal(0xc0, packet.TypeOfService);
        Assert.Equal(117, packet.TimeToLive);
        Assert.Equal(IpProtocol.Icmp, packet.Protocol);
        Assert.Equal(Ipv4Address.Parse("8.8.8.8"), packet.SourceAddress);
        Assert.True(packet.IsHeaderChecksumValid);
    }

    [Fact]
    public void Trailing_bytes_past_the_total_length_are_left_out()
    {
        byte[] bytes = [.. PacketVectors.Bytes(PacketVectors.TcpSyn), 0, 0, 0, 0, 0, 0];
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.Equal(60, packet.Bytes.Length);
        Assert.Equal(40, packet.Payload.Length);
    }

    [Fact]
    public void Options_lie_between_the_fixed_header_and_the_payload()
    {
        // IHL 6: one 4-byte option word (Router Alert, RFC 2113), then 4 payload bytes.
        byte[] bytes = Convert.FromHexString("4600001c000000000102000001020304050607089404000011223344");
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        packet.UpdateHeaderChecksum();
        Assert.Equal(24, packet.HeaderLength);
        Assert.Equal([0x94, 0x04, 0x00, 0x00], packet.Options.ToArray());
        Assert.Equal([0x11, 0x22, 0x33, 0x44], packet.Payload.ToArray());
        Assert.True(packet.IsHeaderChecksumValid);
    }

    [Fact]
    public void Fragment_fields_read_flags_and_offset_in_bytes()
    {
        // MF set, offset 185 units = 1480 bytes.
        byte[] bytes = PacketVectors.Bytes(PacketVectors.UdpDnsQuery);
        bytes[Ipv4Packet.Field.FlagsAndFragmentOffset] = 0x20;
        bytes[Ipv4Packet.Field.FlagsAndFragmentOffset + 1] = 0xb9;
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.True(packet.MoreFragments);
        Assert.False(packet.DontFragment);
        Assert.Equal(1480, packet.FragmentOffset);
        Assert.True(packet.IsFragment);

        bytes[Ipv4Packet.Field.FlagsAndFragmentOffset] = 0x00;
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out packet));
        Assert.False(packet.MoreFragments);
        Assert.True(packet.IsFragment);

        bytes[Ipv4Packet.Field.FlagsAndFragmentOffset] = 0x20;
        bytes[Ipv4Packet.Field.FlagsAndFragmentOffset + 1] = 0x00;
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out packet));
        Assert.Equal(0, packet.FragmentOffset);
        Assert.True(packet.IsFragment);
    }

    [Fact]
    public void Setters_write_the_bytes_and_round_trip()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        packet.SourceAddress = Ipv4Address.Parse("10.0.0.1");
        packet.DestinationAddress = Ipv4Address.Parse("192.0.2.1");
        packet.TimeToLive = 63;
        packet.Identification = 0xBEEF;
        packet.TotalLength = 58;
        packet.HeaderChecksum = 0x1234;
        Assert.Equal(Ipv4Address.Parse("10.0.0.1"), packet.SourceAddress);
        Assert.Equal(Ipv4Address.Parse("192.0.2.1"), packet.DestinationAddress);
        Assert.Equal(63, packet.TimeToLive);
        Assert.Equal(0xBEEF, packet.Identification);
        Assert.Equal(58, packet.TotalLength);
        Assert.Equal(0x1234, packet.HeaderChecksum);
        Assert.Equal("0a000001", Convert.ToHexStringLower(bytes, 12, 4));
        Assert.Equal("c0000201", Convert.ToHexStringLower(bytes, 16, 4));
        Assert.Equal(63, bytes[8]);
        Assert.Equal("beef", Convert.ToHexStringLower(bytes, 4, 2));
        Assert.Equal("003a", Convert.ToHexStringLower(bytes, 2, 2));
        Assert.False(packet.IsHeaderChecksumValid);
    }

    [Fact]
    public void UpdateHeaderChecksum_restores_the_original_value()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        packet.HeaderChecksum = 0xFFFF;
        packet.UpdateHeaderChecksum();
        Assert.Equal(0x268f, packet.HeaderChecksum);
        Assert.Equal(PacketVectors.TcpSyn, Convert.ToHexStringLower(bytes));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(19)]
    public void Fewer_than_20_bytes_is_truncated(int length)
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn)[..length];
        Assert.Equal(PacketError.Truncated, Ipv4Packet.TryParse(bytes, out _));
        Assert.Equal(PacketError.Truncated, Ipv4Packet.TryParseEmbedded(bytes, out _));
    }

    [Fact]
    public void Fewer_bytes_than_the_total_length_is_truncated()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn)[..59];
        Assert.Equal(PacketError.Truncated, Ipv4Packet.TryParse(bytes, out Ipv4Packet packet));
        Assert.True(packet.Bytes.IsEmpty);
    }

    [Fact]
    public void Fewer_bytes_than_the_header_length_is_truncated()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn)[..23];
        bytes[0] = 0x46;
        Assert.Equal(PacketError.Truncated, Ipv4Packet.TryParse(bytes, out _));
        Assert.Equal(PacketError.Truncated, Ipv4Packet.TryParseEmbedded(bytes, out _));
    }

    [Theory]
    [InlineData(0x65)]
    [InlineData(0x05)]
    [InlineData(0x55)]
    public void A_version_other_than_4_is_refused(byte versionAndLength)
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn);
        bytes[0] = versionAndLength;
        Assert.Equal(PacketError.BadVersion, Ipv4Packet.TryParse(bytes, out _));
        Assert.Equal(PacketError.BadVersion, Ipv4Packet.TryParseEmbedded(bytes, out _));
    }

    [Theory]
    [InlineData(0x40)]
    [InlineData(0x44)]
    public void A_header_length_below_5_words_is_refused(byte versionAndLength)
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn);
        bytes[0] = versionAndLength;
        Assert.Equal(PacketError.BadHeaderLength, Ipv4Packet.TryParse(bytes, out _));
        Assert.Equal(PacketError.BadHeaderLength, Ipv4Packet.TryParseEmbedded(bytes, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(19)]
    public void A_total_length_below_the_header_length_is_refused(int totalLength)
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.TcpSyn);
        bytes[2] = 0;
        bytes[3] = (byte)totalLength;
        Assert.Equal(PacketError.BadTotalLength, Ipv4Packet.TryParse(bytes, out _));
        Assert.Equal(PacketError.BadTotalLength, Ipv4Packet.TryParseEmbedded(bytes, out _));
    }

    [Fact]
    public void An_embedded_datagram_may_be_shorter_than_its_total_length()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.IcmpPortUnreachable);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet outer));
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(outer.Payload, out IcmpMessage icmp));
        Span<byte> quoted = icmp.Payload;

        Assert.Equal(PacketError.Truncated, Ipv4Packet.TryParse(quoted, out _));
        Assert.Equal(PacketError.None, Ipv4Packet.TryParseEmbedded(quoted, out Ipv4Packet inner));
        Assert.Equal(57, inner.TotalLength);
        Assert.Equal(28, inner.Bytes.Length);
        Assert.Equal(8, inner.Payload.Length);
        Assert.Equal(IpProtocol.Udp, inner.Protocol);
        Assert.Equal(Ipv4Address.Parse("192.168.1.100"), inner.SourceAddress);
        Assert.Equal(Ipv4Address.Parse("8.8.8.8"), inner.DestinationAddress);
        Assert.True(inner.IsHeaderChecksumValid);
    }

    [Fact]
    public void An_embedded_datagram_is_cut_at_its_total_length_when_all_present()
    {
        byte[] bytes = [.. PacketVectors.Bytes(PacketVectors.UdpDnsQuery), 0xAA, 0xBB];
        Assert.Equal(PacketError.None, Ipv4Packet.TryParseEmbedded(bytes, out Ipv4Packet packet));
        Assert.Equal(57, packet.Bytes.Length);
    }

    [Fact]
    public void Field_offsets_match_rfc_791()
    {
        Assert.Equal(0, Ipv4Packet.Field.Version);
        Assert.Equal(2, Ipv4Packet.Field.TotalLength);
        Assert.Equal(4, Ipv4Packet.Field.Identification);
        Assert.Equal(6, Ipv4Packet.Field.FlagsAndFragmentOffset);
        Assert.Equal(8, Ipv4Packet.Field.TimeToLive);
        Assert.Equal(9, Ipv4Packet.Field.Protocol);
        Assert.Equal(10, Ipv4Packet.Field.HeaderChecksum);
        Assert.Equal(12, Ipv4Packet.Field.SourceAddress);
        Assert.Equal(16, Ipv4Packet.Field.DestinationAddress);
    }
}
