using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// The gateway the mutated-traffic replay runs through: a rule of every kind (map with a port
/// range, ICMP identifiers, every protocol by address, an address-and-port-dependent site, rdr,
/// round-robin rdr, bimap, map-block), IPv6 beside IPv4 (an NPTv6 prefix, a NAT66 site with map
/// and rdr, a NAT64 site through the Well-Known Prefix), small limits so that every refusal
/// happens (each of the three tables holds 5,120 sessions), and the addresses on either side.
/// </summary>
internal static class ReplayGateway
{
    public const string Rules = """
        # Site A: TCP and UDP from a port range, ICMP identifiers from a range, everything else by address.
        map out0 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp 20000:21023 age 120/30
        map out0 10.0.0.0/24 -> 198.51.100.10/32 icmpidmap icmp 20000:20255
        map out0 10.0.0.0/24 -> 198.51.100.10/32 age 60
        # Site B: two addresses, few ports, TCP and UDP only (its ICMP and GRE are refused).
        map out0 10.0.1.0/24 -> 198.51.100.12/31 portmap tcp/udp 1024:1279
        # Published services.
        rdr out0 198.51.100.20/32 port 8080-8089 -> 10.0.0.50 port 80 tcp/udp
        rdr out0 198.51.100.20/32 port 443 -> 10.0.0.51,10.0.0.52 port 443 tcp round-robin
        bimap out0 10.0.2.5/32 -> 198.51.100.30/32
        map-block out0 10.0.3.0/24 -> 198.51.100.40/32 ports 64
        # IPv6: prefix translation (NPTv6, RFC 6296).
        bimap out0 fd00:a::/48 -> 2001:db8:a::/48
        # NAT66, site C: TCP and UDP from a port range, ICMPv6 identifiers, the rest by address; a published service.
        map out0 fd00:c::/64 -> 2001:db8:c::10/128 portmap tcp/udp 30000:30511 icmpidmap icmp 30000:30127 age 120/30
        map out0 fd00:c::/64 -> 2001:db8:c::10/128 age 60
        rdr out0 2001:db8:c::20/128 port 8080-8083 -> fd00:c::50 port 80 tcp/udp
        # NAT64, site D: through the Well-Known Prefix 64:ff9b::/96 (RFC 6052), from its own IPv4 address.
        map out0 fd00:d::/64 -> 198.51.100.50/32 portmap tcp/udp 40000:40511 icmpidmap icmp 40000:40127
        """;

    /// <summary>The IPv6 bimap's internal and external /48s, as their first six bytes.</summary>
    public static readonly byte[] Ipv6Internal = [0xfd, 0x00, 0x00, 0x0a, 0x00, 0x00];

    public static readonly byte[] Ipv6External = [0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0a];

    public static readonly Ipv4Address SiteAExternal = Ipv4Address.Parse("198.51.100.10");
    public static readonly Ipv4Address SiteBExternal = Ipv4Address.Parse("198.51.100.12");
    public static readonly Ipv4Address RedirectExternal = Ipv4Address.Parse("198.51.100.20");
    public static readonly Ipv4Address BimapExternal = Ipv4Address.Parse("198.51.100.30");
    public static readonly Ipv4Address BlockExternal = Ipv4Address.Parse("198.51.100.40");
    public static readonly Ipv4Address Gateway = Ipv4Address.Parse("10.0.0.1");
    public static readonly Ipv4Address Router = Ipv4Address.Parse("203.0.113.254");
    public static readonly Ipv4Address Nat64External = Ipv4Address.Parse("198.51.100.50");

    /// <summary>NAT66's external address for site C's maps, and its published service's.</summary>
    public static readonly Ipv6Address Nat66External = Ipv6Address.Parse("2001:db8:c::10", null);
    public static readonly Ipv6Address Nat66RedirectExternal = Ipv6Address.Parse("2001:db8:c::20", null);
    public static readonly Ipv6Address Nat66Gateway = Ipv6Address.Parse("fd00:c::1", null);
    public static readonly Ipv6Address Ipv6Router = Ipv6Address.Parse("2001:db8:ff::1", null);

    /// <summary>IPv6's external addresses that NAT66 answers for.</summary>
    public static readonly Ipv6Address[] Nat66Externals = [Nat66External, Nat66RedirectExternal];

    /// <summary>Site C's hosts (NAT66; fd00:c::50 serves the redirect) and site D's (NAT64).</summary>
    public static readonly Ipv6Address[] Nat66Hosts = Ipv6Hosts("fd00:c::", 2, 20);

    public static readonly Ipv6Address[] Nat64Hosts = Ipv6Hosts("fd00:d::", 2, 20);

