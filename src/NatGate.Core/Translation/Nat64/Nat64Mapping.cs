using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// A NAT64 map rule (RFC 6146) in the engine's own types, taken once when the rule is loaded:
/// the IPv6 inside it translates (its source, and source and destination ports), the NAT64
/// prefix (RFC 6052) the inside reaches IPv4 hosts through (the rule's destination; "any" is the
/// Well-Known Prefix 64:ff9b::/96), and the IPv4 external addresses its mappings take ports on.
/// </summary>
internal sealed class Nat64Mapping
{
    public Nat64Mapping(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        Rule = rule;
        Prefix = PrefixOf(rule);
        if (!rule.Source.IsAny)
        {
            SourceNetwork = rule.Source.First.AsIpv6;
            SourceLength = rule.Source.Length;
        }
        TranslatedFirst = rule.TranslatedFirst.AsIpv4;
        TranslatedLast = rule.TranslatedLast.AsIpv4;
    }

    public NatRule Rule { get; }

    /// <summary>The NAT64 prefix: IPv4 host a.b.c.d is <c>Prefix.Embed(a.b.c.d)</c> to the inside.</summary>
    public Nat64Prefix Prefix { get; }

    public Ipv6Address SourceNetwork { get; }

    public int SourceLength { get; }

    public Ipv4Address TranslatedFirst { get; }

    public Ipv4Address TranslatedLast { get; }

    /// <summary>External addresses, first to last.</summary>
    public ulong TranslatedCount => (ulong)TranslatedLast.Value - TranslatedFirst.Value + 1;

    /// <summary>Whether <paramref name="source"/> is an inside address this rule translates.</summary>
    public bool SourceMatches(Ipv6Address source)
        => (SourceLength == 0 || (source.Value >> (128 - SourceLength)) == (SourceNetwork.Value >> (128 - SourceLength))) != Rule.SourceNegated;

    /// <summary>Whether the rule translates a new flow of <paramref name="key"/> (an IPv6 packet to an address in the prefix): inside, protocol and ports.</summary>
    public bool Matches(in Sessions.FlowKey<Ipv6Address> key)
        => Rule.AppliesTo(key.Protocol) && SourceMatches(key.Source)
        && (key.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp)
            || (Rule.SourcePorts.Contains(key.SourcePort) && Rule.DestinationPorts.Contains(key.DestinationPort)));

    /// <summary>
    /// Whether an IPv4 host may stand in the prefix: the Well-Known Prefix must not be used for
    /// non-global addresses (RFC 6052 section 3.1), such as RFC 1918's; a prefix of the operator's
    /// own may stand for any.
    /// </summary>
    public bool Allows(Ipv4Address address) => !Prefix.IsWellKnown || IsGlobal(address);

    /// <summary>
    /// Not private (RFC 1918), shared (RFC 6598), loopback, link-local, "this network", multicast,
    /// reserved or broadcast. The documentation ranges (RFC 5737) are taken as global: they stand
    /// for public addresses in examples and tests.
    /// </summary>
    public static bool IsGlobal(Ipv4Address address)
    {
        uint value = address.Value;
        return !(value >> 24 is 0 or 10 or 127 || value >> 20 == (172 << 4 | 1) || value >> 16 == (192 << 8 | 168)
            || value >> 22 == (100 << 2 | 1) || value >> 16 == (169 << 8 | 254) || value >> 28 >= 14);
    }

    /// <summary>The rule's NAT64 prefix: its destination, or the Well-Known Prefix for "any". The rule must be valid (<see cref="ProblemOf"/>).</summary>
    public static Nat64Prefix PrefixOf(NatRule rule) => Nat64Prefix.Of(rule);

    /// <summary>Why a NAT64 rule cannot be loaded, as a sentence without its first capital; null when it can.</summary>
    public static string? ProblemOf(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule.DestinationNegated)
        {
            return "a NAT64 map's destination is its NAT64 prefix and cannot be negated; write the prefix (such as 64:ff9b::/96) or leave it out";
        }
        if (!rule.Destination.IsAny)
        {
            try
            {
                _ = new Nat64Prefix(rule.Destination);
            }
            catch (ArgumentException problem)
            {
                return $"a NAT64 map's destination is its NAT64 prefix: {char.ToLowerInvariant(problem.Message[0])}{problem.Message[1..]}";
            }
        }
        if (rule.TranslatedInterface is null && (rule.TranslatedLast.AsIpv4 < rule.TranslatedFirst.AsIpv4 || rule.TranslatedFirst.AsIpv4 == Ipv4Address.Any))
        {
            return "a NAT64 map needs at least one IPv4 external address, such as 203.0.113.10/32";
        }
        return null;
    }
}
