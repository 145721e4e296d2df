using NatGate.Core.Addressing;
using NatGate.Core.Rules;

namespace NatGate.Core.Translation;

/// <summary>
/// A rule's prefixes and addresses in one family's own type, taken once when the rule is loaded,
/// so the parts that are generic over the family (the address pools, the new-session path) never
/// convert a rule's <see cref="IpPrefix"/> or <see cref="IpAddress"/> per packet.
/// </summary>
internal sealed class RuleAddresses<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    public RuleAddresses(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        (SourceNetwork, SourceLength) = Split(rule.Source);
        (DestinationNetwork, DestinationLength) = Split(rule.Destination);
        if (rule.Kind != NatRuleKind.Redirect)
        {
            TranslatedFirst = TAddress.From(rule.TranslatedFirst);
            TranslatedLast = TAddress.From(rule.TranslatedLast);
        }
        RedirectTargets = [.. rule.RedirectTargets.Select(TAddress.From)];
    }

    public TAddress SourceNetwork { get; }

    public int SourceLength { get; }

    public TAddress DestinationNetwork { get; }

    public int DestinationLength { get; }

    public TAddress TranslatedFirst { get; }

    public TAddress TranslatedLast { get; }

    public TAddress[] RedirectTargets { get; }

    /// <summary>Addresses in the source prefix, at most <see cref="ulong.MaxValue"/>.</summary>
    public ulong SourceCount => TAddress.Size * 8 - SourceLength >= 64 ? ulong.MaxValue : 1UL << (TAddress.Size * 8 - SourceLength);

    public bool SourceContains(TAddress address) => TAddress.InPrefix(address, SourceNetwork, SourceLength);

    public bool DestinationContains(TAddress address) => TAddress.InPrefix(address, DestinationNetwork, DestinationLength);

    /// <summary>The address's place in the source prefix (bimap and map-block number hosts by it).</summary>
    public ulong SourceOffsetOf(TAddress address) => TAddress.Distance(SourceNetwork, address);

    public bool TranslatedContains(TAddress address) => address.CompareTo(TranslatedFirst) >= 0 && address.CompareTo(TranslatedLast) <= 0;

    /// <summary>A prefix as a network and a length; "any" as the family's unspecified address /0.</summary>
    private static (TAddress Network, int Length) Split(IpPrefix prefix)
        => prefix.IsAny ? (TAddress.Any, 0) : (TAddress.From(prefix.First), prefix.Length);
}
