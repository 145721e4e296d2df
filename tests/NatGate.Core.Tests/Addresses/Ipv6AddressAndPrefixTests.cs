using System.Net.Sockets;
using CsCheck;
using NatGate.Core.Addressing;

namespace NatGate.Core.Tests.Addresses;

/// <summary>IPv6 addresses and prefixes of both families: RFC 4291 text in, RFC 5952 text out, numbers in between.</summary>
public sealed class Ipv6AddressAndPrefixTests
{
    private static Ipv6Address V6(string text) => Ipv6Address.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    private static IpPrefix Prefix(string text) => IpPrefix.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("2001:db8::1", "2001:db8::1")]
    [InlineData("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1")]
    [InlineData("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1")]   // RFC 5952 4.2.3: the first of two equal runs
    [InlineData("fd00:77::", "fd00:77::")]
    [InlineData("::", "::")]
    [InlineData("64:ff9b::198.51.100.2", "64:ff9b::c633:6402")]
    public void Text_is_read_as_RFC_4291_and_written_as_RFC_5952(string written, string canonical)
    {
        Ipv6Address address = V6(written);
        Assert.Equal(canonical, address.ToString());
        Span<char> buffer = stackalloc char[Ipv6Address.MaximumFormattedLength];
        Assert.True(address.TryFormat(buffer, out int length, default, null));
        Assert.Equal(canonical, buffer[..length].ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("198.51.100.2")]
    [InlineData("fe80::1%eth0")]
    [InlineData("2001:db8::1::2")]
    [InlineData("[2001:db8::1]")]
    [InlineData("2001:db8:::1")]
    [InlineData("12345::")]
    public void Anything_else_is_refused(string text)
    {
        Assert.False(Ipv6Address.TryParse(text, null, out _));
        Assert.Throws<FormatException>(() => V6(text));
    }

    [Fact]
    public void The_number_is_the_address_in_network_order()
    {
        Ipv6Address address = V6("2001:db8::1");
        Assert.Equal(new UInt128(0x20010db800000000, 1), address.Value);
        byte[] bytes = new byte[16];
        address.Write(bytes);
        Assert.Equal(new byte[] { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, bytes);
        Assert.Equal(address, Ipv6Address.Read(bytes));
        Assert.True(V6("2001:db8::1") < V6("2001:db8::2"));
    }

    [Fact]
    public void Every_address_survives_text_and_bytes()
        => Gen.Select(Gen.ULong, Gen.ULong).Sample((high, low) =>
        {
            var address = new Ipv6Address(new UInt128(high, low));
            byte[] bytes = new byte[16];
            address.Write(bytes);
            return V6(address.ToString()) == address && Ipv6Address.Read(bytes) == address;
        });

    [Theory]
    [InlineData("fd00:77::/64", "fd00:77::/64", true)]
    [InlineData("fd00:77::1234/64", "fd00:77::/64", true)]     // host bits cleared
    [InlineData("2001:db8::10", "2001:db8::10/128", true)]
    [InlineData("::/0", "::/0", true)]
    [InlineData("10.77.0.0/24", "10.77.0.0/24", false)]
    [InlineData("10.77.0.9/255.255.255.0", "10.77.0.0/24", false)]
    public void Prefixes_of_either_family_parse_and_print(string written, string canonical, bool ipv6)
    {
        IpPrefix prefix = Prefix(written);
        Assert.Equal(canonical, prefix.ToString());
        Assert.Equal(ipv6, prefix.IsIpv6);
        Assert.Equal(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, prefix.Family);
    }

    [Theory]
    [InlineData("fd00::/129")]
    [InlineData("fd00::/-1")]
    [InlineData("fd00::/")]
    [InlineData("10.0.0.0/33")]
    [InlineData("nonsense/8")]
    public void Bad_prefixes_are_refused(string text) => Assert.False(IpPrefix.TryParse(text, null, out _));

    [Fact]
    public void Containment_and_overlap_stay_within_a_family()
    {
        IpPrefix inside = Prefix("fd00:77::/64");
        Assert.True(inside.Contains(V6("fd00:77::2")));
        Assert.True(inside.Contains(V6("fd00:77::ffff:ffff:ffff:ffff")));
        Assert.False(inside.Contains(V6("fd00:78::2")));
        Assert.False(inside.Contains(Ipv4Address.Parse("10.77.0.2")));
        IpPrefix ipv4 = Prefix("10.77.0.0/24");
        Assert.True(ipv4.Contains(Ipv4Address.Parse("10.77.0.2")));
        Assert.False(ipv4.Contains(V6("::a4d:2")));
        Assert.True(inside.Overlaps(Prefix("fd00::/16")));
        Assert.False(inside.Overlaps(Prefix("fd00:78::/64")));
        Assert.False(inside.Overlaps(Prefix("10.0.0.0/8")));
        // 0.0.0.0/0 is a rule's "any": no family of its own, so it covers both.
        Assert.True(Prefix("0.0.0.0/0").IsAny);
        Assert.True(inside.Overlaps(Prefix("0.0.0.0/0")));
        Assert.True(IpPrefix.Any.Contains(V6("2001:db8::1")));
        Assert.True(IpPrefix.Any.Contains(Ipv4Address.Parse("192.0.2.1")));
        Assert.False(Prefix("::/0").IsAny);
        Assert.False(Prefix("::/0").Contains(Ipv4Address.Parse("192.0.2.1")));
        Assert.True(Prefix("::/0").Contains(V6("2001:db8::1")));
        Assert.Equal(ipv4.AsIpv4, Ipv4Prefix.Parse("10.77.0.0/24"));
    }
}
