using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Translation.Npt;

/// <summary>IPv6 packets built as bytes with correct checksums (RFC 8200 8.1), for the NPTv6 tests.</summary>
internal static class NptPackets
{
    public const ushort InsidePort = 40000;
    public const ushort RemotePort = 443;

    public static Ipv6Address Address(string text) => Ipv6Address.Parse(text, null);

    public static byte[] Udp(Ipv6Address source, Ipv6Address destination, ushort sourcePort = InsidePort, ushort destinationPort = RemotePort)
    {
        byte[] udp = [0, 0, 0, 0, 0, 0, 0, 0, .. "a datagram through NPTv6"u8];
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(0), sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        return Packet(source, destination, IpProtocol.Udp, udp, checksumOffset: 6);
    }

    public static byte[] Tcp(Ipv6Address source, Ipv6Address destination, ushort sourcePort = InsidePort, ushort destinationPort = RemotePort)
    {
        byte[] tcp = [.. new byte[20], .. "GET / HTTP/1.1\r\n"u8];
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(0), sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), 0x1234_5678);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), 0x9abc_def0);
        tcp[12] = 5 << 4;
        tcp[13] = 0x18; // PSH, ACK
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(14), 64240);
        return Packet(source, destination, IpProtocol.Tcp, tcp, checksumOffset: 16);
    }

    public static byte[] EchoRequest(Ipv6Address source, Ipv6Address destination)
    {
        byte[] echo = [Icmpv6Type.EchoRequest, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, .. "ping"u8];
        return Packet(source, destination, IpProtocol.Icmpv6, echo, checksumOffset: 2);
    }

    /// <summary>An ICMPv6 error (RFC 4443 3) quoting at most <paramref name="quoteLimit"/> bytes of <paramref name="invoking"/>.</summary>
    public static byte[] Error(Ipv6Address source, Ipv6Address destination, byte type, byte code, uint parameter, byte[] invoking, int quoteLimit = 1232)
    {
        byte[] message = [type, code, 0, 0, 0, 0, 0, 0, .. invoking.AsSpan(0, Math.Min(quoteLimit, invoking.Length))];
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(4), parameter);
        return Packet(source, destination, IpProtocol.Icmpv6, message, checksumOffset: 2);
    }

    /// <summary>A neighbour solicitation (RFC 4861 4.3) for <paramref name="target"/>, sent to its solicited-node group.</summary>
    public static byte[] NeighbourSolicitation(Ipv6Address source, Ipv6Address target)
    {
        byte[] solicitation = [135, 0, 0, 0, 0, 0, 0, 0, .. new byte[16]];
        target.Write(solicitation.AsSpan(8));
        byte[] solicitedNode = Convert.FromHexString("ff0200000000000000000001ff000000");
        Span<byte> targetBytes = stackalloc byte[16];
        target.Write(targetBytes);
        targetBytes[13..].CopyTo(solicitedNode.AsSpan(13));
        byte[] packet = Packet(source, Ipv6Address.Read(solicitedNode), IpProtocol.Icmpv6, solicitation, checksumOffset: 2);
        packet[Ipv6Packet.Field.HopLimit] = 255;
        return packet;
    }

    /// <summary>A fixed header (hop limit 64) over <paramref name="transport"/>, whose checksum is filled in.</summary>
    public static byte[] Packet(Ipv6Address source, Ipv6Address destination, IpProtocol nextHeader, byte[] transport, int checksumOffset)
    {
        byte[] packet = new byte[Ipv6Packet.HeaderLength + transport.Length];
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(Ipv6Packet.Field.PayloadLength), (ushort)transport.Length);
        packet[Ipv6Packet.Field.NextHeader] = (byte)nextHeader;
        packet[Ipv6Packet.Field.HopLimit] = 64;
        source.Write(packet.AsSpan(Ipv6Packet.Field.SourceAddress));
        destination.Write(packet.AsSpan(Ipv6Packet.Field.DestinationAddress));
        transport.CopyTo(packet.AsSpan(Ipv6Packet.HeaderLength));
        Span<byte> segment = packet.AsSpan(Ipv6Packet.HeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(segment[checksumOffset..],
            TransportChecksum.ComputeIpv6(packet.AsSpan(Ipv6Packet.Field.SourceAddress, 16), packet.AsSpan(Ipv6Packet.Field.DestinationAddress, 16), nextHeader, segment));
        return packet;
    }

    /// <summary>Whether the packet's transport (TCP, UDP or ICMPv6) checksum holds, recomputed over the current pseudo-header.</summary>
    public static bool ChecksumIsValid(byte[] packet)
    {
        Assert.Equal(PacketError.None, Ipv6Packet.TryParse(packet, out Ipv6Packet ipv6));
        return TransportChecksum.IsValidIpv6(ipv6.SourceAddress, ipv6.DestinationAddress, ipv6.TransportProtocol, ipv6.Transport);
    }

    /// <summary>The packet an ICMPv6 error quotes (after the 40-byte header and the 8-byte ICMPv6 header).</summary>
    public static byte[] Quote(byte[] error) => error[(Ipv6Packet.HeaderLength + Icmpv6Message.HeaderLength)..];

    public static Ipv6Address Source(ReadOnlySpan<byte> packet) => Ipv6Address.Read(packet[Ipv6Packet.Field.SourceAddress..]);

    public static Ipv6Address Destination(ReadOnlySpan<byte> packet) => Ipv6Address.Read(packet[Ipv6Packet.Field.DestinationAddress..]);
}
