using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>
/// Fragments through stateful NAT64 (RFC 6146 3.4, RFC 7915 4.1 and 5.1.1): a first fragment is
/// translated by its session and its later fragments follow it by (source, destination,
/// identification), held when they come first; an IPv6 fragment becomes an IPv4 fragment with the
/// identification's low 16 bits and DF clear, an IPv4 fragment (or a packet without DF longer than
/// 1260 bytes) becomes IPv6 fragments of at most 1280 bytes with the identification in a Fragment
/// header. Each packet out is compared byte for byte with the fragment the other end should get,
/// cut here from a whole datagram built with every checksum computed in full.
/// </summary>
public sealed class Nat64FragmentTests
{
    private static readonly Ipv6Address Inside = Ipv6Address.Parse("fd00:77::2", null);
    private static readonly Ipv4Address External = Ipv4Address.Parse("203.0.113.10");
    private static readonly Ipv4Address Server = Ipv4Address.Parse("198.51.100.20");
    private static readonly Ipv6Address Server6 = Nat64Prefix.WellKnown.Embed(Server);

    private static byte[] Data(int length)
    {
        byte[] data = new byte[length];
        for (int i = 0; i < length; i++)
        {
            data[i] = (byte)(i * 7 + 3);
        }
        return data;
    }

    /// <summary>IPv6 fragments of a whole IPv6 packet (no extension headers), cut at <paramref name="cuts"/> (offsets into its payload, multiples of 8).</summary>
    internal static byte[][] Ipv6Fragments(byte[] whole, uint identification, params int[] cuts)
    {
        byte[] payload = whole[40..];
        var bounds = cuts.Prepend(0).Append(payload.Length).ToArray();
        var fragments = new byte[bounds.Length - 1][];
        for (int i = 0; i < fragments.Length; i++)
        {
            fragments[i] = new byte[48 + bounds[i + 1] - bounds[i]];
            Ipv6PacketWriter.WriteFragment(fragments[i], Ipv6Address.Read(whole.AsSpan(8)), Ipv6Address.Read(whole.AsSpan(24)), (IpProtocol)whole[6],
                identification, bounds[i], i < fragments.Length - 1, payload.AsSpan(bounds[i], bounds[i + 1] - bounds[i]), whole[7]);
        }
        return fragments;
    }

    /// <summary>IPv4 fragments of a whole IPv4 packet (no options), cut at <paramref name="cuts"/> (offsets into its payload, multiples of 8).</summary>
    internal static byte[][] Ipv4Fragments(byte[] whole, ushort identification, params int[] cuts)
    {
        byte[] payload = whole[20..];
        var bounds = cuts.Prepend(0).Append(payload.Length).ToArray();
        var fragments = new byte[bounds.Length - 1][];
        for (int i = 0; i < fragments.Length; i++)
        {
            fragments[i] = Ipv4(Ipv4Address.Read(whole.AsSpan(12)), Ipv4Address.Read(whole.AsSpan(16)), (IpProtocol)whole[9],
                payload.AsSpan(bounds[i], bounds[i + 1] - bounds[i]), timeToLive: whole[8], identification: identification,
                moreFragments: i < fragments.Length - 1, fragmentOffset: bounds[i], fillChecksum: false);
        }
        return fragments;
    }

    /// <summary>Translates in a buffer with the room a device slot has, then takes every packet the engine let out since.</summary>
    internal static (TranslationResult Result, List<byte[]> Out) Send(NatEngine engine, byte[] packet, long now = 0)
    {
        var buffer = new byte[Math.Max(packet.Length + 28, 2048)];
        packet.CopyTo(buffer, 0);
        TranslationResult result = engine.Translate(buffer, packet.Length, now);
        var sent = new List<byte[]>();
        if (result.Verdict == Verdict.Forward)
        {
            sent.Add(buffer[..result.Length]);
        }
        var scratch = new byte[2048];
        while (engine.TryTakeReleasedPacket(scratch, out int length))
        {
            sent.Add(scratch[..length]);
        }
        return (result, sent);
    }

    private static void AssertSamePackets(IEnumerable<byte[]> expected, IEnumerable<byte[]> actual)
        => Assert.Equal(expected.Select(packet => Hex(packet)).Order(), actual.Select(packet => Hex(packet)).Order());

