using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace NatGate.Core.Addressing;

/// <summary>
/// An IPv6 address as one 128-bit number, most significant bit first (2001:db8::1 is
/// 0x20010db8_00000000_00000000_00000001): compared, masked and hashed as a number on the
/// packet path, read from and written to packets in network order without allocating. Text is
/// RFC 4291 section 2.2 in, RFC 5952's canonical form out (lower case, the longest run of zero
/// groups compressed), through the BCL's own parser and formatter. Held as two 64-bit halves:
/// <see cref="UInt128"/> is 16-byte aligned, which would pad a flow key of two addresses from 37
/// bytes to 48 instead of 40.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct Ipv6Address : ISpanParsable<Ipv6Address>, IFlowAddress<Ipv6Address>
{
    private readonly ulong upper;
    private readonly ulong lower;

    public Ipv6Address(UInt128 value)
    {
        upper = (ulong)(value >> 64);
        lower = (ulong)value;
    }

    public Ipv6Address(ulong upper, ulong lower)
    {
        this.upper = upper;
        this.lower = lower;
    }

    /// <summary>The address as one number, most significant bit first.</summary>
    public UInt128 Value => new(upper, lower);

    /// <summary>The first 64 bits (for a /64 network, its prefix).</summary>
    public ulong Upper => upper;

    /// <summary>The last 64 bits (for a /64 network, the interface identifier).</summary>
    public ulong Lower => lower;
    /// <summary>The longest canonical text, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".</summary>
    public const int MaximumFormattedLength = 45;

    public const int Size = 16;

    /// <summary>::, the unspecified address.</summary>
    public static Ipv6Address Unspecified => default;

    static Ipv6Address IFlowAddress<Ipv6Address>.Any => default;

    static int IFlowAddress<Ipv6Address>.Size => Size;

    static Packets.IpProtocol IFlowAddress<Ipv6Address>.IcmpProtocol => Packets.IpProtocol.Icmpv6;

    /// <summary>Each address's halves folded by a multiply (so that bits of both halves reach the top), then the two combined unequally so that (a, b) and (b, a) differ.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(Ipv6Address source, Ipv6Address destination)
        => Fold(source) + BitOperations.RotateLeft((destination.upper * 0xC2B2AE3D27D4EB4FUL) ^ destination.lower, 31);

    /// <summary>The halves folded by a multiply, so that bits of both reach the top.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Fold(Ipv6Address address) => (address.upper * 0x9E3779B97F4A7C15UL) ^ address.lower;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static bool IFlowAddress<Ipv6Address>.InPrefix(Ipv6Address address, Ipv6Address network, int length)
        => length <= 64
            ? length == 0 || (address.upper ^ network.upper) >> (64 - length) == 0
            : address.upper == network.upper && (address.lower ^ network.lower) >> (128 - length) == 0;

    static Ipv6Address IFlowAddress<Ipv6Address>.Offset(Ipv6Address address, ulong offset) => new(address.Value + offset);

    static ulong IFlowAddress<Ipv6Address>.Distance(Ipv6Address earlier, Ipv6Address later)
    {
        UInt128 distance = later.Value - earlier.Value;
        return distance > ulong.MaxValue ? ulong.MaxValue : (ulong)distance;
    }

    static Ipv6Address IFlowAddress<Ipv6Address>.From(IpAddress address) => address.AsIpv6;

    static IpAddress IFlowAddress<Ipv6Address>.ToIpAddress(Ipv6Address address) => address;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ushort IFlowAddress<Ipv6Address>.ChecksumDelta(Ipv6Address oldValue, Ipv6Address newValue) => Checksums.InternetChecksum.Delta(oldValue, newValue);

    /// <summary>
    /// The IPv4-mapped address ::ffff:a.b.c.d (RFC 4291 section 2.5.5.2): how an IPv4 endpoint
    /// stands in an IPv6 flow key (NAT64 keeps its sessions' IPv4 side so). Its checksum sum equals
    /// the IPv4 address's, since 0xFFFF adds nothing in one's complement.
    /// </summary>
    public static Ipv6Address MapIpv4(Ipv4Address address) => new(0, 0xFFFF_0000_0000UL | address.Value);

    /// <summary>True for ::ffff:a.b.c.d (<see cref="MapIpv4"/>).</summary>
    public bool IsIpv4Mapped => upper == 0 && lower >> 32 == 0xFFFF;

    /// <summary>The IPv4 address of an IPv4-mapped address (its low 32 bits).</summary>
    public Ipv4Address MappedIpv4 => new((uint)lower);

    /// <summary>The address in the first 16 bytes of <paramref name="bytes"/> (network order, as in a header).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Ipv6Address Read(ReadOnlySpan<byte> bytes) => new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));

    /// <summary>Writes the address into the first 16 bytes of <paramref name="bytes"/> (network order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt64BigEndian(bytes, upper);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], lower);
    }

    public static Ipv6Address Parse(string s, IFormatProvider? provider)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Parse(s.AsSpan(), provider);
    }

    public static Ipv6Address Parse(ReadOnlySpan<char> s, IFormatProvider? provider)
        => TryParse(s, provider, out Ipv6Address address)
            ? address
            : throw new FormatException($"'{s}' is not an IPv6 address; write eight groups of hexadecimal digits separated by colons, such as 2001:db8::1.");

    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out Ipv6Address result)
        => TryParse(s.AsSpan(), provider, out result);

    public static bool TryParse(ReadOnlySpan<char> text, out Ipv6Address result) => TryParse(text, null, out result);

    /// <summary>
    /// Only IPv6 text: no zone ("%eth0", which names a link, not an address a NAT translates), no
    /// brackets, no IPv4 dotted quad on its own.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out Ipv6Address result)
    {
        result = default;
        if (s.IsEmpty || s.Contains('%') || s.Contains('[') || !s.Contains(':')
            || !IPAddress.TryParse(s, out IPAddress? parsed) || parsed.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }
        Span<byte> bytes = stackalloc byte[Size];
        parsed.TryWriteBytes(bytes, out _);
        result = Read(bytes);
        return true;
    }

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[Size];
        Write(bytes);
        return new IPAddress(bytes).ToString();
    }

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        Span<byte> bytes = stackalloc byte[Size];
        Write(bytes);
        return new IPAddress(bytes).TryFormat(destination, out charsWritten);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(Ipv6Address other) => upper == other.upper && lower == other.lower;

    public override bool Equals(object? obj) => obj is Ipv6Address other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(upper, lower);

    public static bool operator ==(Ipv6Address left, Ipv6Address right) => left.Equals(right);

    public static bool operator !=(Ipv6Address left, Ipv6Address right) => !left.Equals(right);

    public int CompareTo(Ipv6Address other) => Value.CompareTo(other.Value);

    public static bool operator <(Ipv6Address left, Ipv6Address right) => left.Value < right.Value;

    public static bool operator >(Ipv6Address left, Ipv6Address right) => left.Value > right.Value;

    public static bool operator <=(Ipv6Address left, Ipv6Address right) => left.Value <= right.Value;

    public static bool operator >=(Ipv6Address left, Ipv6Address right) => left.Value >= right.Value;
}
