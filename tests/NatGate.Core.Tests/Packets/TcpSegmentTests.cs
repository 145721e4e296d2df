using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class TcpSegmentTests
{
    private static byte[] SynSegment() => PacketVectors.Bytes(PacketVectors.TcpSyn)[20..];

    [Fact]
    public void Parses_every_field_of_a_syn()
    {
        byte[] bytes = SynSegment();
        Assert.Equal(PacketError.None, TcpSegment.TryParse(bytes, out TcpSegment segment));
        Assert.Equal(40, segment.Bytes.Length);
        Assert.Equal(51234, segment.SourcePort);
        Assert.Equal(443, segment.DestinationPort);
        Assert.Equal(0x3ad5e1c4u, segment.SequenceNumber);
        Assert.Equal(0u, segment.AcknowledgmentNumber);
        Assert.Equal(40, segment.HeaderLength);
        Assert.Equal(TcpFlags.Syn, segment.Flags);
        Assert.Equal(64240, segment.Window);
        Assert.Equal(0x9816, segment.Checksum);
        Assert.Equal(0, segment.UrgentPointer);
        Assert.Equal("020405b40402080a0012d6870000000001030307", Convert.ToHexStringLower(segment.Options));
        Assert.True(segment.Payload.IsEmpty);
    }

    [Fact]
    public void Payload_follows_the_header()
    {
        byte[] bytes = [.. SynSegment(), 0xDE, 0xAD];
        Assert.Equal(PacketError.None, TcpSegment.TryParse(bytes, out TcpSegment segment));
        Assert.Equal([0xDE, 0xAD], segment.Payload.ToArray());
    }

    [Fact]
    public void All_flag_bits_map_to_their_names()
    {
        byte[] bytes = SynSegment();
        bytes[TcpSegment.Field.Flags] = 0xFF;
        Assert.Equal(PacketError.None, TcpSegment.TryParse(bytes, out TcpSegment segment));
        Assert.Equal(TcpFlags.Fin | TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Psh | TcpFlags.Ack | TcpFlags.Urg | TcpFlags.Ece | TcpFlags.Cwr, segment.Flags);
        bytes[TcpSegment.Field.Flags] = 0x12;
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, segment.Flags);
    }

    [Fact]
    public void Setters_write_the_bytes_and_round_trip()
    {
        byte[] bytes = SynSegment();
        Assert.Equal(PacketError.None, TcpSegment.TryParse(bytes, out TcpSegment segment));
        segment.SourcePort = 1024;
        segment.DestinationPort = 8443;
        segment.Checksum = 0xABCD;
        Assert.Equal(1024, segment.SourcePort);
        Assert.Equal(8443, segment.DestinationPort);
        Assert.Equal(0xABCD, segment.Checksum);
        Assert.Equal("0400", Convert.ToHexStringLower(bytes, 0, 2));
        Assert.Equal("20fb", Convert.ToHexStringLower(bytes, 2, 2));
        Assert.Equal("abcd", Convert.ToHexStringLower(bytes, 16, 2));
    }

    [Fact]
    public void Fewer_than_20_bytes_is_truncated()
    {
        Assert.Equal(PacketError.Truncated, TcpSegment.TryParse(SynSegment().AsSpan(0, 19), out _));
        Assert.Equal(PacketError.Truncated, TcpSegment.TryParse([], out _));
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x40)]
    public void A_data_offset_below_5_is_a_bad_header_length(byte dataOffset)
    {
        byte[] bytes = SynSegment();
        bytes[TcpSegment.Field.DataOffset] = dataOffset;
        Assert.Equal(PacketError.BadHeaderLength, TcpSegment.TryParse(bytes, out _));
    }

    [Fact]
    public void A_data_offset_past_the_bytes_is_a_bad_header_length()
    {
        Assert.Equal(PacketError.BadHeaderLength, TcpSegment.TryParse(SynSegment().AsSpan(0, 39), out _));
        byte[] bytes = SynSegment();
        bytes[TcpSegment.Field.DataOffset] = 0xF0;
        Assert.Equal(PacketError.BadHeaderLength, TcpSegment.TryParse(bytes, out _));
    }
}
