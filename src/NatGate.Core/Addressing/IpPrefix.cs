using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net.Sockets;
using NatGate.Core.Packets;

namespace NatGate.Core.Addressing;

/// <summary>
/// A network prefix of either family, "10.77.0.0/24" or "fd00:77::/64", as
/// <see cref="System.Net.IPNetwork"/> is, but held as numbers so that a containment test costs a
/// mask and a compare: an IPv4 prefix keeps its network in the low 32 bits of
/// <see cref="Network"/>. Host bits are cleared, as <see cref="Ipv4Prefix"/> clears them.
/// </summary>
public readonly record struct IpPrefix : ISpanParsable<IpPrefix>, ISpanFormattable
{
    public IpPrefix(Ipv6Address address, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 128);
        Family = AddressFamily.InterNetworkV6;
        Length = length;
        Network = address.Value & MaskOf(length, 128);
    }

    /// <summary>An IPv4 prefix; 0.0.0.0/0 becomes <see cref="Any"/>, which a rule writes "any".</summary>
    public IpPrefix(Ipv4Prefix prefix)
    {
        Family = prefix.Length == 0 ? AddressFamily.Unspecified : AddressFamily.InterNetwork;
        Length = prefix.Length;
        Network = prefix.Network.Value;
    }

    /// <summary>
    /// Every address of either family ("any" in a rule): no family of its own, so a rule takes
    /// its family from its other addresses.
    /// </summary>
    public static IpPrefix Any => default;

    /// <summary>One address: a /32 or a /128.</summary>
    public static IpPrefix Host(IpAddress address)
        => address.IsIpv6 ? new IpPrefix(address.AsIpv6, 128) : new IpPrefix(Ipv4Prefix.Host(address.AsIpv4));

    public static implicit operator IpPrefix(Ipv4Prefix prefix) => new(prefix);

    /// <summary>The prefix whose addresses are exactly <paramref name="first"/> to <paramref name="last"/>; throws when they form none.</summary>
    public static IpPrefix Covering(IpAddress first, IpAddress last)
    {
        UInt128 count = IpAddress.CountFrom(first, last);
        int bits = first.IsIpv6 ? 128 : 32;
        if (count == 0 || !UInt128.IsPow2(count) || first.Value % count != 0)
        {
            throw new ArgumentException($"{first} to {last} is not one prefix.");
        }
        int length = bits - (int)UInt128.Log2(count);
        return first.IsIpv6 ? new IpPrefix(first.AsIpv6, length) : new IpPrefix(new Ipv4Prefix(first.AsIpv4, length));
    }

    /// <summary>InterNetwork, InterNetworkV6, or Unspecified for <see cref="Any"/>.</summary>
    public AddressFamily Family { get; }

    /// <summary>True for <see cref="Any"/>, which matches both families.</summary>
    public bool IsAny => Family == AddressFamily.Unspecified;

    /// <summary>The network (host bits cleared); an IPv4 one in the low 32 bits.</summary>
    public UInt128 Network { get; }

    /// <summary>Leading bits that are fixed: 0 to 32 for IPv4, 0 to 128 for IPv6.</summary>
    public int Length { get; }

    public bool IsIpv6 => Family == AddressFamily.InterNetworkV6;

    /// <summary>The IPv4 prefix this is (0.0.0.0/0 for <see cref="Any"/>); throws for an IPv6 one.</summary>
    public Ipv4Prefix AsIpv4 => !IsIpv6 ? new Ipv4Prefix(new Ipv4Address((uint)Network), Length) : throw new InvalidOperationException($"{this} is an IPv6 prefix, where an IPv4 one is needed.");

    /// <summary>The network's first address, as an address of the prefix's family.</summary>
    public IpAddress First => IsIpv6 ? new Ipv6Address(Network) : new Ipv4Address((uint)Network);

    /// <summary>The network's last address.</summary>
    public IpAddress Last => IsIpv6 ? new Ipv6Address(Network | ~MaskOf(Length, 128)) : new Ipv4Address((uint)(Network | ~MaskOf(Length, 32)));

    /// <summary>How many addresses the prefix holds (2^32 for IPv4 /0 and <see cref="Any"/>, 2^128 - 1 for IPv6 /0, which does not fit).</summary>
    public UInt128 Count => IsIpv6 ? (Length == 0 ? UInt128.MaxValue : UInt128.One << (128 - Length)) : UInt128.One << (32 - Length);

    public bool Contains(Ipv6Address address) => IsAny || (IsIpv6 && (address.Value & MaskOf(Length, 128)) == Network);

    public bool Contains(Ipv4Address ipv4Address) => !IsIpv6 && (ipv4Address.Value & (uint)MaskOf(Length, 32)) == (uint)Network;

    public bool Contains(IpAddress address) => address.IsIpv6 ? Contains(address.AsIpv6) : Contains(address.AsIpv4);

    /// <summary>Whether an address of this family may stand in a rule of <paramref name="ipv6"/>'s family (<see cref="Any"/> fits both).</summary>
    public bool FitsFamily(bool ipv6) => IsAny || IsIpv6 == ipv6;

    /// <summary>Whether the two share an address (same family, and one contains the other's network).</summary>
    public bool Overlaps(IpPrefix other)
    {
        if (IsAny || other.IsAny)
        {
            return true;
        }
        if (Family != other.Family)
        {
            return false;
        }
        int bits = IsIpv6 ? 128 : 32;
        UInt128 mask = MaskOf(Math.Min(Length, other.Length), bits);
        return (Network & mask) == (other.Network & mask);
    }

    private static UInt128 MaskOf(int length, int bits)
        => length == 0 ? UInt128.Zero : (UInt128.MaxValue << (128 - length)) >> (128 - bits);

    public static IpPrefix Parse(string s, IFormatProvider? provider)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Parse(s.AsSpan(), provider);
    }

    public static IpPrefix Parse(ReadOnlySpan<char> s, IFormatProvider? provider)
        => TryParse(s, provider, out IpPrefix prefix)
            ? prefix
            : throw new FormatException($"'{s}' is not a prefix; write an address, a slash and a length, such as 10.77.0.0/24 or fd00:77::/64.");

    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out IpPrefix result)
        => TryParse(s.AsSpan(), provider, out result);

    public static bool TryParse(ReadOnlySpan<char> text, out IpPrefix result) => TryParse(text, null, out result);

    /// <summary>
    /// "address/length" of either family; IPv4 also with a netmask ("/255.255.255.0"), as
    /// <see cref="Ipv4Prefix"/> reads it. A bare address is a host prefix (/32 or /128).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> s, IFormatProvider? provider, out IpPrefix result)
    {
        result = default;
        if (!s.Contains(':'))
        {
            if (!Ipv4Prefix.TryParse(s, out Ipv4Prefix ipv4))
            {
                return false;
            }
            result = new IpPrefix(ipv4);
            return true;
        }
        int slash = s.IndexOf('/');
        ReadOnlySpan<char> addressText = slash < 0 ? s : s[..slash];
        int length = 128;
        if (slash >= 0 && (!int.TryParse(s[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > 128))
        {
            return false;
        }
        if (!Ipv6Address.TryParse(addressText, out Ipv6Address address))
        {
            return false;
        }
        result = new IpPrefix(address, length);
        return true;
    }

    public override string ToString()
        => IsIpv6
            ? $"{new Ipv6Address(Network)}/{Length.ToString(CultureInfo.InvariantCulture)}"
            : $"{new Ipv4Address((uint)Network)}/{Length.ToString(CultureInfo.InvariantCulture)}";

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        string text = ToString();
        charsWritten = 0;
        if (text.Length > destination.Length)
        {
            return false;
        }
        text.CopyTo(destination);
        charsWritten = text.Length;
        return true;
    }
}
