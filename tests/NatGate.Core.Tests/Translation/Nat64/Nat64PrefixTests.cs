using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Core.Tests.Translation.Nat64;

public sealed class Nat64PrefixTests
{
    private static readonly Ipv4Address Example = Ipv4Address.Parse("192.0.2.33");

    private static readonly Gen<Ipv4Address> Ipv4Gen = Gen.UInt.Select(v => new Ipv4Address(v));

    // RFC 6052 section 2.4, the table of examples, byte for byte.
    [Theory]
    [InlineData("2001:db8::/32", "20010db8c0000221 0000000000000000")]
    [InlineData("2001:db8:100::/40", "20010db801c00002 0021000000000000")]
    [InlineData("2001:db8:122::/48", "20010db80122c000 0002210000000000")]
    [InlineData("2001:db8:122:300::/56", "20010db8012203c0 0000022100000000")]
    [InlineData("2001:db8:122:344::/64", "20010db801220344 00c0000221000000")]
    [InlineData("2001:db8:122:344::/96", "20010db801220344 00000000c0000221")]
    [InlineData("64:ff9b::/96", "0064ff9b00000000 00000000c0000221")]
    public void Embeds_and_extracts_the_rfc_6052_examples(string prefix, string expectedHex)
    {
        Nat64Prefix nat64 = Nat64Prefix.Parse(prefix);
        Ipv6Address embedded = nat64.Embed(Example);

        byte[] bytes = new byte[16];
        embedded.Write(bytes);
        Assert.Equal(Convert.FromHexString(expectedHex.Replace(" ", "", StringComparison.Ordinal)), bytes);
        Assert.True(nat64.Contains(embedded));
        Assert.True(nat64.TryExtract(embedded, out Ipv4Address extracted));
        Assert.Equal(Example, extracted);
    }

    [Theory]
    [InlineData("2001:db8::/32", "2001:db8:c000:221::")]
    [InlineData("2001:db8:100::/40", "2001:db8:1c0:2:21::")]
    [InlineData("2001:db8:122::/48", "2001:db8:122:c000:2:2100::")]
    [InlineData("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::")]
    [InlineData("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0")]
    [InlineData("2001:db8:122:344::/96", "2001:db8:122:344::c000:221")]
    [InlineData("64:ff9b::/96", "64:ff9b::c000:221")]
    public void The_examples_read_as_the_rfc_writes_them(string prefix, string expected)
        => Assert.Equal(Ipv6Address.Parse(expected, null), Nat64Prefix.Parse(prefix).Embed(Example));

    [Fact]
    public void Default_is_the_well_known_prefix()
    {
        Nat64Prefix prefix = default;
        Assert.True(prefix.IsWellKnown);
        Assert.Equal(96, prefix.Length);
        Assert.Equal("64:ff9b::/96", prefix.ToString());
        Assert.Equal(Nat64Prefix.WellKnown, Nat64Prefix.Parse("64:ff9b::/96"));
        Assert.Equal(Ipv6Address.Parse("64:ff9b::192.0.2.33", null), prefix.Embed(Example));
    }

    [Theory]
    [InlineData("2001:db8::/33")]
    [InlineData("2001:db8::/128")]
    [InlineData("64:ff9b::/0")]
    public void Other_lengths_are_refused_with_the_valid_ones_named(string prefix)
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => Nat64Prefix.Parse(prefix));
        Assert.Contains("/32, /40, /48, /56, /64 and /96", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_96_with_the_u_octet_set_and_an_ipv4_prefix_are_refused()
    {
        Assert.Contains("bits 64 to 71", Assert.Throws<ArgumentException>(() => Nat64Prefix.Parse("2001:db8:0:0:ff00::/96")).Message,
            StringComparison.Ordinal);
        Assert.Contains("IPv4", Assert.Throws<ArgumentException>(() => new Nat64Prefix(IpPrefix.Parse("10.0.0.0/8", null))).Message,
            StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => Nat64Prefix.Parse("not a prefix"));
    }

    [Theory]
    [InlineData("2001:db8:100::/40", "2001:db8:1c0:2:ff21::")]
    [InlineData("2001:db8:100::/40", "2001:db8:1c0:2:21::1")]
    [InlineData("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:1")]
    [InlineData("64:ff9b::/96", "64:ff9c::c000:221")]
    public void Extraction_refuses_a_set_u_octet_a_set_suffix_and_other_prefixes(string prefix, string address)
    {
        Assert.False(Nat64Prefix.Parse(prefix).TryExtract(Ipv6Address.Parse(address, null), out Ipv4Address extracted));
        Assert.Equal(Ipv4Address.Any, extracted);
    }

    [Fact]
    public void Embed_and_extract_are_inverse_for_every_length()
    {
        Gen.Select(Gen.Int[0, 5], Gen.UInt, Gen.UInt, Ipv4Gen).Sample((lengthIndex, high, low, ipv4) =>
        {
            int length = new[] { 32, 40, 48, 56, 64, 96 }[lengthIndex];
            UInt128 network = (UInt128)high << 96 | (UInt128)low << 64;
            var prefix = new Nat64Prefix(new IpPrefix(new Ipv6Address(network), length));
            Ipv6Address embedded = prefix.Embed(ipv4);
            Assert.True(prefix.Contains(embedded));
            Assert.Equal(0, (int)(embedded.Value >> 56 & 0xFF));
            Assert.True(prefix.TryExtract(embedded, out Ipv4Address extracted));
            Assert.Equal(ipv4, extracted);
        });
    }
}
