using NatGate.Core.Addressing;
using NatGate.Core.Translation.Npt;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation.Npt;

/// <summary>The address mapping of RFC 6296: its worked example, the 0xFFFF rules, longer prefixes, and what a mapping refuses to be.</summary>
public sealed class Nptv6MappingTests
{
    private static readonly Nptv6Mapping Rfc6296Example = new(IpPrefix.Parse("fd01:203:405::/48", null), IpPrefix.Parse("2001:db8:1::/48", null));

    [Fact]
    public void The_rfc_6296_example_maps_fd01_203_405_1__1234_to_2001_db8_1_d550__1234_byte_for_byte()
    {
        // RFC 6296 3.6: the adjustment is 0xD54F out and 0x2AB0 in; the subnet 0x0001 becomes 0xD550.
        Assert.Equal(0xD54F, Rfc6296Example.OutboundAdjustment);
        Assert.Equal(0x2AB0, Rfc6296Example.InboundAdjustment);

        Assert.True(Rfc6296Example.TryToExternal(Address("fd01:203:405:1::1234"), out Ipv6Address external));
        byte[] bytes = new byte[16];
        external.Write(bytes);
        Assert.Equal(Convert.FromHexString("20010db80001d5500000000000001234"), bytes);
        Assert.Equal("2001:db8:1:d550::1234", external.ToString());

        // The reply's destination maps back (RFC 6296 3.6 as corrected by erratum 3033).
        Assert.True(Rfc6296Example.TryToInternal(Address("2001:db8:1:d550::1234"), out Ipv6Address inside));
        Assert.Equal(Address("fd01:203:405:1::1234"), inside);
        Assert.Equal(Address("2001:db8:1:d550::1234"), Rfc6296Example.ToExternal(Address("fd01:203:405:1::1234")));
        Assert.Equal(Address("fd01:203:405:1::1234"), Rfc6296Example.ToInternal(Address("2001:db8:1:d550::1234")));
    }

    [Fact]
    public void A_subnet_whose_adjusted_word_comes_to_0xffff_is_written_as_zero_and_maps_back()
    {
        // 0x2AB0 + 0xD54F = 0xFFFF, which RFC 6296 3.2 writes as 0x0000.
        Assert.Equal(Address("2001:db8:1:0:0:0:0:7"), Rfc6296Example.ToExternal(Address("fd01:203:405:2ab0::7")));
        Assert.Equal(Address("fd01:203:405:2ab0::7"), Rfc6296Example.ToInternal(Address("2001:db8:1::7")));
        // And inbound: 0xD54F + 0x2AB0 = 0xFFFF too, so the external subnet 0xD54F comes in as 0.
        Assert.Equal(Address("fd01:203:405::7"), Rfc6296Example.ToInternal(Address("2001:db8:1:d54f::7")));
        Assert.Equal(Address("2001:db8:1:d54f::7"), Rfc6296Example.ToExternal(Address("fd01:203:405::7")));
    }

