using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Addresses;

public sealed class IpAddressTests
{
    private static readonly Ipv6Address Inside6 = Ipv6Address.Parse("fd00:77::2", null);

    [Fact]
    public void Either_family_parses_formats_and_gives_back_its_own_type()
    {
        IpAddress ipv4 = IpAddress.Parse("192.0.2.1");
        IpAddress ipv6 = IpAddress.Parse("2001:db8::1");
        Assert.False(ipv4.IsIpv6);
        Assert.True(ipv6.IsIpv6);
        Assert.Equal(Ipv4Address.Parse("192.0.2.1"), ipv4.AsIpv4);
        Assert.Equal(Ipv6Address.Parse("2001:db8::1", null), ipv6.AsIpv6);
        Assert.Equal("192.0.2.1", ipv4.ToString());
        Assert.Equal("2001:db8::1", ipv6.ToString());
        Assert.Throws<InvalidOperationException>(() => ipv4.AsIpv6);
        Assert.Throws<InvalidOperationException>(() => ipv6.AsIpv4);
        Assert.Contains("192.0.2.1", Assert.Throws<FormatException>(() => IpAddress.Parse("192.0.2.001")).Message, StringComparison.Ordinal);
        Assert.False(IpAddress.TryParse("fe80::1%eth0", out _));
    }

    [Fact]
    public void An_ipv4_address_never_equals_the_ipv6_one_with_the_same_number()
    {
        IpAddress ipv4 = Ipv4Address.Parse("0.0.0.1");
        IpAddress ipv6 = Ipv6Address.Parse("::1", null);
        Assert.Equal(ipv4.Value, ipv6.Value);
        Assert.NotEqual(ipv4, ipv6);
        Assert.True(ipv4 < ipv6); // IPv4 sorts first
        Assert.Equal(UInt128.Zero, IpAddress.CountFrom(ipv4, ipv6));
    }

    [Fact]
    public void Ranges_count_and_step_within_their_family()
    {
        IpAddress first = Ipv6Address.Parse("2001:db8::fffe", null);
        Assert.Equal(Ipv6Address.Parse("2001:db8::1:0", null), (first + 2).AsIpv6);
        Assert.Equal((UInt128)3, IpAddress.CountFrom(first, first + 2));
        Assert.Equal(Ipv4Address.Parse("10.0.1.0"), ((IpAddress)Ipv4Address.Parse("10.0.0.255") + 1).AsIpv4);
        Assert.Equal(UInt128.Zero, IpAddress.CountFrom(first + 2, first));
    }

    [Fact]
    public void All_of_ipv6_counts_as_many_as_its_prefix_does_not_zero()
    {
        // 2^128 addresses overflow UInt128 by one: both counts saturate, so ::/0 on both sides of a bimap agree.
        IpPrefix all = IpPrefix.Parse("::/0", null);
        Assert.Equal(all.Count, IpAddress.CountFrom(all.First, all.Last));
        Assert.Equal(UInt128.MaxValue, IpAddress.CountFrom(all.First, all.Last));
    }

    [Fact]
    public void A_rule_takes_its_family_from_its_addresses_and_any_fits_both()
    {
        var ipv4 = NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/8"), Ipv4Address.Parse("198.51.100.10"));
        Assert.False(ipv4.IsIpv6);
        Assert.Null(ipv4.FamilyProblem);
        var ipv6 = ipv4 with { Source = new IpPrefix(Inside6, 64), TranslatedFirst = Ipv6Address.Parse("2001:db8::10", null), TranslatedLast = Ipv6Address.Parse("2001:db8::10", null) };
        Assert.True(ipv6.IsIpv6);
        Assert.Null(ipv6.FamilyProblem);
        Assert.Equal(1UL, ipv6.TranslatedCount);
        var mixed = ipv4 with { Source = new IpPrefix(Inside6, 64), Destination = Ipv4Prefix.Parse("192.0.2.0/24") };
        Assert.Contains("mixes IPv4 and IPv6", mixed.FamilyProblem, StringComparison.Ordinal);
        var nat64 = ipv4 with { Source = new IpPrefix(Inside6, 64) }; // IPv6 inside, IPv4 outside: NAT64, the one mixed rule
        Assert.True(nat64.IsNat64);
        Assert.Null(nat64.FamilyProblem);
        var pool = ipv6 with { TranslatedLast = Ipv6Address.Parse("2001:db8:0:2::", null) };
        Assert.Equal(ulong.MaxValue, pool.TranslatedCount); // 2^65 - 15 addresses do not fit: the count saturates
    }

    [Fact]
    public void The_engine_refuses_a_rule_that_mixes_families_and_takes_either_family_whole()
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        var ipv4 = NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/8"), Ipv4Address.Parse("198.51.100.10"));
        var mixed = ipv4 with { Source = new IpPrefix(Inside6, 64), Destination = Ipv4Prefix.Parse("192.0.2.0/24") };
        var ipv6 = ipv4 with { Source = new IpPrefix(Inside6, 64), TranslatedFirst = Ipv6Address.Parse("2001:db8::10", null), TranslatedLast = Ipv6Address.Parse("2001:db8::10", null) };
        NatControlException refusedMixed = Assert.Throws<NatControlException>(() => engine.AddRule(mixed));
        Assert.Equal(NatErrno.EINVAL, refusedMixed.Errno);
        Assert.Contains("mixes IPv4 and IPv6", refusedMixed.Message, StringComparison.Ordinal);
        Assert.Empty(engine.ListRules());
        engine.AddRule(ipv4);
        engine.AddRule(ipv6);
        Assert.Equal(2, engine.ListRules().Count);
    }
}
