using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class LimitsAndFragmentsTests
{
    [Fact]
    public void A_full_table_refuses_new_sessions_with_an_icmp_error_and_keeps_the_live_ones()
    {
        var lab = new Lab(options: new NatEngineOptions { RandomSeed = 3, Limits = new FlowTableLimits { MaximumSessions = 4 } });
        for (ushort port = 1; port <= 4; port++)
        {
            lab.Forward(Lab.Udp(Lab.InsideA, (ushort)(5000 + port), Lab.Remote, 53));
        }
        byte[] refused = Lab.Udp(Lab.InsideB, 6000, Lab.Remote, 53);
        (TranslationResult result, byte[] reply) = lab.Send(refused);
        Assert.Equal(Verdict.Reply, result.Verdict);
        Assert.Equal(DropReason.TableFull, result.Reason);
        Lab.AssertValid(reply);
        Ipv4Packet.TryParse(reply, out Ipv4Packet ip);
        Assert.Equal(Lab.InsideB, ip.DestinationAddress);
        Assert.Equal(IcmpType.DestinationUnreachable, ip.Payload[0]);
        Assert.Equal(13, ip.Payload[1]);
        Assert.Equal(4, lab.Engine.SessionCount);
        Assert.Equal(1, lab.Engine.Statistics().NoMemory);
        // Every live session still works both ways (RFC 6888 REQ-11: no eviction).
        for (ushort port = 1; port <= 4; port++)
        {
            Assert.Equal(Lab.InsideA, Lab.Tuple(lab.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, (ushort)(5000 + port)))).Destination);
        }
    }

    [Fact]
    public void Refusal_replies_are_rate_limited_and_every_refusal_is_still_counted()
    {
        // Issue 10: one ICMP error went out per refused packet (400,062 for 400,070).
        var lab = new Lab(options: new NatEngineOptions { RandomSeed = 3, RefusalRepliesPerSecond = 100, Limits = new FlowTableLimits { MaximumSessions = 1 } });
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        int replies = 0;
        for (ushort port = 1; port <= 500; port++)
        {
            replies += lab.Send(Lab.Udp(Lab.InsideB, port, Lab.Remote, 53)).Result.Verdict == Verdict.Reply ? 1 : 0;
        }
        Assert.Equal(100, replies); // the burst
        lab.Advance(TimeSpan.FromMilliseconds(500));
        for (ushort port = 501; port <= 1000; port++)
        {
            replies += lab.Send(Lab.Udp(Lab.InsideB, port, Lab.Remote, 53)).Result.Verdict == Verdict.Reply ? 1 : 0;
        }
        Assert.Equal(150, replies); // 50 more in half a second
        var statistics = lab.Engine.Statistics();
        Assert.Equal(1000, statistics.Drops[nameof(DropReason.TableFull)]);
        Assert.Equal(850, statistics.RefusalRepliesSuppressed);
    }

    [Fact]
    public void A_second_external_address_is_used_when_the_first_has_no_port_left_and_restores_as_made()
    {
        // Issue 10: with two --external addresses the second was never used. One port on each.
        var lab = new Lab(addMapRule: false);
        Ipv4Address second = Lab.External + 1;
        lab.Engine.LoadRules(
        [
            NatEngine.MapRule(Lab.InsidePrefix, Lab.External, new Core.Ports.PortRange(1024, 1024)),
            NatEngine.MapRule(Lab.InsidePrefix, second, new Core.Ports.PortRange(1024, 1024)),
        ]);
        Assert.Equal(Lab.External, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53))).Source);
        Assert.Equal(second, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53))).Source);
        Assert.Equal(Lab.InsideB, Lab.Tuple(lab.Forward(Lab.Udp(Lab.Remote, 53, second, 1024))).Destination);
        Assert.Equal(DropReason.PortsExhausted, lab.Send(Lab.Udp(Lab.InsideA + 5, 5000, Lab.Remote, 53)).Result.Reason);

        // A session on the second address is one the rules could have made: it restores.
        IReadOnlyList<Core.Control.SessionRecord> saved = lab.Engine.ExportSessions();
        lab.Engine.FlushSessions(lab.Now);
        Assert.Empty(lab.Engine.Restore(saved, lab.Now).Failures);
        Assert.Equal(2, lab.Engine.SessionCount);
    }

    [Fact]
    public void One_host_cannot_take_more_than_its_share()
    {
        var lab = new Lab(options: new NatEngineOptions { RandomSeed = 3, ReplyToRefusedSessions = false, Limits = new FlowTableLimits { MaximumSessionsPerHost = 2 } });
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 53));
        lab.Forward(Lab.Udp(Lab.InsideA, 2, Lab.Remote, 53));
        Assert.Equal(DropReason.HostLimit, lab.Dropped(Lab.Udp(Lab.InsideA, 3, Lab.Remote, 53)));
        lab.Forward(Lab.Udp(Lab.InsideB, 3, Lab.Remote, 53));
    }

    [Fact]
    public void Exhausted_ports_are_refused_not_stolen()
    {
        var lab = new Lab(addMapRule: false, options: new NatEngineOptions { RandomSeed = 3, ReplyToRefusedSessions = false });
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External, new NatGate.Core.Ports.PortRange(2000, 2001)));
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 53));
        lab.Forward(Lab.Udp(Lab.InsideA, 2, Lab.Remote, 53));
        Assert.Equal(DropReason.PortsExhausted, lab.Dropped(Lab.Udp(Lab.InsideB, 3, Lab.Remote, 53)));
        Assert.Equal(2, lab.Engine.SessionCount);
    }

    private static byte[][] Fragments(Ipv4Address source, Ipv4Address destination, ushort sourcePort, ushort destinationPort)
    {
        // A UDP datagram of 8 + 40 bytes, cut into fragments of 24 + 24 bytes of IP payload.
        byte[] whole = Lab.Udp(source, sourcePort, destination, destinationPort, new string('x', 40));
        byte[] payload = whole[20..];
        byte[] first = new byte[20 + 24];
        Ipv4PacketWriter.WriteIpv4Header(first, source, destination, IpProtocol.Udp, 24, identification: 0x7777, moreFragments: true);
        payload.AsSpan(0, 24).CopyTo(first.AsSpan(20));
        byte[] second = new byte[20 + 24];
        Ipv4PacketWriter.WriteIpv4Header(second, source, destination, IpProtocol.Udp, 24, identification: 0x7777, fragmentOffset: 24);
        payload.AsSpan(24, 24).CopyTo(second.AsSpan(20));
        return [first, second];
    }

    [Fact]
    public void Later_fragments_follow_their_first_fragment()
    {
        var lab = new Lab();
        byte[][] fragments = Fragments(Lab.InsideA, Lab.Remote, 5000, 53);
        byte[] first = lab.Forward(fragments[0]);
        byte[] second = lab.Forward(fragments[1]);
        byte[] expected = Lab.Udp(Lab.External, 5000, Lab.Remote, 53, new string('x', 40));
        Assert.Equal(expected[20..44], first[20..]);
        Ipv4Packet.TryParse(second, out Ipv4Packet ip);
        Assert.Equal((Lab.External, Lab.Remote), (ip.SourceAddress, ip.DestinationAddress));
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.Equal(1, lab.Engine.Statistics().FragmentsTranslated);
    }

    [Fact]
    public void An_early_fragment_is_held_until_its_first_fragment_arrives()
    {
        var lab = new Lab();
        byte[][] fragments = Fragments(Lab.InsideA, Lab.Remote, 5000, 53);
        (TranslationResult held, _) = lab.Send(fragments[1]);
        Assert.Equal(Verdict.Held, held.Verdict);
        Assert.Equal(1, lab.Engine.HeldFragments);
        lab.Forward(fragments[0]);
        var buffer = new byte[2048];
        Assert.True(lab.Engine.TryTakeReleasedPacket(buffer, out int length));
        Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet ip);
        Assert.Equal((Lab.External, 24), (ip.SourceAddress, ip.FragmentOffset));
        Assert.True(ip.IsHeaderChecksumValid);
        Assert.False(lab.Engine.TryTakeReleasedPacket(buffer, out _));
        Assert.Equal(0, lab.Engine.HeldFragments);
    }

    [Fact]
    public void An_early_fragment_whose_first_never_comes_is_dropped_after_the_timeout()
    {
        var lab = new Lab();
        byte[][] fragments = Fragments(Lab.InsideA, Lab.Remote, 5000, 53);
        lab.Send(fragments[1]);
        lab.Advance(TimeSpan.FromSeconds(31));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.HeldFragments);
        Assert.Equal(1, lab.Engine.Statistics().Drops[nameof(DropReason.FragmentTimeout)]);
    }

    /// <summary>A later fragment of datagram <paramref name="identification"/>, as if its first were still on its way.</summary>
    private static byte[] EarlyFragment(Ipv4Address source, Ipv4Address destination, ushort identification)
    {
        byte[] fragment = Fragments(source, destination, 5000, 53)[1];
        fragment[4] = (byte)(identification >> 8);
        fragment[5] = (byte)identification;
        Ipv4Packet.TryParse(fragment, out Ipv4Packet ip);
        ip.UpdateHeaderChecksum();
        return fragment;
    }

    [Fact]
    public void The_hold_buffer_is_bounded_and_one_source_holds_at_most_its_share()
    {
        // 64 slots: 32 for the inside, 32 for the outside, at most 4 per source in each half.
        var lab = new Lab();
        for (ushort id = 0; id < 4; id++)
        {
            Assert.Equal(Verdict.Held, lab.Send(EarlyFragment(Lab.InsideA, Lab.Remote, id)).Result.Verdict);
        }
        Assert.Equal(DropReason.FragmentBufferFull, lab.Dropped(EarlyFragment(Lab.InsideA, Lab.Remote, 4)));
        Assert.Equal(Verdict.Held, lab.Send(EarlyFragment(Lab.InsideB, Lab.Remote, 0)).Result.Verdict);
        Assert.Equal(1, lab.Engine.Statistics().Drops[nameof(DropReason.FragmentBufferFull)]);
    }

    [Fact]
    public void Spoofed_fragments_from_outside_do_not_starve_the_insides_datagrams()
    {
        // Issue 10: 5,000 spoofed fragments from outside made an inside datagram's fragments drop for 30 s.
        var lab = new Lab();
        int held = 0;
        for (int i = 0; i < 5000; i++)
        {
            Ipv4Address spoofed = Lab.Remote + (uint)(i % 300);
            held += lab.Send(EarlyFragment(spoofed, Lab.External, (ushort)i)).Result.Verdict == Verdict.Held ? 1 : 0;
        }
        Assert.Equal(32, held);
        Assert.Equal(5000 - 32, lab.Engine.Statistics().Drops[nameof(DropReason.FragmentBufferFull)]);

        // The inside's own datagram, its second fragment first, still goes through whole.
        byte[][] fragments = Fragments(Lab.InsideA, Lab.Remote, 5000, 53);
        Assert.Equal(Verdict.Held, lab.Send(fragments[1]).Result.Verdict);
        lab.Forward(fragments[0]);
        Assert.True(lab.Engine.TryTakeReleasedPacket(new byte[2048], out _));
    }

    [Fact]
    public void Fragments_of_untranslated_traffic_pass_untouched()
    {
        var lab = new Lab();
        byte[][] fragments = Fragments(Lab.Remote, Lab.OtherRemote, 1, 2);
        Assert.Equal(fragments[0], lab.Forward(fragments[0]));
        Assert.Equal(fragments[1], lab.Forward(fragments[1]));
    }
}