    [Fact]
    public void The_subnet_0xffff_is_refused_both_ways()
    {
        // RFC 6296 3.2 and 4.2: 0xFFFF and 0x0000 are one number to one's complement, so neither side may use 0xFFFF.
        Assert.False(Rfc6296Example.TryToExternal(Address("fd01:203:405:ffff::1234"), out Ipv6Address unchanged));
        Assert.Equal(Address("fd01:203:405:ffff::1234"), unchanged);
        Assert.False(Rfc6296Example.TryToInternal(Address("2001:db8:1:ffff::1234"), out unchanged));
        Assert.Equal(Address("2001:db8:1:ffff::1234"), unchanged);

        ArgumentException refusal = Assert.Throws<ArgumentException>(() => Rfc6296Example.ToExternal(Address("fd01:203:405:ffff::1234")));
        Assert.Contains("0xFFFF", refusal.Message, StringComparison.Ordinal);
        Assert.Contains("fd01:203:405:ffff::1234", refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Addresses_outside_the_prefix_are_not_translated()
    {
        Assert.False(Rfc6296Example.TryToExternal(Address("fd01:203:406:1::1234"), out _));
        Assert.False(Rfc6296Example.TryToExternal(Address("2001:db8:1:d550::1234"), out _));
        Assert.False(Rfc6296Example.TryToInternal(Address("fd01:203:405:1::1234"), out _));
        ArgumentException error = Assert.Throws<ArgumentException>(() => Rfc6296Example.ToInternal(Address("2001:db8:2::1")));
        Assert.Contains("outside the external prefix 2001:db8:1::/48", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_prefix_shorter_than_48_still_adjusts_bits_48_to_63()
    {
        Nptv6Mapping mapping = new(IpPrefix.Parse("fd00::/32", null), IpPrefix.Parse("2001:db8::/32", null));
        Ipv6Address external = mapping.ToExternal(Address("fd00:0:beef:1::42"));
        // Bits 32-47 (0xbeef) are the site's own and stay; bits 48-63 carry the adjustment.
        Assert.Equal(Address("2001:db8:beef::42").Value >> 80, external.Value >> 80);
        Assert.Equal(0x42UL, (ulong)external.Value);
        Assert.Equal(ChecksumOfWords(Address("fd00:0:beef:1::42")), ChecksumOfWords(external));
        Assert.Equal(Address("fd00:0:beef:1::42"), mapping.ToInternal(external));
    }

    [Fact]
    public void A_56_adjusts_the_first_interface_identifier_word_that_is_not_0xffff()
    {
        // RFC 6296 3.5 and 3.7: bits 64-79, then 80-95, 96-111, 112-127.
        Nptv6Mapping mapping = new(IpPrefix.Parse("fd01:203:405:600::/56", null), IpPrefix.Parse("2001:db8:1:1200::/56", null));
        Ipv6Address external = mapping.ToExternal(Address("fd01:203:405:6ab::1234"));
        Assert.Equal(0x2001_0db8_0001_12abUL, (ulong)(external.Value >> 64));
        Assert.NotEqual(0UL, (ulong)external.Value >> 48);
        Assert.Equal(0x1234UL, (ulong)external.Value & 0xFFFF_FFFF_FFFF);

        Ipv6Address skipped = mapping.ToExternal(Address("fd01:203:405:6ab:ffff:ffff:5:1234"));
        Assert.Equal(0xFFFF_FFFFUL, (ulong)skipped.Value >> 32);
        Assert.NotEqual(5UL, ((ulong)skipped.Value >> 16) & 0xFFFF);
        Assert.Equal(0x1234UL, (ulong)skipped.Value & 0xFFFF);
        Assert.Equal(Address("fd01:203:405:6ab:ffff:ffff:5:1234"), mapping.ToInternal(skipped));
        Assert.Equal(ChecksumOfWords(Address("fd01:203:405:6ab:ffff:ffff:5:1234")), ChecksumOfWords(skipped));
    }

    [Fact]
    public void An_all_ones_interface_identifier_is_refused_under_a_longer_prefix()
    {
        // RFC 6296 3.7 (erratum 8757): the anycast identifier of all ones leaves no word to adjust.
        Nptv6Mapping mapping = new(IpPrefix.Parse("fd01:203:405:600::/64", null), IpPrefix.Parse("2001:db8:1:1200::/64", null));
        Assert.False(mapping.TryToExternal(Address("fd01:203:405:600:ffff:ffff:ffff:ffff"), out _));
        Assert.False(mapping.TryToInternal(Address("2001:db8:1:1200:ffff:ffff:ffff:ffff"), out _));
        ArgumentException refusal = Assert.Throws<ArgumentException>(() => mapping.ToExternal(Address("fd01:203:405:600:ffff:ffff:ffff:ffff")));
        Assert.Contains("interface identifier is all ones", refusal.Message, StringComparison.Ordinal);
        // The subnet 0xFFFF is no matter under a /64: it belongs to the prefix.
        Nptv6Mapping sixtyFour = new(IpPrefix.Parse("fd01:203:405:ffff::/64", null), IpPrefix.Parse("2001:db8:1:ffff::/64", null));
        Assert.True(sixtyFour.TryToExternal(Address("fd01:203:405:ffff::1"), out _));
    }

    [Fact]
    public void Prefixes_of_different_lengths_are_refused_with_both_named()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => new Nptv6Mapping(IpPrefix.Parse("fd01:203:405::/48", null), IpPrefix.Parse("2001:db8:1:1200::/56", null)));
        Assert.Contains("fd01:203:405::/48 is /48", error.Message, StringComparison.Ordinal);
        Assert.Contains("2001:db8:1:1200::/56 is /56", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prefixes_longer_than_64_are_refused()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => new Nptv6Mapping(IpPrefix.Parse("fd01:203:405:1::/80", null), IpPrefix.Parse("2001:db8:1:1::/80", null)));
        Assert.Contains("/64 or shorter", error.Message, StringComparison.Ordinal);
        Assert.Contains("/80", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ipv4_unset_and_zero_length_prefixes_are_refused()
    {
        ArgumentException ipv4 = Assert.Throws<ArgumentException>(() => new Nptv6Mapping(IpPrefix.Parse("10.0.0.0/8", null), IpPrefix.Parse("2001:db8::/8", null)));
        Assert.Contains("10.0.0.0/8 is IPv4", ipv4.Message, StringComparison.Ordinal);
        Assert.Equal("internalPrefix", ipv4.ParamName);
        ArgumentException unset = Assert.Throws<ArgumentException>(() => new Nptv6Mapping(IpPrefix.Parse("fd00::/48", null), default));
        Assert.Contains("external prefix is not set", unset.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new Nptv6Mapping(IpPrefix.Parse("::/0", null), IpPrefix.Parse("::/0", null)));
    }

    [Fact]
    public void Identical_prefixes_map_every_address_onto_itself()
    {
        Nptv6Mapping mapping = new(IpPrefix.Parse("2001:db8:1::/48", null), IpPrefix.Parse("2001:db8:1::/48", null));
        // Internal minus external is one's-complement zero, 0xFFFF or 0x0000.
        Assert.Contains(mapping.OutboundAdjustment, new ushort[] { 0x0000, 0xFFFF });
        Assert.Equal(Address("2001:db8:1:5::9"), mapping.ToExternal(Address("2001:db8:1:5::9")));
        Assert.Equal(Address("2001:db8:1::9"), mapping.ToInternal(Address("2001:db8:1::9")));
        Assert.Equal("2001:db8:1::/48 <-> 2001:db8:1::/48", mapping.ToString());
    }

    /// <summary>The folded one's-complement sum of the eight words, with 0xFFFF taken as 0 (the same number).</summary>
    internal static ushort ChecksumOfWords(Ipv6Address address)
    {
        ulong sum = 0;
        for (int shift = 0; shift < 128; shift += 16)
        {
            sum += (ushort)(address.Value >> shift);
        }
        while (sum > 0xFFFF)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return sum == 0xFFFF ? (ushort)0 : (ushort)sum;
    }
}
