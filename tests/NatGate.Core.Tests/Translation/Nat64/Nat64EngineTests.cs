using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>
/// Stateful NAT64 in the engine (RFC 6146): IPv6 inside hosts reach IPv4 servers through a NAT64
/// prefix, from the IPv4 external address of their map rule. Each translated packet is compared
/// byte for byte with the packet the other end should receive, built here from scratch with every
/// checksum computed in full.
/// </summary>
public sealed class Nat64EngineTests
{
    private const string Rules = "map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp auto icmpidmap icmp 1024:65535";

    private static readonly Ipv6Address Inside = Ipv6Address.Parse("fd00:77::2", null);
    private static readonly Ipv6Address OtherInside = Ipv6Address.Parse("fd00:77::3", null);
    private static readonly Ipv4Address External = Ipv4Address.Parse("203.0.113.10");
    private static readonly Ipv4Address Server = Ipv4Address.Parse("198.51.100.20");
    private static readonly Ipv6Address Server6 = Nat64Prefix.WellKnown.Embed(Server);
    private static readonly byte[] Payload = "nat64 payload, both ways"u8.ToArray();

    internal static NatEngine Engine(string rules = Rules, NatPolicy? policy = null)
    {
        // A small table: the properties make hundreds of engines.
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 7, Limits = new FlowTableLimits { MaximumSessions = 4096 } }, 0);
        IEnumerable<NatRule> parsed = IpnatParser.Parse(rules, "ipnat.conf").Rules;
        engine.LoadRules(policy is null ? parsed : parsed.Select(rule => rule with { Policy = policy }));
        return engine;
    }

    /// <summary>Translates in a buffer with room to grow (as a device batch slot has); returns the result and the bytes.</summary>
    internal static (TranslationResult Result, byte[] Packet) Send(NatEngine engine, byte[] packet, long now = 0, bool checksumPartial = false)
    {
        var buffer = new byte[packet.Length + 64];
        packet.CopyTo(buffer, 0);
        TranslationResult result = engine.Translate(buffer, packet.Length, now, checksumPartial);
        return (result, buffer[..result.Length]);
    }

    private static ushort SourcePortOf(byte[] ipv4Packet) => BinaryPrimitives.ReadUInt16BigEndian(ipv4Packet.AsSpan(20));

    private static ushort IdentificationOf(byte[] ipv4Packet) => BinaryPrimitives.ReadUInt16BigEndian(ipv4Packet.AsSpan(4));

    [Fact]
    public void Udp_leaves_as_ipv4_from_the_external_address_and_its_reply_comes_back_as_ipv6()
    {
        NatEngine engine = Engine();
        byte[] outbound = Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload), hopLimit: 63);
        (TranslationResult result, byte[] sent) = Send(engine, outbound);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(outbound.Length - 20, result.Length);
        // The port is kept when free (RFC 4787 REQ-3); the identification is the translator's choice.
        Assert.Equal((ushort)40000, SourcePortOf(sent));
        byte[] expected = Ipv4(External, Server, IpProtocol.Udp, Udp(40000, 53, Payload), timeToLive: 63, identification: IdentificationOf(sent));
        Assert.Equal(Hex(expected), Hex(sent));
        Assert.True(Ipv4ChecksumsValid(sent));

        byte[] reply = Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, Payload), timeToLive: 50);
        (result, byte[] received) = Send(engine, reply);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(53, 40000, Payload), hopLimit: 50)), Hex(received));
        Assert.True(Ipv6ChecksumValid(received));
        Assert.Equal(1, engine.Nat64SessionCount);
        Assert.Equal(0, engine.SessionCount);
        Assert.Equal(0, engine.Ipv6SessionCount);
    }

    [Fact]
    public void Tcp_takes_another_port_when_the_inside_one_is_taken_and_checksums_follow()
    {
        NatEngine engine = Engine();
        Send(engine, Ipv6(OtherInside, Server6, IpProtocol.Tcp, Tcp(40000, 80, Payload)));
        byte[] outbound = Ipv6(Inside, Server6, IpProtocol.Tcp, Tcp(40000, 80, Payload));
        (TranslationResult result, byte[] sent) = Send(engine, outbound);
        Assert.Equal(Verdict.Forward, result.Verdict);
        ushort externalPort = SourcePortOf(sent);
        Assert.NotEqual((ushort)40000, externalPort);
        Assert.InRange(externalPort, (ushort)1024, (ushort)65535);
        Assert.Equal(Hex(Ipv4(External, Server, IpProtocol.Tcp, Tcp(externalPort, 80, Payload), identification: IdentificationOf(sent))), Hex(sent));

        (result, byte[] received) = Send(engine, Ipv4(Server, External, IpProtocol.Tcp, Tcp(80, externalPort, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Tcp, Tcp(80, 40000, Payload))), Hex(received));
    }

    [Fact]
    public void An_icmpv6_echo_becomes_an_icmp_echo_with_an_identifier_of_the_external_address_and_its_reply_returns()
    {
        NatEngine engine = Engine();
        byte[] request = Ipv6(Inside, Server6, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 0x1234, 1, Payload));
        (TranslationResult result, byte[] sent) = Send(engine, request);
        Assert.Equal(Verdict.Forward, result.Verdict);
        ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(24));
        Assert.InRange(identifier, (ushort)1024, (ushort)65535);
        Assert.Equal(Hex(Ipv4(External, Server, IpProtocol.Icmp, Echo(IcmpType.Echo, identifier, 1, Payload), identification: IdentificationOf(sent))), Hex(sent));

        (result, byte[] received) = Send(engine, Ipv4(Server, External, IpProtocol.Icmp, Echo(IcmpType.EchoReply, identifier, 1, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoReply, 0x1234, 1, Payload))), Hex(received));

        // An outside request carrying the identifier is no answer to the host's query (RFC 5508 REQ-3).
        Assert.Equal(DropReason.NoSession, Send(engine, Ipv4(Server, External, IpProtocol.Icmp, Echo(IcmpType.Echo, identifier, 2, Payload))).Result.Reason);
    }

    [Fact]
    public void Unsolicited_ipv4_is_refused_and_filtering_admits_only_what_the_behaviour_allows()
    {
        NatEngine engine = Engine();
        Assert.Equal(DropReason.NoSession, Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, Payload))).Result.Reason);
        Assert.Equal(0, engine.Nat64SessionCount);

        Send(engine, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        // Address-dependent filtering (the default): the server from another port gets in, another host does not.
        (TranslationResult result, byte[] received) = Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(5353, 40000, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(5353, 40000, Payload))), Hex(received));
        Ipv4Address stranger = Ipv4Address.Parse("198.51.100.99");
        Assert.Equal(DropReason.Filtered, Send(engine, Ipv4(stranger, External, IpProtocol.Udp, Udp(53, 40000, Payload))).Result.Reason);

        // Endpoint-independent filtering admits the stranger, who reaches the inside host from its own IPv4-embedded address.
        NatEngine open = Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Send(open, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        (result, received) = Send(open, Ipv4(stranger, External, IpProtocol.Udp, Udp(53, 40000, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv6(Nat64Prefix.WellKnown.Embed(stranger), Inside, IpProtocol.Udp, Udp(53, 40000, Payload))), Hex(received));
        // ... and the inside host's answer goes back to it.
        (result, byte[] answer) = Send(open, Ipv6(Inside, Nat64Prefix.WellKnown.Embed(stranger), IpProtocol.Udp, Udp(40000, 53, Payload)));
        Assert.Equal(Hex(Ipv4(External, stranger, IpProtocol.Udp, Udp(40000, 53, Payload), identification: IdentificationOf(answer))), Hex(answer));

        // An unsolicited TCP segment that is not a SYN never opens a session.
        Assert.Equal(DropReason.NoSession, Send(engine, Ipv4(Server, External, IpProtocol.Tcp, Tcp(80, 41000, Payload))).Result.Reason);
    }

    [Fact]
    public void Nat64_and_ipv4_napt_share_the_external_ports_and_never_hand_out_one_twice()
    {
        const string Shared = """
            map wan0 10.77.0.0/24 -> 203.0.113.10/32 portmap tcp/udp 40000:40001
            map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp 40000:40001
            """;
        NatEngine engine = Engine(Shared);
        Ipv4Address inside4 = Ipv4Address.Parse("10.77.0.2");
        (TranslationResult result, byte[] first) = Send(engine, Ipv4(inside4, Server, IpProtocol.Udp, Udp(40000, 53, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal((ushort)40000, SourcePortOf(first));

        (result, byte[] second) = Send(engine, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal((ushort)40001, SourcePortOf(second)); // 40000 is the IPv4 host's

        // The range is spent: neither family gets a third.
        Assert.Equal(DropReason.PortsExhausted, Send(engine, Ipv6(OtherInside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload))).Result.Reason);
        Assert.Equal(DropReason.PortsExhausted, Send(engine, Ipv4(Ipv4Address.Parse("10.77.0.3"), Server, IpProtocol.Udp, Udp(40000, 53, Payload))).Result.Reason);

        // Each reply reaches its own family's host.
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(53, 40000, Payload))),
            Hex(Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40001, Payload))).Packet));
        byte[] toIpv4Host = Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, Payload))).Packet;
        Assert.Equal(inside4, Ipv4Address.Read(toIpv4Host.AsSpan(16)));

        // When NAT64's mapping expires its port goes back to the shared allocator (after UDP's quarantine).
        engine.ExpireSessions(TimeSpan.FromMinutes(10).Ticks);
        Assert.Equal(0, engine.Nat64SessionCount);
        (result, byte[] again) = Send(engine, Ipv6(OtherInside, Server6, IpProtocol.Udp, Udp(40001, 53, Payload)), now: TimeSpan.FromMinutes(20).Ticks);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.InRange(SourcePortOf(again), (ushort)40000, (ushort)40001);
    }

    [Fact]
    public void A_host_refused_for_want_of_ports_hears_address_unreachable_from_where_it_tried()
    {
        NatEngine engine = Engine("map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp 40000:40000");
        Send(engine, Ipv6(OtherInside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        byte[] refused = Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload));
        (TranslationResult result, byte[] reply) = Send(engine, (byte[])refused.Clone());
        Assert.Equal(Verdict.Reply, result.Verdict);
        Assert.Equal(DropReason.PortsExhausted, result.Reason);
        // RFC 6146 3.5.1: ICMPv6 destination unreachable, code 3, quoting the refused packet.
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 3, 0, refused))), Hex(reply));
        Assert.Equal(1, engine.Statistics().Drops[nameof(DropReason.PortsExhausted)]);

        var quiet = new NatEngine(new NatEngineOptions { ReplyToRefusedSessions = false, Limits = new FlowTableLimits { MaximumSessions = 4096 } }, 0);
        quiet.LoadRules(IpnatParser.Parse("map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp 40000:40000", "ipnat.conf").Rules);
        Send(quiet, Ipv6(OtherInside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        Assert.Equal(Verdict.Drop, Send(quiet, refused).Result.Verdict);
    }

    [Fact]
    public void A_redirected_ipv4_port_is_never_a_nat64_mapping()
    {
        NatEngine engine = Engine("""
            rdr wan0 203.0.113.10/32 port 40000 -> 10.77.0.5 port 80 udp
            map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp 40000:40001
            """);
        (TranslationResult result, byte[] sent) = Send(engine, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal((ushort)40001, SourcePortOf(sent));
    }

    [Fact]
    public void The_well_known_prefix_refuses_non_global_ipv4_and_a_prefix_of_ones_own_takes_any()
    {
        NatEngine engine = Engine();
        Ipv4Address privateServer = Ipv4Address.Parse("10.1.2.3");
        TranslationResult refused = Send(engine, Ipv6(Inside, Nat64Prefix.WellKnown.Embed(privateServer), IpProtocol.Udp, Udp(40000, 53, Payload))).Result;
        Assert.Equal(DropReason.UntranslatableAcrossFamilies, refused.Reason);
        Assert.Equal(0, engine.Nat64SessionCount);

        var own = Nat64Prefix.Parse("2001:db8:64::/48");
        NatEngine configured = Engine("map wan0 from fd00:77::/64 to 2001:db8:64::/48 -> 203.0.113.10/32 portmap tcp/udp auto");
        (TranslationResult result, byte[] sent) = Send(configured, Ipv6(Inside, own.Embed(privateServer), IpProtocol.Udp, Udp(40000, 53, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv4(External, privateServer, IpProtocol.Udp, Udp(40000, 53, Payload), identification: IdentificationOf(sent))), Hex(sent));
        (result, byte[] received) = Send(configured, Ipv4(privateServer, External, IpProtocol.Udp, Udp(53, 40000, Payload)));
        Assert.Equal(Hex(Ipv6(own.Embed(privateServer), Inside, IpProtocol.Udp, Udp(53, 40000, Payload))), Hex(received));

        // The Well-Known Prefix is not this rule's: an address in it is none of NAT64's here.
        Assert.NotEqual(Verdict.Forward, Send(configured, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40001, 53, Payload))).Result.Verdict);
    }

    [Fact]
    public void Protocols_the_rule_does_not_name_and_neighbour_discovery_never_cross()
    {
        NatEngine engine = Engine("map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap udp auto");
        Assert.Equal(DropReason.ProtocolNotTranslated, Send(engine, Ipv6(Inside, Server6, IpProtocol.Tcp, Tcp(40000, 80, Payload))).Result.Reason);
        Assert.Equal(DropReason.ProtocolNotTranslated, Send(engine, Ipv6(Inside, Server6, (IpProtocol)132, new byte[12], fillChecksum: false)).Result.Reason);
        byte[] solicitation = Ipv6(Inside, Server6, IpProtocol.Icmpv6, Icmp(135, 0, 0, new byte[16]) /* neighbour solicitation */);
        Assert.Equal(DropReason.Unsupported, Send(engine, solicitation).Result.Reason);
        Assert.Equal(0, engine.Nat64SessionCount);
    }

    [Fact]
    public void A_port_unreachable_from_the_server_reaches_the_inside_host_as_icmpv6_quoting_its_own_packet()
    {
        NatEngine engine = Engine();
        byte[] original = Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload));
        byte[] sent = Send(engine, (byte[])original.Clone()).Packet;

        byte[] error = Ipv4(Server, External, IpProtocol.Icmp, Icmp(IcmpType.DestinationUnreachable, 3, 0, sent));
        (TranslationResult result, byte[] received) = Send(engine, error);
        Assert.Equal(Verdict.Forward, result.Verdict);
        // RFC 7915 4.2: port unreachable is ICMPv6 type 1 code 4; the quote is the packet the host sent, byte for byte.
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 4, 0, original))), Hex(received));
    }

    [Fact]
    public void A_fragmentation_needed_from_a_router_becomes_a_packet_too_big_with_the_mtu_raised_by_20()
    {
        NatEngine engine = Engine();
        byte[] original = Ipv6(Inside, Server6, IpProtocol.Tcp, Tcp(40000, 80, Payload));
        byte[] sent = Send(engine, (byte[])original.Clone()).Packet;
        Ipv4Address router = Ipv4Address.Parse("192.0.2.1");

        byte[] error = Ipv4(router, External, IpProtocol.Icmp, Icmp(IcmpType.DestinationUnreachable, 4, 1400, sent));
        (TranslationResult result, byte[] received) = Send(engine, error);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv6(Nat64Prefix.WellKnown.Embed(router), Inside, IpProtocol.Icmpv6, Icmp(Icmpv6Type.PacketTooBig, 0, 1420, original))), Hex(received));
    }

    [Fact]
    public void An_icmpv6_error_from_the_inside_reaches_the_ipv4_server_quoting_its_packet_and_a_packet_too_big_lowers_the_mtu_by_20()
    {
        NatEngine engine = Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Send(engine, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        byte[] fromServer = Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, Payload));
        byte[] delivered = Send(engine, (byte[])fromServer.Clone()).Packet;

        byte[] unreachable = Ipv6(Inside, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 4, 0, delivered));
        (TranslationResult result, byte[] sent) = Send(engine, unreachable);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv4(External, Server, IpProtocol.Icmp, Icmp(IcmpType.DestinationUnreachable, 3, 0, fromServer), identification: IdentificationOf(sent))), Hex(sent));

        byte[] tooBig = Ipv6(Inside, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.PacketTooBig, 0, 1300, delivered));
        (result, sent) = Send(engine, tooBig);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv4(External, Server, IpProtocol.Icmp, Icmp(IcmpType.DestinationUnreachable, 4, 1280, fromServer), identification: IdentificationOf(sent))), Hex(sent));

        // An error about a flow NAT64 does not hold is dropped, and makes no session.
        byte[] stray = Ipv6(Inside, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 4, 0,
            Ipv6(Server6, Inside, IpProtocol.Udp, Udp(99, 98, Payload))));
        int sessions = engine.Nat64SessionCount;
        Assert.Equal(DropReason.IcmpErrorNoSession, Send(engine, stray).Result.Reason);
        Assert.Equal(sessions, engine.Nat64SessionCount);
    }

    [Fact]
    public void An_icmpv6_error_quoting_a_packet_with_extension_headers_is_translated_when_its_chain_can_be_walked()
    {
        NatEngine engine = Engine();
        Send(engine, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        byte[] whole = Udp(53, 40000, new byte[64]);
        // What the inside host got of a fragmented reply: the first fragment, its Fragment header
        // carrying the IPv4 identification, behind a Destination Options header (PadN).
        byte[] wholeIpv6 = Ipv6(Server6, Inside, IpProtocol.Udp, whole);
        byte[] headers = [(byte)IpProtocol.Fragment, 0, 1, 4, 0, 0, 0, 0, (byte)IpProtocol.Udp, 0, 0, 1, 0, 0, 0x12, 0x34];
        byte[] quoted = Ipv6(Server6, Inside, IpProtocol.Udp, wholeIpv6.AsSpan(40, 32), fillChecksum: false, extensionHeaders: headers,
            firstNextHeader: IpProtocol.DestinationOptions);
        byte[] unreachable = Ipv6(Inside, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 4, 0, quoted));
        (TranslationResult result, byte[] sent) = Send(engine, unreachable);
        Assert.Equal(Verdict.Forward, result.Verdict);
        // RFC 7915 5.3: the quote as the server sent it, its fragment fields from the Fragment header.
        byte[] wholeIpv4 = Ipv4(Server, External, IpProtocol.Udp, whole);
        byte[] expectedQuote = Ipv4(Server, External, IpProtocol.Udp, wholeIpv4.AsSpan(20, 32), identification: 0x1234, moreFragments: true, fillChecksum: false);
        Assert.Equal(Hex(Ipv4(External, Server, IpProtocol.Icmp, Icmp(IcmpType.DestinationUnreachable, 3, 0, expectedQuote), identification: IdentificationOf(sent))),
            Hex(sent));

        // A later fragment quoted has no ports to find its session by.
        byte[] later = Ipv6(Server6, Inside, IpProtocol.Udp, new byte[16], fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Udp, 0, 0, 32, 0, 0, 0x12, 0x34], firstNextHeader: IpProtocol.Fragment);
        Assert.Equal(DropReason.IcmpErrorNoSession,
            Send(engine, Ipv6(Inside, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 4, 0, later))).Result.Reason);
    }

    [Fact]
    public void Two_inside_hosts_reach_each_other_through_their_mappings_hairpinning()
    {
        NatEngine engine = Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Send(engine, Ipv6(OtherInside, Server6, IpProtocol.Udp, Udp(41000, 53, Payload)));
        Ipv6Address otherHostsName = Nat64Prefix.WellKnown.Embed(External);

        (TranslationResult result, byte[] received) = Send(engine, Ipv6(Inside, otherHostsName, IpProtocol.Udp, Udp(40000, 41000, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        // The other host sees the first by its mapping: the external address and port, behind the prefix.
        Assert.Equal(Hex(Ipv6(otherHostsName, OtherInside, IpProtocol.Udp, Udp(40000, 41000, Payload))), Hex(received));

        engine.Hairpinning = HairpinningMode.Disabled;
        Assert.Equal(DropReason.HairpinDisabled, Send(engine, Ipv6(Inside, otherHostsName, IpProtocol.Udp, Udp(40002, 41000, Payload))).Result.Reason);
    }

    [Fact]
    public void A_hairpinned_packet_is_counted_once_and_one_dropped_on_its_way_back_in_only_as_that_drop()
    {
        // Found by the mutated-traffic replay: the outbound half counted the packet as mapped out,
        // and the inbound half counted it again (or dropped it, leaving the mapped-out count behind).
        NatEngine engine = Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Send(engine, Ipv6(OtherInside, Server6, IpProtocol.Udp, Udp(41000, 53, Payload)));
        Ipv6Address otherHostsName = Nat64Prefix.WellKnown.Embed(External);
        NatStatistics before = engine.Statistics();

        byte[] hairpinned = Ipv6(Inside, otherHostsName, IpProtocol.Udp, Udp(40000, 41000, Payload));
        Assert.Equal(Verdict.Forward, Send(engine, hairpinned).Result.Verdict);
        NatStatistics after = engine.Statistics();
        Assert.Equal(before.MappedIn + before.MappedOut + 1, after.MappedIn + after.MappedOut);
        Assert.Equal(before.BytesIn + before.BytesOut + hairpinned.Length - 20, after.BytesIn + after.BytesOut);

        // To a port no mapping holds: it leaves NAT64 as IPv4, and finds nothing on its way back in.
        before = after;
        TranslationResult dropped = Send(engine, Ipv6(Inside, otherHostsName, IpProtocol.Udp, Udp(40001, 41999, Payload))).Result;
        Assert.Equal(DropReason.NoSession, dropped.Reason);
        after = engine.Statistics();
        Assert.Equal(before.MappedIn + before.MappedOut, after.MappedIn + after.MappedOut);
        Assert.Equal(before.BytesIn + before.BytesOut, after.BytesIn + after.BytesOut);
        Assert.Equal(before.Drops.GetValueOrDefault(nameof(DropReason.NoSession)) + 1, after.Drops[nameof(DropReason.NoSession)]);
    }

    [Fact]
    public void A_partial_checksum_takes_the_address_change_alone_both_ways()
    {
        NatEngine engine = Engine();
        byte[] outbound = Ipv6(Inside, Server6, IpProtocol.Tcp, Tcp(40000, 80, Payload));
        int transportLength = outbound.Length - 40;
        BinaryPrimitives.WriteUInt16BigEndian(outbound.AsSpan(40 + 16), InternetChecksum.PseudoHeaderSum(Inside, Server6, IpProtocol.Tcp, transportLength));
        (TranslationResult result, byte[] sent) = Send(engine, outbound, checksumPartial: true);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(InternetChecksum.PseudoHeaderSum(External, Server, IpProtocol.Tcp, transportLength), BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(20 + 16)));

        byte[] reply = Ipv4(Server, External, IpProtocol.Tcp, Tcp(80, 40000, Payload));
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(20 + 16), InternetChecksum.PseudoHeaderSum(Server, External, IpProtocol.Tcp, transportLength));
        (result, byte[] received) = Send(engine, reply, checksumPartial: true);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(InternetChecksum.PseudoHeaderSum(Server6, Inside, IpProtocol.Tcp, transportLength), BinaryPrimitives.ReadUInt16BigEndian(received.AsSpan(40 + 16)));
    }

    [Fact]
    public void A_hairpinned_packets_partial_checksum_takes_the_address_changes_alone()
    {
        // The hairpinned packet's second half is a translation too: it must know the checksum is partial.
        NatEngine engine = Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Send(engine, Ipv6(OtherInside, Server6, IpProtocol.Udp, Udp(41000, 53, Payload)));
        Ipv6Address otherHostsName = Nat64Prefix.WellKnown.Embed(External);
        byte[] hairpinned = Ipv6(Inside, otherHostsName, IpProtocol.Udp, Udp(40000, 41000, Payload));
        int transportLength = hairpinned.Length - 40;
        BinaryPrimitives.WriteUInt16BigEndian(hairpinned.AsSpan(40 + 6), InternetChecksum.PseudoHeaderSum(Inside, otherHostsName, IpProtocol.Udp, transportLength));

        (TranslationResult result, byte[] received) = Send(engine, hairpinned, checksumPartial: true);

        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(InternetChecksum.PseudoHeaderSum(otherHostsName, OtherInside, IpProtocol.Udp, transportLength),
            BinaryPrimitives.ReadUInt16BigEndian(received.AsSpan(40 + 6)));
    }

    [Fact]
    public void A_buffer_without_room_for_the_longer_header_drops_the_packet_rather_than_cut_it()
    {
        NatEngine engine = Engine();
        Send(engine, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Payload)));
        byte[] reply = Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, Payload));
        TranslationResult result = engine.Translate(reply, reply.Length, 0);
        Assert.Equal(DropReason.UntranslatableAcrossFamilies, result.Reason);
    }
}
