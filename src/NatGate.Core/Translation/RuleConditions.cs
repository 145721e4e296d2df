using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>A rule's full conditions, as IP Filter matches them, for either family.</summary>
internal static class RuleConditions
{
    /// <summary>A redirect's or bimap's full condition, as IP Filter's rdr matching has it.</summary>
    public static bool RedirectMatches<TAddress>(RuleSlot slot, FlowKey<TAddress> key)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        NatRule rule = slot.Rule;
        if (!rule.AppliesTo(key.Protocol))
        {
            return false;
        }
        RuleAddresses<TAddress> addresses = slot.AddressesOf<TAddress>();
        if (rule.Kind == NatRuleKind.Bidirectional)
        {
            return addresses.TranslatedContains(key.Destination);
        }
        bool portMatters = key.Protocol is IpProtocol.Tcp or IpProtocol.Udp;
        return addresses.DestinationContains(key.Destination) != rule.DestinationNegated
            && (!portMatters || rule.DestinationPorts.Contains(key.DestinationPort))
            && (portMatters || rule.DestinationPorts.IsAny)
            && addresses.SourceContains(key.Source) != rule.SourceNegated
            && (!portMatters || rule.SourcePorts.Contains(key.SourcePort));
    }

    /// <summary>A map rule's full condition.</summary>
    public static bool MapMatches<TAddress>(RuleSlot slot, FlowKey<TAddress> key, TAddress destination, ushort destinationPort)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        RuleAddresses<TAddress> addresses = slot.AddressesOf<TAddress>();
        return slot.Rule.AppliesTo(key.Protocol) && addresses.SourceContains(key.Source) != slot.Rule.SourceNegated
            && addresses.DestinationContains(destination) != slot.Rule.DestinationNegated
            && (key.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp)
                || (slot.Rule.SourcePorts.Contains(key.SourcePort) && slot.Rule.DestinationPorts.Contains(destinationPort)));
    }

    /// <summary>
    /// A map rule that would take the packet but for its protocol: it comes from the rule's inside and
    /// goes where the rule translates to. (Its ports are the operator's choice; its protocols are what it can.)
    /// </summary>
    public static bool InsideButForProtocol<TAddress>(RuleSlot slot, FlowKey<TAddress> key, TAddress destination)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        RuleAddresses<TAddress> addresses = slot.AddressesOf<TAddress>();
        return !slot.Rule.AppliesTo(key.Protocol) && addresses.SourceContains(key.Source) != slot.Rule.SourceNegated
            && addresses.DestinationContains(destination) != slot.Rule.DestinationNegated
            && !addresses.SourceContains(destination);
    }
}
