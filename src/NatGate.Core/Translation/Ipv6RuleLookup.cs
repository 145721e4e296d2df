using NatGate.Core.Addressing;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// IPv6's stateful rules (NAT66 map, map-block, rdr) in IP Filter's order, most specific prefix
/// first and rule number among equals, walked in turn: a gateway has a handful of IPv6 rules,
/// where IPv4's thousands need <see cref="RuleMatcher"/>'s index. Immutable.
/// </summary>
internal sealed class Ipv6RuleLookup : IRuleLookup<Ipv6Address>
{
    private readonly RuleSlot[] maps;
    private readonly RuleSlot[] redirects;

    public Ipv6RuleLookup(IEnumerable<RuleSlot> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        RuleSlot[] all = [.. rules];
        maps = [.. all.Where(slot => slot.Rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock)
            .OrderByDescending(slot => slot.Rule.Source.Length).ThenBy(slot => slot.Index)];
        redirects = [.. all.Where(slot => slot.Rule.Kind == NatRuleKind.Redirect)
            .OrderByDescending(slot => slot.Rule.Destination.Length).ThenBy(slot => slot.Index)];
    }

    public static Ipv6RuleLookup Empty { get; } = new([]);

    public int Count => maps.Length + redirects.Length;

    public RuleSlot? FindRedirect(FlowKey<Ipv6Address> key)
    {
        foreach (RuleSlot slot in redirects)
        {
            if (RuleConditions.RedirectMatches(slot, key))
            {
                return slot;
            }
        }
        return null;
    }

    public RuleSlot? FindMap(FlowKey<Ipv6Address> key, Ipv6Address destination, ushort destinationPort)
        => FindMapAfter(-1, key, destination, destinationPort);

    public RuleSlot? FindNextMap(FlowKey<Ipv6Address> key, Ipv6Address destination, ushort destinationPort, RuleSlot previous)
        => FindMapAfter(Array.IndexOf(maps, previous), key, destination, destinationPort);

    private RuleSlot? FindMapAfter(int after, FlowKey<Ipv6Address> key, Ipv6Address destination, ushort destinationPort)
    {
        for (int position = after + 1; position < maps.Length; position++)
        {
            if (RuleConditions.MapMatches(maps[position], key, destination, destinationPort))
            {
                return maps[position];
            }
        }
        return null;
    }

    public bool IsInsideOfSomeMap(FlowKey<Ipv6Address> key, Ipv6Address destination)
    {
        foreach (RuleSlot slot in maps)
        {
            if (RuleConditions.InsideButForProtocol(slot, key, destination))
            {
                return true;
            }
        }
        return false;
    }

    public bool IsExternalAddress(Ipv6Address address)
    {
        foreach (RuleSlot slot in maps)
        {
            if (slot.AddressesOf<Ipv6Address>().TranslatedContains(address))
            {
                return true;
            }
        }
        foreach (RuleSlot slot in redirects)
        {
            if (slot.AddressesOf<Ipv6Address>().DestinationContains(address) && slot.Rule.Destination.Length > 0)
            {
                return true;
            }
        }
        return false;
    }
}
