using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// The active rules in matching order, with the indexes that find a new session's rule without
/// walking them all. Immutable: the engine builds a new one whenever the rules change and swaps it
/// in with one assignment, so building one needs nothing from the packet path. Lookups allocate nothing.
/// </summary>
internal sealed class RuleMatcher : IRuleLookup<Ipv4Address>
{
    private readonly RuleSlot[] mapOrder;
    private readonly RuleSlot[] redirectOrder;
    private readonly RuleCandidateIndex mapIndex;
    private readonly RuleCandidateIndex redirectIndex;
    private readonly Ipv4Address[] externalFirst; // disjoint ranges of external addresses, ascending
    private readonly Ipv4Address[] externalLast;

    private RuleMatcher(RuleSlot[] mapOrder, RuleSlot[] redirectOrder, RuleSlot[] nat64, ulong seed)
    {
        Nat64 = nat64;
        this.mapOrder = mapOrder;
        this.redirectOrder = redirectOrder;

        // A map rule is filed under its more specific plain (not negated) prefix: the inside
        // source, or the destination it translates traffic to.
        var maps = new RuleCandidateIndex.Builder();
        for (int position = 0; position < mapOrder.Length; position++)
        {
            RuleSlot slot = mapOrder[position];
            NatRule rule = slot.Rule;
            int sourceLength = rule.SourceNegated ? -1 : rule.Source.Length;
            int destinationLength = rule.DestinationNegated ? -1 : rule.Destination.Length;
            if (sourceLength < 0 && destinationLength < 0)
            {
                maps.FileUnderNothing(position);
            }
            else if (sourceLength >= destinationLength)
            {
                maps.File(position, AddressSide.Source, slot.Source4);
            }
            else
            {
                maps.File(position, AddressSide.Destination, slot.Destination4);
            }
        }
        mapIndex = maps.Build(seed);

        // A redirect is filed under its external address (and port, if it takes one), a bimap
        // under its external range; a redirect on a negated address under its remote's prefix.
        var redirects = new RuleCandidateIndex.Builder();
        for (int position = 0; position < redirectOrder.Length; position++)
        {
            RuleSlot slot = redirectOrder[position];
            NatRule rule = slot.Rule;
            if (rule.Kind == NatRuleKind.Bidirectional)
            {
                redirects.FileRange(position, AddressSide.Destination, slot.TranslatedFirst4, slot.TranslatedLast4);
                continue;
            }
            PortMatch ports = rule.DestinationPorts;
            int port = ports.First == ports.Last && !ports.Excluding ? ports.First : -1;
            int sourceLength = rule.SourceNegated ? -1 : rule.Source.Length;
            int destinationLength = rule.DestinationNegated ? -1 : rule.Destination.Length;
            if (destinationLength >= 0 && (destinationLength >= sourceLength || port >= 0))
            {
                redirects.File(position, AddressSide.Destination, slot.Destination4, port);
            }
            else if (sourceLength >= 0)
            {
                redirects.File(position, AddressSide.Source, slot.Source4);
            }
            else if (port >= 0)
            {
                redirects.File(position, AddressSide.Destination, Addressing.Ipv4Prefix.Any, port);
            }
            else
            {
                redirects.FileUnderNothing(position);
            }
        }
        redirectIndex = redirects.Build(seed);

        (externalFirst, externalLast) = ExternalRanges(mapOrder, redirectOrder, nat64);
    }

    /// <summary>No rules.</summary>
    public static RuleMatcher Empty { get; } = Build([], 0);

    /// <summary>Map, map-block and bimap rules in matching order.</summary>
    public ReadOnlySpan<RuleSlot> MapOrder => mapOrder;

    /// <summary>Redirect and bimap rules in matching order.</summary>
    public ReadOnlySpan<RuleSlot> RedirectOrder => redirectOrder;

    /// <summary>Rules checked for every new session whatever its addresses (both conditions negated).</summary>
    public int UnindexedCount => mapIndex.UnfiledCount + redirectIndex.UnfiledCount;

