using System.Buffers.Binary;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// Splits an IPv6 packet whose Fragment header follows the fixed header at once (what
/// <see cref="Ipv4ToIpv6Translator"/> writes for an IPv4 fragment or a packet without DF) into
/// fragments of at most <see cref="MinimumMtu"/> bytes: RFC 7915 4.1 asks that such a packet be
/// fragmented so each IPv6 packet fits the minimum IPv6 MTU, since no IPv6 router will do it
/// (RFC 8200 5). Each piece keeps the identification; its offset is the original's plus where the
/// piece starts, and every piece but the datagram's last has M set. Data other than the last
/// piece's is a multiple of 8 bytes (RFC 8200 4.5). The transport checksum, in the first piece,
/// covers the whole datagram and does not change.
/// </summary>
public static class Ipv6FragmentSplitter
{
    /// <summary>The minimum IPv6 MTU (RFC 8200 5), the length no piece exceeds.</summary>
    public const int MinimumMtu = 1280;

    /// <summary>The fixed header and the Fragment header, repeated in every piece.</summary>
    public const int PrefixLength = Ipv6Packet.HeaderLength + FragmentHeaderLength;

    /// <summary>Data bytes in each piece but the last: 1232 (RFC 7915 4.1's example).</summary>
    public const int DataPerPiece = (MinimumMtu - PrefixLength) & ~7;

    private const int FragmentHeaderLength = 8;

    /// <summary>Whether <paramref name="packet"/> must be split: longer than the minimum MTU, with a Fragment header right after the fixed one.</summary>
    public static bool NeedsSplitting(ReadOnlySpan<byte> packet)
        => packet.Length > MinimumMtu && packet[0] >> 4 == 6 && packet[Ipv6Packet.Field.NextHeader] == (byte)IpProtocol.Fragment;

    /// <summary>How many pieces <paramref name="packetLength"/> bytes make.</summary>
    public static int PieceCount(int packetLength)
        => packetLength <= MinimumMtu ? 1 : (packetLength - PrefixLength + DataPerPiece - 1) / DataPerPiece;

    /// <summary>Writes piece <paramref name="index"/> of <paramref name="packet"/> into <paramref name="destination"/>; returns its length.</summary>
    public static int WritePiece(ReadOnlySpan<byte> packet, int index, Span<byte> destination)
    {
        int totalData = packet.Length - PrefixLength;
        int start = index * DataPerPiece;
        int count = Math.Min(DataPerPiece, totalData - start);
        packet[..PrefixLength].CopyTo(destination);
        packet.Slice(PrefixLength + start, count).CopyTo(destination[PrefixLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[Ipv6Packet.Field.PayloadLength..], (ushort)(FragmentHeaderLength + count));
        Span<byte> fragment = destination[Ipv6Packet.HeaderLength..];
        ushort offsetAndFlags = BinaryPrimitives.ReadUInt16BigEndian(fragment[2..]);
        bool more = (offsetAndFlags & 1) != 0 || start + count < totalData;
        BinaryPrimitives.WriteUInt16BigEndian(fragment[2..], (ushort)(((offsetAndFlags & 0xFFF8) + start) | (more ? 1 : 0)));
        return PrefixLength + count;
    }
}
