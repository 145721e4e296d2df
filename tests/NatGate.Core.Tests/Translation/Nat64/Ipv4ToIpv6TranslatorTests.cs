using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>RFC 7915 section 4, byte for byte: each expected IPv6 packet is built from scratch with full checksums.</summary>
public sealed class Ipv4ToIpv6TranslatorTests
{
    private static readonly byte[] Payload = "HTTP/1.1 200 OK\r\n"u8.ToArray();
    private static readonly Ipv6Endpoints Inbound = new(Server6, Client);

    private static byte[] Translate(byte[] packet, in Ipv6Endpoints endpoints, Ipv6Endpoints? quoted = null)
    {
        byte[] output = new byte[packet.Length + Ipv4ToIpv6Translator.MaximumGrowth * 2];
        Nat64TranslationResult result = quoted is Ipv6Endpoints inner
            ? Ipv4ToIpv6Translator.Translate(packet, endpoints, inner, output, out int written)
            : Ipv4ToIpv6Translator.Translate(packet, endpoints, output, out written);
        Assert.True(result.IsTranslated, result.ToString());
        return output[..written];
    }

    private static Nat64DropReason Drop(byte[] packet, Ipv6Endpoints? quoted = null)
    {
        byte[] output = new byte[packet.Length + 64];
        Nat64TranslationResult result = quoted is Ipv6Endpoints inner
            ? Ipv4ToIpv6Translator.Translate(packet, Inbound, inner, output, out int written)
            : Ipv4ToIpv6Translator.Translate(packet, Inbound, output, out written);
        Assert.False(result.IsTranslated);
        Assert.Equal(0, written);
        return result.DropReason;
    }

    [Fact]
    public void Tcp_gets_a_40_byte_header_and_its_checksum_moved_to_the_ipv6_pseudo_header()
    {
        byte[] ipv4 = Ipv4(Server4, Pool, IpProtocol.Tcp, Tcp(443, 61000, Payload), timeToLive: 57, typeOfService: 0x28, dontFragment: true);
        byte[] expected = Ipv6(Server6, Client, IpProtocol.Tcp, Tcp(443, 40000, Payload), hopLimit: 57, trafficClass: 0x28);
        Assert.Equal(Hex(expected), Hex(Translate(ipv4, Inbound with { DestinationPort = 40000 })));
    }

    [Fact]
    public void Udp_with_a_checksum_is_adjusted()
    {
        byte[] ipv4 = Ipv4(Server4, Pool, IpProtocol.Udp, Udp(53, 61000, Payload));
        byte[] expected = Ipv6(Server6, Client, IpProtocol.Udp, Udp(53, 61000, Payload));
        Assert.Equal(Hex(expected), Hex(Translate(ipv4, Inbound)));
    }

