using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class UdpDatagramTests
{
    private static byte[] DnsQuery() => PacketVectors.Bytes(PacketVectors.UdpDnsQuery)[20..];

    [Fact]
    public void Parses_every_field_of_a_dns_query()
    {
        byte[] bytes = DnsQuery();
        Assert.Equal(PacketError.None, UdpDatagram.TryParse(bytes, out UdpDatagram datagram));
        Assert.Equal(37, datagram.Bytes.Length);
        Assert.Equal(53000, datagram.SourcePort);
        Assert.Equal(53, datagram.DestinationPort);
        Assert.Equal(37, datagram.Length);
        Assert.Equal(0xe30e, datagram.Checksum);
        Assert.Equal(29, datagram.Payload.Length);
        Assert.Equal(0xab, datagram.Payload[0]);
    }

    [Fact]
    public void Bytes_past_the_length_field_are_left_out()
    {
        byte[] bytes = [.. DnsQuery(), 0, 0, 0];
        Assert.Equal(PacketError.None, UdpDatagram.TryParse(bytes, out UdpDatagram datagram));
        Assert.Equal(37, datagram.Bytes.Length);
        Assert.Equal(29, datagram.Payload.Length);
    }

    [Fact]
    public void An_empty_datagram_is_8_bytes()
    {
        byte[] bytes = Convert.FromHexString("1234567800080000");
        Assert.Equal(PacketError.None, UdpDatagram.TryParse(bytes, out UdpDatagram datagram));
        Assert.True(datagram.Payload.IsEmpty);
        Assert.Equal(0x1234, datagram.SourcePort);
        Assert.Equal(0x5678, datagram.DestinationPort);
    }

    [Fact]
    public void Setters_write_the_bytes_and_round_trip()
    {
        byte[] bytes = DnsQuery();
        Assert.Equal(PacketError.None, UdpDatagram.TryParse(bytes, out UdpDatagram datagram));
        datagram.SourcePort = 40001;
        datagram.DestinationPort = 5353;
        datagram.Checksum = 0;
        Assert.Equal(40001, datagram.SourcePort);
        Assert.Equal(5353, datagram.DestinationPort);
        Assert.Equal(0, datagram.Checksum);
        Assert.Equal("9c4114e900250000", Convert.ToHexStringLower(bytes, 0, 8));
    }

    [Fact]
    public void Fewer_than_8_bytes_is_truncated()
    {
        Assert.Equal(PacketError.Truncated, UdpDatagram.TryParse(DnsQuery().AsSpan(0, 7), out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(38)]
    [InlineData(65535)]
    public void A_length_below_8_or_past_the_bytes_is_a_bad_total_length(int length)
    {
        byte[] bytes = DnsQuery();
        bytes[4] = (byte)(length >> 8);
        bytes[5] = (byte)length;
        Assert.Equal(PacketError.BadTotalLength, UdpDatagram.TryParse(bytes, out _));
    }
}
