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

    public static PacketError ParseQuoted(ReadOnlySpan<byte> quote, out NetworkHeader<Ipv4Address> header)
    {
        header = default;
        Span<byte> bytes = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(quote), quote.Length);
        PacketError error = Ipv4Packet.TryParseEmbedded(bytes, out Ipv4Packet ip);
        if (error != PacketError.None)
        {
            return error;
        }
        header = new NetworkHeader<Ipv4Address>(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, ip.HeaderLength, ip.Bytes.Length,
            ip.FragmentOffset, ip.MoreFragments, ip.Identification);
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

    public static bool IsIcmpChecksumValid(Ipv4Address source, Ipv4Address destination, ReadOnlySpan<byte> message) => TransportChecksum.IsValidIcmp(message);

    public static ushort IcmpChecksum(Ipv4Address source, Ipv4Address destination, ReadOnlySpan<byte> message) => TransportChecksum.ComputeIcmp(message);

    public static int WriteProhibited(Span<byte> buffer, int packetLength, Ipv4Address from)
    {
        if (buffer.Length < Ipv4PacketWriter.MaximumIcmpErrorLength || Ipv4Packet.TryParse(buffer[..packetLength], out Ipv4Packet ip) != PacketError.None)
        {
            return 0;
        }
        // The writer's header would overwrite the start of the quote: quote from a copy.
        Span<byte> original = stackalloc byte[Math.Min((int)ip.TotalLength, Ipv4PacketWriter.MaximumIcmpErrorLength - Ipv4Packet.MinimumHeaderLength - IcmpMessage.HeaderLength)];
        ip.Bytes[..original.Length].CopyTo(original);
        return Ipv4PacketWriter.WriteIcmpError(buffer, from, ip.SourceAddress, IcmpType.DestinationUnreachable, 13, original);
    }
}
