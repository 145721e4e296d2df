using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Tests.Translation.Npt;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation;

/// <summary>NAT66: stateful IPv6 translation on the paths IPv4 runs on, with IPv4's rules and behaviours.</summary>
public sealed class Nat66Tests
{
    private const string Rules = """
        map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
        map wan0 fd00:77::/64 -> 2001:db8::10/128
        rdr wan0 2001:db8::10 port 8080 -> fd00:77::3 port 80 tcp
        """;

    private static readonly Ipv6Address Inside = Address("fd00:77::2");
    private static readonly Ipv6Address Server = Address("fd00:77::3");
    private static readonly Ipv6Address External = Address("2001:db8::10");
    private static readonly Ipv6Address Remote = Address("2001:db8:ff::5");

    private static NatEngine Engine(string rules = Rules, NatPolicy? policy = null)
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        IEnumerable<NatRule> parsed = IpnatParser.Parse(rules, "ipnat.conf").Rules;
        engine.LoadRules(policy is null ? parsed : parsed.Select(rule => rule with { Policy = policy }));
        return engine;
    }

    private static TranslationResult Send(NatEngine engine, byte[] packet, long now = 0) => engine.Translate(packet, packet.Length, now);

    private static ushort SourcePort(byte[] packet) => BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(Ipv6Packet.HeaderLength));

    private static ushort DestinationPort(byte[] packet) => BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(Ipv6Packet.HeaderLength + 2));

    [Fact]
    public void Udp_and_tcp_leave_from_the_external_address_and_their_replies_come_back()
    {
        NatEngine engine = Engine();
        foreach (Func<Ipv6Address, Ipv6Address, ushort, ushort, byte[]> make in new Func<Ipv6Address, Ipv6Address, ushort, ushort, byte[]>[] { (s, d, sp, dp) => Udp(s, d, sp, dp), (s, d, sp, dp) => Tcp(s, d, sp, dp) })
        {
            byte[] outbound = make(Inside, Remote, 40000, 443);
            Assert.Equal(Verdict.Forward, Send(engine, outbound).Verdict);
            Assert.Equal(External, Source(outbound));
            Assert.Equal(Remote, Destination(outbound));
            Assert.True(ChecksumIsValid(outbound));
            ushort externalPort = SourcePort(outbound);
            Assert.InRange(externalPort, (ushort)1024, (ushort)65535);

            byte[] reply = make(Remote, External, 443, externalPort);
            Assert.Equal(Verdict.Forward, Send(engine, reply).Verdict);
            Assert.Equal(Inside, Destination(reply));
            Assert.Equal((ushort)40000, DestinationPort(reply));
            Assert.True(ChecksumIsValid(reply));
        }
        Assert.Equal(2, engine.Ipv6SessionCount);
        Assert.Equal(0, engine.SessionCount); // the IPv4 table holds none of them
    }

    [Fact]
    public void An_icmpv6_echo_gets_an_identifier_and_its_reply_comes_back_with_the_hosts()
    {
        NatEngine engine = Engine();
        byte[] request = EchoRequest(Inside, Remote);
        Assert.Equal(Verdict.Forward, Send(engine, request).Verdict);
        Assert.Equal(External, Source(request));
        Assert.True(ChecksumIsValid(request)); // ICMPv6's checksum covers the addresses too
        ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(request.AsSpan(Ipv6Packet.HeaderLength + 4));

        byte[] reply = EchoRequest(Remote, External);
        reply[Ipv6Packet.HeaderLength] = Icmpv6Type.EchoReply;
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(Ipv6Packet.HeaderLength + 4), identifier);
        FixIcmpv6Checksum(reply);
        Assert.Equal(Verdict.Forward, Send(engine, reply).Verdict);
        Assert.Equal(Inside, Destination(reply));
        Assert.Equal((ushort)0x1234, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(Ipv6Packet.HeaderLength + 4)));
        Assert.True(ChecksumIsValid(reply));
    }

    [Fact]
    public void Unsolicited_inbound_is_dropped_and_a_redirect_reaches_its_inside_server()
    {
        NatEngine engine = Engine();
        Assert.Equal(DropReason.NoSession, Send(engine, Udp(Remote, External, 5000, 6000)).Reason);

        byte[] syn = Tcp(Remote, External, 33000, 8080);
        syn[Ipv6Packet.HeaderLength + 13] = 0x02; // SYN
        FixTcpChecksum(syn);
        Assert.Equal(Verdict.Forward, Send(engine, syn).Verdict);
        Assert.Equal(Server, Destination(syn));
        Assert.Equal((ushort)80, DestinationPort(syn));
        Assert.True(ChecksumIsValid(syn));
    }

    [Fact]
    public void Mapping_behaviours_hold_for_ipv6_as_for_ipv4()
    {
        NatEngine independent = Engine();
        byte[] first = Udp(Inside, Remote, 40000, 53);
        byte[] second = Udp(Inside, Address("2001:db8:ff::6"), 40000, 53);
        Send(independent, first);
        Send(independent, second);
        Assert.Equal(SourcePort(first), SourcePort(second)); // endpoint-independent: one external endpoint

        NatEngine dependent = Engine(policy: NatPolicy.Default with { Mapping = MappingBehavior.AddressAndPortDependent });
        first = Udp(Inside, Remote, 40000, 53);
        second = Udp(Inside, Address("2001:db8:ff::6"), 40000, 53);
        Send(dependent, first);
        Send(dependent, second);
        Assert.NotEqual(SourcePort(first), SourcePort(second));
    }

    [Fact]
    public void Address_dependent_filtering_admits_only_remotes_the_inside_endpoint_sent_to()
    {
        NatEngine engine = Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.AddressDependent });
        byte[] outbound = Udp(Inside, Remote, 40000, 53);
        Send(engine, outbound);
        ushort externalPort = SourcePort(outbound);
        Assert.Equal(Verdict.Forward, Send(engine, Udp(Remote, External, 5353, externalPort)).Verdict);
        Assert.Equal(DropReason.Filtered, Send(engine, Udp(Address("2001:db8:ff::99"), External, 53, externalPort)).Reason);
    }

    [Fact]
    public void Sessions_expire_and_a_zero_udp_checksum_is_malformed_over_ipv6()
    {
        NatEngine engine = Engine();
        Send(engine, Udp(Inside, Remote, 40000, 53));
        Assert.Equal(1, engine.Ipv6SessionCount);
        engine.ExpireSessions(TimeSpan.FromMinutes(10).Ticks);
        Assert.Equal(0, engine.Ipv6SessionCount);

        byte[] zero = Udp(Inside, Remote, 40001, 53);
        zero[Ipv6Packet.HeaderLength + 6] = 0;
        zero[Ipv6Packet.HeaderLength + 7] = 0;
        Assert.Equal(DropReason.Malformed, Send(engine, zero).Reason);
    }

    [Fact]
    public void Ipv4_and_ipv6_rules_live_side_by_side_each_on_its_own_table()
    {
        NatEngine engine = Engine(Rules + "\nmap wan0 10.77.0.0/24 -> 198.51.100.10/32\n");
        byte[] ipv6 = Udp(Inside, Remote, 40000, 53);
        Assert.Equal(Verdict.Forward, Send(engine, ipv6).Verdict);
        var buffer = new byte[128];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("10.77.0.2"), 40000, Ipv4Address.Parse("203.0.113.5"), 53, "x"u8);
        Assert.Equal(Verdict.Forward, engine.Translate(buffer, length, 0).Verdict);
        Assert.Equal(1, engine.SessionCount);
        Assert.Equal(1, engine.Ipv6SessionCount);
    }

    [Fact]
    public void An_ipv6_redirects_port_is_never_handed_to_a_dynamic_mapping()
    {
        NatEngine engine = Engine("""
            map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp 8080:8081
            rdr wan0 2001:db8::10 port 8081 -> fd00:77::3 port 80 tcp
            """);
        byte[] first = Tcp(Inside, Remote, 8081, 443);
        Assert.Equal(Verdict.Forward, Send(engine, first).Verdict);
        Assert.Equal((ushort)8080, SourcePort(first)); // 8081 would have kept the inside port, but it is the redirect's
        Assert.Equal(DropReason.PortsExhausted, Send(engine, Tcp(Address("fd00:77::9"), Remote, 8081, 443)).Reason);
    }

    private static void FixTcpChecksum(byte[] packet) => FixChecksum(packet, IpProtocol.Tcp, 16);

    private static void FixIcmpv6Checksum(byte[] packet) => FixChecksum(packet, IpProtocol.Icmpv6, 2);

    private static void FixChecksum(byte[] packet, IpProtocol protocol, int offset)
    {
        Span<byte> segment = packet.AsSpan(Ipv6Packet.HeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(segment[offset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(segment[offset..],
            TransportChecksum.ComputeIpv6(packet.AsSpan(Ipv6Packet.Field.SourceAddress, 16), packet.AsSpan(Ipv6Packet.Field.DestinationAddress, 16), protocol, segment));
    }
}
