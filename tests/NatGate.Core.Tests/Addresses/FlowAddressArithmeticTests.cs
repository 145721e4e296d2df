using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Addresses;

/// <summary>The family arithmetic the generic table and pools use, against the prefix types' own answers.</summary>
public sealed class FlowAddressArithmeticTests
{
    private static bool InPrefix<TAddress>(TAddress address, TAddress network, int length)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => TAddress.InPrefix(address, network, length);

    private static ulong Distance<TAddress>(TAddress earlier, TAddress later)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => TAddress.Distance(earlier, later);

    private static TAddress Offset<TAddress>(TAddress address, ulong offset)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => TAddress.Offset(address, offset);

    [Fact]
    public void Ipv4_prefix_membership_agrees_with_Ipv4Prefix() =>
        Gen.Select(Gen.UInt, Gen.UInt, Gen.Int[0, 32]).Sample((address, network, length) =>
        {
            var prefix = new Ipv4Prefix(new Ipv4Address(network), length);
            return InPrefix(new Ipv4Address(address), prefix.Network, length) == prefix.Contains(new Ipv4Address(address))
                && InPrefix(prefix.Network, prefix.Network, length);
        });

    [Fact]
    public void Ipv6_prefix_membership_agrees_with_IpPrefix() =>
        Gen.Select(Gen.ULong, Gen.ULong, Gen.ULong, Gen.ULong, Gen.Int[0, 128], Gen.Int[0, 128]).Sample((upper, lower, networkUpper, networkLower, length, shared) =>
        {
            var network = new Ipv6Address(networkUpper, networkLower);
            var prefix = new IpPrefix(network, length);
            // An address that shares the network's first bits often lands inside; a random one rarely.
            UInt128 keep = shared == 0 ? UInt128.Zero : UInt128.MaxValue << (128 - shared);
            var address = new Ipv6Address((network.Value & keep) | (new UInt128(upper, lower) & ~keep));
            return InPrefix(address, new Ipv6Address(prefix.Network), length) == prefix.Contains(address);
        });

    [Fact]
    public void Offsets_and_distances_round_trip_in_both_families()
    {
        Gen.Select(Gen.UInt, Gen.UInt).Sample((start, step) =>
            Distance(new Ipv4Address(start), Offset(new Ipv4Address(start), step)) == step);
        Gen.Select(Gen.ULong, Gen.ULong, Gen.ULong).Sample((upper, lower, step) =>
            Distance(new Ipv6Address(upper, lower), Offset(new Ipv6Address(upper, lower), step)) == step);
        Assert.Equal(ulong.MaxValue, Distance(Ipv6Address.Parse("2001:db8::", null), Ipv6Address.Parse("2001:db8:0:2::", null)));
        Assert.Equal(Ipv6Address.Parse("2001:db8:0:1::", null), Offset(Ipv6Address.Parse("2001:db8::ffff:ffff:ffff:ffff", null), 1));
    }

    [Fact]
    public void A_rules_addresses_are_taken_in_its_own_family()
    {
        Ipv6Address external = Ipv6Address.Parse("2001:db8::10", null);
        var rule = new NatRule
        {
            Kind = NatRuleKind.Map,
            Source = IpPrefix.Parse("fd00:77::/64", null),
            TranslatedFirst = external,
            TranslatedLast = external,
        };
        var addresses = new RuleAddresses<Ipv6Address>(rule);
        Assert.True(addresses.SourceContains(Ipv6Address.Parse("fd00:77::2", null)));
        Assert.False(addresses.SourceContains(Ipv6Address.Parse("fd00:78::2", null)));
        Assert.True(addresses.DestinationContains(Ipv6Address.Parse("2001:db8:ffff::5", null))); // "any"
        Assert.Equal(ulong.MaxValue, addresses.SourceCount);
        Assert.Equal(2UL, addresses.SourceOffsetOf(Ipv6Address.Parse("fd00:77::2", null)));
        Assert.True(addresses.TranslatedContains(external));
        Assert.Throws<InvalidOperationException>(() => new RuleAddresses<Ipv4Address>(rule));

        var ipv4 = NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/8"), Ipv4Address.Parse("198.51.100.10"));
        var ipv4Addresses = new RuleAddresses<Ipv4Address>(ipv4);
        Assert.Equal(1UL << 24, ipv4Addresses.SourceCount);
        Assert.True(ipv4Addresses.SourceContains(Ipv4Address.Parse("10.200.0.1")));
        Assert.False(ipv4Addresses.SourceContains(Ipv4Address.Parse("11.0.0.1")));
    }
}