    [Fact]
    public void Udp_without_a_checksum_gets_one_computed()
    {
        byte[] ipv4 = Ipv4(Server4, Pool, IpProtocol.Udp, Udp(53, 61000, Payload), fillChecksum: false);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(ipv4.AsSpan(26)));
        byte[] expected = Ipv6(Server6, Client, IpProtocol.Udp, Udp(53, 40000, Payload));
        byte[] ipv6 = Translate(ipv4, Inbound with { DestinationPort = 40000 });
        Assert.Equal(Hex(expected), Hex(ipv6));
        Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(ipv6.AsSpan(46)));
    }

    [Fact]
    public void Icmp_echo_reply_becomes_icmpv6_echo_reply_129_with_the_pseudo_header_in_its_checksum()
    {
        byte[] ipv4 = Ipv4(Server4, Pool, IpProtocol.Icmp, Echo(IcmpType.EchoReply, 0x4242, 3, Payload));
        byte[] expected = Ipv6(Server6, Client, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoReply, 0x0777, 3, Payload));
        Assert.Equal(Hex(expected), Hex(Translate(ipv4, Inbound with { IcmpIdentifier = 0x0777 })));
    }

    [Fact]
    public void Icmp_echo_request_becomes_icmpv6_echo_request_128()
    {
        byte[] ipv4 = Ipv4(Server4, Pool, IpProtocol.Icmp, Echo(IcmpType.Echo, 1, 1, Payload));
        byte[] expected = Ipv6(Server6, Client, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 1, 1, Payload));
        Assert.Equal(Hex(expected), Hex(Translate(ipv4, Inbound)));
    }

    [Fact]
    public void An_ipv4_fragment_gets_a_fragment_header_with_its_identification_offset_and_more_fragments()
    {
        byte[] whole = Udp(53, 61000, new byte[40]);
        byte[] wholeIpv4 = Ipv4(Server4, Pool, IpProtocol.Udp, whole);
        byte[] first = Ipv4(Server4, Pool, IpProtocol.Udp, wholeIpv4.AsSpan(20, 24), identification: 0xbeef, moreFragments: true, fillChecksum: false);
        byte[] last = Ipv4(Server4, Pool, IpProtocol.Udp, wholeIpv4.AsSpan(44), identification: 0xbeef, fragmentOffset: 24, fillChecksum: false);

        byte[] wholeIpv6 = Ipv6(Server6, Client, IpProtocol.Udp, whole);
        byte[] expectedFirst = Ipv6(Server6, Client, IpProtocol.Udp, wholeIpv6.AsSpan(40, 24), fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Udp, 0, 0x00, 0x01, 0, 0, 0xbe, 0xef], firstNextHeader: IpProtocol.Fragment);
        byte[] expectedLast = Ipv6(Server6, Client, IpProtocol.Udp, wholeIpv6.AsSpan(64), fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Udp, 0, 0x00, 24, 0, 0, 0xbe, 0xef], firstNextHeader: IpProtocol.Fragment);
        Assert.Equal(Hex(expectedFirst), Hex(Translate(first, Inbound)));
        Assert.Equal(Hex(expectedLast), Hex(Translate(last, Inbound)));
    }

    [Fact]
    public void Frag_needed_becomes_packet_too_big_with_the_mtu_plus_20_and_the_quote_translated()
    {
        // An outbound packet (client to server, sent as pool to server) met a 1400-byte IPv4 link.
        Ipv4Address router = Ipv4Address.Parse("192.0.2.1");
        byte[] original = Ipv4(Pool, Server4, IpProtocol.Tcp, Tcp(61000, 443, new byte[1000]), dontFragment: true, identification: 9);
        byte[] error = new byte[600];
        int length = Ipv4PacketWriter.WriteIcmpError(error, router, Pool, IcmpType.DestinationUnreachable, 4, original, restOfHeader: 1400);
        error = error[..length];
        var outer = new Ipv6Endpoints(Prefix.Embed(router), Client);
        var quoted = new Ipv6Endpoints(Client, Server6) { SourcePort = 40000 };

        byte[] ipv6 = Translate(error, outer, quoted);

        // The quote held 548 bytes of IPv4 (20 + 528); translated it is 40 + 528, from a packet whose checksum is whole.
        byte[] fullQuote = Ipv6(Client, Server6, IpProtocol.Tcp, Tcp(40000, 443, new byte[1000]));
        byte[] expected = Ipv6(Prefix.Embed(router), Client, IpProtocol.Icmpv6, Icmp(Icmpv6Type.PacketTooBig, 0, 1420, fullQuote.AsSpan(0, 40 + 528)));
        Assert.Equal(Hex(expected), Hex(ipv6));
        Assert.True(Ipv6ChecksumValid(ipv6));
    }

    [Theory]
    [InlineData(1400, 1040, 1420)]
    [InlineData(1000, 1040, 1280)] // never below the IPv6 minimum MTU
    [InlineData(0, 1040, 1280)] // a pre-RFC 1191 router: plateau 1006 below 1040, plus 20, raised to 1280
    [InlineData(0, 4000, 2022)] // plateau 2002 below 4000, plus 20
    [InlineData(0, 65535, 32020)]
    [InlineData(65535, 1040, 65555)]
    public void Packet_too_big_mtu_arithmetic(int advertised, int quotedTotalLength, int expected)
        => Assert.Equal(expected, IcmpTranslationTables.PacketTooBigMtu((ushort)advertised, quotedTotalLength));

    [Theory]
    [InlineData(1280u, 1260u)]
    [InlineData(1500u, 1480u)]
    [InlineData(50u, 68u)] // kept at the IPv4 minimum
    [InlineData(1_000_000u, 65535u)] // kept within the 16-bit field
    public void Fragmentation_needed_mtu_arithmetic(uint advertised, uint expected)
        => Assert.Equal(expected, IcmpTranslationTables.FragmentationNeededMtu(advertised));

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 4)]
    [InlineData(3, 4)]
    [InlineData(8, 7)]
    [InlineData(9, 6)]
    [InlineData(12, 8)]
    [InlineData(19, 24)]
    [InlineData(4, -1)]
    [InlineData(10, -1)]
    [InlineData(20, -1)]
    public void Ipv4_parameter_problem_pointers_map_by_figure_3(int ipv4Pointer, int ipv6Pointer)
        => Assert.Equal(ipv6Pointer, IcmpTranslationTables.PointerToIpv6(ipv4Pointer));

    [Theory]
    [InlineData(IcmpType.DestinationUnreachable, 0, 0u, Icmpv6Type.DestinationUnreachable, 0, 0u)]
    [InlineData(IcmpType.DestinationUnreachable, 1, 0u, Icmpv6Type.DestinationUnreachable, 0, 0u)]
    [InlineData(IcmpType.DestinationUnreachable, 2, 0u, Icmpv6Type.ParameterProblem, 1, 6u)]
    [InlineData(IcmpType.DestinationUnreachable, 3, 0u, Icmpv6Type.DestinationUnreachable, 4, 0u)]
    [InlineData(IcmpType.DestinationUnreachable, 9, 0u, Icmpv6Type.DestinationUnreachable, 1, 0u)]
    [InlineData(IcmpType.DestinationUnreachable, 13, 0u, Icmpv6Type.DestinationUnreachable, 1, 0u)]
    [InlineData(IcmpType.TimeExceeded, 0, 0u, Icmpv6Type.TimeExceeded, 0, 0u)]
    [InlineData(IcmpType.ParameterProblem, 0, 9u << 24, Icmpv6Type.ParameterProblem, 0, 6u)]
    [InlineData(IcmpType.ParameterProblem, 2, 16u << 24, Icmpv6Type.ParameterProblem, 0, 24u)]
    public void Icmp_errors_map_by_the_section_4_2_table(byte type, byte code, uint rest, byte icmpv6Type, byte icmpv6Code, uint icmpv6Rest)
    {
        byte[] original = Ipv4(Pool, Server4, IpProtocol.Udp, Udp(61000, 53, Payload));
        byte[] error = Ipv4(Server4, Pool, IpProtocol.Icmp, Icmp(type, code, rest, original));
        byte[] ipv6 = Translate(error, Inbound, new Ipv6Endpoints(Client, Server6));
        Assert.Equal(icmpv6Type, ipv6[40]);
        Assert.Equal(icmpv6Code, ipv6[41]);
        Assert.Equal(icmpv6Rest, BinaryPrimitives.ReadUInt32BigEndian(ipv6.AsSpan(44)));
        Assert.True(Ipv6ChecksumValid(ipv6));
    }

    [Theory]
    [InlineData(IcmpType.DestinationUnreachable, 14, Nat64DropReason.UntranslatableIcmpCode)]
    [InlineData(IcmpType.ParameterProblem, 1, Nat64DropReason.UntranslatableIcmpCode)]
    [InlineData(IcmpType.SourceQuench, 0, Nat64DropReason.UntranslatableIcmpType)]
    [InlineData(IcmpType.Redirect, 0, Nat64DropReason.UntranslatableIcmpType)]
    public void Untranslatable_errors_are_dropped_with_the_reason(byte type, byte code, Nat64DropReason reason)
    {
        byte[] original = Ipv4(Pool, Server4, IpProtocol.Udp, Udp(61000, 53, Payload));
        Assert.Equal(reason, Drop(Ipv4(Server4, Pool, IpProtocol.Icmp, Icmp(type, code, 0, original)), new Ipv6Endpoints(Client, Server6)));
    }

    [Theory]
    [InlineData(IcmpType.Timestamp)]
    [InlineData(IcmpType.InformationRequest)]
    [InlineData(IcmpType.AddressMaskRequest)]
    [InlineData(IcmpType.RouterAdvertisement)]
    [InlineData(42)]
    public void Icmp_queries_other_than_echo_are_dropped(byte type)
        => Assert.Equal(Nat64DropReason.UntranslatableIcmpType, Drop(Ipv4(Server4, Pool, IpProtocol.Icmp, Icmp(type, 0, 0, new byte[12]))));

    [Fact]
    public void Fragmented_icmp_and_a_first_fragment_of_udp_without_checksum_are_dropped()
    {
        Assert.Equal(Nat64DropReason.FragmentedIcmp,
            Drop(Ipv4(Server4, Pool, IpProtocol.Icmp, Echo(IcmpType.Echo, 1, 1, Payload), moreFragments: true)));
        Assert.Equal(Nat64DropReason.FragmentedUdpWithoutChecksum,
            Drop(Ipv4(Server4, Pool, IpProtocol.Udp, Udp(53, 61000, Payload), moreFragments: true, fillChecksum: false)));
    }

    [Fact]
    public void An_unexpired_source_route_is_dropped_and_other_options_are_left_out()
    {
        byte[] plain = Ipv4(Server4, Pool, IpProtocol.Udp, Udp(53, 61000, Payload));
        // Header with 8 option bytes: a loose source route of one address, pointer 4 (unvisited), then end of list.
        byte[] withRoute = WithOptions(plain, [131, 7, 4, 192, 0, 2, 1, 0]);
        Assert.Equal(Nat64DropReason.UnexpiredSourceRoute, Drop(withRoute));

        byte[] exhausted = WithOptions(plain, [131, 7, 8, 192, 0, 2, 1, 0]);
        Assert.Equal(Hex(Translate(plain, Inbound)), Hex(Translate(exhausted, Inbound)));
    }

    [Fact]
    public void A_bad_header_checksum_a_nested_error_and_missing_quoted_endpoints_are_dropped()
    {
        byte[] plain = Ipv4(Server4, Pool, IpProtocol.Udp, Udp(53, 61000, Payload));
        plain[10] ^= 1;
        Assert.Equal(Nat64DropReason.HeaderChecksumInvalid, Drop(plain));

        byte[] original = Ipv4(Pool, Server4, IpProtocol.Udp, Udp(61000, 53, Payload));
        byte[] error = Ipv4(Server4, Pool, IpProtocol.Icmp, Icmp(IcmpType.DestinationUnreachable, 3, 0, original));
        Assert.Equal(Nat64DropReason.QuotedEndpointsMissing, Drop(error));
        byte[] nested = Ipv4(Server4, Pool, IpProtocol.Icmp, Icmp(IcmpType.TimeExceeded, 0, 0, Ipv4(Pool, Server4, IpProtocol.Icmp, error.AsSpan(20))));
        Assert.Equal(Nat64DropReason.NestedIcmpError, Drop(nested, new Ipv6Endpoints(Client, Server6)));
        error[^1] ^= 0x55;
        Assert.Equal(Nat64DropReason.IcmpChecksumInvalid, Drop(error, new Ipv6Endpoints(Client, Server6)));
    }

    private static byte[] WithOptions(byte[] packet, byte[] options)
    {
        byte[] result = new byte[packet.Length + options.Length];
        packet.AsSpan(0, 20).CopyTo(result);
        options.CopyTo(result, 20);
        packet.AsSpan(20).CopyTo(result.AsSpan(20 + options.Length));
        result[0] = (byte)(0x40 | (20 + options.Length) / 4);
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(2), (ushort)result.Length);
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(10), 0);
        BinaryPrimitives.WriteUInt16BigEndian(result.AsSpan(10), NatGate.Core.Checksums.InternetChecksum.Compute(result.AsSpan(0, 20 + options.Length)));
        return result;
    }

    [Fact]
    public void A_packet_without_df_that_would_exceed_1280_bytes_gets_a_fragment_header_to_be_split_and_keep_whole_leaves_it()
    {
        byte[] big = Udp(53, 61000, new byte[1300]);
        byte[] ipv4 = Ipv4(Server4, Pool, IpProtocol.Udp, big, identification: 0x0102);
        byte[] wholeIpv6 = Ipv6(Server6, Client, IpProtocol.Udp, big);
        // RFC 7915 4.1: offset 0, M clear, the identification in the low 16 bits.
        byte[] expected = Ipv6(Server6, Client, IpProtocol.Udp, wholeIpv6.AsSpan(40), fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Udp, 0, 0, 0, 0, 0, 0x01, 0x02], firstNextHeader: IpProtocol.Fragment);
        Assert.Equal(Hex(expected), Hex(Translate(ipv4, Inbound)));
        Assert.Equal(Hex(wholeIpv6), Hex(Translate(ipv4, Inbound with { KeepWhole = true })));
        Assert.Equal(Hex(wholeIpv6), Hex(Translate(Ipv4(Server4, Pool, IpProtocol.Udp, big, identification: 0x0102, dontFragment: true), Inbound)));
        byte[] small = Udp(53, 61000, new byte[1232]);
        Assert.Equal(Hex(Ipv6(Server6, Client, IpProtocol.Udp, small)), Hex(Translate(Ipv4(Server4, Pool, IpProtocol.Udp, small), Inbound)));
    }

    [Fact]
    public void An_echo_first_fragment_is_translated_when_the_whole_messages_length_is_given_and_a_later_one_always()
    {
        byte[] data = new byte[100];
        data.AsSpan().Fill(0x5a);
        byte[] wholeIpv4 = Ipv4(Server4, Pool, IpProtocol.Icmp, Echo(IcmpType.EchoReply, 7, 1, data));
        byte[] wholeIpv6 = Ipv6(Server6, Client, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoReply, 7, 1, data));
        byte[] first = Ipv4(Server4, Pool, IpProtocol.Icmp, wholeIpv4.AsSpan(20, 64), identification: 5, moreFragments: true, fillChecksum: false);
        byte[] last = Ipv4(Server4, Pool, IpProtocol.Icmp, wholeIpv4.AsSpan(84), identification: 5, fragmentOffset: 64, fillChecksum: false);
        byte[] expectedFirst = Ipv6(Server6, Client, IpProtocol.Icmpv6, wholeIpv6.AsSpan(40, 64), fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Icmpv6, 0, 0, 1, 0, 0, 0, 5], firstNextHeader: IpProtocol.Fragment);
        byte[] expectedLast = Ipv6(Server6, Client, IpProtocol.Icmpv6, wholeIpv6.AsSpan(104), fillChecksum: false,
            extensionHeaders: [(byte)IpProtocol.Icmpv6, 0, 0, 64, 0, 0, 0, 5], firstNextHeader: IpProtocol.Fragment);
        Assert.Equal(Nat64DropReason.FragmentedIcmp, Drop(first));
        Assert.Equal(Hex(expectedFirst), Hex(Translate(first, Inbound with { IcmpMessageLength = 108 })));
        Assert.Equal(Hex(expectedLast), Hex(Translate(last, Inbound)));
    }
}
