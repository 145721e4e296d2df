using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;

namespace NatGate.Core.Packets;

/// <summary>IPv4's packet rules (RFC 791, RFC 792).</summary>
public readonly struct Ipv4Family : IPacketFamily<Ipv4Address>
{
    public static int Version => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PacketError Parse(ReadOnlySpan<byte> packet, out NetworkHeader<Ipv4Address> header)
    {
        header = default;
        // The view takes a writable span; parsing writes nothing.
        Span<byte> bytes = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(packet), packet.Length);
        PacketError error = Ipv4Packet.TryParse(bytes, out Ipv4Packet ip);
        if (error != PacketError.None)
        {
            return error;
        }
        if (!ip.IsHeaderChecksumValid)
        {
            return PacketError.BadChecksum;
        }
        int headerLength = ip.HeaderLength;
        int totalLength = ip.TotalLength;
        ushort flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.FlagsAndFragmentOffset..]);
        header = new NetworkHeader<Ipv4Address>(
            Ipv4Address.Read(packet[Ipv4Packet.Field.SourceAddress..]), Ipv4Address.Read(packet[Ipv4Packet.Field.DestinationAddress..]),
            (IpProtocol)packet[Ipv4Packet.Field.Protocol], headerLength, totalLength,
            (flagsAndOffset & 0x1FFF) * 8, (flagsAndOffset & 0x2000) != 0, BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.Identification..]));
        return PacketError.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteAddresses(Span<byte> packet, Ipv4Address source, Ipv4Address destination, ushort addressDelta)
    {
        source.Write(packet[Ipv4Packet.Field.SourceAddress..]);
        destination.Write(packet[Ipv4Packet.Field.DestinationAddress..]);
        Span<byte> checksum = packet.Slice(Ipv4Packet.Field.HeaderChecksum, 2);
        BinaryPrimitives.WriteUInt16BigEndian(checksum, InternetChecksum.ApplyDelta(BinaryPrimitives.ReadUInt16BigEndian(checksum), addressDelta));
    }

    public static bool IsIcmpError(byte type) => IcmpMessage.IsErrorType(type);

    public static bool IsIcmpQuery(byte type) => IcmpMessage.IsQueryType(type);

    public static bool IsIcmpQueryRequest(byte type) => IcmpMessage.IsQueryRequestType(type);

    public static ushort IcmpChecksumDelta(ushort addressDelta, ushort identifierDelta) => identifierDelta;
}
