using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Tests.Packets;
using NatGate.Core.Translation.Npt;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation.Npt;

/// <summary>
/// Whole packets through an NPTv6 mapping: only the one address changes, and every checksum still
/// holds when recomputed over the new pseudo-header, which is what checksum-neutral means.
/// </summary>
public sealed class Nptv6PacketTests
{
    private static readonly Nptv6Mapping Mapping = new(IpPrefix.Parse("fd01:203:405::/48", null), IpPrefix.Parse("2001:db8:1::/48", null));
    private static readonly Nptv6Mapping Reversed = new(Mapping.External, Mapping.Internal);
    private static readonly Ipv6Address Inside = Address("fd01:203:405:1::1234");
    private static readonly Ipv6Address External = Address("2001:db8:1:d550::1234");
    private static readonly Ipv6Address Remote = Address("2001:db8:ffff::80");
    private static readonly Ipv6Address Router = Address("2001:db8:aaaa::1");

    public static TheoryData<string> Protocols => ["udp", "tcp", "echo"];

    private static byte[] Build(string protocol, Ipv6Address source, Ipv6Address destination) => protocol switch
    {
        "udp" => Udp(source, destination),
        "tcp" => Tcp(source, destination),
        _ => EchoRequest(source, destination),
    };

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Outbound_rewrites_only_the_source_and_the_transport_checksum_still_verifies(string protocol)
    {
        byte[] packet = Build(protocol, Inside, Remote);
        byte[] original = (byte[])packet.Clone();

        Assert.Equal(NptResult.Translated, Mapping.Translate(packet, NptDirection.Outbound));

        Assert.Equal(External, Source(packet));
        Assert.Equal(Remote, Destination(packet));
        Assert.True(ChecksumIsValid(packet), $"the {protocol} checksum, untouched, must verify over the translated pseudo-header");
        AssertOnlyChanged(original, packet, Ipv6Packet.Field.SourceAddress);
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public void Inbound_rewrites_only_the_destination_and_the_transport_checksum_still_verifies(string protocol)
    {
        byte[] packet = Build(protocol, Remote, External);
        byte[] original = (byte[])packet.Clone();

        Assert.Equal(NptResult.Translated, Mapping.TranslateInbound(packet));

        Assert.Equal(Remote, Source(packet));
        Assert.Equal(Inside, Destination(packet));
        Assert.True(ChecksumIsValid(packet));
        AssertOnlyChanged(original, packet, Ipv6Packet.Field.DestinationAddress);
    }

    [Fact]
    public void A_packet_too_big_from_outside_quotes_the_inside_hosts_own_packet_after_translation()
    {
        byte[] sent = Udp(Inside, Remote);
        byte[] onTheWire = (byte[])sent.Clone();
        Assert.Equal(NptResult.Translated, Mapping.TranslateOutbound(onTheWire));

        // A router on the path answers the translated packet (RFC 4443 3.2, MTU 1280).
        byte[] error = Error(Router, External, Icmpv6Type.PacketTooBig, 0, 1280, onTheWire);
        Assert.True(ChecksumIsValid(error));

        Assert.Equal(NptResult.Translated, Mapping.TranslateInbound(error));

        Assert.Equal(Router, Source(error));
        Assert.Equal(Inside, Destination(error));
        Assert.True(ChecksumIsValid(error), "the ICMPv6 checksum covers the quote and the outer pseudo-header; both moved neutrally");
        Assert.Equal(sent, Quote(error));
        Assert.True(ChecksumIsValid(Quote(error)), "the quoted UDP checksum verifies for the inside addresses");
    }

    [Fact]
    public void A_destination_unreachable_from_inside_quotes_the_packet_as_the_outside_sent_it()
    {
        byte[] sent = Udp(Remote, External, RemotePort, InsidePort);
        byte[] delivered = (byte[])sent.Clone();
        Assert.Equal(NptResult.Translated, Mapping.TranslateInbound(delivered));

        // The inside host has no listener: port unreachable (RFC 4443 3.1, code 4).
        byte[] error = Error(Inside, Remote, Icmpv6Type.DestinationUnreachable, 4, 0, delivered);

        Assert.Equal(NptResult.Translated, Mapping.TranslateOutbound(error));

        Assert.Equal(External, Source(error));
        Assert.Equal(Remote, Destination(error));
        Assert.True(ChecksumIsValid(error));
        Assert.Equal(sent, Quote(error));
        Assert.True(ChecksumIsValid(Quote(error)));
    }

    [Theory]
    [InlineData(Icmpv6Type.TimeExceeded, 40)]
    [InlineData(Icmpv6Type.ParameterProblem, 48)]
    [InlineData(Icmpv6Type.DestinationUnreachable, 60)]
    public void A_short_quote_holding_the_whole_ipv6_header_is_translated(byte type, int quoteLimit)
    {
        byte[] onTheWire = Tcp(Inside, Remote);
        Assert.Equal(NptResult.Translated, Mapping.TranslateOutbound(onTheWire));
        byte[] error = Error(Router, External, type, 0, 0, onTheWire, quoteLimit);

        Assert.Equal(NptResult.Translated, Mapping.TranslateInbound(error));

        Assert.True(ChecksumIsValid(error));
        Assert.Equal(Inside, Source(Quote(error)));
        Assert.Equal(quoteLimit, Quote(error).Length);
    }

    [Fact]
    public void An_error_quoting_a_packet_that_is_not_the_mappings_is_dropped_untouched()
    {
        // draft-bctb-6man-rfc6296-bis 3.8: the quoted source must be in the external prefix.
        byte[] error = Error(Router, External, Icmpv6Type.PacketTooBig, 0, 1280, Udp(Address("2001:db8:2::9"), Remote));
        AssertUntouched(error, NptDirection.Inbound, NptResult.QuoteNotMatched);

        byte[] fromInside = Error(Inside, Remote, Icmpv6Type.DestinationUnreachable, 4, 0, Udp(Remote, Address("fd01:203:405:ffff::9")));
        AssertUntouched(fromInside, NptDirection.Outbound, NptResult.QuoteNotMatched);
    }

    [Fact]
    public void An_error_whose_quote_lacks_a_whole_ipv6_header_or_whose_checksum_fails_is_malformed()
    {
        byte[] onTheWire = Udp(External, Remote);
        AssertUntouched(Error(Router, External, Icmpv6Type.TimeExceeded, 0, 0, onTheWire, quoteLimit: 39), NptDirection.Inbound, NptResult.Malformed);

        byte[] corrupted = Error(Router, External, Icmpv6Type.TimeExceeded, 0, 0, onTheWire);
        corrupted[^1] ^= 0x40;
        AssertUntouched(corrupted, NptDirection.Inbound, NptResult.Malformed);

        byte[] notIpv6 = Error(Router, External, Icmpv6Type.TimeExceeded, 0, 0, onTheWire);
        notIpv6[Ipv6Packet.HeaderLength + Icmpv6Message.HeaderLength] = 0x45;
        AssertUntouched(notIpv6, NptDirection.Inbound, NptResult.Malformed);
    }

    [Fact]
    public void Neighbour_discovery_is_never_translated()
    {
        // RFC 4861: a solicitation from a global inside address still belongs to its link.
        AssertUntouched(NeighbourSolicitation(Inside, Address("fd01:203:405:1::1")), NptDirection.Outbound, NptResult.NotMatched);
        byte[] advertisement = Packet(Router, External, IpProtocol.Icmpv6, [136, 0, 0, 0, 0x60, 0, 0, 0, .. new byte[16]], checksumOffset: 2);
        AssertUntouched(advertisement, NptDirection.Inbound, NptResult.NotMatched);
    }

    [Fact]
    public void Packets_outside_the_prefixes_are_not_matched_and_untouched()
    {
        AssertUntouched(Udp(Remote, Inside), NptDirection.Outbound, NptResult.NotMatched);
        AssertUntouched(Udp(External, Remote), NptDirection.Outbound, NptResult.NotMatched);
        AssertUntouched(Udp(Remote, Inside), NptDirection.Inbound, NptResult.NotMatched);
        AssertUntouched(Udp(External, Remote), NptDirection.Inbound, NptResult.NotMatched);
        AssertUntouched(Udp(Address("fd01:203:406::1"), Remote), NptDirection.Outbound, NptResult.NotMatched);
    }

    [Fact]
    public void A_packet_from_or_to_the_subnet_0xffff_is_refused_untouched()
    {
        AssertUntouched(Udp(Address("fd01:203:405:ffff::1234"), Remote), NptDirection.Outbound, NptResult.Refused);
        AssertUntouched(Tcp(Remote, Address("2001:db8:1:ffff::1234")), NptDirection.Inbound, NptResult.Refused);
    }

    [Fact]
    public void Bytes_that_are_not_an_ipv6_packet_are_malformed_and_untouched()
    {
        byte[] truncated = Udp(Inside, Remote)[..39];
        AssertUntouched(truncated, NptDirection.Outbound, NptResult.Malformed);
        byte[] ipv4 = Udp(Inside, Remote);
        ipv4[0] = 0x45;
        AssertUntouched(ipv4, NptDirection.Outbound, NptResult.Malformed);
        byte[] shortIcmp = Packet(Inside, Remote, IpProtocol.Icmpv6, [Icmpv6Type.EchoRequest, 0, 0, 0], checksumOffset: 2);
        AssertUntouched(shortIcmp, NptDirection.Outbound, NptResult.Malformed);
    }

    [Fact]
    public void Extension_headers_are_walked_and_a_first_fragment_is_translated_with_its_checksum_intact()
    {
        // Hop-by-Hop, Fragment (first, M set) and Destination Options before UDP, from 2001:db8::1.
        byte[] packet = PacketVectors.Bytes(PacketVectors.Ipv6WithExtensionHeaders);
        byte[] original = (byte[])packet.Clone();
        Nptv6Mapping mapping = new(IpPrefix.Parse("2001:db8::/48", null), IpPrefix.Parse("2001:db8:77::/48", null));

        Assert.Equal(NptResult.Translated, mapping.TranslateOutbound(packet));

        Assert.True(IpPrefix.Parse("2001:db8:77::/48", null).Contains(Source(packet)));
        Assert.True(ChecksumIsValid(packet));
        AssertOnlyChanged(original, packet, Ipv6Packet.Field.SourceAddress);
        Assert.Equal(NptResult.Translated, mapping.TranslateInbound(Swapped(packet)));
    }

    [Fact]
    public void Bytes_after_the_packet_in_a_longer_buffer_are_left_alone()
    {
        byte[] packet = Udp(Inside, Remote);
        byte[] buffer = [.. packet, 0xAA, 0xBB, 0xCC];

        Assert.Equal(NptResult.Translated, Mapping.TranslateOutbound(buffer));

        Assert.Equal(External, Source(buffer));
        Assert.Equal([0xAA, 0xBB, 0xCC], buffer[^3..]);
        Assert.True(ChecksumIsValid(buffer[..packet.Length]));
    }

    [Fact]
    public void Translating_allocates_nothing()
    {
        byte[] udp = Udp(Inside, Remote);
        byte[] onTheWire = (byte[])udp.Clone();
        Mapping.TranslateOutbound(onTheWire);
        byte[] error = Error(Router, External, Icmpv6Type.PacketTooBig, 0, 1280, onTheWire);
        for (int warmUp = 0; warmUp < 100; warmUp++)
        {
            RoundTrip(udp, error);
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int iteration = 0; iteration < 1000; iteration++)
        {
            RoundTrip(udp, error);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);

        static void RoundTrip(byte[] udp, byte[] error)
        {
            // Out, and back through the reversed mapping; an error in, and back.
            Mapping.Translate(udp, NptDirection.Outbound);
            Reversed.Translate(udp, NptDirection.Outbound);
            Mapping.Translate(error, NptDirection.Inbound);
            Reversed.Translate(error, NptDirection.Inbound);
        }
    }

    private static void AssertUntouched(byte[] packet, NptDirection direction, NptResult expected)
    {
        byte[] original = (byte[])packet.Clone();
        Assert.Equal(expected, Mapping.Translate(packet, direction));
        Assert.Equal(original, packet);
    }

    private static void AssertOnlyChanged(byte[] original, byte[] translated, int addressOffset)
    {
        Assert.Equal(original.Length, translated.Length);
        Assert.Equal(original[..addressOffset], translated[..addressOffset]);
        Assert.Equal(original[(addressOffset + 16)..], translated[(addressOffset + 16)..]);
        Assert.NotEqual(original[addressOffset..(addressOffset + 16)], translated[addressOffset..(addressOffset + 16)]);
    }

    private static byte[] Swapped(byte[] packet)
    {
        byte[] swapped = (byte[])packet.Clone();
        packet.AsSpan(Ipv6Packet.Field.SourceAddress, 16).CopyTo(swapped.AsSpan(Ipv6Packet.Field.DestinationAddress));
        packet.AsSpan(Ipv6Packet.Field.DestinationAddress, 16).CopyTo(swapped.AsSpan(Ipv6Packet.Field.SourceAddress));
        return swapped;
    }
}
