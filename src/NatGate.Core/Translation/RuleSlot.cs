using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;

namespace NatGate.Core.Translation;

/// <summary>A loaded rule with its engine-side state. Its index is stored in every session it made.</summary>
internal sealed class RuleSlot(int index, NatRule rule)
{
    /// <summary>The rule's number. A prepared rule's is provisional (its place in the set) until the set is loaded.</summary>
    public int Index { get; set; } = index;

    public NatRule Rule { get; } = rule;

    /// <summary>False once removed (ipnat -r): no new sessions, existing ones live on as orphans until purged or expired.</summary>
    public bool Active { get; set; } = true;

    /// <summary>Sessions that name this rule; a removed rule's slot is reused only when this is zero.</summary>
    public int Sessions { get; set; }

    /// <summary>
    /// Sessions this rule has made from packets since it was loaded (ipnat -h, IP Filter's
    /// in_hits): counted once per session on the new-session path, never per packet, and not
    /// for sessions put or restored.
    /// </summary>
    public long Hits { get; set; }

    /// <summary>Next target for round-robin redirects.</summary>
    public int NextTarget { get; set; }

    // The rule's addresses in the IPv4 engine's own types, taken once at load (an IPv6 rule has
    // none: the IPv4 engine never loads one).
    public Ipv4Prefix Source4 { get; } = rule.IsIpv6 ? default : rule.Source.AsIpv4;

    public Ipv4Prefix Destination4 { get; } = rule.IsIpv6 ? default : rule.Destination.AsIpv4;

    // A NAT64 rule's external addresses are IPv4 too.
    public Ipv4Address TranslatedFirst4 { get; } = rule.IsIpv6 && !rule.IsNat64 ? default : rule.TranslatedFirst.AsIpv4;

    public Ipv4Address TranslatedLast4 { get; } = rule.IsIpv6 && !rule.IsNat64 ? default : rule.TranslatedLast.AsIpv4;

    public Ipv4Address[] RedirectTargets4 { get; } = rule.IsIpv6 ? [] : [.. rule.RedirectTargets.Select(target => target.AsIpv4)];

    // The same, for the parts generic over the family: one of the two is set, by the rule's family.
    private readonly RuleAddresses<Ipv4Address>? ipv4Addresses = rule.IsIpv6 ? null : new RuleAddresses<Ipv4Address>(rule);
    private readonly RuleAddresses<Ipv6Address>? ipv6Addresses = rule.IsIpv6 && !rule.IsNat64 ? new RuleAddresses<Ipv6Address>(rule) : null;

    /// <summary>
    /// The rule's addresses in <typeparamref name="TAddress"/>'s family. The type test is decided
    /// when the JIT compiles each family's copy of the caller, so it costs nothing per packet.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RuleAddresses<TAddress> AddressesOf<TAddress>()
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => typeof(TAddress) == typeof(Ipv4Address)
            ? Unsafe.As<RuleAddresses<TAddress>>(ipv4Addresses ?? throw WrongFamily())
            : Unsafe.As<RuleAddresses<TAddress>>(ipv6Addresses ?? throw WrongFamily());

    private InvalidOperationException WrongFamily() => new($"Rule {Index} is {(Rule.IsIpv6 ? "an IPv6" : "an IPv4")} rule, not of the family asked for.");

    /// <summary>
    /// An IPv6 bimap: one prefix to another of the same length, stateless and checksum-neutral
    /// (NPTv6, RFC 6296), with no sessions. Null for every other rule.
    /// </summary>
    public Npt.Nptv6Mapping? PrefixTranslation { get; } = rule is { IsIpv6: true, Kind: NatRuleKind.Bidirectional }
        ? new Npt.Nptv6Mapping(rule.Source, IpPrefix.Covering(rule.TranslatedFirst, rule.TranslatedLast)) : null;

    /// <summary>A NAT64 map (RFC 6146): its IPv6 inside, its NAT64 prefix and its IPv4 addresses. Null for every other rule.</summary>
    public Nat64.Nat64Mapping? Nat64 { get; } = rule.IsNat64 ? new Nat64.Nat64Mapping(rule) : null;

    /// <summary>Copied from the policy so the per-packet path reads one field.</summary>
    public bool UdpInboundRefresh { get; } = rule.Policy.UdpInboundRefresh;

    // ipnat "age n/m" overrides the policy: n for idle sessions, m for closing TCP ones.
    public long UdpTimeoutTicks { get; } = AgeOr(rule.AgeSeconds, rule.Policy.UdpIdleTimeout);

    public long TcpEstablishedTimeoutTicks { get; } = AgeOr(rule.AgeSeconds, rule.Policy.TcpEstablishedTimeout);

    public long TcpTransitoryTimeoutTicks { get; } = AgeOr(rule.AgeClosingSeconds ?? rule.AgeSeconds, rule.Policy.TcpTransitoryTimeout);

    public long IcmpTimeoutTicks { get; } = AgeOr(rule.AgeSeconds, rule.Policy.IcmpQueryTimeout);

    public long OtherTimeoutTicks { get; } = AgeOr(rule.AgeSeconds, rule.Policy.OtherIdleTimeout);

    /// <summary>The mapping behaviour of the sessions this rule makes.</summary>
    public Behaviours.MappingPolicy Mapping { get; } = Behaviours.MappingPolicy.For(rule.Policy.Mapping);

    private readonly Behaviours.FilteringPolicy tcpFiltering = Behaviours.FilteringPolicy.For(rule.Policy.TcpFiltering);
    private readonly Behaviours.FilteringPolicy otherFiltering = Behaviours.FilteringPolicy.For(rule.Policy.UdpFiltering);

    /// <summary>The filtering its mappings apply: TCP's for TCP, UDP's for everything else (as <see cref="NatPolicy.FilteringFor"/>).</summary>
    public Behaviours.FilteringPolicy FilteringFor(IpProtocol protocol) => protocol == Packets.IpProtocol.Tcp ? tcpFiltering : otherFiltering;

    private static long AgeOr(int? ageSeconds, TimeSpan policy) => ageSeconds is { } age ? age * TimeSpan.TicksPerSecond : policy.Ticks;

    /// <summary>The port range for a protocol's external ports or identifiers.</summary>
    public PortRange RangeFor(IpProtocol protocol)
        => protocol is IpProtocol.Icmp or IpProtocol.Icmpv6 ? Rule.TranslatedIcmpIdentifiers ?? PortRange.All
        : Rule.TranslatedPorts ?? (Rule.PortmapAuto ? new PortRange(1024, 65535) : PortRange.All);
}