    private static NatEngine EngineWithUdpSession(NatPolicy? policy = null)
    {
        NatEngine engine = Nat64EngineTests.Engine(policy: policy);
        (TranslationResult result, _) = Nat64EngineTests.Send(engine, Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, [1, 2, 3])));
        Assert.Equal(Verdict.Forward, result.Verdict);
        return engine;
    }

    [Fact]
    public void Ipv6_fragments_leave_as_ipv4_fragments_with_the_identifications_low_16_bits_and_df_clear()
    {
        NatEngine engine = EngineWithUdpSession();
        byte[] payload = Data(2992);
        byte[][] fragments = Ipv6Fragments(Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, payload), hopLimit: 63), 0x1234abcd, 1448, 2896);
        byte[][] expected = Ipv4Fragments(Ipv4(External, Server, IpProtocol.Udp, Udp(40000, 53, payload), timeToLive: 63), 0xabcd, 1448, 2896);

        var sent = new List<byte[]>();
        foreach (byte[] fragment in fragments)
        {
            (TranslationResult result, List<byte[]> packets) = Send(engine, fragment);
            Assert.Equal(Verdict.Forward, result.Verdict);
            sent.AddRange(packets);
        }
        Assert.Equal(expected.Select(packet => Hex(packet)), sent.Select(packet => Hex(packet)));
        Assert.Equal(0, engine.HeldFragments);
    }

    [Fact]
    public void Ipv4_fragments_come_back_as_ipv6_fragments_of_at_most_1280_bytes_with_the_identification()
    {
        NatEngine engine = EngineWithUdpSession();
        byte[] payload = Data(2992);
        // As a server on an Ethernet sends 3000 bytes of UDP: 1480, 1480 and 40 bytes of data.
        byte[][] fragments = Ipv4Fragments(Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, payload), timeToLive: 50), 0x4242, 1480, 2960);
        // RFC 7915 4.1: each 1500-byte fragment is 1528 bytes of IPv6, so it is cut at 1232 data bytes.
        byte[][] expected = Ipv6Fragments(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(53, 40000, payload), hopLimit: 50), 0x4242, 1232, 1480, 2712, 2960);

        var sent = new List<byte[]>();
        foreach (byte[] fragment in fragments)
        {
            (TranslationResult result, List<byte[]> packets) = Send(engine, fragment);
            Assert.Equal(Verdict.Forward, result.Verdict);
            sent.AddRange(packets);
        }
        Assert.Equal(expected.Select(packet => Hex(packet)), sent.Select(packet => Hex(packet)));
        Assert.All(sent, packet => Assert.True(packet.Length <= 1280, $"{packet.Length} bytes"));
    }

    [Fact]
    public void Later_fragments_that_come_before_their_first_are_held_then_let_out_translated_both_ways()
    {
        NatEngine engine = EngineWithUdpSession();
        byte[] payload = Data(2000);
        byte[][] outbound = Ipv6Fragments(Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, payload)), 77, 1000, 1504);
        byte[][] expectedOut = Ipv4Fragments(Ipv4(External, Server, IpProtocol.Udp, Udp(40000, 53, payload)), 77, 1000, 1504);
        Assert.Equal(Verdict.Held, Send(engine, outbound[2]).Result.Verdict);
        Assert.Equal(Verdict.Held, Send(engine, outbound[1]).Result.Verdict);
        Assert.Equal(2, engine.HeldFragments);
        (TranslationResult first, List<byte[]> sent) = Send(engine, outbound[0]);
        Assert.Equal(Verdict.Forward, first.Verdict);
        AssertSamePackets(expectedOut, sent);
        Assert.Equal(0, engine.HeldFragments);

        // IPv4's early fragments wait in IPv4's tracker until their first says they are NAT64's.
        byte[][] inbound = Ipv4Fragments(Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, payload)), 78, 1000, 1504);
        byte[][] expectedIn = Ipv6Fragments(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(53, 40000, payload)), 78, 1000, 1504);
        Assert.Equal(Verdict.Held, Send(engine, inbound[1]).Result.Verdict);
        Assert.Equal(Verdict.Held, Send(engine, inbound[2]).Result.Verdict);
        (first, sent) = Send(engine, inbound[0]);
        Assert.Equal(Verdict.Forward, first.Verdict);
        AssertSamePackets(expectedIn, sent);
        Assert.Equal(0, engine.HeldFragments);
    }

    [Fact]
    public void A_ping_larger_than_the_mtu_crosses_both_ways_its_first_fragment_held_until_the_last_tells_the_length()
    {
        NatEngine engine = Nat64EngineTests.Engine();
        byte[] data = Data(3000);
        byte[][] request = Ipv6Fragments(Ipv6(Inside, Server6, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 5000, 1, data)), 9, 1448, 2896);
        // The identifier is the inside host's, kept since free; the checksum loses the pseudo-header.
        byte[][] expectedRequest = Ipv4Fragments(Ipv4(External, Server, IpProtocol.Icmp, Echo(IcmpType.Echo, 5000, 1, data)), 9, 1448, 2896);
        (TranslationResult result, List<byte[]> sent) = Send(engine, request[0]);
        Assert.Equal(Verdict.Held, result.Verdict);
        Assert.Empty(sent);
        (result, List<byte[]> middle) = Send(engine, request[1]);
        Assert.Equal(Verdict.Forward, result.Verdict);
        (result, List<byte[]> rest) = Send(engine, request[2]);
        Assert.Equal(Verdict.Forward, result.Verdict);
        AssertSamePackets(expectedRequest, middle.Concat(rest));
        Assert.Equal(1, engine.Nat64SessionCount);

        byte[][] reply = Ipv4Fragments(Ipv4(Server, External, IpProtocol.Icmp, Echo(IcmpType.EchoReply, 5000, 1, data)), 0x5151, 1480, 2960);
        byte[][] expectedReply = Ipv6Fragments(Ipv6(Server6, Inside, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoReply, 5000, 1, data)), 0x5151,
            1232, 1480, 2712, 2960);
        var received = new List<byte[]>();
        // The last fragment first this time: the first, when it comes, knows the length at once.
        foreach (byte[] fragment in new[] { reply[2], reply[0], reply[1] })
        {
            (_, List<byte[]> packets) = Send(engine, fragment);
            received.AddRange(packets);
        }
        AssertSamePackets(expectedReply, received);
        Assert.Equal(0, engine.HeldFragments);
    }

    [Fact]
    public void An_ipv4_packet_without_df_longer_than_1260_bytes_is_split_to_1280_and_one_with_df_is_not()
    {
        NatEngine engine = EngineWithUdpSession();
        byte[] payload = Data(1392);
        (TranslationResult result, List<byte[]> sent) = Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, payload), identification: 0x0606));
        Assert.Equal(Verdict.Forward, result.Verdict);
        AssertSamePackets(Ipv6Fragments(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(53, 40000, payload)), 0x0606, 1232), sent);

        (result, sent) = Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, payload), identification: 0x0607, dontFragment: true));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(53, 40000, payload))), Hex(Assert.Single(sent)));

        // At 1260 bytes of IPv4 the IPv6 packet is 1280: whole, no Fragment header.
        byte[] fits = Data(1232);
        (_, sent) = Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, fits), identification: 0x0608));
        Assert.Equal(Hex(Ipv6(Server6, Inside, IpProtocol.Udp, Udp(53, 40000, fits))), Hex(Assert.Single(sent)));
    }

    [Fact]
    public void An_ipv4_first_fragment_admitted_by_filtering_makes_its_session_and_its_later_fragment_follows()
    {
        NatEngine engine = EngineWithUdpSession(NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Ipv4Address other = Ipv4Address.Parse("198.51.100.99");
        byte[] payload = Data(1600);
        byte[][] fragments = Ipv4Fragments(Ipv4(other, External, IpProtocol.Udp, Udp(53, 40000, payload)), 3, 1000);
        byte[][] expected = Ipv6Fragments(Ipv6(Nat64Prefix.WellKnown.Embed(other), Inside, IpProtocol.Udp, Udp(53, 40000, payload)), 3, 1000);
        var sent = fragments.SelectMany(fragment => Send(engine, fragment).Out).ToList();
        AssertSamePackets(expected, sent);
        Assert.Equal(2, engine.Nat64SessionCount);
    }

    [Fact]
    public void Held_fragments_whose_first_never_comes_are_dropped_at_the_timeout_and_counted()
    {
        NatEngine engine = EngineWithUdpSession();
        byte[][] outbound = Ipv6Fragments(Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Data(2000))), 11, 1000);
        Assert.Equal(Verdict.Held, Send(engine, outbound[1]).Result.Verdict);
        Assert.Equal(1, engine.HeldFragments);
        engine.ExpireSessions(TimeSpan.FromSeconds(31).Ticks);
        Assert.Equal(0, engine.HeldFragments);
        Assert.Equal(1, engine.Statistics().Drops[nameof(DropReason.FragmentTimeout)]);
        // Its first, late, goes alone: nothing is let out with it.
        (TranslationResult result, List<byte[]> sent) = Send(engine, outbound[0], TimeSpan.FromSeconds(32).Ticks);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Single(sent);
    }

    [Fact]
    public void A_later_fragment_of_no_known_datagram_from_the_ipv4_side_is_left_to_ipv4_and_held_there()
    {
        NatEngine engine = EngineWithUdpSession();
        byte[] later = Ipv4Fragments(Ipv4(Server, External, IpProtocol.Udp, Udp(53, 40000, Data(2000))), 12, 1000)[1];
        Assert.Equal(Verdict.Held, Send(engine, later).Result.Verdict);
        Assert.Equal(0, engine.Statistics().Drops.GetValueOrDefault(nameof(DropReason.Unsupported)));
    }

    [Fact]
    public void A_ping_whose_first_fragment_comes_last_after_as_many_early_ones_as_a_source_may_hold_still_crosses()
    {
        // Four early fragments fill the source's share of held slots (FragmentTracker); the first,
        // when it comes, lets them out and is held itself. Their slots, released but not yet taken,
        // were counted against the share, and the first was dropped (FragmentBufferFull).
        NatEngine engine = Nat64EngineTests.Engine();
        byte[] data = Data(2000);
        byte[][] request = Ipv6Fragments(Ipv6(Inside, Server6, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 5000, 1, data)), 21, 400, 800, 1200, 1600);
        byte[][] expected = Ipv4Fragments(Ipv4(External, Server, IpProtocol.Icmp, Echo(IcmpType.Echo, 5000, 1, data)), 21, 400, 800, 1200, 1600);
        var sent = new List<byte[]>();
        foreach (byte[] fragment in request.Skip(1).Append(request[0]))
        {
            (TranslationResult result, List<byte[]> packets) = Send(engine, fragment);
            Assert.NotEqual(Verdict.Drop, result.Verdict);
            sent.AddRange(packets);
        }
        AssertSamePackets(expected, sent);
        Assert.Equal(0, engine.HeldFragments);
    }

    [Fact]
    public void A_fragmented_datagram_between_two_inside_hosts_is_hairpinned_fragment_by_fragment()
    {
        NatEngine engine = Nat64EngineTests.Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Ipv6Address other = Ipv6Address.Parse("fd00:77::3", null);
        Send(engine, Ipv6(other, Server6, IpProtocol.Udp, Udp(41000, 53, [1])));
        Ipv6Address othersName = Nat64Prefix.WellKnown.Embed(External);
        byte[] payload = Data(2000);
        byte[][] fragments = Ipv6Fragments(Ipv6(Inside, othersName, IpProtocol.Udp, Udp(40000, 41000, payload)), 0x00aa00bb, 1000);
        // Through IPv4 and back: the identification keeps its low 16 bits, the first fragment
        // (1,048 bytes of IPv6) fits 1,280 whole, as does the last.
        byte[][] expected = Ipv6Fragments(Ipv6(othersName, other, IpProtocol.Udp, Udp(40000, 41000, payload)), 0xbb, 1000);
        var received = fragments.SelectMany(fragment => Send(engine, fragment).Out).ToList();
        AssertSamePackets(expected, received);
    }

    [Fact]
    public void Each_hairpinned_fragment_is_counted_once()
    {
        // Found by the mutated-traffic replay: a later fragment hairpinned back in was counted as
        // a translated fragment on its way out and again on its way in.
        NatEngine engine = Nat64EngineTests.Engine(policy: NatPolicy.Default with { UdpFiltering = FilteringBehavior.EndpointIndependent });
        Ipv6Address other = Ipv6Address.Parse("fd00:77::3", null);
        Send(engine, Ipv6(other, Server6, IpProtocol.Udp, Udp(41000, 53, [1])));
        Ipv6Address othersName = Nat64Prefix.WellKnown.Embed(External);
        byte[][] fragments = Ipv6Fragments(Ipv6(Inside, othersName, IpProtocol.Udp, Udp(40000, 41000, Data(2000))), 0x00aa00bb, 1000);
        NatStatistics before = engine.Statistics();

        foreach (byte[] fragment in fragments)
        {
            Assert.Equal(Verdict.Forward, Send(engine, fragment).Result.Verdict);
        }

        NatStatistics after = engine.Statistics();
        // The first by its session (mapped in, once), each later one as a translated fragment.
        Assert.Equal(before.MappedIn + before.MappedOut + 1, after.MappedIn + after.MappedOut);
        Assert.Equal(before.FragmentsTranslated + fragments.Length - 1, after.FragmentsTranslated);
    }

    [Fact]
    public void A_first_fragment_whose_datagram_cannot_be_tracked_is_dropped_and_makes_no_session()
    {
        var engine = new NatEngine(new NatEngineOptions
        {
            RandomSeed = 7,
            MaximumFragmentedDatagrams = 1,
            Limits = new NatGate.Core.Sessions.FlowTableLimits { MaximumSessions = 64 },
        }, 0);
        engine.LoadRules(NatGate.Core.Rules.Ipnat.IpnatParser.Parse("map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp auto", "ipnat.conf").Rules);
        byte[] tracked = Ipv6Fragments(Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, Data(1600))), 1, 800)[0];
        Assert.Equal(Verdict.Forward, Send(engine, tracked).Result.Verdict);
        // A second datagram, of a new flow: its later fragments could never follow it.
        byte[] untracked = Ipv6Fragments(Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40001, 53, Data(1600))), 2, 800)[0];
        Assert.Equal(DropReason.FragmentBufferFull, Send(engine, untracked).Result.Reason);
        Assert.Equal(1, engine.Nat64SessionCount);
    }
}
