using System.Runtime.InteropServices;

namespace NatGate.Linux.FastPath;

/// <summary>
/// struct natgate_prefix_key (natgate_fastpath.h, 24 bytes): an LPM trie key of natgate_prefixes,
/// the direction's byte and then the prefix, so a lookup in one direction never finds the other's
/// entries. The trie's prefix length counts the direction's 8 bits.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FastPathPrefixKey : IEquatable<FastPathPrefixKey>
{
    public const int Size = 24;

    /// <summary>The bits of the direction byte that lead every key.</summary>
    public const int DirectionBits = 8;

    private uint matchedBits;
    private FastPathPrefixDirection direction;
    private FastPathAddress address;
    private byte reserved0;
    private byte reserved1;
    private byte reserved2;

    /// <summary>A key for the IPv6 prefix <paramref name="prefix"/> (16 bytes, network order; bits past <paramref name="prefixLength"/> must be zero).</summary>
    public FastPathPrefixKey(FastPathPrefixDirection direction, ReadOnlySpan<byte> prefix, int prefixLength)
    {
        if (prefix.Length != FastPathAddress.Size)
        {
            throw new ArgumentException($"an NPTv6 prefix is an IPv6 address of 16 bytes, not {prefix.Length}", nameof(prefix));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(prefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 128);
        matchedBits = (uint)(DirectionBits + prefixLength);
        this.direction = direction;
        address = FastPathAddress.From(prefix);
        reserved0 = reserved1 = reserved2 = 0;
    }

    public readonly FastPathPrefixDirection Direction => direction;

    /// <summary>The prefix's length in bits (the trie's prefixlen less the direction's 8).</summary>
    public readonly int PrefixLength => (int)matchedBits - DirectionBits;

    public readonly FastPathAddress Prefix => address;

    public readonly bool Equals(FastPathPrefixKey other) =>
        matchedBits == other.matchedBits && direction == other.direction && address == other.address
        && reserved0 == other.reserved0 && reserved1 == other.reserved1 && reserved2 == other.reserved2;

    public override readonly bool Equals(object? obj) => obj is FastPathPrefixKey other && Equals(other);

    public override readonly int GetHashCode() => HashCode.Combine(matchedBits, direction, address);

    public override readonly string ToString() =>
        $"{(direction == FastPathPrefixDirection.Outbound ? "outbound" : "inbound")} {address.ToAddress(6)}/{PrefixLength.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    public static bool operator ==(FastPathPrefixKey left, FastPathPrefixKey right) => left.Equals(right);

    public static bool operator !=(FastPathPrefixKey left, FastPathPrefixKey right) => !left.Equals(right);
}
