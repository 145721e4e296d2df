using CsCheck;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

/// <summary>No bytes, however wrong, make a parser or a parsed view's getter throw.</summary>
public sealed class PacketParsingPropertyTests
{
    private static readonly string[] Vectors =
    [
        PacketVectors.TcpSyn,
        PacketVectors.UdpDnsQuery,
        PacketVectors.IcmpEcho,
        PacketVectors.IcmpPortUnreachable,
        PacketVectors.Ipv6WithExtensionHeaders,
        PacketVectors.Icmpv6Echo,
    ];

    [Fact]
    public void Random_bytes_never_throw()
    {
        Gen.Byte.Array[0, 200].Sample(bytes => ParseEverything(bytes), iter: 20_000);
    }

    [Fact]
    public void Mutated_valid_packets_never_throw()
    {
        Gen.Select(Gen.Int[0, Vectors.Length - 1], Gen.Select(Gen.Int[0, 127], Gen.Byte).Array[1, 6], Gen.Int[0, 128])
            .Sample((vector, mutations, length) =>
            {
                byte[] bytes = PacketVectors.Bytes(Vectors[vector]);
                foreach ((int position, byte value) in mutations)
                {
                    bytes[position % bytes.Length] = value;
                }
                ParseEverything(bytes);
                ParseEverything(bytes.AsSpan(0, Math.Min(length, bytes.Length)).ToArray());
            }, iter: 20_000);
    }

    [Fact]
    public void Mutated_headers_still_parse_or_give_a_reason()
    {
        // Every vector mutated in its first bytes: whatever TryParse says, it is a defined reason.
        Gen.Select(Gen.Int[0, Vectors.Length - 1], Gen.Int[0, 7], Gen.Byte).Sample((vector, position, value) =>
        {
            byte[] bytes = PacketVectors.Bytes(Vectors[vector]);
            bytes[position] = value;
            Assert.True(Enum.IsDefined(Ipv4Packet.TryParse(bytes, out _)));
            Assert.True(Enum.IsDefined(Ipv6Packet.TryParse(bytes, out _)));
        });
    }

    private static void ParseEverything(byte[] bytes)
    {
        ReadTransports(bytes);
        if (Ipv4Packet.TryParse(bytes, out Ipv4Packet packet) == PacketError.None)
        {
            ReadIpv4(packet);
            _ = TransportChecksum.IsValid(packet);
        }
        if (Ipv4Packet.TryParseEmbedded(bytes, out Ipv4Packet embedded) == PacketError.None)
        {
            ReadIpv4(embedded);
        }
        if (Ipv6Packet.TryParse(bytes, out Ipv6Packet packet6) == PacketError.None)
        {
            ReadIpv6(packet6);
        }
    }

    private static void ReadIpv4(Ipv4Packet packet)
    {
        Assert.True(packet.HeaderLength >= 20 && packet.HeaderLength <= packet.Bytes.Length);
        _ = packet.TotalLength + packet.TypeOfService + packet.Identification + packet.FragmentOffset + packet.TimeToLive + (byte)packet.Protocol
            + packet.HeaderChecksum + packet.Options.Length + packet.Payload.Length;
        _ = (packet.SourceAddress, packet.DestinationAddress);
        _ = packet.DontFragment | packet.MoreFragments | packet.IsFragment | packet.IsHeaderChecksumValid;
        ReadTransports(packet.Payload);
        _ = TransportChecksum.IsValidIpv4(packet.SourceAddress, packet.DestinationAddress, packet.Protocol, packet.Payload);
        _ = TransportChecksum.ComputeIpv4(packet.SourceAddress, packet.DestinationAddress, packet.Protocol, packet.Payload);
        if (IcmpMessage.TryParse(packet.Payload, out IcmpMessage icmp) == PacketError.None
            && Ipv4Packet.TryParseEmbedded(icmp.Payload, out Ipv4Packet quoted) == PacketError.None)
        {
            _ = quoted.TotalLength + quoted.Payload.Length + quoted.Options.Length;
            _ = quoted.SourceAddress;
            ReadTransports(quoted.Payload);
        }
    }

    private static void ReadIpv6(Ipv6Packet packet)
    {
        Assert.True(packet.TransportOffset >= 40 && packet.TransportOffset <= packet.Bytes.Length);
        _ = packet.PayloadLength + (byte)packet.NextHeader + packet.HopLimit + packet.TrafficClass + packet.FlowLabel + (byte)packet.TransportProtocol
            + packet.FragmentOffset + packet.FragmentIdentification + (byte)packet.FragmentNextHeader + packet.Transport.Length
            + packet.SourceAddress.Length + packet.DestinationAddress.Length;
        _ = packet.IsFragment | packet.MoreFragments;
        ReadTransports(packet.Transport);
        _ = TransportChecksum.IsValidIpv6(packet.SourceAddress, packet.DestinationAddress, packet.TransportProtocol, packet.Transport);
        _ = TransportChecksum.ComputeIpv6(packet.SourceAddress, packet.DestinationAddress, packet.TransportProtocol, packet.Transport);
    }

    private static void ReadTransports(Span<byte> bytes)
    {
        if (TcpSegment.TryParse(bytes, out TcpSegment tcp) == PacketError.None)
        {
            _ = tcp.SourcePort + tcp.DestinationPort + tcp.SequenceNumber + tcp.AcknowledgmentNumber + tcp.HeaderLength + (int)tcp.Flags
                + tcp.Window + tcp.Checksum + tcp.UrgentPointer + tcp.Options.Length + tcp.Payload.Length + tcp.Bytes.Length;
        }
        if (UdpDatagram.TryParse(bytes, out UdpDatagram udp) == PacketError.None)
        {
            _ = udp.SourcePort + udp.DestinationPort + udp.Length + udp.Checksum + udp.Payload.Length + udp.Bytes.Length;
        }
        if (IcmpMessage.TryParse(bytes, out IcmpMessage icmp) == PacketError.None)
        {
            _ = icmp.Type + icmp.Code + icmp.Checksum + icmp.Identifier + icmp.SequenceNumber + icmp.RestOfHeader + icmp.Payload.Length;
            _ = icmp.IsQuery | icmp.IsQueryRequest | icmp.IsError;
        }
        if (Icmpv6Message.TryParse(bytes, out Icmpv6Message icmp6) == PacketError.None)
        {
            _ = icmp6.Type + icmp6.Code + icmp6.Checksum + icmp6.Identifier + icmp6.SequenceNumber + icmp6.Payload.Length;
            _ = icmp6.IsError | icmp6.IsEcho;
        }
        _ = TransportChecksum.ComputeIcmp(bytes) + (TransportChecksum.IsValidIcmp(bytes) ? 1 : 0);
    }
}
