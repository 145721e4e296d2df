using NatGate.Core.Addressing;
using NatGate.Core.Ports;
using NatGate.Core.Rules;

namespace NatGate.Core.NetNat;

/// <summary>
/// The one way a NetNat-style map rule is made: an instance's external address
/// (<see cref="NetNatModel.Compile"/>), the command line's <c>--inside --external</c>, and
/// <see cref="Translation.NatEngine.MapRule"/> for tests and benchmarks all come here.
/// </summary>
public static class NetNatRules
{
    /// <summary>WinNAT translates TCP, UDP and ICMP; so does an instance (ipnat: portmap tcp/udp plus icmpidmap).</summary>
    public const RuleProtocols InstanceProtocols = RuleProtocols.TcpUdp | RuleProtocols.Icmp;

    /// <summary>
    /// A map rule from an internal prefix to one external address, of either family: an IPv6
    /// prefix and address make the NAT66 rule "map IF fd00::/64 -> 2001:db8::10/128 portmap
    /// tcp/udp ... icmpidmap ..." would.
    /// </summary>
    /// <param name="internalPrefix">The internal addresses whose traffic is translated.</param>
    /// <param name="externalAddress">The external address they appear as, of the prefix's family.</param>
    /// <param name="ports">Bounds both the TCP/UDP ports and the ICMP identifiers; null for the full range.</param>
    /// <param name="policy">The behaviour of the rule's sessions.</param>
    /// <param name="origin">Where the rule came from.</param>
    /// <param name="protocols">What it translates; an instance's three unless said.</param>
    /// <param name="externalInterface">The interface whose address <paramref name="externalAddress"/> is
    /// now; the daemon follows it as it changes (<see cref="NatRule.TranslatedInterface"/>). Null for a fixed address.</param>
    public static NatRule Map(
        IpPrefix internalPrefix,
        IpAddress externalAddress,
        PortRange? ports,
        NatPolicy policy,
        RuleOrigin? origin,
        RuleProtocols protocols = InstanceProtocols,
        string? externalInterface = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (!internalPrefix.FitsFamily(externalAddress.IsIpv6))
        {
            throw new ArgumentException($"The internal prefix {internalPrefix} and the external address {externalAddress} are of different families; a map rule translates one family.", nameof(externalAddress));
        }
        return new NatRule
        {
            Kind = NatRuleKind.Map,
            Protocols = protocols,
            Source = internalPrefix,
            TranslatedFirst = externalAddress,
            TranslatedLast = externalAddress,
            TranslatedInterface = externalInterface,
            TranslatedPorts = ports,
            TranslatedIcmpIdentifiers = ports,
            Policy = policy,
            Origin = origin,
        };
    }
}
