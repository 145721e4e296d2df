using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

/// <summary>
/// The indexed matcher against a walk over every rule in IP Filter's order (the engine's matching
/// before the index, kept here as the reference): same first match, for random rule sets and packets.
/// </summary>
public sealed class RuleMatcherTests
{
    // A few neighbourhoods, so prefixes nest and overlap; the last sits at the top of the address space.
    private static readonly Ipv4Address[] Bases = [Ipv4Address.Parse("10.0.0.0"), Ipv4Address.Parse("10.0.1.0"), Ipv4Address.Parse("192.0.2.0"), Ipv4Address.Any, Ipv4Address.Parse("255.255.255.192")];

    private static readonly Ipv4Address Broadcast = Ipv4Address.Parse("255.255.255.255");

    private static readonly Gen<Ipv4Address> Address = Gen.Select(Gen.OneOf(Bases), Gen.UInt[0, 63], (first, offset) => first + offset);

    private static readonly Gen<Ipv4Prefix> Prefix = Gen.Select(Address, Gen.OneOf(0, 8, 16, 23, 24, 26, 28, 30, 31, 32, 32, 32),
        (address, length) => new Ipv4Prefix(address, length));

    private static readonly Gen<PortMatch> Ports = Gen.OneOf(
        PortMatch.Any, PortMatch.Any, PortMatch.Exactly(80), PortMatch.Exactly(443), new PortMatch(1000, 2000), new PortMatch(80, 80, Excluding: true));

    private static readonly Gen<RuleProtocols> Protocols = Gen.OneOf(
        RuleProtocols.Any, RuleProtocols.Any, RuleProtocols.Tcp, RuleProtocols.Udp, RuleProtocols.TcpUdp, RuleProtocols.Icmp, RuleProtocols.Tcp | RuleProtocols.Icmp);

    private static readonly Gen<NatRule> Rule =
        Gen.Select(
            Gen.Select(Gen.OneOf(NatRuleKind.Map, NatRuleKind.MapBlock, NatRuleKind.Bidirectional, NatRuleKind.Redirect), Prefix, Gen.Bool, Prefix, Gen.Bool),
            Gen.Select(Protocols, Ports, Ports, Address, Gen.UInt[0, 5]))
        .Select(parts =>
        {
            ((NatRuleKind kind, Ipv4Prefix source, bool sourceNegated, Ipv4Prefix destination, bool destinationNegated),
             (RuleProtocols protocols, PortMatch sourcePorts, PortMatch destinationPorts, Ipv4Address translated, uint extra)) = parts;
            var rule = new NatRule
            {
                Kind = kind,
                Source = source,
                SourceNegated = sourceNegated && kind != NatRuleKind.Bidirectional,
                Destination = destination,
                DestinationNegated = destinationNegated,
                Protocols = protocols,
                SourcePorts = sourcePorts,
                DestinationPorts = destinationPorts,
            };
            // The highest first address that leaves room for a range as long as the inside prefix.
            Ipv4Address highestBimapFirst = Broadcast - (uint)(source.Count - 1);
            Ipv4Address bimapFirst = translated <= highestBimapFirst ? translated : highestBimapFirst;
            return kind switch
            {
                // A bimap's external range is as long as its inside prefix, and need not be aligned.
                NatRuleKind.Bidirectional => rule with
                {
                    TranslatedFirst = bimapFirst,
                    TranslatedLast = bimapFirst + (uint)(source.Count - 1),
                },
                NatRuleKind.Redirect => rule with { RedirectTargets = [Ipv4Address.Parse("10.9.9.9")] },
                _ => rule with { TranslatedFirst = translated, TranslatedLast = extra <= Broadcast - translated ? translated + extra : Broadcast },
            };
        });

    private static readonly Gen<FlowKey> Packet = Gen.Select(
        Gen.OneOf(IpProtocol.Icmp, IpProtocol.Tcp, IpProtocol.Udp, (IpProtocol)47), Address, Gen.OneOf<ushort>(80, 443, 1500, 5000), Address, Gen.OneOf<ushort>(80, 443, 1500, 5000),
        (protocol, source, sourcePort, destination, destinationPort) => new FlowKey(protocol, source, sourcePort, destination, destinationPort));

