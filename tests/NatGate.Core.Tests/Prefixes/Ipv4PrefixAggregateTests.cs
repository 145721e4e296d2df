using CsCheck;
using NatGate.Core.Addressing;

namespace NatGate.Core.Tests.Prefixes;

public sealed class Ipv4PrefixAggregateTests
{
    private static IReadOnlyList<string> Aggregate(params string[] prefixes)
        => [.. Ipv4Prefix.Aggregate(prefixes.Select(Ipv4Prefix.Parse)).Select(prefix => prefix.ToString())];

    [Fact]
    public void Contained_prefixes_go_and_sibling_halves_merge_up()
    {
        Assert.Equal(["10.0.0.0/23"], Aggregate("10.0.1.128/25", "10.0.0.0/24", "10.0.1.0/25", "10.0.0.7/32"));
        Assert.Equal(["10.0.0.0/24", "10.0.2.0/24"], Aggregate("10.0.2.0/24", "10.0.0.0/24"));
        // 10.0.1.0/24 and 10.0.2.0/24 are adjacent but not siblings: no /23 covers exactly them.
        Assert.Equal(["10.0.1.0/24", "10.0.2.0/24"], Aggregate("10.0.1.0/24", "10.0.2.0/24"));
        Assert.Equal(["0.0.0.0/0"], Aggregate("0.0.0.0/1", "128.0.0.0/1"));
    }

    [Fact]
    public void Ten_thousand_host_rules_in_one_block_become_a_handful_of_prefixes()
    {
        IEnumerable<Ipv4Prefix> hosts = Enumerable.Range(0, 10_000).Select(offset => Ipv4Prefix.Host(Ipv4Address.Parse("10.0.0.0") + (uint)offset));
        // 10,000 = 8192 + 1024 + 512 + 256 + 16: five prefixes.
        Assert.Equal(5, Ipv4Prefix.Aggregate(hosts).Count);
    }

    [Fact]
    public void The_aggregate_covers_exactly_the_same_addresses()
    {
        // Prefixes in a small corner of the space, so that overlaps and siblings are common.
        Gen<Ipv4Prefix> prefix = Gen.Select(Gen.UInt[0, 255], Gen.Int[24, 32]).Select((offset, length) => new Ipv4Prefix(Ipv4Address.Parse("10.0.0.0") + offset, length));
        Gen.Select(prefix.Array[0, 30], Gen.UInt[0, 300].Array[40]).Sample((prefixes, probes) =>
        {
            IReadOnlyList<Ipv4Prefix> aggregate = Ipv4Prefix.Aggregate(prefixes);
            foreach (uint probe in probes)
            {
                Ipv4Address address = Ipv4Address.Parse("10.0.0.0") + probe;
                Assert.Equal(prefixes.Any(each => each.Contains(address)), aggregate.Any(each => each.Contains(address)));
            }
            // No two overlap, and none could merge with the next.
            for (int i = 1; i < aggregate.Count; i++)
            {
                Assert.False(aggregate[i - 1].Overlaps(aggregate[i]));
                Assert.True(aggregate[i - 1].Network < aggregate[i].Network);
            }
            Assert.True(aggregate.Count <= prefixes.Length);
        });
    }
}
