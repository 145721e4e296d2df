using NatGate.Core.Packets;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class HopLimitTests
{
    [Theory]
    [InlineData(1, 2)]
    [InlineData(63, 64)]
    [InlineData(254, 255)]
    [InlineData(255, 255)]
    public void One_hop_is_given_back_with_a_valid_header_checksum(byte before, byte after)
    {
        var buffer = new byte[128];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Lab.InsideA, 1, Lab.Remote, 2, "x"u8, timeToLive: before);
        HopLimit.RestoreOne(buffer.AsSpan(0, length));
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet ip));
        Assert.Equal(after, ip.TimeToLive);
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.True(TransportChecksum.IsValid(ip));
    }

    [Fact]
    public void Non_ipv4_bytes_are_left_alone()
    {
        byte[] bytes = [0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
        byte[] copy = (byte[])bytes.Clone();
        HopLimit.RestoreOne(bytes);
        Assert.Equal(copy, bytes);
    }
}
