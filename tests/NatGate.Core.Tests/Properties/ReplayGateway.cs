using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// The gateway the mutated-traffic replay runs through: a rule of every kind (map with a port
/// range, ICMP identifiers, every protocol by address, an address-and-port-dependent site, rdr,
/// round-robin rdr, bimap, map-block), small limits so that every refusal happens, and the
/// addresses on either side.
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

    /// <summary>External addresses, each once (site B's second one too).</summary>
    public static readonly Ipv4Address[] Externals = [SiteAExternal, SiteBExternal, SiteBExternal + 1, RedirectExternal, BimapExternal, BlockExternal];

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

    public static NatEngine NewEngine(long startTicks)
    {
        var engine = new NatEngine(new NatEngineOptions
        {
            RandomSeed = 20_251_010,
            Limits = new FlowTableLimits { MaximumSessions = 6144, MaximumSessionsPerHost = 400, MaximumProbe = 8 },
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
        return engine;
    }

    /// <summary>The engine's flow table, for its consistency checker (the engine keeps it private).</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "table")]
    public static extern ref FlowTable TableOf(NatEngine engine);
}
