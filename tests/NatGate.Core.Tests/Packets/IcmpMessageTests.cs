using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class IcmpMessageTests
{
    [Fact]
    public void Parses_an_echo_request()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.IcmpEcho)[20..];
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(bytes, out IcmpMessage message));
        Assert.Equal(64, message.Bytes.Length);
        Assert.Equal(IcmpType.Echo, message.Type);
        Assert.Equal(0, message.Code);
        Assert.Equal(0x2cf6, message.Checksum);
        Assert.Equal(0x1234, message.Identifier);
        Assert.Equal(1, message.SequenceNumber);
        Assert.Equal(56, message.Payload.Length);
        Assert.Equal(0x10, message.Payload[0]);
        Assert.True(message.IsQuery);
        Assert.True(message.IsQueryRequest);
        Assert.False(message.IsError);
    }

    [Fact]
    public void Parses_a_port_unreachable_and_the_udp_datagram_it_quotes()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.IcmpPortUnreachable)[20..];
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(bytes, out IcmpMessage message));
        Assert.Equal(IcmpType.DestinationUnreachable, message.Type);
        Assert.Equal(3, message.Code);
        Assert.Equal(0x4a8b, message.Checksum);
        Assert.Equal(0u, message.RestOfHeader);
        Assert.True(message.IsError);
        Assert.False(message.IsQuery);
        Assert.False(message.IsQueryRequest);

        Assert.Equal(PacketError.None, Ipv4Packet.TryParseEmbedded(message.Payload, out Ipv4Packet quoted));
        Assert.Equal(IpProtocol.Udp, quoted.Protocol);
        // The quoted UDP header is whole, but its length field (37) exceeds what is quoted.
        Assert.Equal(PacketError.BadTotalLength, UdpDatagram.TryParse(quoted.Payload, out _));
        Assert.Equal("cf0800350025e30e", Convert.ToHexStringLower(quoted.Payload));
    }

    [Fact]
    public void Setters_write_the_bytes_and_round_trip()
    {
        byte[] bytes = PacketVectors.Bytes(PacketVectors.IcmpEcho)[20..];
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(bytes, out IcmpMessage message));
        message.Identifier = 0xBEEF;
        message.SequenceNumber = 9;
        message.Checksum = 0x0102;
        Assert.Equal(0xBEEF, message.Identifier);
        Assert.Equal(9, message.SequenceNumber);
        Assert.Equal(0x0102, message.Checksum);
        Assert.Equal("08000102beef0009", Convert.ToHexStringLower(bytes, 0, 8));
    }

    [Fact]
    public void Fewer_than_8_bytes_is_truncated()
    {
        Assert.Equal(PacketError.Truncated, IcmpMessage.TryParse(new byte[7], out _));
        Assert.Equal(PacketError.None, IcmpMessage.TryParse(new byte[8], out _));
    }

    [Fact]
    public void Classifies_every_type()
    {
        byte[] queries = [0, 8, 13, 14, 15, 16, 17, 18];
        byte[] requests = [8, 13, 15, 17];
        byte[] errors = [3, 4, 5, 11, 12];
        for (int type = 0; type <= 255; type++)
        {
            Assert.Equal(queries.Contains((byte)type), IcmpMessage.IsQueryType((byte)type));
            Assert.Equal(requests.Contains((byte)type), IcmpMessage.IsQueryRequestType((byte)type));
            Assert.Equal(errors.Contains((byte)type), IcmpMessage.IsErrorType((byte)type));
        }
    }
}
