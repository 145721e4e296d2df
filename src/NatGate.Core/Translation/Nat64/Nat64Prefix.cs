using NatGate.Core.Addressing;
using NatGate.Core.Rules;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// The IPv6 prefix that stands for IPv4 hosts on a NAT64's IPv6 side (RFC 6052): an IPv4
/// address is embedded after it as an "IPv4-embedded IPv6 address" (section 2.2) and extracted
/// again. Only the lengths 32, 40, 48, 56, 64 and 96 are defined; below 96 the IPv4 address is
/// split around bits 64 to 71 (the "u" octet), which stay zero, and the suffix after the address
/// is zero too. <c>default</c> is the Well-Known Prefix 64:ff9b::/96.
/// </summary>
public readonly record struct Nat64Prefix : ISpanFormattable
{
    /// <summary>64:ff9b::/96 as a number.</summary>
    private static readonly UInt128 WellKnownNetwork = (UInt128)0x0064_ff9b << 96;

    private const int WellKnownLength = 96;

    // Bits 64 to 71 counted from the most significant: the u octet (RFC 6052 section 2.2).
    private const int UOctetStart = 64;
    private const int UOctetEnd = 72;

    // Zero length stands for the Well-Known Prefix, so that default is a usable prefix.
    private readonly UInt128 _network;
    private readonly int _length;

    /// <summary>64:ff9b::/96, the Well-Known Prefix (RFC 6052 section 2.1).</summary>
    public static Nat64Prefix WellKnown => default;

    /// <summary>Takes <paramref name="prefix"/> as the NAT64 prefix; throws unless it is IPv6, of a length RFC 6052 defines, with bits 64 to 71 zero.</summary>
    public Nat64Prefix(IpPrefix prefix)
    {
        if (!prefix.IsIpv6)
        {
            throw new ArgumentException($"The NAT64 prefix {prefix} is IPv4; give an IPv6 prefix such as 64:ff9b::/96 (RFC 6052).", nameof(prefix));
        }
        if (!IsValidLength(prefix.Length))
        {
            throw new ArgumentException(
                $"The NAT64 prefix {prefix} is /{prefix.Length}; RFC 6052 section 2.2 defines only /32, /40, /48, /56, /64 and /96. "
                + "Choose one of those lengths, or 64:ff9b::/96.",
                nameof(prefix));
        }
        if ((prefix.Network >> (128 - UOctetEnd) & 0xFF) != 0)
        {
            // Only a /96 reaches the u octet.
            throw new ArgumentException(
                $"The NAT64 prefix {prefix} sets bits 64 to 71, which RFC 6052 section 2.2 requires to be zero; clear them (the fifth group's high byte).",
                nameof(prefix));
        }
        bool wellKnown = prefix.Network == WellKnownNetwork && prefix.Length == WellKnownLength;
        _network = wellKnown ? UInt128.Zero : prefix.Network;
        _length = wellKnown ? 0 : prefix.Length;
    }

    /// <summary>The prefix as an <see cref="IpPrefix"/>.</summary>
    public IpPrefix Prefix => new(new Ipv6Address(Network), Length);

    /// <summary>The network bits, host bits clear.</summary>
    public UInt128 Network => _length == 0 ? WellKnownNetwork : _network;

    /// <summary>32, 40, 48, 56, 64 or 96.</summary>
    public int Length => _length == 0 ? WellKnownLength : _length;

    /// <summary>True for 64:ff9b::/96, which must not stand for non-global IPv4 addresses such as RFC 1918's (RFC 6052 section 3.1).</summary>
    public bool IsWellKnown => _length == 0;

    /// <summary>
    /// A NAT64 map rule's prefix (<see cref="NatRule.IsNat64"/>): its destination, or the
    /// Well-Known Prefix when it names none ("any"). Throws <see cref="ArgumentException"/> for a
    /// destination RFC 6052 does not allow, as the constructor does.
    /// </summary>
    public static Nat64Prefix Of(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return rule.Destination.IsAny ? WellKnown : new Nat64Prefix(rule.Destination);
    }

    /// <summary>True for the lengths RFC 6052 section 2.2 defines: 32, 40, 48, 56, 64 and 96.</summary>
    public static bool IsValidLength(int length) => length is 32 or 40 or 48 or 56 or 64 or 96;

    /// <summary>Parses "prefix/length", such as "64:ff9b::/96" or "2001:db8:100::/40"; throws <see cref="FormatException"/> or <see cref="ArgumentException"/> with the reason.</summary>
    public static Nat64Prefix Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!IpPrefix.TryParse(text, out IpPrefix prefix) || !text.Contains('/', StringComparison.Ordinal))
        {
            throw new FormatException($"'{text}' is not a NAT64 prefix; write an IPv6 prefix with its length, such as 64:ff9b::/96 or 2001:db8:100::/40.");
        }
        return new Nat64Prefix(prefix);
    }

    /// <summary>True when <paramref name="address"/> falls within the prefix (whether or not its other bits are well formed).</summary>
    public bool Contains(Ipv6Address address) => (address.Value & Mask(Length)) == Network;

    /// <summary>The IPv4-embedded IPv6 address for <paramref name="ipv4Address"/>, per RFC 6052 section 2.2.</summary>
    public Ipv6Address Embed(Ipv4Address ipv4Address)
    {
        int length = Length;
        UInt128 value = Network;
        uint bits = ipv4Address.Value;
        if (length == 96)
        {
            return new Ipv6Address(value | bits);
        }
        // The address's first (64 - length) bits end at bit 64; the rest start after the u octet, at bit 72.
        int bitsBefore = UOctetStart - length;
        int bitsAfter = 32 - bitsBefore;
        if (bitsBefore > 0)
        {
            value |= (UInt128)(bits >> bitsAfter) << (128 - UOctetStart);
        }
        value |= (UInt128)(bits & LowMask(bitsAfter)) << (128 - UOctetEnd - bitsAfter);
        return new Ipv6Address(value);
    }

    /// <summary>
    /// The IPv4 address embedded in <paramref name="address"/>: false unless the address is within
    /// the prefix with the u octet and the suffix zero, that is unless it is exactly what
    /// <see cref="Embed"/> makes, so one IPv4 address never has two IPv6 spellings.
    /// </summary>
    public bool TryExtract(Ipv6Address address, out Ipv4Address ipv4Address)
    {
        int length = Length;
        UInt128 value = address.Value;
        uint candidate;
        if (length == 96)
        {
            candidate = (uint)value;
        }
        else
        {
            int bitsBefore = UOctetStart - length;
            int bitsAfter = 32 - bitsBefore;
            uint before = bitsBefore == 0 ? 0 : (uint)(value >> (128 - UOctetStart)) & LowMask(bitsBefore);
            uint after = (uint)(value >> (128 - UOctetEnd - bitsAfter)) & LowMask(bitsAfter);
            candidate = bitsAfter == 32 ? after : before << bitsAfter | after;
        }
        var extracted = new Ipv4Address(candidate);
        bool exact = Embed(extracted) == address;
        ipv4Address = exact ? extracted : Ipv4Address.Any;
        return exact;
    }

    private static uint LowMask(int bits) => (uint)((1UL << bits) - 1);

    private static UInt128 Mask(int length) => UInt128.MaxValue << (128 - length);

    public override string ToString() => Prefix.ToString();

    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
        => Prefix.TryFormat(destination, out charsWritten, format, provider);
}
