using NatGate.Core.Addressing;
using NatGate.Core.Offload;
using NatGate.Core.Packets;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using CsCheck;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Offload;

/// <summary>
/// NPTv6 below the engine (the kernel fast path's natgate_prefixes, in memory): the cache takes
/// the engine's mappings from its rules, follows every change of them, rewrites as the engine
/// does byte for byte, and leaves to the engine what the program leaves to it.
/// </summary>
public sealed class PrefixTranslationOffloadTests
{
    private const string Rules = """
        bimap wan0 fd00:77::/48 -> 2001:db8:77::/48
        bimap wan0 fd00:88:0:100::/56 -> 2001:db8:88:200::/56
        """;

    private static (NatEngine Engine, InMemorySessionOffload Cache) Offloaded()
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        engine.LoadRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules);
        var cache = new InMemorySessionOffload();
        engine.UseOffload(cache);
        return (engine, cache);
    }

    /// <summary>The packet through the engine and through the cache: the same verdict, the same bytes.</summary>
    private static void AssertCacheRewritesAsEngine(NatEngine engine, InMemorySessionOffload cache, byte[] packet)
    {
        byte[] byEngine = (byte[])packet.Clone();
        byte[] byCache = (byte[])packet.Clone();
        bool forwarded = engine.Translate(byEngine, byEngine.Length, 0).Verdict == Verdict.Forward;
        // An address the engine refuses (a 0xFFFF word) is left to it by the cache, untouched.
        Assert.Equal(forwarded, cache.TryRewrite(byCache, 0));
        Assert.Equal(Convert.ToHexString(forwarded ? byEngine : packet), Convert.ToHexString(byCache));
        Assert.True(ChecksumIsValid(byCache));
    }

    [Fact]
    public void The_cache_rewrites_as_the_engine_both_ways_for_any_host()
    {
        (NatEngine engine, InMemorySessionOffload cache) = Offloaded();
        Assert.Equal(2, cache.PrefixTranslations.Count);
        Ipv6Address remote = Address("2001:db8:ff::5");
        // Any host of either mapping, words of 0xFFFF included (the /48's subnet word, the /56's identifier words).
        Gen.Select(Gen.Bool, Gen.UShort, Gen.ULong, Gen.Int[0, 2], Gen.Bool).Sample((wide, subnet, identifier, kind, allOnes) =>
        {
            UInt128 network = wide ? Address("fd00:77::").Value : Address("fd00:88:0:100::").Value;
            ulong host = allOnes ? ulong.MaxValue : identifier;
            var inside = new Ipv6Address(network | ((UInt128)(wide ? subnet : (ushort)(subnet & 0xFF)) << 64) | host);
            Func<Ipv6Address, Ipv6Address, byte[]> make = kind switch
            {
                0 => (source, destination) => Udp(source, destination),
                1 => (source, destination) => Tcp(source, destination),
                _ => EchoRequest,
            };
            AssertCacheRewritesAsEngine(engine, cache, make(inside, remote));
            // Inbound: to the external image of the inside host (when it has one).
            byte[] leaving = make(inside, remote);
            if (engine.Translate(leaving, leaving.Length, 0).Verdict == Verdict.Forward)
            {
                byte[] answer = make(remote, Source(leaving));
                AssertCacheRewritesAsEngine(engine, cache, answer);
                byte[] back = (byte[])answer.Clone();
                Assert.True(cache.TryRewrite(back, 0));
                Assert.Equal(inside, Destination(back));
            }
        }, iter: 500);
        Assert.InRange(cache.PrefixRewritten, 500, 2000);
    }

    [Fact]
    public void Errors_neighbour_discovery_and_hairpinning_are_left_to_the_engine()
    {
        (NatEngine _, InMemorySessionOffload cache) = Offloaded();
        Ipv6Address inside = Address("fd00:77::2"), remote = Address("2001:db8:ff::5"), otherExternal = Address("2001:db8:77:1::3");
        byte[][] engines =
        [
            Error(remote, Address("2001:db8:77::2"), type: 1, code: 0, parameter: 0, invoking: Udp(Address("2001:db8:77::2"), remote)),
            NeighbourSolicitation(inside, Address("fd00:77::1")),
            Udp(inside, otherExternal), // hairpinning: the engine's policy decides
        ];
        foreach (byte[] packet in engines)
        {
            byte[] before = (byte[])packet.Clone();
            Assert.False(cache.TryRewrite(packet, 0));
            Assert.Equal(before, packet);
        }
        Assert.Equal(0, cache.PrefixRewritten);
        Assert.True(cache.TryRewrite(Udp(inside, remote), 0));
    }

    [Fact]
    public void The_cache_follows_removals_flushes_and_reloads_of_the_rules()
    {
        (NatEngine engine, InMemorySessionOffload cache) = Offloaded();
        Ipv6Address inside = Address("fd00:77::2"), remote = Address("2001:db8:ff::5");
        Assert.True(engine.RemoveRule(engine.ListRules()[0].Index));
        Assert.Equal("fd00:88:0:100::/56 <-> 2001:db8:88:200::/56", Assert.Single(cache.PrefixTranslations).ToString());
        byte[] packet = Udp(inside, remote);
        Assert.False(cache.TryRewrite(packet, 0)); // the removed rule's hosts are no longer rewritten
        Assert.Equal(inside, Source(packet));

        engine.FlushRules();
        Assert.Empty(cache.PrefixTranslations);
        engine.ReplaceRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules);
        Assert.Equal(2, cache.PrefixTranslations.Count);
        Assert.True(cache.TryRewrite(packet, 0));

        // NAT64 takes an IPv4-embedded destination before any prefix translation: the cache then holds none.
        engine.AddRule(IpnatParser.Parse("map wan0 from fd00:99::/64 to 64:ff9b::/96 -> 198.51.100.9/32", "ipnat.conf").Rules[0]);
        Assert.Empty(cache.PrefixTranslations);
    }
}
