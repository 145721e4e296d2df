using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class Ipv4AddressTests
{
    [Theory]
    [InlineData("192.168.0.1", 0xC0A80001u)]
    [InlineData("0.0.0.0", 0u)]
    [InlineData("255.255.255.255", 0xFFFFFFFFu)]
    [InlineData("10.0.0.254", 0x0A0000FEu)]
    public void Parses_and_formats(string text, uint address)
    {
        Assert.Equal(address, Ipv4Address.Parse(text));
        Assert.True(Ipv4Address.TryParse(text, out uint parsed));
        Assert.Equal(address, parsed);
        Assert.Equal(text, Ipv4Address.Format(address));
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.5")]
    [InlineData("1.2.3.256")]
    [InlineData("1.2.3.1000")]
    [InlineData("01.2.3.4")]
    [InlineData("1..3.4")]
    [InlineData("1.2.3.4 ")]
    [InlineData(" 1.2.3.4")]
    [InlineData("a.b.c.d")]
    [InlineData("1.2.3.-4")]
    public void Refuses_anything_but_four_decimal_bytes(string text)
    {
        Assert.False(Ipv4Address.TryParse(text, out uint address));
        Assert.Equal(0u, address);
        FormatException error = Assert.Throws<FormatException>(() => Ipv4Address.Parse(text));
        Assert.Contains("192.168.0.1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryFormat_reports_a_short_destination()
    {
        Span<char> buffer = stackalloc char[15];
        Assert.True(Ipv4Address.TryFormat(0xFFFFFFFF, buffer, out int written));
        Assert.Equal(15, written);
        Assert.False(Ipv4Address.TryFormat(0xFFFFFFFF, buffer[..14], out written));
        Assert.Equal(0, written);
        Assert.False(Ipv4Address.TryFormat(0x01020304, buffer[..1], out _));
    }
}
