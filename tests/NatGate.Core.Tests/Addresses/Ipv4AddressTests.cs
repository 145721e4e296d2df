using System.Globalization;
using CsCheck;
using NatGate.Core.Addressing;

namespace NatGate.Core.Tests.Addresses;

/// <summary>IPv4 addresses: dotted-decimal text in and out, network order on the wire, host order as a number.</summary>
public sealed class Ipv4AddressTests
{
    private static readonly Gen<Ipv4Address> AnyAddress = Gen.UInt.Select(v => new Ipv4Address(v));

    /// <summary>Parses through the generic interface, the way a generic caller (a JSON or CLI binder) would.</summary>
    private static T ParseAs<T>(string text) where T : ISpanParsable<T> => T.Parse(text, CultureInfo.InvariantCulture);

    private static bool TryParseAs<T>(string? text, out T result) where T : ISpanParsable<T> => T.TryParse(text, CultureInfo.InvariantCulture, out result!);

    private static bool TryParseSpanAs<T>(ReadOnlySpan<char> text, out T result) where T : ISpanParsable<T> => T.TryParse(text, CultureInfo.InvariantCulture, out result!);

    [Theory]
    [InlineData("192.168.0.1", 0xC0A80001u)]
    [InlineData("0.0.0.0", 0u)]
    [InlineData("255.255.255.255", 0xFFFFFFFFu)]
    [InlineData("10.0.0.254", 0x0A0000FEu)]
    public void Parses_and_formats(string text, uint value)
    {
        var address = new Ipv4Address(value);
        Assert.Equal(address, Ipv4Address.Parse(text));
        Assert.Equal(address, Ipv4Address.Parse(text.AsSpan()));
        Assert.Equal(address, ParseAs<Ipv4Address>(text));
        Assert.True(Ipv4Address.TryParse(text, out Ipv4Address parsed));
        Assert.Equal(address, parsed);
        Assert.Equal(value, parsed.Value);
        Assert.True(TryParseAs(text, out parsed));
        Assert.Equal(address, parsed);
        Assert.True(TryParseSpanAs(text.AsSpan(), out parsed));
        Assert.Equal(address, parsed);
        Assert.Equal(text, address.ToString());
        Assert.Equal(text, $"{address}");
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.5")]
    [InlineData("1.2.3.256")]
    [InlineData("1.2.3.1000")]
    [InlineData("01.2.3.4")]
    [InlineData("1.2.3.00")]
    [InlineData("1.2.010.4")]
    [InlineData("1..3.4")]
    [InlineData("1.2.3.")]
    [InlineData(".1.2.3")]
    [InlineData("1.2.3.4 ")]
    [InlineData(" 1.2.3.4")]
    [InlineData("a.b.c.d")]
    [InlineData("1.2.3.-4")]
    [InlineData("1.2.3.+4")]
    [InlineData("1.2.3.4/32")]
    public void Refuses_leading_zeros_and_anything_but_four_decimal_bytes(string text)
    {
        Assert.False(Ipv4Address.TryParse(text, out Ipv4Address address));
        Assert.Equal(Ipv4Address.Any, address);
        Assert.False(TryParseAs(text, out address));
        Assert.Equal(Ipv4Address.Any, address);
        Assert.False(TryParseSpanAs(text.AsSpan(), out address));
        Assert.Equal(Ipv4Address.Any, address);
        FormatException error = Assert.Throws<FormatException>(() => Ipv4Address.Parse(text));
        Assert.Contains("192.168.0.1", error.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => Ipv4Address.Parse(text.AsSpan()));
        Assert.Throws<FormatException>(() => ParseAs<Ipv4Address>(text));
    }

    [Fact]
    public void Parse_refuses_null()
    {
        Assert.Throws<ArgumentNullException>(() => Ipv4Address.Parse(null!));
        Assert.False(TryParseAs(null, out Ipv4Address address));
        Assert.Equal(Ipv4Address.Any, address);
    }

    [Fact]
    public void Any_is_0_0_0_0()
    {
        Assert.Equal(0u, Ipv4Address.Any.Value);
        Assert.Equal(default, Ipv4Address.Any);
        Assert.Equal("0.0.0.0", Ipv4Address.Any.ToString());
    }

    [Fact]
    public void TryFormat_reports_a_short_destination()
    {
        Span<char> buffer = stackalloc char[Ipv4Address.MaximumFormattedLength];
        var broadcast = new Ipv4Address(0xFFFFFFFF);
        Assert.True(broadcast.TryFormat(buffer, out int written));
        Assert.Equal(15, written);
        Assert.Equal("255.255.255.255", buffer[..written].ToString());
        Assert.False(broadcast.TryFormat(buffer[..14], out written));
        Assert.Equal(0, written);
        Assert.False(new Ipv4Address(0x01020304).TryFormat(buffer[..1], out _));

        var short1234 = Ipv4Address.Parse("1.2.3.4");
        for (int length = 0; length < 7; length++)
        {
            Assert.False(short1234.TryFormat(buffer[..length], out written), $"fitted 1.2.3.4 into {length} characters");
            Assert.Equal(0, written);
        }
        Assert.True(short1234.TryFormat(buffer[..7], out written));
        Assert.Equal("1.2.3.4", buffer[..written].ToString());
    }

    [Fact]
    public void Reads_and_writes_network_byte_order()
    {
        byte[] wire = [192, 168, 0, 1, 0xEE];
        Ipv4Address address = Ipv4Address.Read(wire);
        Assert.Equal(0xC0A80001u, address.Value);
        Assert.Equal(Ipv4Address.Parse("192.168.0.1"), address);

        byte[] written = [0xEE, 0xEE, 0xEE, 0xEE, 0xEE];
        Ipv4Address.Parse("10.1.2.3").Write(written);
        Assert.Equal(new byte[] { 10, 1, 2, 3, 0xEE }, written);
        Assert.Throws<ArgumentOutOfRangeException>(() => Ipv4Address.Any.Write(new byte[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Ipv4Address.Read(new byte[3]));
    }

    [Fact]
    public void Orders_as_an_unsigned_number()
    {
        Ipv4Address low = Ipv4Address.Parse("127.255.255.255");
        Ipv4Address high = Ipv4Address.Parse("128.0.0.0");
        Assert.True(low < high);
        Assert.True(low <= high);
        Assert.True(high > low);
        Assert.True(high >= low);
        Assert.False(high < low);
        Assert.False(low > high);
        Ipv4Address same = Ipv4Address.Parse("128.0.0.0");
        Assert.True(high <= same && high >= same);
        Assert.False(high < same || high > same);
        Assert.True(Ipv4Address.Parse("10.0.0.255") < Ipv4Address.Parse("10.0.1.0"));
        Assert.True(Ipv4Address.Parse("255.255.255.255") > Ipv4Address.Parse("1.0.0.0"));
        Assert.True(low.CompareTo(high) < 0);
        Assert.True(high.CompareTo(low) > 0);
        Assert.Equal(0, high.CompareTo(Ipv4Address.Parse("128.0.0.0")));

        Ipv4Address[] sorted = [.. new[] { "200.1.1.1", "10.0.0.2", "128.0.0.0", "10.0.0.10", "0.0.0.0" }.Select(Ipv4Address.Parse).Order()];
        Assert.Equal(["0.0.0.0", "10.0.0.2", "10.0.0.10", "128.0.0.0", "200.1.1.1"], sorted.Select(a => a.ToString()));
    }

    [Fact]
    public void Adds_offsets_and_measures_distances()
    {
        Ipv4Address first = Ipv4Address.Parse("10.0.0.255");
        Assert.Equal(Ipv4Address.Parse("10.0.1.0"), first + 1);
        Assert.Equal(Ipv4Address.Parse("10.0.1.9"), first + 10u);
        Assert.Equal(first, first + 0);
        Assert.Equal(Ipv4Address.Any, Ipv4Address.Parse("255.255.255.255") + 1);
        Assert.Equal(1u, Ipv4Address.Parse("10.0.1.0") - first);
        Assert.Equal(256u, Ipv4Address.Parse("10.0.1.255") - first);
        Assert.Equal(0u, first - first);
        Assert.Equal(0xFFFFFFFFu, Ipv4Address.Parse("255.255.255.255") - Ipv4Address.Any);
        Assert.Equal(Ipv4Address.Parse("10.0.0.254"), first - 1);
        Assert.Equal(Ipv4Address.Parse("9.255.255.255"), Ipv4Address.Parse("10.0.0.0") - 1u);
        Assert.Equal(Ipv4Address.Parse("255.255.255.255"), Ipv4Address.Any - 1);
    }

    [Fact]
    public void Masked_keeps_the_network()
    {
        Assert.Equal(Ipv4Address.Parse("192.168.37.0"), Ipv4Address.Parse("192.168.37.200").Masked(0xFFFFFF00));
        Assert.Equal(Ipv4Address.Parse("10.0.0.0"), Ipv4Address.Parse("10.200.1.2").Masked(0xFF000000));
        Assert.Equal(Ipv4Address.Any, Ipv4Address.Parse("10.200.1.2").Masked(0));
    }

    [Fact]
    public void Text_bytes_and_arithmetic_round_trip()
    {
        Gen.Select(AnyAddress, AnyAddress).Sample((a, b) =>
        {
            Assert.Equal(a, Ipv4Address.Parse(a.ToString()));
            byte[] bytes = new byte[Ipv4Address.Size];
            a.Write(bytes);
            Assert.Equal(a, Ipv4Address.Read(bytes));
            Assert.Equal(b, a + (b - a));
            Assert.Equal(a, b - (b - a));
            Assert.Equal(a, Ipv4Address.Parse(a.ToString().AsSpan()));
            Assert.Equal(a.Value.CompareTo(b.Value), a.CompareTo(b));
            Assert.Equal(a.Value < b.Value, a < b);
            Assert.Equal(a.Value == b.Value, a == b);
        });
    }
}
