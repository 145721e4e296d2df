using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>
/// Fragments through NAT64, by property: a datagram of TCP, UDP or an echo, cut anywhere and sent
/// in any order from either side, comes out on the other family as fragments that reassemble to
/// the datagram the other end should get (built whole, every checksum computed in full), none of
/// its IPv6 packets over 1280 bytes; and random fragment-shaped bytes never throw, never leave
/// anything held or queued for ever, and leave the table consistent and a known flow working.
/// </summary>
public sealed class Nat64FragmentProperties
{
    private static readonly Ipv6Address Inside = Ipv6Address.Parse("fd00:77::2", null);
    private static readonly Ipv4Address External = Ipv4Address.Parse("203.0.113.10");
    private static readonly Ipv4Address Server = Ipv4Address.Parse("198.51.100.20");
    private static readonly Ipv6Address Server6 = Nat64Prefix.WellKnown.Embed(Server);
    private static readonly IpProtocol[] Protocols = [IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmpv6];

    private static byte[] Transport(IpProtocol protocol, bool fromInside, byte[] data) => protocol switch
    {
        IpProtocol.Tcp => fromInside ? Tcp(40000, 443, data) : Tcp(443, 40000, data),
        IpProtocol.Udp => fromInside ? Udp(40000, 53, data) : Udp(53, 40000, data),
        _ => Echo(fromInside ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply, 40000, 1, data),
    };

    private static byte[] Ipv4Transport(IpProtocol protocol, bool fromInside, byte[] data) => protocol switch
    {
        IpProtocol.Icmpv6 => Echo(fromInside ? IcmpType.Echo : IcmpType.EchoReply, 40000, 1, data),
        _ => Transport(protocol, fromInside, data),
    };

    private static IpProtocol Ipv4Protocol(IpProtocol protocol) => protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : protocol;

    /// <summary>Cuts at every multiple of <paramref name="step"/> (a multiple of 8) below <paramref name="length"/>.</summary>
    private static int[] Cuts(int length, int step) => Enumerable.Range(1, (length - 1) / step).Select(i => i * step).ToArray();

    /// <summary>The data of fragments of one family put back together by offset; fails on a gap, an overlap or a missing end.</summary>
    private static byte[] Reassemble(List<byte[]> packets, bool ipv6, uint identification)
    {
        var pieces = new List<(int Offset, bool More, byte[] Data)>();
        foreach (byte[] packet in packets)
        {
            if (ipv6)
            {
                Assert.Equal(6, packet[0] >> 4);
                Assert.True(packet.Length <= 1280, $"an IPv6 packet of {packet.Length} bytes");
                if (packet[Ipv6Packet.Field.NextHeader] != (byte)IpProtocol.Fragment)
                {
                    pieces.Add((0, false, packet[40..]));
                    continue;
                }
                ushort offsetAndFlags = BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(42));
                Assert.Equal(identification, BinaryPrimitives.ReadUInt32BigEndian(packet.AsSpan(44)));
                pieces.Add((offsetAndFlags & 0xFFF8, (offsetAndFlags & 1) != 0, packet[48..]));
            }
            else
            {
                Assert.Equal(PacketError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
                Assert.True(ip.IsHeaderChecksumValid);
                Assert.False(ip.DontFragment && (ip.MoreFragments || ip.FragmentOffset != 0), "a fragment with DF");
                Assert.Equal((ushort)identification, ip.Identification);
                pieces.Add((ip.FragmentOffset, ip.MoreFragments, packet[20..]));
            }
        }
        pieces.Sort((left, right) => left.Offset.CompareTo(right.Offset));
        var whole = new List<byte>();
        foreach ((int offset, bool more, byte[] data) in pieces)
        {
            Assert.Equal(whole.Count, offset);
            whole.AddRange(data);
        }
        Assert.False(pieces[^1].More, "the last fragment is missing");
        return [.. whole];
    }