    /// <summary>Remote IPv6 hosts on the outside.</summary>
    public static readonly Ipv6Address[] Ipv6Remotes = Ipv6Hosts("2001:db8:ff::", 16, 16);

    /// <summary>IPv4 hosts behind NAT64 that the Well-Known Prefix must not stand for (RFC 6052 3.1): private, shared, loopback.</summary>
    public static readonly Ipv4Address[] NonGlobalRemotes = [Ipv4Address.Parse("10.0.0.50"), Ipv4Address.Parse("192.168.1.1"), Ipv4Address.Parse("100.64.0.1"), Ipv4Address.Parse("127.0.0.1")];

    /// <summary>External addresses, each once (site B's second one too).</summary>
    public static readonly Ipv4Address[] Externals = [SiteAExternal, SiteBExternal, SiteBExternal + 1, RedirectExternal, BimapExternal, BlockExternal, Nat64External];

    /// <summary>Inside hosts: site A, site B, the bimap host, map-block hosts, and hosts no rule translates.</summary>
    public static readonly Ipv4Address[] InsideHosts =
    [
        .. Hosts("10.0.0.0", 2, 30), .. Hosts("10.0.1.0", 2, 12), Ipv4Address.Parse("10.0.2.5"), .. Hosts("10.0.3.0", 2, 12), .. Hosts("10.0.9.0", 2, 3),
    ];

    /// <summary>Remote hosts on the outside.</summary>
    public static readonly Ipv4Address[] Remotes = Hosts("203.0.113.0", 1, 24);

    private static Ipv4Address[] Hosts(string network, int first, int count)
    {
        Ipv4Address start = Ipv4Address.Parse(network);
        Ipv4Address[] hosts = new Ipv4Address[count];
        for (int i = 0; i < count; i++)
        {
            hosts[i] = start + (uint)(first + i);
        }
        return hosts;
    }

    private static Ipv6Address[] Ipv6Hosts(string network, int first, int count)
    {
        Ipv6Address start = Ipv6Address.Parse(network, null);
        Ipv6Address[] hosts = new Ipv6Address[count];
        for (int i = 0; i < count; i++)
        {
            hosts[i] = new Ipv6Address(start.Value + (UInt128)(first + i));
        }
        return hosts;
    }

    public static NatEngine NewEngine(long startTicks)
    {
        var engine = new NatEngine(new NatEngineOptions
        {
            RandomSeed = 20_251_010,
            Limits = new FlowTableLimits { MaximumSessions = 5120, MaximumSessionsPerHost = 400, MaximumProbe = 8 },
            MaximumFragmentedDatagrams = 256,
            MaximumHeldFragments = 16,
        }, startTicks);
        List<NatRule> rules = [.. IpnatParser.Parse(Rules, "replay.conf").Rules];
        // Site A: full-cone UDP, address-dependent TCP; site B: address-and-port-dependent both ways.
        rules[0] = rules[0] with { Policy = rules[0].Policy with { UdpFiltering = FilteringBehavior.EndpointIndependent } };
        rules[3] = rules[3] with
        {
            Policy = rules[3].Policy with
            {
                Mapping = MappingBehavior.AddressAndPortDependent,
                UdpFiltering = FilteringBehavior.AddressAndPortDependent,
                TcpFiltering = FilteringBehavior.AddressAndPortDependent,
                UdpInboundRefresh = true,
                PreservePortParity = true,
            },
        };
        engine.LoadRules(rules);
        engine.SetLocalAddresses([Gateway]);
        engine.SetLocalAddresses([Nat66Gateway]);
        return engine;
    }

    /// <summary>The engine's flow table, for its consistency checker (the engine keeps it private).</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "table")]
    public static extern ref FlowTable TableOf(NatEngine engine);

    /// <summary>NAT66's flow table, once its first packet has made it; NAT64's is checked through <see cref="NatEngine.CheckNat64Consistency"/>.</summary>
    public static FlowTable<Ipv6Address>? Nat66TableOf(NatEngine engine) => Ipv6PartsOf(engine)?.Table;

    /// <summary>
    /// Pieces of a NAT64 packet split to fit IPv6's minimum MTU, waiting for <see cref="NatEngine.TryTakeReleasedPacket"/>:
    /// more packets out of one translated (and counted once), not held fragments released.
    /// </summary>
    public static int QueuedPiecesOf(NatEngine engine) => Nat64PartsOf(engine)?.QueuedPieces ?? 0;

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "nat64")]
    private static extern ref Nat64Parts? Nat64PartsOf(NatEngine engine);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "ipv6")]
    private static extern ref FamilyParts<Ipv6Address>? Ipv6PartsOf(NatEngine engine);
}
