using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>RFC 7915 section 5, byte for byte: each expected IPv4 packet is built from scratch with full checksums.</summary>
public sealed class Ipv6ToIpv4TranslatorTests
{
    private static readonly byte[] Payload = "GET / HTTP/1.1\r\n"u8.ToArray();
    private static readonly Ipv4Endpoints Outbound = new(Pool, Server4) { Identification = 0x1234 };

    private static byte[] Translate(byte[] packet, in Ipv4Endpoints endpoints, Ipv4Endpoints? quoted = null)
    {
        byte[] output = new byte[packet.Length + 64];
        Nat64TranslationResult result = quoted is Ipv4Endpoints inner
            ? Ipv6ToIpv4Translator.Translate(packet, endpoints, inner, output, out int written)
            : Ipv6ToIpv4Translator.Translate(packet, endpoints, output, out written);
        Assert.True(result.IsTranslated, result.ToString());
        return output[..written];
    }

    private static Nat64DropReason Drop(byte[] packet, Ipv4Endpoints? quoted = null)
    {
        byte[] output = new byte[packet.Length + 64];
        Nat64TranslationResult result = quoted is Ipv4Endpoints inner
            ? Ipv6ToIpv4Translator.Translate(packet, Outbound, inner, output, out int written)
            : Ipv6ToIpv4Translator.Translate(packet, Outbound, output, out written);
        Assert.False(result.IsTranslated);
        Assert.Equal(0, written);
        return result.DropReason;
    }

