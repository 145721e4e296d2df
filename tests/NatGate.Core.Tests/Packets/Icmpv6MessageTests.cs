using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class Icmpv6MessageTests
{
    [Fact]
    public void Parses_an_echo_request()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Icmpv6Echo);
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(bytes, out Ipv6Packet packet));
        Assert.Equal(PacketError.None, Icmpv6Message.TryParse(packet.Transport, out Icmpv6Message message));
        Assert.Equal(12, message.Bytes.Length);
        Assert.Equal(Icmpv6Type.EchoRequest, message.Type);
        Assert.Equal(0, message.Code);
        Assert.Equal(0x3338, message.Checksum);
        Assert.Equal(0x1234, message.Identifier);
        Assert.Equal(7, message.SequenceNumber);
        Assert.Equal("ping"u8.ToArray(), message.Payload.ToArray());
        Assert.True(message.IsEcho);
        Assert.False(message.IsError);
        Assert.True(TransportChecksum.IsValidIpv6(packet.SourceAddress, packet.DestinationAddress, IpProtocol.Icmpv6, message.Bytes));
        Assert.Equal(0x3338, TransportChecksum.ComputeIpv6(packet.SourceAddress, packet.DestinationAddress, IpProtocol.Icmpv6, message.Bytes));
    }

    [Fact]
    public void Setters_round_trip()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.Icmpv6Echo)[40..];
        Assert.Equal(PacketError.None, Icmpv6Message.TryParse(bytes, out Icmpv6Message message));
        message.Identifier = 0x4321;
        message.Checksum = 0xFFFF;
        Assert.Equal(0x4321, message.Identifier);
        Assert.Equal(0xFFFF, message.Checksum);
        Assert.Equal("8000ffff4321", Convert.ToHexStringLower(bytes, 0, 6));
    }

    [Theory]
    [InlineData(Icmpv6Type.DestinationUnreachable, true, false)]
    [InlineData(Icmpv6Type.PacketTooBig, true, false)]
    [InlineData(Icmpv6Type.TimeExceeded, true, false)]
    [InlineData(Icmpv6Type.ParameterProblem, true, false)]
    [InlineData(127, true, false)]
    [InlineData(Icmpv6Type.EchoRequest, false, true)]
    [InlineData(Icmpv6Type.EchoReply, false, true)]
    [InlineData(135, false, false)]
    public void Classifies_errors_and_echoes(byte type, bool isError, bool isEcho)
    {
        byte[] bytes = new byte[8];
        bytes[0] = type;
        Assert.Equal(PacketError.None, Icmpv6Message.TryParse(bytes, out Icmpv6Message message));
        Assert.Equal(isError, message.IsError);
        Assert.Equal(isEcho, message.IsEcho);
    }

    [Fact]
    public void Fewer_than_8_bytes_is_truncated()
    {
        Assert.Equal(PacketError.Truncated, Icmpv6Message.TryParse(new byte[7], out _));
    }
}
