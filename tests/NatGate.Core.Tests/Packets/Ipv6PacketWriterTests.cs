using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class Ipv6PacketWriterTests
{
    private static readonly Ipv6Address Source = Ipv6Address.Parse("2001:db8::1", null);
    private static readonly Ipv6Address Destination = Ipv6Address.Parse("fd00:77::2", null);

    private static bool ChecksumHolds(ReadOnlySpan<byte> packet)
    {
        Span<byte> bytes = packet.ToArray();
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet ip));
        return TransportChecksum.IsValidIpv6(ip.SourceAddress, ip.DestinationAddress, ip.TransportProtocol, ip.Transport);
    }

    [Fact]
    public void A_udp_datagram_has_the_fixed_header_and_a_checksum_that_holds()
    {
        var buffer = new byte[100];
        int length = Ipv6PacketWriter.WriteUdp(buffer, Source, 1234, Destination, 53, "hi"u8, hopLimit: 7);
        Assert.Equal(50, length);
        Assert.Equal(
            "60000000000A1107" + "20010DB8000000000000000000000001" + "FD000077000000000000000000000002" + "04D20035000A",
            Convert.ToHexString(buffer, 0, 46));
        Assert.True(ChecksumHolds(buffer.AsSpan(0, length)));
    }

    [Fact]
    public void An_error_quotes_at_most_what_keeps_it_within_1280_bytes_and_no_padding()
    {
        var invoking = new byte[1500];
        int invokingLength = Ipv6PacketWriter.WriteUdp(invoking, Destination, 1, Source, 2, new byte[1400]);
        var buffer = new byte[2048];
        int length = Ipv6PacketWriter.WriteIcmpv6Error(buffer, Source, Destination, Icmpv6Type.PacketTooBig, 0, 1280, invoking.AsSpan(0, invokingLength));
        Assert.Equal(1280, length);
        Assert.Equal(invoking.AsSpan(0, 1232).ToArray(), buffer.AsSpan(48, 1232).ToArray());
        Assert.Equal("0200", Convert.ToHexString(buffer, 40, 2)); // Packet Too Big, code 0
        Assert.Equal("00000500", Convert.ToHexString(buffer, 44, 4)); // its MTU, 1280
        Assert.True(ChecksumHolds(buffer.AsSpan(0, length)));

        // A short packet with link padding after it: the padding is not quoted.
        int shortLength = Ipv6PacketWriter.WriteUdp(invoking, Destination, 1, Source, 2, "x"u8);
        length = Ipv6PacketWriter.WriteIcmpv6Error(buffer, Source, Destination, Icmpv6Type.DestinationUnreachable, 4, 0, invoking.AsSpan(0, shortLength + 10));
        Assert.Equal(48 + shortLength, length);
    }

    [Fact]
    public void An_error_may_quote_the_packet_at_the_start_of_its_own_buffer()
    {
        var buffer = new byte[2048];
        int invokingLength = Ipv6PacketWriter.WriteUdp(buffer, Destination, 1, Source, 2, "abcdefgh"u8);
        byte[] invoking = buffer[..invokingLength];
        int length = Ipv6PacketWriter.WriteIcmpv6Error(buffer, Source, Destination, Icmpv6Type.DestinationUnreachable, 1, 0, buffer.AsSpan(0, invokingLength));
        Assert.Equal(invoking, buffer[48..length]);
        Assert.True(ChecksumHolds(buffer.AsSpan(0, length)));
    }

    [Fact]
    public void A_fragment_carries_a_fragment_header_with_offset_flag_and_identification()
    {
        var buffer = new byte[100];
        int length = Ipv6PacketWriter.WriteFragment(buffer, Source, Destination, IpProtocol.Udp, 0xDEADBEEF, 24, moreFragments: true, "12345678"u8);
        Assert.Equal(56, length);
        Assert.Equal("0010" + "2C", Convert.ToHexString(buffer, 4, 3));
        Assert.Equal("11000019DEADBEEF", Convert.ToHexString(buffer, 40, 8));
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(buffer.AsSpan(0, length), out Ipv6Packet ip));
        Assert.Equal((24, true, 0xDEADBEEFu, IpProtocol.Udp), (ip.FragmentOffset, ip.MoreFragments, ip.FragmentIdentification, ip.FragmentNextHeader));
        Assert.Throws<ArgumentException>(() => Ipv6PacketWriter.WriteFragment(buffer, Source, Destination, IpProtocol.Udp, 1, 12, false, "x"u8));
    }

    [Fact]
    public void A_quoted_packet_cut_short_parses_with_its_extension_headers_and_a_whole_one_is_required_otherwise()
    {
        var buffer = new byte[200];
        int length = Ipv6PacketWriter.WriteFragment(buffer, Source, Destination, IpProtocol.Udp, 1, 0, moreFragments: true, new byte[64]);
        Span<byte> cut = buffer.AsSpan(0, 40 + 8 + 8);
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParse(cut, out _));
        Assert.Equal(PacketError.None, Ipv6Packet.TryParseEmbedded(cut, out Ipv6Packet quoted));
        Assert.Equal((IpProtocol.Udp, 48, 8), (quoted.TransportProtocol, quoted.TransportOffset, quoted.Transport.Length));
        Assert.Equal(PacketError.Truncated, Ipv6Packet.TryParseEmbedded(buffer.AsSpan(0, 44), out _)); // the Fragment header itself cut
        Assert.Equal(40 + 8 + 64, length);
    }
}
