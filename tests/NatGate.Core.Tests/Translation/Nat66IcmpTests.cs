using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation;

/// <summary>
/// NAT66's ICMPv6: errors about a session translated both ways with their quoted packet (RFC 4443
/// 3, RFC 5508 semantics), each compared byte for byte with what the host would have got with no
/// NAT in the way; neighbour discovery left alone; refusals answered with an ICMPv6 error.
/// </summary>
public sealed class Nat66IcmpTests
{
    private const string Rules = """
        map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
        map wan0 fd00:77::/64 -> 2001:db8::10/128
        rdr wan0 2001:db8::10 port 8080 -> fd00:77::3 port 80 tcp
        rdr wan0 2001:db8::10 port 5353 -> fd00:77::3 port 53 udp
        """;

    private static readonly Ipv6Address Inside = Address("fd00:77::2");
    private static readonly Ipv6Address Server = Address("fd00:77::3");
    private static readonly Ipv6Address External = Address("2001:db8::10");
    private static readonly Ipv6Address Remote = Address("2001:db8:ff::5");
    private static readonly Ipv6Address Router = Address("2001:db8:ff::1");

    private static NatEngine Engine(NatEngineOptions? options = null)
    {
        var engine = new NatEngine(options ?? new NatEngineOptions { RandomSeed = 7 }, 0);
        engine.LoadRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules);
        return engine;
    }

    private static TranslationResult Send(NatEngine engine, byte[] packet, long now = 0) => engine.Translate(packet, packet.Length, now);

    /// <summary>Sends a copy of <paramref name="packet"/> through the engine, which must forward it; returns the translated copy.</summary>
    private static byte[] Forward(NatEngine engine, byte[] packet, long now = 0)
    {
        byte[] copy = [.. packet];
        TranslationResult result = Send(engine, copy, now);
        Assert.True(result.Verdict == Verdict.Forward, $"{result.Verdict} {result.Reason}");
        return copy[..result.Length];
    }

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);

    private static byte[] BigTcp(Ipv6Address source, ushort sourcePort, Ipv6Address destination, ushort destinationPort, int payloadLength)
    {
        var buffer = new byte[Ipv6Packet.HeaderLength + 20 + payloadLength];
        byte[] payload = [.. Enumerable.Range(0, payloadLength).Select(i => (byte)(i * 7))];
        int length = Ipv6PacketWriter.WriteTcp(buffer, source, sourcePort, destination, destinationPort, TcpFlags.Ack | TcpFlags.Psh, 1000, 2000, payload);
        return buffer[..length];
    }

    [Fact]
    public void A_port_unreachable_about_an_outbound_datagram_reaches_the_inside_host_quoting_its_own_packet()
    {
        NatEngine engine = Engine();
        byte[] original = Udp(Inside, Remote, 40000, 53);
        byte[] sent = Forward(engine, original);
        Assert.Equal(External, Source(sent));

        byte[] translated = Forward(engine, Error(Remote, External, Icmpv6Type.DestinationUnreachable, 4, 0, sent));
        Assert.Equal(Hex(Error(Remote, Inside, Icmpv6Type.DestinationUnreachable, 4, 0, original)), Hex(translated));
        Assert.Equal(1, engine.Statistics().IcmpErrorsTranslated);
    }

    [Fact]
    public void A_packet_too_big_from_a_router_reaches_the_inside_host_with_its_mtu_and_a_cut_quote_fixed()
    {
        // A full-size TCP segment: the error quotes only its first 1,232 bytes (RFC 4443 2.4 c), and
        // the quoted TCP checksum, though over bytes not all quoted, is fixed for the translation.
        NatEngine engine = Engine();
        byte[] original = BigTcp(Inside, 40000, Remote, 443, 1400);
        byte[] sent = Forward(engine, original);

        byte[] translated = Forward(engine, Error(Router, External, Icmpv6Type.PacketTooBig, 0, 1280, sent));
        Assert.Equal(Hex(Error(Router, Inside, Icmpv6Type.PacketTooBig, 0, 1280, original)), Hex(translated));
        Assert.Equal(1280u, BinaryPrimitives.ReadUInt32BigEndian(translated.AsSpan(Ipv6Packet.HeaderLength + 4)));
        Assert.Equal(1280, translated.Length);
    }

    [Fact]
    public void A_time_exceeded_from_a_router_about_an_echo_restores_the_identifier_and_keeps_the_routers_address()
    {
        NatEngine engine = Engine();
        Forward(engine, EchoRequest(Address("fd00:77::9"), Remote)); // takes identifier 0x1234 first
        byte[] original = EchoRequest(Inside, Remote);
        byte[] sent = Forward(engine, original);
        Assert.NotEqual((ushort)0x1234, BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(Ipv6Packet.HeaderLength + 4)));

        byte[] translated = Forward(engine, Error(Router, External, Icmpv6Type.TimeExceeded, 0, 0, sent));
        Assert.Equal(Hex(Error(Router, Inside, Icmpv6Type.TimeExceeded, 0, 0, original)), Hex(translated));
    }

    [Fact]
    public void A_parameter_problem_keeps_its_pointer()
    {
        NatEngine engine = Engine();
        byte[] original = Tcp(Inside, Remote, 40000, 443);
        byte[] sent = Forward(engine, original);
        byte[] translated = Forward(engine, Error(Remote, External, Icmpv6Type.ParameterProblem, 0, 6, sent));
        Assert.Equal(Hex(Error(Remote, Inside, Icmpv6Type.ParameterProblem, 0, 6, original)), Hex(translated));
    }

    [Fact]
    public void An_error_from_an_inside_server_about_a_redirected_segment_goes_out_from_the_external_address()
    {
        NatEngine engine = Engine();
        byte[] original = Tcp(Remote, External, 33000, 8080);
        original[Ipv6Packet.HeaderLength + 13] = (byte)TcpFlags.Syn;
        original = Packet(Source(original), Destination(original), IpProtocol.Tcp, original[Ipv6Packet.HeaderLength..], checksumOffset: 16);
        byte[] delivered = Forward(engine, original);
        Assert.Equal(Server, Destination(delivered));

        byte[] translated = Forward(engine, Error(Server, Remote, Icmpv6Type.DestinationUnreachable, 4, 0, delivered));
        Assert.Equal(Hex(Error(External, Remote, Icmpv6Type.DestinationUnreachable, 4, 0, original)), Hex(translated));
    }

    [Fact]
    public void An_error_from_the_inside_host_about_a_reply_goes_out_as_the_outside_would_expect()
    {
        // The reply way of a mapping: the remote's reply reaches the inside host, whose port is closed.
        NatEngine engine = Engine();
        byte[] sent = Forward(engine, Udp(Inside, Remote, 40000, 53));
        ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(Ipv6Packet.HeaderLength));
        byte[] reply = Udp(Remote, External, 53, externalPort);
        byte[] delivered = Forward(engine, reply);
        Assert.Equal(Inside, Destination(delivered));

        byte[] translated = Forward(engine, Error(Inside, Remote, Icmpv6Type.DestinationUnreachable, 4, 0, delivered));
        Assert.Equal(Hex(Error(External, Remote, Icmpv6Type.DestinationUnreachable, 4, 0, reply)), Hex(translated));
    }

    [Fact]
    public void A_quoted_packet_with_an_extension_header_is_walked_and_translated()
    {
        NatEngine engine = Engine();
        byte[] original = WithDestinationOptions(Udp(Inside, Remote, 40000, 53));
        byte[] sent = Forward(engine, original);
        Assert.True(ChecksumIsValid(sent));

        byte[] translated = Forward(engine, Error(Remote, External, Icmpv6Type.DestinationUnreachable, 4, 0, sent));
        Assert.Equal(Hex(Error(Remote, Inside, Icmpv6Type.DestinationUnreachable, 4, 0, original)), Hex(translated));
    }

    /// <summary>The packet with an empty Destination Options header (PadN) before its upper layer; the upper-layer checksum is unchanged.</summary>
    private static byte[] WithDestinationOptions(byte[] packet)
    {
        byte[] options = [packet[Ipv6Packet.Field.NextHeader], 0, 1, 4, 0, 0, 0, 0];
        byte[] result = [.. packet[..Ipv6Packet.HeaderLength], .. options, .. packet[Ipv6Packet.HeaderLength..]];
        result[Ipv6Packet.Field.NextHeader] = (byte)IpProtocol.DestinationOptions;
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(Ipv6Packet.Field.PayloadLength), (ushort)(result.Length - Ipv6Packet.HeaderLength));
        return result;
    }

    [Fact]
    public void An_error_never_refreshes_a_session_and_one_without_a_session_is_dropped_and_counted()
    {
        NatEngine engine = Engine();
        byte[] sent = Forward(engine, Udp(Inside, Remote, 40000, 53));
        // 200 s later an error comes: had it refreshed the session, the session would outlive 301 s.
        Forward(engine, Error(Router, External, Icmpv6Type.DestinationUnreachable, 0, 0, sent), TimeSpan.FromSeconds(200).Ticks);
        engine.ExpireSessions(TimeSpan.FromSeconds(301).Ticks);
        Assert.Equal(0, engine.Ipv6SessionCount);

        byte[] late = Error(Router, External, Icmpv6Type.DestinationUnreachable, 0, 0, sent);
        Assert.Equal(DropReason.IcmpErrorNoSession, Send(engine, late, TimeSpan.FromSeconds(302).Ticks).Reason);
        Assert.Equal(0, engine.Ipv6SessionCount); // nor does it make one
        Assert.Equal(1, engine.Statistics().Drops[nameof(DropReason.IcmpErrorNoSession)]);
    }

    [Fact]
    public void An_error_before_any_ipv6_session_is_dropped_without_making_the_ipv6_table()
    {
        NatEngine engine = Engine();
        byte[] error = Error(Remote, External, Icmpv6Type.DestinationUnreachable, 4, 0, Udp(External, Remote, 40000, 53));
        Assert.Equal(DropReason.IcmpErrorNoSession, Send(engine, error).Reason);
        Assert.Equal(0, engine.Ipv6SessionCount);
    }

    [Fact]
    public void Quoted_packets_too_short_or_damaged_and_errors_about_errors_are_malformed()
    {
        NatEngine engine = Engine();
        byte[] sent = Forward(engine, Udp(Inside, Remote, 40000, 53));
        // Less than a whole IPv6 header quoted.
        Assert.Equal(DropReason.Malformed, Send(engine, Error(Remote, External, 1, 4, 0, sent, quoteLimit: 30)).Reason);
        // The header, but only half of the UDP header's 8 bytes.
        Assert.Equal(DropReason.Malformed, Send(engine, Error(Remote, External, 1, 4, 0, sent, quoteLimit: Ipv6Packet.HeaderLength + 4)).Reason);
        // A bad ICMPv6 checksum.
        byte[] damaged = Error(Remote, External, 1, 4, 0, sent);
        damaged[^1] ^= 0x5A;
        Assert.Equal(DropReason.Malformed, Send(engine, damaged).Reason);
        // An error quoting an error (RFC 4443 2.4 e: none is ever sent).
        byte[] inner = Error(External, Remote, 1, 4, 0, sent);
        Assert.Equal(DropReason.Malformed, Send(engine, Error(Remote, External, 1, 4, 0, inner)).Reason);
        Assert.Equal(0, engine.Statistics().IcmpErrorsTranslated);
        Assert.Equal(1, engine.Ipv6SessionCount);
    }

    [Fact]
    public void Eight_quoted_bytes_of_tcp_are_enough_and_the_checksum_beyond_them_is_left_alone()
    {
        NatEngine engine = Engine();
        byte[] original = Tcp(Inside, Remote, 40000, 443);
        byte[] sent = Forward(engine, original);
        byte[] translated = Forward(engine, Error(Router, External, Icmpv6Type.DestinationUnreachable, 0, 0, sent, quoteLimit: Ipv6Packet.HeaderLength + 8));
        Assert.Equal(Hex(Error(Router, Inside, Icmpv6Type.DestinationUnreachable, 0, 0, original, quoteLimit: Ipv6Packet.HeaderLength + 8)), Hex(translated));
    }

    [Fact]
    public void Neighbour_discovery_and_unknown_error_types_are_never_translated()
    {
        NatEngine engine = Engine();
        Forward(engine, Udp(Inside, Remote, 40000, 53));
        byte[] solicitation = NeighbourSolicitation(Inside, External);
        byte[] before = [.. solicitation];
        Assert.Equal(DropReason.Unsupported, Send(engine, solicitation).Reason);
        Assert.Equal(before, solicitation);

        byte[] unknown = Error(Remote, External, 100, 0, 0, Udp(External, Remote, 40000, 53)); // private experimentation (RFC 4443 2.1)
        before = [.. unknown];
        Assert.Equal(DropReason.Unsupported, Send(engine, unknown).Reason);
        Assert.Equal(before, unknown);
    }

    [Fact]
    public void A_refused_new_session_is_answered_administratively_prohibited_within_the_minimum_mtu()
    {
        NatEngine engine = Engine(new NatEngineOptions { RandomSeed = 7, Limits = new FlowTableLimits { MaximumSessions = 1 } });
        Forward(engine, Udp(Inside, Remote, 40000, 53));

        // A 1,400-byte datagram from another host: the table is full, and the error quotes 1,232 bytes of it.
        var datagram = new byte[1500];
        int length = Ipv6PacketWriter.WriteUdp(datagram, Server, 40001, Remote, 53, new byte[1352]);
        byte[] original = datagram[..length];
        var buffer = new byte[2048];
        original.CopyTo(buffer, 0);
        TranslationResult result = engine.Translate(buffer, length, 0);
        Assert.Equal(Verdict.Reply, result.Verdict);
        Assert.Equal(DropReason.TableFull, result.Reason);
        byte[] reply = buffer[..result.Length];
        Assert.Equal(Ipv6PacketWriter.MinimumMtu, reply.Length);
        Assert.Equal(Hex(Error(External, Server, Icmpv6Type.DestinationUnreachable, 1, 0, original)), Hex(reply));
        Assert.True(ChecksumIsValid(reply));

        // A TCP SYN gets the same answer, quoting all of its short self.
        byte[] syn = Tcp(Server, Remote, 40002, 443);
        buffer = new byte[2048];
        syn.CopyTo(buffer, 0);
        result = engine.Translate(buffer, syn.Length, 0);
        Assert.Equal(Verdict.Reply, result.Verdict);
        Assert.Equal(Hex(Error(External, Server, Icmpv6Type.DestinationUnreachable, 1, 0, syn)), Hex(buffer[..result.Length]));
        Assert.Equal(2, engine.Statistics().NoMemory);
        Assert.Equal(1, engine.Ipv6SessionCount);
    }

    [Fact]
    public void A_refusal_with_no_room_for_the_reply_is_only_dropped_and_counted()
    {
        NatEngine engine = Engine(new NatEngineOptions { RandomSeed = 7, Limits = new FlowTableLimits { MaximumSessions = 1 } });
        Forward(engine, Udp(Inside, Remote, 40000, 53));
        byte[] refused = Udp(Server, Remote, 40001, 53);
        byte[] before = [.. refused];
        TranslationResult result = Send(engine, refused); // the buffer is the packet alone
        Assert.Equal(Verdict.Drop, result.Verdict);
        Assert.Equal(DropReason.TableFull, result.Reason);
        Assert.Equal(before, refused);
    }
}