    /// <summary>Builds the matcher for <paramref name="activeRules"/> (the active rules on this gateway's interfaces, in any order).</summary>
    public static RuleMatcher Build(IEnumerable<RuleSlot> activeRules, ulong seed)
    {
        var maps = new List<RuleSlot>();
        var redirects = new List<RuleSlot>();
        var prefixTranslations = new List<RuleSlot>();
        var ipv6 = new List<RuleSlot>();
        var nat64 = new List<RuleSlot>();
        foreach (RuleSlot slot in activeRules)
        {
            if (slot.Nat64 is not null)
            {
                nat64.Add(slot);
                continue;
            }
            if (slot.PrefixTranslation is not null)
            {
                prefixTranslations.Add(slot);
                continue;
            }
            if (slot.Rule.IsIpv6)
            {
                ipv6.Add(slot);
                continue;
            }
            if (slot.Rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional)
            {
                maps.Add(slot);
            }
            if (slot.Rule.Kind is NatRuleKind.Redirect or NatRuleKind.Bidirectional)
            {
                redirects.Add(slot);
            }
        }
        // NAT64 maps as IPv6's: longest inside prefix first, rule number among equals.
        RuleSlot[] nat64Order = [.. nat64.OrderByDescending(slot => slot.Rule.Source.Length).ThenBy(slot => slot.Index)];
        return new RuleMatcher(InOrder(maps, slot => slot.Rule.Source.Length), InOrder(redirects, RedirectSpecificity), nat64Order, seed)
        {
            // Longest internal prefix first, rule number among equals, as IP Filter orders maps.
            PrefixTranslations = [.. prefixTranslations.OrderByDescending(slot => slot.Rule.Source.Length).ThenBy(slot => slot.Index)],
            Ipv6 = ipv6.Count == 0 ? Ipv6RuleLookup.Empty : new Ipv6RuleLookup(ipv6),
        };
    }

    /// <summary>The NAT64 maps (RFC 6146), in matching order; their IPv4 addresses are external addresses too.</summary>
    public RuleSlot[] Nat64 { get; }

    /// <summary>The IPv6 stateful rules (NAT66).</summary>
    public Ipv6RuleLookup Ipv6 { get; private init; } = Ipv6RuleLookup.Empty;

    /// <summary>The IPv6 bimaps, translated the RFC 6296 way (NPTv6), in matching order.</summary>
    public RuleSlot[] PrefixTranslations { get; private init; } = [];

    /// <summary>IP Filter's order: most specific netmask first, rule number among equals.</summary>
    private static RuleSlot[] InOrder(List<RuleSlot> slots, Func<RuleSlot, int> prefixLength)
    {
        RuleSlot[] order = [.. slots];
        var keys = new long[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            keys[i] = ((long)(32 - prefixLength(order[i])) << 32) | (uint)order[i].Index;
        }
        Array.Sort(keys, order);
        return order;
    }

    private static int RedirectSpecificity(RuleSlot slot) => slot.Rule.Kind == NatRuleKind.Bidirectional ? 32 : slot.Rule.Destination.Length;

    /// <summary>The first redirect or bimap that takes <paramref name="key"/>, a packet that matches no session.</summary>
    public RuleSlot? FindRedirect(FlowKey key)
    {
        var test = new RedirectTest(redirectOrder, key);
        int port = key.Protocol is IpProtocol.Tcp or IpProtocol.Udp ? key.DestinationPort : -1;
        int position = redirectIndex.FindFirst(key.Source, key.Destination, port, ref test);
        return position < 0 ? null : redirectOrder[position];
    }

    /// <summary>The first map rule that translates <paramref name="key"/>'s source, its destination being (<paramref name="destination"/>, <paramref name="destinationPort"/>) after any redirect.</summary>
    public RuleSlot? FindMap(FlowKey key, Ipv4Address destination, ushort destinationPort)
    {
        var test = new MapTest(mapOrder, key, destination, destinationPort);
        int position = mapIndex.FindFirst(key.Source, destination, -1, ref test);
        return position < 0 ? null : mapOrder[position];
    }