    [Fact]
    public void Tcp_gets_a_20_byte_header_and_its_checksum_moved_to_the_ipv4_pseudo_header()
    {
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Tcp, Tcp(40000, 443, Payload), hopLimit: 63, trafficClass: 0xb8);
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Tcp, Tcp(40000, 443, Payload), timeToLive: 63, typeOfService: 0xb8, identification: 0x1234);
        Assert.Equal(Hex(expected), Hex(Translate(ipv6, Outbound)));
    }

    [Fact]
    public void Tcp_with_a_new_source_port_in_the_same_pass()
    {
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Tcp, Tcp(40000, 443, Payload));
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Tcp, Tcp(61000, 443, Payload), identification: 0x1234);
        Assert.Equal(Hex(expected), Hex(Translate(ipv6, Outbound with { SourcePort = 61000 })));
    }

    [Fact]
    public void Udp_keeps_its_ports_and_gets_a_correct_checksum()
    {
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Udp, Udp(5353, 53, Payload));
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Udp, Udp(5353, 53, Payload), identification: 0x1234);
        Assert.Equal(Hex(expected), Hex(Translate(ipv6, Outbound)));
    }

    [Fact]
    public void Icmpv6_echo_request_becomes_icmp_echo_8_without_the_pseudo_header()
    {
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 0x0777, 9, Payload));
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Icmp, Echo(IcmpType.Echo, 0x0777, 9, Payload), identification: 0x1234);
        Assert.Equal(Hex(expected), Hex(Translate(ipv6, Outbound)));
        Assert.Equal("4500002C123400004001", Hex(expected.AsSpan(0, 10)));
    }

    [Fact]
    public void Icmpv6_echo_reply_becomes_icmp_echo_reply_0_with_a_new_identifier()
    {
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoReply, 0x0777, 9, Payload));
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Icmp, Echo(IcmpType.EchoReply, 0x4242, 9, Payload), identification: 0x1234);
        Assert.Equal(Hex(expected), Hex(Translate(ipv6, Outbound with { IcmpIdentifier = 0x4242 })));
    }

    [Fact]
    public void Dont_fragment_is_clear_up_to_1260_bytes_of_ipv4_and_set_above()
    {
        byte[] small = Translate(Ipv6(Client, Server6, IpProtocol.Udp, Udp(1, 2, new byte[1260 - 28])), Outbound);
        byte[] large = Translate(Ipv6(Client, Server6, IpProtocol.Udp, Udp(1, 2, new byte[1261 - 28])), Outbound);
        Assert.Equal(1260, small.Length);
        Assert.Equal(0x0000, BinaryPrimitives.ReadUInt16BigEndian(small.AsSpan(6)));
        Assert.Equal(0x4000, BinaryPrimitives.ReadUInt16BigEndian(large.AsSpan(6)));
        Assert.True(Ipv4ChecksumsValid(large));
    }

    [Fact]
    public void Hop_by_hop_and_destination_options_are_skipped_and_a_fragment_header_becomes_ipv4_fragment_fields()
    {
        byte[] whole = Udp(5353, 53, new byte[48]);
        // The checksum covers the whole datagram; the first fragment carries its first 32 bytes.
        byte[] reference = Ipv6(Client, Server6, IpProtocol.Udp, whole);
        byte[] firstPart = reference.AsSpan(40, 32).ToArray();
        byte[] extensions =
        [
            (byte)IpProtocol.DestinationOptions, 0, 1, 4, 0, 0, 0, 0, // Hop-by-Hop: PadN
            (byte)IpProtocol.Fragment, 0, 1, 4, 0, 0, 0, 0, // Destination Options: PadN
            (byte)IpProtocol.Udp, 0, 0x00, 0x01, 0xca, 0xfe, 0xbe, 0xef, // Fragment: offset 0, M, id 0xcafebeef
        ];
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Udp, firstPart, fillChecksum: false, extensionHeaders: extensions, firstNextHeader: IpProtocol.HopByHop);

        byte[] ipv4 = Translate(ipv6, Outbound);

        byte[] expectedWhole = Ipv4(Pool, Server4, IpProtocol.Udp, whole);
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Udp, expectedWhole.AsSpan(20, 32), identification: 0xbeef, moreFragments: true, fillChecksum: false);
        Assert.Equal(Hex(expected), Hex(ipv4));
    }

    [Fact]
    public void A_non_first_fragment_keeps_its_data_and_offset()
    {
        byte[] extensions = [(byte)IpProtocol.Tcp, 0, 0x00, 0x40, 0, 0, 0, 7]; // offset 64 bytes, last fragment, id 7
        byte[] data = Enumerable.Range(0, 24).Select(i => (byte)i).ToArray();
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Tcp, data, fillChecksum: false, extensionHeaders: extensions, firstNextHeader: IpProtocol.Fragment);
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Tcp, data, identification: 7, fragmentOffset: 64, fillChecksum: false);
        Assert.Equal(Hex(expected), Hex(Translate(ipv6, Outbound)));
    }

    [Fact]
    public void Icmpv6_time_exceeded_becomes_icmp_time_exceeded_with_the_quoted_packet_translated()
    {
        // A reply the NAT64 sent into IPv6 (server to client) expired at an IPv6 router; the error goes
        // back to the server's IPv4-embedded address and leaves as ICMPv4 from the pool address.
        Ipv6Address router = Ipv6Address.Parse("2001:db8:ffff::1", null);
        byte[] original = Ipv6(Server6, Client, IpProtocol.Udp, Udp(53, 40000, Payload), hopLimit: 1);
        byte[] error = Ipv6(router, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.TimeExceeded, 0, 0, original));
        var outer = new Ipv4Endpoints(Pool, Server4) { Identification = 0x0101 };
        var quoted = new Ipv4Endpoints(Server4, Pool) { DestinationPort = 61000, Identification = 0x0202 };

        byte[] ipv4 = Translate(error, outer, quoted);

        byte[] expectedQuote = Ipv4(Server4, Pool, IpProtocol.Udp, Udp(53, 61000, Payload), timeToLive: 1, identification: 0x0202);
        byte[] expected = Ipv4(Pool, Server4, IpProtocol.Icmp, Icmp(IcmpType.TimeExceeded, 0, 0, expectedQuote), identification: 0x0101);
        Assert.Equal(Hex(expected), Hex(ipv4));
        Assert.True(Ipv4ChecksumsValid(ipv4));
    }

    [Fact]
    public void A_long_quote_is_cut_so_the_icmpv4_error_stays_within_576_bytes()
    {
        Ipv6Address router = Ipv6Address.Parse("2001:db8:ffff::1", null);
        byte[] original = Ipv6(Server6, Client, IpProtocol.Tcp, Tcp(443, 40000, new byte[1000]));
        byte[] error = Ipv6(router, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.PacketTooBig, 0, 1400, original));
        var quoted = new Ipv4Endpoints(Server4, Pool);

        byte[] ipv4 = Translate(error, Outbound, quoted);

        Assert.Equal(Ipv6ToIpv4Translator.MaximumIcmpErrorLength, ipv4.Length);
        Assert.True(Ipv4ChecksumsValid(ipv4));
        Assert.Equal([IcmpType.DestinationUnreachable, 4], ipv4.AsSpan(20, 2).ToArray());
        Assert.Equal(1380, BinaryPrimitives.ReadUInt16BigEndian(ipv4.AsSpan(26)));
        // The quoted header keeps the original's length (1020 + 20), not the bytes quoted.
        Assert.Equal(1040, BinaryPrimitives.ReadUInt16BigEndian(ipv4.AsSpan(28 + 2)));
        byte[] full = Ipv4(Server4, Pool, IpProtocol.Tcp, Tcp(443, 40000, new byte[1000]));
        Assert.Equal(Hex(full.AsSpan(20, 576 - 48)), Hex(ipv4.AsSpan(48)));
    }

    [Theory]
    [InlineData(Icmpv6Type.DestinationUnreachable, 0, 0u, IcmpType.DestinationUnreachable, 1, 0u)]
    [InlineData(Icmpv6Type.DestinationUnreachable, 1, 0u, IcmpType.DestinationUnreachable, 10, 0u)]
    [InlineData(Icmpv6Type.DestinationUnreachable, 2, 0u, IcmpType.DestinationUnreachable, 1, 0u)]
    [InlineData(Icmpv6Type.DestinationUnreachable, 3, 0u, IcmpType.DestinationUnreachable, 1, 0u)]
    [InlineData(Icmpv6Type.DestinationUnreachable, 4, 0u, IcmpType.DestinationUnreachable, 3, 0u)]
    [InlineData(Icmpv6Type.PacketTooBig, 0, 1280u, IcmpType.DestinationUnreachable, 4, 1260u)]
    [InlineData(Icmpv6Type.TimeExceeded, 1, 0u, IcmpType.TimeExceeded, 1, 0u)]
    [InlineData(Icmpv6Type.ParameterProblem, 0, 7u, IcmpType.ParameterProblem, 0, 8u << 24)]
    [InlineData(Icmpv6Type.ParameterProblem, 0, 24u, IcmpType.ParameterProblem, 0, 16u << 24)]
    [InlineData(Icmpv6Type.ParameterProblem, 1, 40u, IcmpType.DestinationUnreachable, 2, 0u)]
    public void Icmpv6_errors_map_by_the_section_5_2_table(byte type, byte code, uint rest, byte icmpType, byte icmpCode, uint icmpRest)
    {
        byte[] original = Ipv6(Server6, Client, IpProtocol.Udp, Udp(53, 40000, Payload));
        byte[] error = Ipv6(Client, Server6, IpProtocol.Icmpv6, Icmp(type, code, rest, original));
        byte[] ipv4 = Translate(error, Outbound, new Ipv4Endpoints(Server4, Pool));
        Assert.Equal(icmpType, ipv4[20]);
        Assert.Equal(icmpCode, ipv4[21]);
        Assert.Equal(icmpRest, BinaryPrimitives.ReadUInt32BigEndian(ipv4.AsSpan(24)));
        Assert.True(Ipv4ChecksumsValid(ipv4));
    }

    [Theory]
    [InlineData(133)] // Router Solicitation
    [InlineData(135)] // Neighbor Solicitation
    [InlineData(136)] // Neighbor Advertisement
    [InlineData(130)] // MLD query
    [InlineData(143)] // MLDv2 report
    [InlineData(200)] // unknown informational
    public void Neighbor_discovery_mld_and_unknown_informational_messages_are_dropped(byte type)
        => Assert.Equal(Nat64DropReason.UntranslatableIcmpType, Drop(Ipv6(Client, Server6, IpProtocol.Icmpv6, Icmp(type, 0, 0, new byte[16]))));

    [Theory]
    [InlineData(Icmpv6Type.DestinationUnreachable, 5, 0u, Nat64DropReason.UntranslatableIcmpCode)]
    [InlineData(Icmpv6Type.ParameterProblem, 2, 40u, Nat64DropReason.UntranslatableIcmpCode)]
    [InlineData(Icmpv6Type.ParameterProblem, 0, 2u, Nat64DropReason.UntranslatableParameterProblemPointer)]
    [InlineData(Icmpv6Type.ParameterProblem, 0, 40u, Nat64DropReason.UntranslatableParameterProblemPointer)]
    [InlineData(100, 0, 0u, Nat64DropReason.UntranslatableIcmpType)]
    public void Untranslatable_errors_are_dropped_with_the_reason(byte type, byte code, uint rest, Nat64DropReason reason)
    {
        byte[] original = Ipv6(Server6, Client, IpProtocol.Udp, Udp(53, 40000, Payload));
        Assert.Equal(reason, Drop(Ipv6(Client, Server6, IpProtocol.Icmpv6, Icmp(type, code, rest, original)), new Ipv4Endpoints(Server4, Pool)));
    }

    [Fact]
    public void Errors_need_quoted_endpoints_a_valid_checksum_and_no_error_inside()
    {
        byte[] original = Ipv6(Server6, Client, IpProtocol.Udp, Udp(53, 40000, Payload));
        byte[] error = Ipv6(Client, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 4, 0, original));
        Assert.Equal(Nat64DropReason.QuotedEndpointsMissing, Drop(error));

        error[^1] ^= 0xFF;
        Assert.Equal(Nat64DropReason.IcmpChecksumInvalid, Drop(error, new Ipv4Endpoints(Server4, Pool)));

        byte[] nested = Ipv6(Client, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.TimeExceeded, 0, 0,
            Ipv6(Server6, Client, IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 0, 0, original))));
        Assert.Equal(Nat64DropReason.NestedIcmpError, Drop(nested, new Ipv4Endpoints(Server4, Pool)));
    }

    [Fact]
    public void Unexpired_routing_headers_extensions_after_a_fragment_and_fragmented_icmpv6_are_dropped()
    {
        byte[] routing = [(byte)IpProtocol.Udp, 0, 0, 1, 0, 0, 0, 0]; // segments left 1
        Assert.Equal(Nat64DropReason.UnexpiredRoutingHeader,
            Drop(Ipv6(Client, Server6, IpProtocol.Udp, Udp(1, 2, Payload), extensionHeaders: routing, firstNextHeader: IpProtocol.Routing)));

        routing[3] = 0;
        byte[] exhausted = Ipv6(Client, Server6, IpProtocol.Udp, Udp(1, 2, Payload), extensionHeaders: routing, firstNextHeader: IpProtocol.Routing);
        Assert.True(Ipv4ChecksumsValid(Translate(exhausted, Outbound)));

        byte[] afterFragment = [(byte)IpProtocol.DestinationOptions, 0, 0, 1, 0, 0, 0, 1, (byte)IpProtocol.Udp, 0, 1, 4, 0, 0, 0, 0];
        Assert.Equal(Nat64DropReason.ExtensionHeaderAfterFragment,
            Drop(Ipv6(Client, Server6, IpProtocol.Udp, Udp(1, 2, Payload), extensionHeaders: afterFragment, firstNextHeader: IpProtocol.Fragment)));

        byte[] fragment = [(byte)IpProtocol.Icmpv6, 0, 0, 1, 0, 0, 0, 1];
        Assert.Equal(Nat64DropReason.FragmentedIcmp, Drop(Ipv6(Client, Server6, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 1, 1, Payload),
            extensionHeaders: fragment, firstNextHeader: IpProtocol.Fragment)));
    }

    [Fact]
    public void Malformed_input_and_a_short_output_are_reported_not_thrown()
    {
        byte[] ipv6 = Ipv6(Client, Server6, IpProtocol.Tcp, Tcp(40000, 443, Payload));
        Assert.Equal(Nat64DropReason.MalformedPacket, Drop(ipv6[..39]));
        Assert.Equal(Nat64DropReason.MalformedPacket, Drop(ipv6[..^1]));
        Assert.Equal(Nat64DropReason.TransportTruncated, Drop(Ipv6(Client, Server6, IpProtocol.Tcp, new byte[10], fillChecksum: false)));

        Nat64TranslationResult result = Ipv6ToIpv4Translator.Translate(ipv6, Pool, Server4, new byte[ipv6.Length - 21], out int written);
        Assert.Equal(Nat64DropReason.OutputTooShort, result.DropReason);
        Assert.Equal(0, written);
        Assert.Contains("too short", result.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Overlapping_input_and_output_is_a_programming_error()
    {
        byte[] buffer = new byte[200];
        Assert.Throws<ArgumentException>(() => Ipv6ToIpv4Translator.Translate(buffer.AsSpan(0, 100), Pool, Server4, buffer.AsSpan(50), out _));
    }

    [Fact]
    public void An_echo_first_fragment_is_translated_when_the_whole_messages_length_is_given_and_a_later_one_always()
    {
        byte[] data = new byte[100];
        data.AsSpan().Fill(0xa5);
        byte[] wholeIpv6 = Ipv6(Client, Server6, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 7, 1, data));
        byte[] wholeIpv4 = Ipv4(Pool, Server4, IpProtocol.Icmp, Echo(IcmpType.Echo, 7, 1, data));
        byte[] first = Ipv6(Client, Server6, IpProtocol.Icmpv6, wholeIpv6.AsSpan(40, 64), fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Icmpv6, 0, 0, 1, 0xca, 0xfe, 0, 5], firstNextHeader: IpProtocol.Fragment);
        byte[] last = Ipv6(Client, Server6, IpProtocol.Icmpv6, wholeIpv6.AsSpan(104), fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Icmpv6, 0, 0, 64, 0xca, 0xfe, 0, 5], firstNextHeader: IpProtocol.Fragment);
        // RFC 7915 5.1.1: the identification's low 16 bits, MF from M, DF clear, the offset kept.
        byte[] expectedFirst = Ipv4(Pool, Server4, IpProtocol.Icmp, wholeIpv4.AsSpan(20, 64), identification: 5, moreFragments: true, fillChecksum: false);
        byte[] expectedLast = Ipv4(Pool, Server4, IpProtocol.Icmp, wholeIpv4.AsSpan(84), identification: 5, fragmentOffset: 64, fillChecksum: false);
        Assert.Equal(Nat64DropReason.FragmentedIcmp, Drop(first));
        Assert.Equal(Hex(expectedFirst), Hex(Translate(first, Outbound with { IcmpMessageLength = 108 })));
        Assert.Equal(Hex(expectedLast), Hex(Translate(last, Outbound)));
    }
}
