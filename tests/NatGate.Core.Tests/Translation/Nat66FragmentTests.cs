using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation;

/// <summary>
/// NAT66 and IPv6's Fragment header (RFC 8200 4.5): a first fragment is translated by its session,
/// the later ones follow it by (source, destination, identification), early ones wait in the
/// bounded buffer, and an atomic fragment is a whole packet.
/// </summary>
public sealed class Nat66FragmentTests
{
    private const string Rules = """
        map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
        map wan0 fd00:77::/64 -> 2001:db8::10/128
        """;

    private static readonly Ipv6Address Inside = Address("fd00:77::2");
    private static readonly Ipv6Address External = Address("2001:db8::10");
    private static readonly Ipv6Address Remote = Address("2001:db8:ff::5");

    private static NatEngine Engine()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 7 }, 0);
        engine.LoadRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules);
        return engine;
    }

    /// <summary>A 56-byte UDP datagram (8-byte header, 48 of data) whole, with its checksum.</summary>
    private static byte[] Datagram(Ipv6Address source, ushort sourcePort, Ipv6Address destination, ushort destinationPort)
    {
        var buffer = new byte[200];
        byte[] data = [.. Enumerable.Range(0, 48).Select(i => (byte)(0xA0 + i))];
        int length = Ipv6PacketWriter.WriteUdp(buffer, source, sourcePort, destination, destinationPort, data);
        return buffer[..length];
    }

    /// <summary><paramref name="whole"/>'s upper layer cut into fragments at <paramref name="cuts"/> (multiples of 8), identification <paramref name="identification"/>.</summary>
    private static byte[][] Fragment(byte[] whole, uint identification, params int[] cuts)
    {
        byte[] upper = whole[Ipv6Packet.HeaderLength..];
        int[] bounds = [0, .. cuts, upper.Length];
        var fragments = new byte[bounds.Length - 1][];
        for (int i = 0; i < fragments.Length; i++)
        {
            var buffer = new byte[Ipv6Packet.HeaderLength + 8 + upper.Length];
            int length = Ipv6PacketWriter.WriteFragment(buffer, Source(whole), Destination(whole), (IpProtocol)whole[Ipv6Packet.Field.NextHeader], identification,
                bounds[i], moreFragments: i < fragments.Length - 1, upper.AsSpan(bounds[i], bounds[i + 1] - bounds[i]));
            fragments[i] = buffer[..length];
        }
        return fragments;
    }

    /// <summary>The upper layer put back together from fragments in order.</summary>
    private static byte[] Reassemble(params byte[][] fragments) => [.. fragments.SelectMany(fragment => fragment[(Ipv6Packet.HeaderLength + 8)..])];

    private static TranslationResult Send(NatEngine engine, byte[] packet, long now = 0) => engine.Translate(packet, packet.Length, now);

    private static bool UdpChecksumHolds(Ipv6Address source, Ipv6Address destination, byte[] upper)
    {
        Span<byte> sourceBytes = stackalloc byte[16], destinationBytes = stackalloc byte[16];
        source.Write(sourceBytes);
        destination.Write(destinationBytes);
        return TransportChecksum.IsValidIpv6(sourceBytes, destinationBytes, IpProtocol.Udp, upper);
    }

    [Fact]
    public void Later_fragments_follow_their_first_fragment_out_and_the_reassembled_checksum_holds()
    {
        NatEngine engine = Engine();
        byte[][] fragments = Fragment(Datagram(Inside, 40000, Remote, 53), 0x01020304, 24);
        Assert.Equal(Verdict.Forward, Send(engine, fragments[0]).Verdict);
        Assert.Equal(Verdict.Forward, Send(engine, fragments[1]).Verdict);
        foreach (byte[] fragment in fragments)
        {
            Assert.Equal((External, Remote), (Source(fragment), Destination(fragment)));
        }
        byte[] upper = Reassemble(fragments);
        ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(upper);
        // The whole datagram as it would have been sent from the external port.
        Assert.Equal(Datagram(External, externalPort, Remote, 53)[Ipv6Packet.HeaderLength..], upper);
        Assert.True(UdpChecksumHolds(External, Remote, upper));
        Assert.Equal(1, engine.Statistics().FragmentsTranslated);
    }

    [Fact]
    public void A_fragmented_reply_comes_back_to_the_inside_host()
    {
        NatEngine engine = Engine();
        byte[] sent = Datagram(Inside, 40000, Remote, 53);
        Assert.Equal(Verdict.Forward, Send(engine, sent).Verdict);
        ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(Ipv6Packet.HeaderLength));

        byte[][] reply = Fragment(Datagram(Remote, 53, External, externalPort), 77, 16, 32);
        foreach (byte[] fragment in reply)
        {
            Assert.Equal(Verdict.Forward, Send(engine, fragment).Verdict);
            Assert.Equal((Remote, Inside), (Source(fragment), Destination(fragment)));
        }
        Assert.Equal(Datagram(Remote, 53, Inside, 40000)[Ipv6Packet.HeaderLength..], Reassemble(reply));
        Assert.Equal(2, engine.Statistics().FragmentsTranslated);
    }

    [Fact]
    public void An_early_fragment_is_held_until_its_first_fragment_arrives()
    {
        NatEngine engine = Engine();
        byte[][] fragments = Fragment(Datagram(Inside, 40000, Remote, 53), 9, 24);
        Assert.Equal(Verdict.Held, Send(engine, fragments[1]).Verdict);
        Assert.Equal(1, engine.HeldFragments);
        Assert.Equal(Verdict.Forward, Send(engine, fragments[0]).Verdict);

        var buffer = new byte[2048];
        Assert.True(engine.TryTakeReleasedPacket(buffer, out int length));
        byte[] released = buffer[..length];
        Assert.Equal((External, Remote), (Source(released), Destination(released)));
        Assert.Equal(fragments[1][Ipv6Packet.HeaderLength..], released[Ipv6Packet.HeaderLength..]); // the data and Fragment header untouched
        Assert.True(UdpChecksumHolds(External, Remote, Reassemble(fragments[0], released)));
        Assert.False(engine.TryTakeReleasedPacket(buffer, out _));
        Assert.Equal(0, engine.HeldFragments);
    }

    [Fact]
    public void An_early_fragment_whose_first_never_comes_is_dropped_at_the_timeout()
    {
        NatEngine engine = Engine();
        byte[][] fragments = Fragment(Datagram(Inside, 40000, Remote, 53), 9, 24);
        Assert.Equal(Verdict.Held, Send(engine, fragments[1]).Verdict);
        engine.ExpireSessions(TimeSpan.FromSeconds(29).Ticks);
        Assert.Equal(1, engine.HeldFragments);
        engine.ExpireSessions(TimeSpan.FromSeconds(31).Ticks);
        Assert.Equal(0, engine.HeldFragments);
        Assert.Equal(1, engine.Statistics().Drops[nameof(DropReason.FragmentTimeout)]);
    }

    [Fact]
    public void The_hold_buffer_is_bounded_and_one_source_holds_at_most_its_share()
    {
        // 64 slots: 32 for the inside, 32 for the outside, at most 4 per source in each half.
        NatEngine engine = Engine();
        for (uint identification = 0; identification < 4; identification++)
        {
            Assert.Equal(Verdict.Held, Send(engine, Fragment(Datagram(Inside, 40000, Remote, 53), identification, 24)[1]).Verdict);
        }
        Assert.Equal(DropReason.FragmentBufferFull, Send(engine, Fragment(Datagram(Inside, 40000, Remote, 53), 4, 24)[1]).Reason);
        Assert.Equal(Verdict.Held, Send(engine, Fragment(Datagram(Address("fd00:77::9"), 40000, Remote, 53), 0, 24)[1]).Verdict);
        // From outside, to the external address: the other half, with a share of its own.
        for (uint identification = 0; identification < 4; identification++)
        {
            Assert.Equal(Verdict.Held, Send(engine, Fragment(Datagram(Remote, 53, External, 1024), identification, 24)[1]).Verdict);
        }
        Assert.Equal(DropReason.FragmentBufferFull, Send(engine, Fragment(Datagram(Remote, 53, External, 1024), 4, 24)[1]).Reason);
        Assert.Equal(2, engine.Statistics().Drops[nameof(DropReason.FragmentBufferFull)]);
        Assert.Equal(9, engine.HeldFragments);
    }

    [Fact]
    public void A_later_fragment_follows_by_source_destination_and_identification_only()
    {
        // RFC 8200 4.5: the Next Header of a later fragment may differ from the first's; the identification ties them.
        NatEngine engine = Engine();
        byte[][] fragments = Fragment(Datagram(Inside, 40000, Remote, 53), 5, 24);
        fragments[1][Ipv6Packet.HeaderLength] = (byte)IpProtocol.DestinationOptions;
        Send(engine, fragments[0]);
        Assert.Equal(Verdict.Forward, Send(engine, fragments[1]).Verdict);
        Assert.Equal(External, Source(fragments[1]));

        byte[] otherDatagram = Fragment(Datagram(Inside, 40000, Remote, 53), 6, 24)[1];
        Assert.Equal(Verdict.Held, Send(engine, otherDatagram).Verdict); // another identification waits for its own first
    }

    [Fact]
    public void An_atomic_fragment_is_just_a_packet()
    {
        NatEngine engine = Engine();
        byte[] atomic = Fragment(Datagram(Inside, 40000, Remote, 53), 11)[0];
        Assert.Equal(Verdict.Forward, Send(engine, atomic).Verdict);
        Assert.Equal(External, Source(atomic));
        Assert.True(UdpChecksumHolds(External, Remote, atomic[(Ipv6Packet.HeaderLength + 8)..]));
        Assert.Equal(1, engine.Ipv6SessionCount);
        // No datagram is tracked for it: a "later fragment" with its identification is not rewritten.
        byte[] stray = Fragment(Datagram(Inside, 40000, Remote, 53), 11, 24)[1];
        Assert.Equal(Verdict.Held, Send(engine, stray).Verdict);
    }

    [Fact]
    public void Fragments_of_an_echo_request_follow_its_session()
    {
        NatEngine engine = Engine();
        var buffer = new byte[200];
        int length = Ipv6PacketWriter.WriteEcho(buffer, Inside, Remote, Icmpv6Type.EchoRequest, 0x4242, 1, new byte[64]);
        byte[][] fragments = Fragment(buffer[..length], 12, 40);
        Assert.Equal(Verdict.Forward, Send(engine, fragments[0]).Verdict);
        Assert.Equal(Verdict.Forward, Send(engine, fragments[1]).Verdict);
        byte[] upper = Reassemble(fragments);
        Span<byte> source = stackalloc byte[16], destination = stackalloc byte[16];
        External.Write(source);
        Remote.Write(destination);
        Assert.True(TransportChecksum.IsValidIpv6(source, destination, IpProtocol.Icmpv6, upper));
        Assert.Equal(External, Source(fragments[1]));
    }
}