    /// <summary>
    /// The next map rule after <paramref name="previous"/>, in the same order, that also translates
    /// the packet: when one rule's addresses have no port left, the next rule's are tried, so the
    /// external addresses of several rules for one inside (NetNat's, the command line's) form a pool.
    /// </summary>
    public RuleSlot? FindNextMap(FlowKey key, Ipv4Address destination, ushort destinationPort, RuleSlot previous)
    {
        int after = Array.IndexOf(mapOrder, previous);
        var test = new NextMapTest(mapOrder, key, destination, destinationPort, after);
        int position = mapIndex.FindFirst(key.Source, destination, -1, ref test);
        return position < 0 ? null : mapOrder[position];
    }

    /// <summary>Whether a map rule would take this packet but for its protocol (see <see cref="NatEngine"/>'s IsInsideOfSomeMap).</summary>
    public bool IsInsideOfSomeMap(FlowKey key, Ipv4Address destination)
    {
        var test = new InsideTest(mapOrder, key, destination);
        return mapIndex.FindFirst(key.Source, destination, -1, ref test) >= 0;
    }

    /// <summary>Whether <paramref name="address"/> is one the NAT answers for (a map target, a redirect or bimap address).</summary>
    public bool IsExternalAddress(Ipv4Address address)
    {
        // The last range starting at or below the address.
        int low = 0;
        int high = externalFirst.Length - 1;
        while (low <= high)
        {
            int middle = (low + high) >>> 1;
            if (externalFirst[middle] <= address)
            {
                low = middle + 1;
            }
            else
            {
                high = middle - 1;
            }
        }
        return high >= 0 && address <= externalLast[high];
    }

    private static (Ipv4Address[] First, Ipv4Address[] Last) ExternalRanges(RuleSlot[] mapOrder, RuleSlot[] redirectOrder, RuleSlot[] nat64)
    {
        var ranges = new List<(Ipv4Address First, Ipv4Address Last)>();
        foreach (RuleSlot slot in mapOrder.Concat(nat64))
        {
            ranges.Add((slot.TranslatedFirst4, slot.TranslatedLast4));
        }
        foreach (RuleSlot slot in redirectOrder)
        {
            if (slot.Rule.Kind == NatRuleKind.Redirect && slot.Rule.Destination.Length > 0)
            {
                ranges.Add((slot.Destination4.First, slot.Destination4.Last));
            }
        }
        ranges.Sort();
        var first = new List<Ipv4Address>();
        var last = new List<Ipv4Address>();
        foreach ((Ipv4Address rangeFirst, Ipv4Address rangeLast) in ranges)
        {
            if (rangeLast < rangeFirst)
            {
                continue;
            }
            if (last.Count > 0 && (ulong)rangeFirst.Value <= (ulong)last[^1].Value + 1)
            {
                last[^1] = last[^1] > rangeLast ? last[^1] : rangeLast;
            }
            else
            {
                first.Add(rangeFirst);
                last.Add(rangeLast);
            }
        }
        return ([.. first], [.. last]);
    }

    private readonly struct RedirectTest(RuleSlot[] order, FlowKey key) : ICandidateTest
    {
        public bool Matches(int position) => RuleConditions.RedirectMatches(order[position], key);
    }

    private readonly struct MapTest(RuleSlot[] order, FlowKey key, Ipv4Address destination, ushort destinationPort) : ICandidateTest
    {
        public bool Matches(int position) => RuleConditions.MapMatches(order[position], key, destination, destinationPort);
    }

    private readonly struct NextMapTest(RuleSlot[] order, FlowKey key, Ipv4Address destination, ushort destinationPort, int after) : ICandidateTest
    {
        public bool Matches(int position) => position > after && RuleConditions.MapMatches(order[position], key, destination, destinationPort);
    }

    private readonly struct InsideTest(RuleSlot[] order, FlowKey key, Ipv4Address destination) : ICandidateTest
    {
        public bool Matches(int position) => RuleConditions.InsideButForProtocol(order[position], key, destination);
    }
}
