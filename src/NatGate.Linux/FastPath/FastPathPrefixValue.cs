using System.Runtime.InteropServices;

namespace NatGate.Linux.FastPath;

/// <summary>
/// struct natgate_prefix_value (natgate_fastpath.h, 40 bytes): what an address matching a
/// natgate_prefixes key becomes, computed once by the engine (RFC 6296 3.1): the translated
/// prefix and its mask, and the checksum-neutral adjustment with the word that takes it.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FastPathPrefixValue : IEquatable<FastPathPrefixValue>
{
    public const int Size = 40;

    /// <summary>natgate_fastpath.h's NATGATE_PREFIX_FIRST_IDENTIFIER_WORD: the first of words 4-7 that is not 0xFFFF (RFC 6296 3.5).</summary>
    public const byte FirstIdentifierWord = 4;

    /// <summary>The word that takes the adjustment up to a /48: bits 48-63 (RFC 6296 3.4).</summary>
    public const byte SubnetWord = 3;

    private FastPathAddress prefix;
    private FastPathAddress mask;
    private ushort adjustment;
    private byte word;
    private byte prefixLength;
    private FastPathPrefixDirection direction;
    private byte reserved0;
    private byte reserved1;
    private byte reserved2;

    /// <param name="prefix">The translated prefix: 16 bytes in network order, bits past <paramref name="prefixLength"/> zero.</param>
    /// <param name="prefixLength">1 to 64.</param>
    /// <param name="adjustment">The ones' complement value added to the adjusted word (host order; kept as the packet's bytes).</param>
    /// <param name="direction">The key's direction, repeated for listings.</param>
    public FastPathPrefixValue(ReadOnlySpan<byte> prefix, int prefixLength, ushort adjustment, FastPathPrefixDirection direction)
    {
        if (prefix.Length != FastPathAddress.Size)
        {
            throw new ArgumentException($"an NPTv6 prefix is an IPv6 address of 16 bytes, not {prefix.Length}", nameof(prefix));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(prefixLength, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLength, 64);
        this.prefix = FastPathAddress.From(prefix);
        Span<byte> ones = mask;
        ones[..(prefixLength / 8)].Fill(0xFF);
        if (prefixLength % 8 != 0)
        {
            ones[prefixLength / 8] = (byte)(0xFF << (8 - (prefixLength % 8)));
        }
        this.adjustment = FastPathFlowKey.ToNetworkOrder(adjustment);
        word = prefixLength <= 48 ? SubnetWord : FirstIdentifierWord;
        this.prefixLength = (byte)prefixLength;
        this.direction = direction;
        reserved0 = reserved1 = reserved2 = 0;
    }

    public readonly FastPathAddress Prefix => prefix;

    public readonly FastPathAddress Mask => mask;

    /// <summary>The adjustment in host order.</summary>
    public readonly ushort Adjustment => FastPathFlowKey.FromNetworkOrder(adjustment);

    /// <summary><see cref="SubnetWord"/> or <see cref="FirstIdentifierWord"/>.</summary>
    public readonly byte AdjustedWord => word;

    public readonly int PrefixLength => prefixLength;

    public readonly FastPathPrefixDirection Direction => direction;

    public readonly bool Equals(FastPathPrefixValue other) =>
        prefix == other.prefix && mask == other.mask && adjustment == other.adjustment && word == other.word
        && prefixLength == other.prefixLength && direction == other.direction
        && reserved0 == other.reserved0 && reserved1 == other.reserved1 && reserved2 == other.reserved2;

    public override readonly bool Equals(object? obj) => obj is FastPathPrefixValue other && Equals(other);

    public override readonly int GetHashCode() => HashCode.Combine(prefix, adjustment, word, prefixLength, direction);

    public override readonly string ToString() =>
        $"{prefix.ToAddress(6)}/{prefixLength.ToString(System.Globalization.CultureInfo.InvariantCulture)} adjustment 0x{Adjustment:X4} at word {word.ToString(System.Globalization.CultureInfo.InvariantCulture)}";

    public static bool operator ==(FastPathPrefixValue left, FastPathPrefixValue right) => left.Equals(right);

    public static bool operator !=(FastPathPrefixValue left, FastPathPrefixValue right) => !left.Equals(right);
}
