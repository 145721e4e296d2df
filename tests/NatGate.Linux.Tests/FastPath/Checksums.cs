using System.Buffers.Binary;

namespace NatGate.Linux.Tests.FastPath;

/// <summary>
/// Ones' complement arithmetic for the tests, written apart from the engine's so that a shared
/// mistake cannot hide: the deltas an entry carries (RFC 1624), and a captured frame's checksums.
/// </summary>
internal static class Checksums
{
    /// <summary>The status of a captured frame's transport checksum.</summary>
    public enum Verdict
    {
        /// <summary>The whole checksum verifies (RFC 1071).</summary>
        Complete,

        /// <summary>The field holds the pseudo-header's sum alone, as a CHECKSUM_PARTIAL packet does before the NIC (or the kernel) completes it.</summary>
        PartialPseudoHeader,

        /// <summary>Neither: the rewrite broke it.</summary>
        Wrong,
    }

    /// <summary>RFC 1624 eqn. 3's difference: the sum of ~old and new over the 16-bit big-endian words, folded.</summary>
    public static ushort Delta(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after)
    {
        uint sum = 0;
        for (int offset = 0; offset < before.Length; offset += 2)
        {
            sum += (ushort)~BinaryPrimitives.ReadUInt16BigEndian(before[offset..]);
        }
        for (int offset = 0; offset < after.Length; offset += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(after[offset..]);
        }
        return Fold(sum);
    }

    public static ushort Fold(uint sum)
    {
        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }

    public static uint Sum(ReadOnlySpan<byte> bytes, uint sum = 0)
    {
        int offset = 0;
        for (; offset + 1 < bytes.Length; offset += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(bytes[offset..]);
        }
        if (offset < bytes.Length)
        {
            sum += (uint)bytes[offset] << 8;
        }
        return sum;
    }

    /// <summary>Whether an IPv4 header (in an Ethernet frame) checksums to all ones.</summary>
    public static bool Ipv4HeaderVerifies(ReadOnlySpan<byte> frame) => Fold(Sum(frame.Slice(14, 20))) == 0xFFFF;

    /// <summary>The transport checksum of the TCP, UDP, ICMP or ICMPv6 packet in an Ethernet frame (no IPv4 options, no IPv6 extension headers).</summary>
    public static Verdict Transport(ReadOnlySpan<byte> frame)
    {
        ReadOnlySpan<byte> ip = frame[14..];
        bool ipv4 = ip[0] >> 4 == 4;
        byte protocol = ipv4 ? ip[9] : ip[6];
        int headerLength = ipv4 ? 20 : 40;
        int totalLength = ipv4 ? BinaryPrimitives.ReadUInt16BigEndian(ip[2..]) : 40 + BinaryPrimitives.ReadUInt16BigEndian(ip[4..]);
        ReadOnlySpan<byte> transport = ip[headerLength..totalLength];
        if (protocol == 1)
        {
            return Fold(Sum(transport)) == 0xFFFF ? Verdict.Complete : Verdict.Wrong; // ICMP: no pseudo-header (RFC 792)
        }
        // The pseudo-header: RFC 768 and RFC 793 for IPv4, RFC 8200 8.1 for IPv6.
        uint pseudo = ipv4 ? Sum(ip.Slice(12, 8)) : Sum(ip.Slice(8, 32));
        pseudo += protocol + (uint)transport.Length;
        if (Fold(Sum(transport, pseudo)) == 0xFFFF)
        {
            return Verdict.Complete;
        }
        int field = protocol switch { 6 => 16, 17 => 6, _ => 2 };
        return BinaryPrimitives.ReadUInt16BigEndian(transport[field..]) == Fold(pseudo) ? Verdict.PartialPseudoHeader : Verdict.Wrong;
    }
}
