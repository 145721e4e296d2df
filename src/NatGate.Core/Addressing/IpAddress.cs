using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.InteropServices;

namespace NatGate.Core.Addressing;

/// <summary>
/// An address of either family, as a rule or a control request names it (IP Filter's
/// <c>i6addr_t</c> with the rule's version beside it): an IPv4 address is held in the low 32 bits.
/// The packet path never sees this type; each family's engine takes its own
/// <see cref="Ipv4Address"/> or <see cref="Ipv6Address"/> out of it once, when a rule is loaded.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct IpAddress : IEquatable<IpAddress>, IComparable<IpAddress>, ISpanParsable<IpAddress>, ISpanFormattable
{
    private readonly Ipv6Address value;

    public IpAddress(Ipv4Address address)
    {
        value = new Ipv6Address(0, address.Value);
        IsIpv6 = false;
    }

    public IpAddress(Ipv6Address address)
    {
        value = address;
        IsIpv6 = true;
    }

    public bool IsIpv6 { get; }

    /// <summary>The IPv4 address; throws for an IPv6 one.</summary>
    public Ipv4Address AsIpv4 => !IsIpv6 ? new Ipv4Address((uint)value.Lower) : throw new InvalidOperationException($"{this} is an IPv6 address, where an IPv4 one is needed.");

    /// <summary>The IPv6 address; throws for an IPv4 one.</summary>
    public Ipv6Address AsIpv6 => IsIpv6 ? value : throw new InvalidOperationException($"{this} is an IPv4 address, where an IPv6 one is needed.");

    /// <summary>The address as a number: an IPv4 one in the low 32 bits.</summary>
    public UInt128 Value => value.Value;

    public static implicit operator IpAddress(Ipv4Address address) => new(address);

    public static implicit operator IpAddress(Ipv6Address address) => new(address);

    /// <summary>The address <paramref name="offset"/> further on in the same family (the n-th of a range).</summary>
    public static IpAddress operator +(IpAddress address, ulong offset)
        => address.IsIpv6 ? new IpAddress(new Ipv6Address(address.Value + offset)) : new IpAddress(address.AsIpv4 + (uint)offset);

    /// <summary>How many addresses from <paramref name="first"/> to <paramref name="last"/>, both included (0 if reversed or of different families).</summary>
    public static UInt128 CountFrom(IpAddress first, IpAddress last)
        => first.IsIpv6 != last.IsIpv6 || last.Value < first.Value ? UInt128.Zero
            // All of IPv6 has 2^128 addresses, one more than UInt128 holds: saturated, as IpPrefix.Count is.
            : last.Value - first.Value == UInt128.MaxValue ? UInt128.MaxValue : last.Value - first.Value + 1;

    public static IpAddress Parse(string s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Parse(s.AsSpan());
    }

    public static IpAddress Parse(ReadOnlySpan<char> s)
        => TryParse(s, out IpAddress address)
            ? address
            : throw new FormatException($"'{s}' is not an IP address; write an IPv4 address such as 192.0.2.1 or an IPv6 address such as 2001:db8::1.");

    /// <summary>Dotted decimal (no leading zeros) or IPv6 text (no zone, no brackets).</summary>
    public static bool TryParse(ReadOnlySpan<char> s, out IpAddress result)
    {
        if (Ipv4Address.TryParse(s, out Ipv4Address ipv4))
        {
            result = ipv4;
            return true;
        }
        if (Ipv6Address.TryParse(s, out Ipv6Address ipv6))
        {
            result = ipv6;
            return true;
        }
        result = default;
        return false;
    }

    static IpAddress IParsable<IpAddress>.Parse(string s, IFormatProvider? provider) => Parse(s);

    static IpAddress ISpanParsable<IpAddress>.Parse(ReadOnlySpan<char> s, IFormatProvider? provider) => Parse(s);

    static bool IParsable<IpAddress>.TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out IpAddress result)
        => TryParse(s.AsSpan(), out result);

    static bool ISpanParsable<IpAddress>.TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out IpAddress result) => TryParse(s, out result);

    public override string ToString() => IsIpv6 ? value.ToString() : AsIpv4.ToString();

    string IFormattable.ToString(string? format, IFormatProvider? formatProvider) => ToString();

    bool ISpanFormattable.TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
        => IsIpv6
            ? ((ISpanFormattable)value).TryFormat(destination, out charsWritten, format, CultureInfo.InvariantCulture)
            : AsIpv4.TryFormat(destination, out charsWritten);

    public bool Equals(IpAddress other) => IsIpv6 == other.IsIpv6 && value == other.value;

    public override bool Equals(object? obj) => obj is IpAddress other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(IsIpv6, value);

    /// <summary>IPv4 addresses before IPv6 ones, each family in numeric order.</summary>
    public int CompareTo(IpAddress other)
        => IsIpv6 != other.IsIpv6 ? IsIpv6.CompareTo(other.IsIpv6) : Value.CompareTo(other.Value);

    public static bool operator ==(IpAddress left, IpAddress right) => left.Equals(right);

    public static bool operator !=(IpAddress left, IpAddress right) => !left.Equals(right);

    public static bool operator <(IpAddress left, IpAddress right) => left.CompareTo(right) < 0;

    public static bool operator >(IpAddress left, IpAddress right) => left.CompareTo(right) > 0;

    public static bool operator <=(IpAddress left, IpAddress right) => left.CompareTo(right) <= 0;

    public static bool operator >=(IpAddress left, IpAddress right) => left.CompareTo(right) >= 0;
}