    [Fact]
    public void Fragments_in_any_order_from_either_side_reassemble_to_the_datagram_the_other_end_should_get() =>
        Gen.Select(Gen.Int[0, 2], Gen.Int[0, 4000], Gen.Int[1, 5], Gen.Bool, Gen.UInt, Gen.Int).Sample((protocolIndex, dataLength, count, fromInside, identification, order) =>
        {
            // At most 5 fragments: out of order, 4 may come before their first, and 4 is what one
            // source may hold (an eighth of a half of the 64 held slots, FragmentTracker).
            // The first holds the whole transport header (RFC 6146 3.4 lets a NAT64 require it; a TCP
            // header cut short is dropped as malformed).
            int step = Math.Min(1480, Math.Max(24, ((dataLength + 28 + count - 1) / count + 7) & ~7));
            IpProtocol protocol = Protocols[protocolIndex];
            byte[] data = new byte[dataLength];
            new Random(order).NextBytes(data);
            NatEngine engine = Nat64EngineTests.Engine();
            // The session first, by a whole packet from the inside.
            (TranslationResult opened, _) = Nat64EngineTests.Send(engine, Ipv6(Inside, Server6, protocol, Transport(protocol, fromInside: true, [9])));
            Assert.Equal(Verdict.Forward, opened.Verdict);

            byte[][] fragments;
            byte[] expected;
            ushort id16 = (ushort)identification;
            if (fromInside)
            {
                byte[] whole = Ipv6(Inside, Server6, protocol, Transport(protocol, fromInside: true, data));
                fragments = Nat64FragmentTests.Ipv6Fragments(whole, identification, Cuts(whole.Length - 40, step));
                expected = Ipv4(External, Server, Ipv4Protocol(protocol), Ipv4Transport(protocol, fromInside: true, data))[20..];
            }
            else
            {
                byte[] whole = Ipv4(Server, External, Ipv4Protocol(protocol), Ipv4Transport(protocol, fromInside: false, data));
                fragments = Nat64FragmentTests.Ipv4Fragments(whole, id16, Cuts(whole.Length - 20, step));
                expected = Ipv6(Server6, Inside, protocol, Transport(protocol, fromInside: false, data))[40..];
            }
            var rng = new Random(order);
            var sent = new List<byte[]>();
            foreach (byte[] fragment in fragments.OrderBy(_ => rng.Next()))
            {
                (TranslationResult result, List<byte[]> packets) = Nat64FragmentTests.Send(engine, fragment);
                Assert.True(result.Verdict is Verdict.Forward or Verdict.Held, result.ToString());
                sent.AddRange(packets);
            }
            // From IPv6 the identification's low 16 bits (RFC 7915 5.1.1); from IPv4 all of it, in 32.
            byte[] reassembled = Reassemble(sent, ipv6: !fromInside, id16);
            Assert.Equal(Hex(expected), Hex(reassembled));
            Assert.Equal(0, engine.HeldFragments);
            Assert.Empty(engine.CheckNat64Consistency());
        }, iter: 400);

    [Fact]
    public void Random_fragment_shaped_bytes_never_throw_nor_stay_for_ever_and_a_known_flow_keeps_working() =>
        Gen.Select(Gen.Bool, Gen.Byte.Array[0, 1600], Gen.UShort, Gen.Bool, Gen.Byte, Gen.UShort[0, 3]).Array[1, 12].Sample(pieces =>
        {
            NatEngine engine = Nat64EngineTests.Engine();
            byte[] known = Ipv6(Inside, Server6, IpProtocol.Udp, Udp(40000, 53, [1, 2, 3]));
            (TranslationResult first, byte[] sent) = Nat64EngineTests.Send(engine, known);
            Assert.Equal(Verdict.Forward, first.Verdict);
            foreach ((bool ipv6, byte[] random, ushort offset, bool more, byte protocol, ushort identification) in pieces)
            {
                byte[] packet;
                if (ipv6)
                {
                    packet = new byte[48 + random.Length];
                    Ipv6PacketWriter.WriteFragment(packet, Inside, Server6, (IpProtocol)protocol, identification, offset & 0xFFF8, more, random);
                }
                else
                {
                    packet = Ipv4(Server, External, (IpProtocol)protocol, random, identification: identification, moreFragments: more,
                        fragmentOffset: Math.Min(offset & 0xFFF8, 0x1FFF * 8), fillChecksum: false);
                }
                (TranslationResult result, List<byte[]> packets) = Nat64FragmentTests.Send(engine, packet);
                Assert.All(packets, output => Assert.True(output.Length <= Math.Max(packet.Length + 28, 2048)));
            }
            // Whatever is held goes at the timeout; nothing is left queued.
            engine.ExpireSessions(TimeSpan.FromSeconds(31).Ticks);
            Assert.Equal(0, engine.HeldFragments);
            Assert.False(engine.HasReleasedPackets);
            Assert.Empty(engine.CheckNat64Consistency());
            (TranslationResult again, byte[] resent) = Nat64EngineTests.Send(engine, known, TimeSpan.FromSeconds(31).Ticks);
            Assert.Equal(Verdict.Forward, again.Verdict);
            Assert.Equal(Hex(sent.AsSpan(20)), Hex(resent.AsSpan(20)));
        }, iter: 400);
}
