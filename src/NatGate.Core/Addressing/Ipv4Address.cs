using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Addressing;

/// <summary>
/// An IPv4 address as one 32-bit number in host order (192.168.0.1 is 0xC0A80001): compared,
/// masked and hashed as a number on the packet path, read from and written to packets in network
/// order. Four bytes, so a flow key of two addresses stays 16 bytes. Text is dotted decimal
/// (RFC 791 style, "a.b.c.d"); leading zeros are refused, since some parsers read "010" as 8.
/// </summary>
public readonly record struct Ipv4Address(uint Value) : ISpanParsable<Ipv4Address>, IFlowAddress<Ipv4Address>
{
    /// <summary>The longest dotted-decimal form, "255.255.255.255".</summary>
    public const int MaximumFormattedLength = 15;

    public const int Size = 4;

    /// <summary>0.0.0.0.</summary>
    public static Ipv4Address Any => default;

    static int IFlowAddress<Ipv4Address>.Size => Size;

    static Packets.IpProtocol IFlowAddress<Ipv4Address>.IcmpProtocol => Packets.IpProtocol.Icmp;

    /// <summary>Both addresses whole, side by side: IPv4 flows hash exactly as before the table was generic.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(Ipv4Address source, Ipv4Address destination) => (ulong)source.Value << 32 | destination.Value;

    /// <summary>The address itself.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Fold(Ipv4Address address) => address.Value;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool IFlowAddress<Ipv4Address>.InPrefix(Ipv4Address address, Ipv4Address network, int length)
        => length == 0 || (address.Value ^ network.Value) >> (32 - length) == 0;

    static Ipv4Address IFlowAddress<Ipv4Address>.Offset(Ipv4Address address, ulong offset) => address + (uint)offset;

    static ulong IFlowAddress<Ipv4Address>.Distance(Ipv4Address earlier, Ipv4Address later) => later - earlier;

    static Ipv4Address IFlowAddress<Ipv4Address>.From(IpAddress address) => address.AsIpv4;

    static IpAddress IFlowAddress<Ipv4Address>.ToIpAddress(Ipv4Address address) => address;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ushort IFlowAddress<Ipv4Address>.ChecksumDelta(Ipv4Address oldValue, Ipv4Address newValue) => Checksums.InternetChecksum.Delta(oldValue, newValue);

    /// <summary>The address in the first 4 bytes of <paramref name="bytes"/> (network order, as in a header).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Ipv4Address Read(ReadOnlySpan<byte> bytes) => new(BinaryPrimitives.ReadUInt32BigEndian(bytes));

    /// <summary>Writes the address into the first 4 bytes of <paramref name="bytes"/> (network order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> bytes) => BinaryPrimitives.WriteUInt32BigEndian(bytes, Value);

    /// <summary>The address <paramref name="offset"/> further on (the n-th address of a range), wrapping past 255.255.255.255.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Ipv4Address operator +(Ipv4Address address, uint offset) => new(unchecked(address.Value + offset));

    /// <summary>The address <paramref name="offset"/> before this one, wrapping below 0.0.0.0.</summary>
    public static Ipv4Address operator -(Ipv4Address address, uint offset) => new(unchecked(address.Value - offset));

    /// <summary>How far <paramref name="later"/> is past <paramref name="earlier"/>.</summary>
    public static uint operator -(Ipv4Address later, Ipv4Address earlier) => unchecked(later.Value - earlier.Value);

    /// <summary>The address with only the bits of <paramref name="mask"/> kept (its network).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Ipv4Address Masked(uint mask) => new(Value & mask);

    /// <summary>Parses "a.b.c.d"; throws <see cref="FormatException"/> on anything else.</summary>
    public static Ipv4Address Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Parse(s.AsSpan());
    }

    /// <summary>Parses "a.b.c.d"; throws <see cref="FormatException"/> on anything else.</summary>
    public static Ipv4Address Parse(ReadOnlySpan<char> s)
        => TryParse(s, out Ipv4Address address)
            ? address
            : throw new FormatException($"'{s}' is not an IPv4 address; write four numbers 0 to 255 separated by dots, such as 192.168.0.1.");

    // The format provider plays no part in dotted decimal: the interface forms are explicit, so
    // callers write Parse(text) without an analyzer asking for a culture.
    static Ipv4Address IParsable<Ipv4Address>.Parse(string s, IFormatProvider? provider) => Parse(s);

    static Ipv4Address ISpanParsable<Ipv4Address>.Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    static bool IParsable<Ipv4Address>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out Ipv4Address result)
        => TryParse(s.AsSpan(), out result);

    static bool ISpanParsable<Ipv4Address>.TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out Ipv4Address result) => TryParse(s, out result);

    /// <summary>
    /// Parses exactly four decimal numbers 0 to 255 separated by dots. Leading zeros are refused,
    /// since some parsers read them as octal ("010" as 8).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> text, out Ipv4Address address)
    {
        address = default;
        uint result = 0;
        int position = 0;
        for (int part = 0; part < 4; part++)
        {
            if (part > 0)
            {
                if (position >= text.Length || text[position] != '.')
                {
                    return false;
                }
                position++;
            }
            int start = position;
            int value = 0;
            while (position < text.Length && char.IsAsciiDigit(text[position]) && position - start < 3)
            {
                value = value * 10 + (text[position] - '0');
                position++;
            }
            int digits = position - start;
            if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0'))
            {
                return false;
            }
            result = result << 8 | (uint)value;
        }
        if (position != text.Length)
        {
            return false;
        }
        address = new Ipv4Address(result);
        return true;
    }

    /// <summary>"a.b.c.d".</summary>
    public override string ToString()
    {
        Span<char> buffer = stackalloc char[MaximumFormattedLength];
        TryFormat(buffer, out int written);
        return new string(buffer[..written]);
    }

    string IFormattable.ToString(string? format, IFormatProvider? formatProvider) => ToString();

    bool ISpanFormattable.TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
        => TryFormat(destination, out charsWritten);

    /// <summary>Writes "a.b.c.d" into <paramref name="destination"/>; false (and nothing written) if it is too short.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten)
    {
        charsWritten = 0;
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            if (shift != 24)
            {
                if (charsWritten >= destination.Length)
                {
                    charsWritten = 0;
                    return false;
                }
                destination[charsWritten++] = '.';
            }
            if (!((byte)(Value >> shift)).TryFormat(destination[charsWritten..], out int written, default, CultureInfo.InvariantCulture))
            {
                charsWritten = 0;
                return false;
            }
            charsWritten += written;
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(Ipv4Address other) => Value == other.Value;

    public override int GetHashCode() => (int)Value;

    public int CompareTo(Ipv4Address other) => Value.CompareTo(other.Value);

    public static bool operator <(Ipv4Address left, Ipv4Address right) => left.Value < right.Value;

    public static bool operator >(Ipv4Address left, Ipv4Address right) => left.Value > right.Value;

    public static bool operator <=(Ipv4Address left, Ipv4Address right) => left.Value <= right.Value;

    public static bool operator >=(Ipv4Address left, Ipv4Address right) => left.Value >= right.Value;
}