    /// <summary>Rules numbered in a shuffled order, so the tie-break by rule number is not the list order.</summary>
    private static readonly Gen<RuleSlot[]> Slots = Gen.Select(Rule.Array[0, 40], Gen.Int)
        .Select((rules, seed) =>
        {
            int[] numbers = [.. Enumerable.Range(0, rules.Length)];
            new Random(seed).Shuffle(numbers);
            return rules.Select((rule, i) => new RuleSlot(numbers[i], rule)).ToArray();
        });

    [Fact]
    public void The_index_finds_the_same_first_rule_as_a_walk_over_every_rule()
    {
        Gen.Select(Slots, Packet.Array[30], Address, Gen.ULong).Sample((slots, packets, redirected, seed) =>
        {
            RuleMatcher matcher = RuleMatcher.Build(slots, seed);
            RuleSlot[] maps = ReferenceMapOrder(slots);
            RuleSlot[] redirects = ReferenceRedirectOrder(slots);
            Assert.Equal(maps, matcher.MapOrder.ToArray());
            Assert.Equal(redirects, matcher.RedirectOrder.ToArray());
            foreach (FlowKey key in packets)
            {
                Assert.Same(ReferenceFindRedirect(redirects, key), matcher.FindRedirect(key));
                foreach ((Ipv4Address destination, ushort port) in (ReadOnlySpan<(Ipv4Address, ushort)>)[(key.Destination, key.DestinationPort), (redirected, 443)])
                {
                    Assert.Same(ReferenceFindMap(maps, key, destination, port), matcher.FindMap(key, destination, port));
                    Assert.Equal(ReferenceIsInsideOfSomeMap(maps, key, destination), matcher.IsInsideOfSomeMap(key, destination));
                }
                foreach (Ipv4Address address in (ReadOnlySpan<Ipv4Address>)[key.Source, key.Destination, redirected])
                {
                    Assert.Equal(ReferenceIsExternalAddress(maps, redirects, address), matcher.IsExternalAddress(address));
                }
            }
        }, iter: 3000);
    }

    [Fact]
    public void Thousands_of_rules_match_as_a_walk_over_them_does()
    {
        // Many rules per neighbourhood: the index's groups hold several candidates each.
        Gen.Select(Rule.Array[3000], Packet.Array[3000]).Sample((rules, packets) =>
        {
            RuleSlot[] slots = [.. rules.Select((rule, number) => new RuleSlot(number, rule))];
            RuleMatcher matcher = RuleMatcher.Build(slots, 7);
            RuleSlot[] maps = ReferenceMapOrder(slots);
            RuleSlot[] redirects = ReferenceRedirectOrder(slots);
            foreach (FlowKey key in packets)
            {
                Assert.Same(ReferenceFindRedirect(redirects, key), matcher.FindRedirect(key));
                Assert.Same(ReferenceFindMap(maps, key, key.Destination, key.DestinationPort), matcher.FindMap(key, key.Destination, key.DestinationPort));
                Assert.Equal(ReferenceIsInsideOfSomeMap(maps, key, key.Destination), matcher.IsInsideOfSomeMap(key, key.Destination));
            }
        }, iter: 5);
    }

    [Fact]
    public void A_bimap_on_an_unaligned_range_answers_for_exactly_that_range()
    {
        // 10.0.0.0/30 <-> 192.0.2.3 .. 192.0.2.6: no one prefix covers it.
        var bimap = new NatRule
        {
            Kind = NatRuleKind.Bidirectional,
            Source = Ipv4Prefix.Parse("10.0.0.0/30"),
            TranslatedFirst = Ipv4Address.Parse("192.0.2.3"),
            TranslatedLast = Ipv4Address.Parse("192.0.2.6"),
        };
        var slot = new RuleSlot(0, bimap);
        RuleMatcher matcher = RuleMatcher.Build([slot], 1);
        for (Ipv4Address address = Ipv4Address.Parse("192.0.2.0"); address <= Ipv4Address.Parse("192.0.2.9"); address += 1)
        {
            bool inRange = address >= bimap.TranslatedFirst && address <= bimap.TranslatedLast;
            Assert.Equal(inRange ? slot : null, matcher.FindRedirect(new FlowKey(IpProtocol.Udp, new Ipv4Address(1), 1, address, 53)));
            Assert.Equal(inRange, matcher.IsExternalAddress(address));
        }
    }

