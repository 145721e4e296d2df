using NatGate.Core.Packets;
using System.Text.Json.Serialization;
using NatGate.Core.Addressing;
using NatGate.Core.Ports;

namespace NatGate.Core.Rules;

/// <summary>The kinds of IP Filter NAT rule (ipnat(5)).</summary>
public enum NatRuleKind : byte
{
    /// <summary>Source translation of outbound traffic (dynamic mappings).</summary>
    Map,

    /// <summary>Destination translation of inbound traffic (static port mappings, NetNat static mappings).</summary>
    Redirect,

    /// <summary>A 1:1 address mapping, both ways.</summary>
    Bidirectional,

    /// <summary>Source translation where each internal address owns a fixed block of external ports (ipnat map-block).</summary>
    MapBlock,
}

/// <summary>Which transport protocols a rule applies to.</summary>
[Flags]
public enum RuleProtocols : byte
{
    None = 0,
    Tcp = 1,
    Udp = 2,
    Icmp = 4,
    TcpUdp = Tcp | Udp,

    /// <summary>Everything: TCP, UDP, ICMP, and other protocols translated by address only.</summary>
    Any = 0xFF,
}

/// <summary>
/// A port condition in a rule's match: the ports First to Last inclusive, or with
/// <see cref="Excluding"/> every port outside them (ipnat's "port != n" and "port n &lt;&gt; m").
/// <see cref="Any"/> matches every port.
/// </summary>
public readonly record struct PortMatch(ushort First, ushort Last, bool Excluding = false)
{
    public static PortMatch Any => new(0, 65535);

    public static PortMatch Exactly(ushort port) => new(port, port);

    public bool IsAny => First == 0 && Last == 65535 && !Excluding;

    public bool Contains(ushort port) => (port >= First && port <= Last) != Excluding;
}

/// <summary>
/// An application proxy named by a rule (ipnat "proxy port ftp ftp/tcp"): the rule's sessions to
/// the port, in the protocol, are followed by the helper of that name. NatGate has the FTP helper
/// (src/NatGate.Core/Helpers/Ftp); other names are stored and do nothing.
/// </summary>
public sealed record ProxyReference(ushort Port, string Name, string Protocol)
{
    /// <summary>The FTP helper: "ftp/tcp".</summary>
    [JsonIgnore]
    public bool IsFtp => Name == "ftp" && Protocol == "tcp";

    /// <summary>
    /// Whether a session of the rule, by its protocol and its destination port before and after
    /// translation, is one the helper reads (a control connection): such a session must stay where
    /// the engine sees every packet. The rule's other sessions (the data connections among them) need not.
    /// </summary>
    public bool Reads(IpProtocol protocol, ushort destinationPort, ushort translatedDestinationPort)
        => protocol == (Protocol == "udp" ? IpProtocol.Udp : IpProtocol.Tcp) && (destinationPort == Port || translatedDestinationPort == Port);
}

/// <summary>
/// One translation rule, the meaning behind an ipnat.conf line or a NetNat object.
/// Rules are immutable once loaded; the engine numbers them.
/// </summary>
public sealed record NatRule
{
    public NatRuleKind Kind { get; init; }

    /// <summary>The interface named by the rule (where translated traffic leaves); null matches any.</summary>
    public string? Interface { get; init; }

    /// <summary>The inbound interface of ipnat's "in,out" pair form; null when the rule names one interface.</summary>
    public string? InsideInterface { get; init; }

    /// <summary>The source match is negated (ipnat "from !a.b.c.d/n").</summary>
    public bool SourceNegated { get; init; }

    /// <summary>The destination match is negated (ipnat "to !a.b.c.d/n").</summary>
    public bool DestinationNegated { get; init; }

    public RuleProtocols Protocols { get; init; } = RuleProtocols.Any;

    /// <summary>
    /// Map: the internal addresses whose traffic is translated. Redirect: which remotes may use it
    /// (NetNat RemoteExternalIPAddressPrefix, ipnat "from"). Bidirectional: the internal address.
    /// </summary>
    public IpPrefix Source { get; init; } = IpPrefix.Any;

    public PortMatch SourcePorts { get; init; } = PortMatch.Any;

    /// <summary>Map: destinations the rule applies to ("to"). Redirect: the external address matched.</summary>
    public IpPrefix Destination { get; init; } = IpPrefix.Any;

    /// <summary>Redirect: the external port or ports matched.</summary>
    public PortMatch DestinationPorts { get; init; } = PortMatch.Any;

    /// <summary>
    /// Map and MapBlock: the external addresses to translate to (first to last, inclusive).
    /// Bidirectional: the external address.
    /// </summary>
    public IpAddress TranslatedFirst { get; init; }

    public IpAddress TranslatedLast { get; init; }

    /// <summary>
    /// Map and MapBlock: the external address is this interface's address at the time (ipnat's
    /// "-> 0/32", --external IFACE), filled into <see cref="TranslatedFirst"/> by the daemon and
    /// moved when the interface's address changes; null for a fixed address.
    /// </summary>
    public string? TranslatedInterface { get; init; }

    /// <summary>Map: the external port range for TCP and UDP (portmap); null means the full range.</summary>
    public PortRange? TranslatedPorts { get; init; }

    /// <summary>Map: the external identifier range for ICMP queries (icmpidmap); null means the full range.</summary>
    public PortRange? TranslatedIcmpIdentifiers { get; init; }

    /// <summary>MapBlock: ports per internal address (ipnat "ports n"); 0 shares the range evenly.</summary>
    public int PortsPerAddress { get; init; }

