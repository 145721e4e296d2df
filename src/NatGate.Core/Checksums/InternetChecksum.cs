using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NatGate.Core.Checksums;

/// <summary>
/// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
/// Sums are kept in one's-complement arithmetic; a "sum" here is the folded 16-bit
/// one's-complement sum before the final complement, a "checksum" is its complement,
/// as it is stored in a header.
/// </summary>
[SkipLocalsInit]
public static class InternetChecksum
{
    /// <summary>One's-complement sum of <paramref name="data"/> (big-endian 16-bit words, odd byte padded), folded, plus <paramref name="initial"/>.</summary>
    public static ushort Sum(ReadOnlySpan<byte> data, uint initial = 0)
    {
        // 64-bit accumulation of 32-bit big-endian words: no carry can be lost for
        // any buffer shorter than 16 GiB, and folding is done once at the end.
        ulong accumulator = initial;
        ref byte start = ref MemoryMarshal.GetReference(data);
        int length = data.Length;
        int offset = 0;
        while (length - offset >= 32)
        {
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset)));
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset + 4)));
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset + 8)));
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset + 12)));
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset + 16)));
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset + 20)));
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset + 24)));
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset + 28)));
            offset += 32;
        }
        while (length - offset >= 4)
        {
            accumulator += BinaryPrimitives.ReverseEndianness(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref start, offset)));
            offset += 4;
        }
        if (length - offset >= 2)
        {
            accumulator += (uint)(Unsafe.Add(ref start, offset) << 8 | Unsafe.Add(ref start, offset + 1));
            offset += 2;
        }
        if (offset < length)
        {
            accumulator += (uint)Unsafe.Add(ref start, offset) << 8;
        }
        return Fold(accumulator);
    }

    /// <summary>The checksum to store in a header: the complement of <see cref="Sum"/>.</summary>
    public static ushort Compute(ReadOnlySpan<byte> data, uint initial = 0) => (ushort)~Sum(data, initial);

    /// <summary>Folds a wide one's-complement accumulator to 16 bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Fold(ulong accumulator)
    {
        accumulator = (accumulator & 0xFFFF_FFFF) + (accumulator >> 32);
        accumulator = (accumulator & 0xFFFF) + (accumulator >> 16);
        accumulator = (accumulator & 0xFFFF) + (accumulator >> 16);
        accumulator = (accumulator & 0xFFFF) + (accumulator >> 16);
        return (ushort)accumulator;
    }

    /// <summary>One's-complement addition of two 16-bit values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Add(ushort left, ushort right)
    {
        uint sum = (uint)left + right;
        return (ushort)((sum & 0xFFFF) + (sum >> 16));
    }

    /// <summary>The sum of the IPv4 pseudo-header (RFC 793, RFC 768): addresses, protocol and transport length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort PseudoHeaderSum(Ipv4Address sourceAddress, Ipv4Address destinationAddress, IpProtocol protocol, int transportLength)
    {
        ulong accumulator = (ulong)(sourceAddress.Value >> 16) + (sourceAddress.Value & 0xFFFF)
            + (destinationAddress.Value >> 16) + (destinationAddress.Value & 0xFFFF)
            + (byte)protocol + (uint)transportLength;
        return Fold(accumulator);
    }

    /// <summary>
    /// The one's-complement difference that turns a sum over <paramref name="oldValue"/>
    /// into a sum over <paramref name="newValue"/> (RFC 1624: ~m + m').
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Delta(ushort oldValue, ushort newValue) => Add((ushort)~oldValue, newValue);

    /// <summary>The delta for a 32-bit field (an IPv4 address) changing from <paramref name="oldValue"/> to <paramref name="newValue"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Delta(uint oldValue, uint newValue)
        => Add(Delta((ushort)(oldValue >> 16), (ushort)(newValue >> 16)), Delta((ushort)oldValue, (ushort)newValue));

    /// <summary>The delta for an IPv4 address changing from <paramref name="oldValue"/> to <paramref name="newValue"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Delta(Ipv4Address oldValue, Ipv4Address newValue) => Delta(oldValue.Value, newValue.Value);

    /// <summary>The delta for a 128-bit field (an IPv6 address) changing: the eight 16-bit words' deltas summed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Delta(Ipv6Address oldValue, Ipv6Address newValue)
    {
        // ~m + m' over each half is the same sum as over each word (one's-complement addition
        // is associative), so two 64-bit halves fold as the eight words would.
        ulong accumulator = SumWords(~oldValue.Value) + SumWords(newValue.Value);
        return Fold(accumulator);
    }

    /// <summary>
    /// The sum of the IPv6 pseudo-header (RFC 8200 section 8.1): both addresses, the upper-layer
    /// length and the next header, from the addresses as numbers (no bytes to read).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort PseudoHeaderSum(Ipv6Address source, Ipv6Address destination, IpProtocol nextHeader, int transportLength)
        => Fold(SumWords(source.Value) + SumWords(destination.Value) + (uint)transportLength + (byte)nextHeader);

    /// <summary>The eight 16-bit words of a 128-bit number, added (at most 8 x 0xFFFF: no overflow).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong SumWords(UInt128 value)
    {
        ulong high = (ulong)(value >> 64);
        ulong low = (ulong)value;
        return (high >> 48) + ((high >> 32) & 0xFFFF) + ((high >> 16) & 0xFFFF) + (high & 0xFFFF)
            + (low >> 48) + ((low >> 32) & 0xFFFF) + ((low >> 16) & 0xFFFF) + (low & 0xFFFF);
    }

    /// <summary>The delta that undoes <paramref name="delta"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Negate(ushort delta) => (ushort)~delta;

    /// <summary>
    /// Applies a precomputed delta to a stored checksum: HC' = ~(~HC + delta) (RFC 1624 eqn. 3).
    /// Eqn. 3 never yields 0x0000 from a non-zero sum over data with a non-zero word, which is
    /// the corner case RFC 1624 section 3 fixes over RFC 1141.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ApplyDelta(ushort checksum, ushort delta) => (ushort)~Add((ushort)~checksum, delta);

    /// <summary>Updates a stored checksum for one 16-bit field change (RFC 1624 eqn. 3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Update(ushort checksum, ushort oldValue, ushort newValue) => ApplyDelta(checksum, Delta(oldValue, newValue));

    /// <summary>Updates a stored checksum for one 32-bit field change.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Update(ushort checksum, uint oldValue, uint newValue) => ApplyDelta(checksum, Delta(oldValue, newValue));

    /// <summary>Updates a stored checksum for an IPv4 address change.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort Update(ushort checksum, Ipv4Address oldValue, Ipv4Address newValue) => ApplyDelta(checksum, Delta(oldValue, newValue));

    /// <summary>
    /// Applies a delta to a UDP-over-IPv4 checksum: zero means "no checksum" and stays zero
    /// (RFC 768); a computed zero is sent as 0xFFFF.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ApplyDeltaUdp(ushort checksum, ushort delta)
    {
        if (checksum == 0)
        {
            return 0;
        }
        ushort updated = ApplyDelta(checksum, delta);
        return updated == 0 ? (ushort)0xFFFF : updated;
    }

    /// <summary>Adds a delta to a partial (pseudo-header only, not complemented) sum, as stored under NEEDS_CSUM offload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort ApplyDeltaToPartialSum(ushort partialSum, ushort delta) => Add(partialSum, delta);
}