    [Fact]
    public void Only_rules_with_both_conditions_negated_are_checked_for_every_packet()
    {
        NatRule map = NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), new Ipv4Address(1));
        RuleMatcher matcher = RuleMatcher.Build([
            new RuleSlot(0, map),
            new RuleSlot(1, map with { SourceNegated = true }),
            new RuleSlot(2, map with { SourceNegated = true, DestinationNegated = true, Destination = Ipv4Prefix.Parse("192.0.2.0/24") }),
            new RuleSlot(3, new NatRule { Kind = NatRuleKind.Redirect, Destination = Ipv4Prefix.Parse("192.0.2.1/32"), DestinationPorts = PortMatch.Exactly(80), RedirectTargets = [new Ipv4Address(5)] }),
        ], 1);
        Assert.Equal(1, matcher.UnindexedCount);
    }

    // ---------------------------------------------------------------- the reference: every rule, in order

    private static RuleSlot[] ReferenceMapOrder(RuleSlot[] slots)
        => [.. slots.OrderBy(slot => slot.Index)
            .Where(slot => slot.Rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional)
            .OrderByDescending(slot => slot.Rule.Source.Length)];

    private static RuleSlot[] ReferenceRedirectOrder(RuleSlot[] slots)
        => [.. slots.OrderBy(slot => slot.Index)
            .Where(slot => slot.Rule.Kind is NatRuleKind.Redirect or NatRuleKind.Bidirectional)
            .OrderByDescending(slot => slot.Rule.Kind == NatRuleKind.Bidirectional ? 32 : slot.Rule.Destination.Length)];

    private static RuleSlot? ReferenceFindRedirect(RuleSlot[] redirectRules, FlowKey key)
    {
        foreach (RuleSlot slot in redirectRules)
        {
            NatRule rule = slot.Rule;
            if (!rule.AppliesTo(key.Protocol))
            {
                continue;
            }
            if (rule.Kind == NatRuleKind.Bidirectional)
            {
                if (key.Destination >= rule.TranslatedFirst && key.Destination <= rule.TranslatedLast)
                {
                    return slot;
                }
                continue;
            }
            bool portMatters = key.Protocol is IpProtocol.Tcp or IpProtocol.Udp;
            if (rule.Destination.Contains(key.Destination) != rule.DestinationNegated
                && (!portMatters || rule.DestinationPorts.Contains(key.DestinationPort))
                && (portMatters || rule.DestinationPorts.IsAny)
                && rule.Source.Contains(key.Source) != rule.SourceNegated
                && (!portMatters || rule.SourcePorts.Contains(key.SourcePort)))
            {
                return slot;
            }
        }
        return null;
    }

    private static RuleSlot? ReferenceFindMap(RuleSlot[] mapRules, FlowKey key, Ipv4Address destination, ushort destinationPort)
    {
        foreach (RuleSlot slot in mapRules)
        {
            NatRule rule = slot.Rule;
            if (rule.AppliesTo(key.Protocol) && rule.Source.Contains(key.Source) != rule.SourceNegated
                && rule.Destination.Contains(destination) != rule.DestinationNegated
                && (key.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp)
                    || (rule.SourcePorts.Contains(key.SourcePort) && rule.DestinationPorts.Contains(destinationPort))))
            {
                return slot;
            }
        }
        return null;
    }

    private static bool ReferenceIsInsideOfSomeMap(RuleSlot[] mapRules, FlowKey key, Ipv4Address destination)
    {
        foreach (RuleSlot slot in mapRules)
        {
            NatRule rule = slot.Rule;
            if (!rule.AppliesTo(key.Protocol) && rule.Source.Contains(key.Source) != rule.SourceNegated
                && rule.Destination.Contains(destination) != rule.DestinationNegated
                && !rule.Source.Contains(destination))
            {
                return true;
            }
        }
        return false;
    }

    private static bool ReferenceIsExternalAddress(RuleSlot[] mapRules, RuleSlot[] redirectRules, Ipv4Address address)
    {
        foreach (RuleSlot slot in mapRules)
        {
            if (address >= slot.Rule.TranslatedFirst && address <= slot.Rule.TranslatedLast)
            {
                return true;
            }
        }
        foreach (RuleSlot slot in redirectRules)
        {
            if (slot.Rule.Kind == NatRuleKind.Redirect && slot.Rule.Destination.Length > 0 && slot.Rule.Destination.Contains(address))
            {
                return true;
            }
        }
        return false;
    }
}