    /// <summary>Redirect: the internal addresses to send to; several are used round-robin.</summary>
    public IReadOnlyList<IpAddress> RedirectTargets { get; init; } = [];

    /// <summary>Redirect: the first internal port; the destination port's offset into <see cref="DestinationPorts"/> is added to it.</summary>
    public ushort RedirectPort { get; init; }

    /// <summary>Redirect with several targets: pick the next for each new session (ipnat round-robin).</summary>
    public bool RoundRobin { get; init; }

    /// <summary>Redirect with several targets: the same remote address always reaches the same target (ipnat sticky).</summary>
    public bool Sticky { get; init; }

    /// <summary>Map: "portmap ... auto", the engine picks from 1024-65535.</summary>
    public bool PortmapAuto { get; init; }

    /// <summary>ipnat "frag": translate fragments of matching datagrams (NatGate always does; kept for the printer).</summary>
    public bool Fragments { get; init; }

    /// <summary>ipnat "age n/m": idle timeout in seconds for this rule's sessions (n), and after a TCP close (m); null keeps the policy's.</summary>
    public int? AgeSeconds { get; init; }

    public int? AgeClosingSeconds { get; init; }

    /// <summary>ipnat "mssclamp n": lower the TCP MSS option of SYNs through this rule to at most n; 0 for none.</summary>
    public ushort MssClamp { get; init; }

    /// <summary>ipnat "proxy port ftp ftp/tcp": the FTP helper follows the rule's control connections (docs/RULES.md).</summary>
    public ProxyReference? Proxy { get; init; }

    /// <summary>The behaviour (timeouts, mapping, filtering) of sessions this rule creates.</summary>
    public NatPolicy Policy { get; init; } = NatPolicy.Default;

    /// <summary>Where the rule came from (a file and line, a NetNat object, the command line); null when nobody said.</summary>
    [JsonIgnore]
    public RuleOrigin? Origin { get; init; }

    /// <summary>
    /// The origin as listings show it: "ipnat.conf:12", "nat lan", "nat lan mapping 3". Setting it
    /// gives the rule an origin known only by this text (<see cref="RuleOrigin.Described"/>): what a
    /// state file stores, and reads back.
    /// </summary>
    public string? Label
    {
        get => Origin?.Text;
        init => Origin = value is null ? null : new RuleOrigin.Described(value);
    }

    public bool AppliesTo(IpProtocol protocol) => protocol switch
    {
        IpProtocol.Tcp => (Protocols & RuleProtocols.Tcp) != 0,
        IpProtocol.Udp => (Protocols & RuleProtocols.Udp) != 0,
        IpProtocol.Icmp or IpProtocol.Icmpv6 => (Protocols & RuleProtocols.Icmp) != 0,
        _ => Protocols == RuleProtocols.Any,
    };

    /// <summary>Number of external addresses (Map, MapBlock), at most <see cref="ulong.MaxValue"/> (an IPv6 /64 pool holds 2^64).</summary>
    public ulong TranslatedCount
    {
        get
        {
            UInt128 count = IpAddress.CountFrom(TranslatedFirst, TranslatedLast);
            return count > ulong.MaxValue ? ulong.MaxValue : (ulong)count;
        }
    }

    /// <summary>
    /// An IPv6 rule: one of its prefixes or addresses is IPv6 (a rule's "any" fits either family).
    /// Each family's engine loads only its own rules.
    /// </summary>
    [JsonIgnore]
    public bool IsIpv6 => Source.IsIpv6 || Destination.IsIpv6 || TranslatedFirst.IsIpv6 || TranslatedLast.IsIpv6 || RedirectTargets.Any(target => target.IsIpv6);

    /// <summary>
    /// A NAT64 rule (RFC 6146): a map from IPv6 inside addresses to IPv4 external ones. Its
    /// destination is the NAT64 prefix (RFC 6052) the inside reaches IPv4 hosts through; "any"
    /// stands for the Well-Known Prefix 64:ff9b::/96. The one rule whose families differ.
    /// </summary>
    [JsonIgnore]
    public bool IsNat64 => Kind == NatRuleKind.Map && !TranslatedFirst.IsIpv6 && (Source.IsIpv6 || Destination.IsIpv6);

    /// <summary>Why the rule's addresses cannot stand together (they mix IPv4 and IPv6 other than as NAT64), or null.</summary>
    [JsonIgnore]
    public string? FamilyProblem
    {
        get
        {
            if (IsNat64)
            {
                // IPv6 on the inside (source, NAT64 prefix), IPv4 outside (the external addresses).
                return Source.FitsFamily(ipv6: true) && Destination.FitsFamily(ipv6: true) && !TranslatedLast.IsIpv6
                    ? null
                    : "the rule mixes IPv4 and IPv6 addresses as no NAT64 map does: NAT64 takes an IPv6 source and destination (the NAT64 prefix) and IPv4 external addresses";
            }
            bool ipv6 = IsIpv6;
            bool translatedSet = Kind != NatRuleKind.Redirect;
            if (!Source.FitsFamily(ipv6) || !Destination.FitsFamily(ipv6)
                || (translatedSet && (TranslatedFirst.IsIpv6 != ipv6 || TranslatedLast.IsIpv6 != ipv6))
                || RedirectTargets.Any(target => target.IsIpv6 != ipv6))
            {
                return "the rule mixes IPv4 and IPv6 addresses; only a map from IPv6 to IPv4 (NAT64) may, and every address of any other rule must be of one family";
            }
            return null;
        }
    }
}
