using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// NAT66's ICMPv6 errors and fragments under random shapes: every checksum holds by full
/// recomputation after translation, the quoted packet comes back as its sender wrote it, a
/// reassembled datagram is the one the other end should get, and random bytes never throw.
/// </summary>
public sealed class Nat66IcmpAndFragmentProperties
{
    private const string Rules = """
        map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
        map wan0 fd00:77::/64 -> 2001:db8::10/128
        """;

    private static readonly Ipv6Address External = Address("2001:db8::10");
    private static readonly Ipv6Address Remote = Address("2001:db8:ff::5");
    private static readonly Ipv6Address Router = Address("2001:db8:ff::1");

    private static Ipv6Address Inside(int host) => new(0xfd00_0077_0000_0000, (ulong)host + 2);

    private static NatEngine Engine()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 11, Limits = new FlowTableLimits { MaximumSessions = 256 } }, 0);
        engine.LoadRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules);
        return engine;
    }

    /// <summary>A TCP segment, UDP datagram or echo request of <paramref name="payloadLength"/> bytes of data.</summary>
    private static byte[] Build(int protocol, Ipv6Address source, ushort sourcePort, Ipv6Address destination, ushort destinationPort, int payloadLength)
    {
        var buffer = new byte[Ipv6Packet.HeaderLength + 20 + payloadLength];
        byte[] payload = [.. Enumerable.Range(0, payloadLength).Select(i => (byte)(i * 13 + 5))];
        int length = protocol switch
        {
            0 => Ipv6PacketWriter.WriteTcp(buffer, source, sourcePort, destination, destinationPort, TcpFlags.Ack, 7, 9, payload),
            1 => Ipv6PacketWriter.WriteUdp(buffer, source, sourcePort, destination, destinationPort, payload),
            _ => Ipv6PacketWriter.WriteEcho(buffer, source, destination, Icmpv6Type.EchoRequest, sourcePort, 1, payload),
        };
        return buffer[..length];
    }

    private static byte[] Forward(NatEngine engine, byte[] packet)
    {
        byte[] copy = [.. packet];
        TranslationResult result = engine.Translate(copy, copy.Length, 0);
        Assert.True(result.Verdict == Verdict.Forward, $"{result.Verdict} {result.Reason}");
        return copy;
    }

    [Fact]
    public void An_error_about_an_outbound_packet_reaches_its_host_with_the_quote_restored_and_every_checksum_right() =>
        Gen.Select(Gen.Int[0, 2], Gen.Int[0, 50], Gen.UShort[1, 65535], Gen.Int[0, 1500], Gen.Byte[1, 4], Gen.UInt, Gen.Bool, Gen.Int[Ipv6Packet.HeaderLength + 8, 1232])
        .Sample((protocol, host, port, payloadLength, type, parameter, fromRouter, quoteLimit) =>
        {
            NatEngine engine = Engine();
            byte[] original = Build(protocol, Inside(host), port, Remote, 443, payloadLength);
            byte[] sent = Forward(engine, original);
            byte[] error = Forward(engine, Error(fromRouter ? Router : Remote, External, type, 0, parameter, sent, quoteLimit));

            Assert.True(ChecksumIsValid(error));
            Assert.Equal((fromRouter ? Router : Remote, Inside(host)), (Source(error), Destination(error)));
            Assert.Equal(parameter, BinaryPrimitives.ReadUInt32BigEndian(error.AsSpan(Ipv6Packet.HeaderLength + 4)));
            byte[] expected = original[..Math.Min(quoteLimit, original.Length)];
            if (protocol == 0 && expected.Length == Ipv6Packet.HeaderLength + TcpSegment.Field.Checksum + 1)
            {
                expected[^1] = sent[expected.Length - 1]; // half a checksum stays as quoted (the test above)
            }
            Assert.Equal(expected, Quote(error));
        });

    [Fact]
    public void A_quote_that_ends_inside_the_quoted_tcp_checksum_is_restored_up_to_it()
    {
        // Half a checksum cannot be restored: the carry from the missing low byte is unknown. The
        // engine leaves that byte as the router quoted it, and restores everything before it (the
        // property below once failed on such a cut; routers quote as much as fits, RFC 4443 3.1).
        NatEngine engine = Engine();
        byte[] original = Build(0, Inside(1), 40000, Remote, 443, 100);
        byte[] sent = Forward(engine, original);
        int cut = Ipv6Packet.HeaderLength + TcpSegment.Field.Checksum + 1;
        byte[] error = Forward(engine, Error(Router, External, 1, 0, 0, sent, cut));
        Assert.True(ChecksumIsValid(error));
        byte[] quote = Quote(error);
        Assert.Equal(original[..(cut - 1)], quote[..(cut - 1)]);
        Assert.Equal(sent[cut - 1], quote[cut - 1]);
    }

    [Fact]
    public void An_error_from_the_inside_about_a_reply_goes_out_quoting_the_reply_as_the_remote_sent_it() =>
        Gen.Select(Gen.Int[0, 2], Gen.UShort[1, 65535], Gen.Int[0, 1300], Gen.Byte[1, 4])
        .Sample((protocol, port, payloadLength, type) =>
        {
            NatEngine engine = Engine();
            byte[] sent = Forward(engine, Build(protocol, Inside(0), port, Remote, 443, payloadLength));
            ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(Ipv6Packet.HeaderLength + (protocol == 2 ? 4 : 0)));
            byte[] reply = Build(protocol, Remote, 443, External, externalPort, payloadLength);
            if (protocol == 2)
            {
                reply = Build(protocol, Remote, externalPort, External, 0, payloadLength);
                reply[Ipv6Packet.HeaderLength] = Icmpv6Type.EchoReply;
                reply = Packet(Remote, External, IpProtocol.Icmpv6, reply[Ipv6Packet.HeaderLength..], checksumOffset: 2);
            }
            byte[] delivered = Forward(engine, reply);
            byte[] error = Forward(engine, Error(Inside(0), Remote, type, 0, 0, delivered));

            Assert.True(ChecksumIsValid(error));
            Assert.Equal((External, Remote), (Source(error), Destination(error)));
            Assert.Equal(reply[..Math.Min(1232, reply.Length)], Quote(error));
        });

    [Fact]
    public void Fragments_in_any_order_reassemble_to_the_datagram_the_other_end_should_get() =>
        Gen.Select(Gen.Int[1, 2], Gen.Int[16, 1400], Gen.Int[1, 2], Gen.Bool, Gen.UInt)
        .Sample((protocol, payloadLength, pieces, firstLast, identification) =>
        {
            NatEngine engine = Engine();
            byte[] whole = Build(protocol, Inside(1), 40000, Remote, 53, payloadLength);
            byte[] upper = whole[Ipv6Packet.HeaderLength..];
            // Cuts at multiples of 8, the first at 8 at least, so the first fragment holds the UDP or ICMPv6 header;
            // rounded up, so a datagram has at most pieces + 1 fragments. (Rounded down, a short one was cut in
            // 8-byte pieces, up to 7, and the 5th held before its first fragment met the bound of 4 held per
            // source, FragmentTracker: a dropped fragment, by design, failing 1 run in ~40 with seed fBZz3gUArP-2.)
            int step = Math.Max(8, ((upper.Length + pieces) / (pieces + 1) + 7) & ~7);
            List<byte[]> fragments = [];
            for (int offset = 0; offset < upper.Length; offset += step)
            {
                var buffer = new byte[Ipv6Packet.HeaderLength + 8 + step];
                int end = Math.Min(upper.Length, offset + step);
                int length = Ipv6PacketWriter.WriteFragment(buffer, Inside(1), Remote, (IpProtocol)whole[Ipv6Packet.Field.NextHeader], identification, offset,
                    end < upper.Length, upper.AsSpan(offset, end - offset));
                fragments.Add(buffer[..length]);
            }
            byte[][] order = firstLast ? [.. fragments.Skip(1), fragments[0]] : [.. fragments];
            var translated = new Dictionary<int, byte[]>();
            foreach (byte[] fragment in order)
            {
                byte[] copy = [.. fragment];
                TranslationResult result = engine.Translate(copy, copy.Length, 0);
                Assert.True(result.Verdict != Verdict.Drop, $"fragment at {OffsetOf(fragment)} of {fragments.Count} dropped: {result.Reason}");
                if (result.Verdict == Verdict.Forward)
                {
                    translated[OffsetOf(copy)] = copy;
                }
            }
            var released = new byte[2048];
            while (engine.TryTakeReleasedPacket(released, out int length))
            {
                translated[OffsetOf(released)] = released[..length];
            }
            Assert.Equal(fragments.Count, translated.Count);
            byte[] reassembled = [.. translated.OrderBy(pair => pair.Key).SelectMany(pair => pair.Value[(Ipv6Packet.HeaderLength + 8)..])];
            Assert.All(translated.Values, fragment => Assert.Equal((External, Remote), (Source(fragment), Destination(fragment))));
            byte[] expected = Packet(External, Remote, (IpProtocol)whole[Ipv6Packet.Field.NextHeader], reassembled, checksumOffset: protocol == 1 ? 6 : 2);
            Assert.True(ChecksumIsValid(expected));
            Assert.Equal(expected[Ipv6Packet.HeaderLength..], reassembled); // the checksum the engine left is the one a full recomputation gives
        });

    private static int OffsetOf(byte[] fragment) => BinaryPrimitives.ReadUInt16BigEndian(fragment.AsSpan(Ipv6Packet.HeaderLength + 2)) & 0xFFF8;

    [Fact]
    public void Random_bytes_shaped_as_icmpv6_errors_and_fragments_never_throw_and_leave_the_session_working() =>
        Gen.Select(Gen.Int[0, 3], Gen.Byte.Array[0, 400], Gen.Int[0, 2], Gen.Int[0, 2], Gen.Select(Gen.Int[0, 447], Gen.Byte[1, 255]).Array[0, 6])
        .Sample((shape, random, from, to, flips) =>
        {
            NatEngine engine = Engine();
            byte[] sent = Forward(engine, Build(1, Inside(0), 40000, Remote, 53, 12));
            Ipv6Address[] addresses = [Inside(0), External, Remote];
            byte[] garbage = shape switch
            {
                // An ICMPv6 error whose quote is random bytes, or the real packet with bytes flipped.
                0 => Error(addresses[from], addresses[to], (byte)(1 + (random.Length % 4)), 0, 0, random),
                1 => Error(Remote, External, Icmpv6Type.DestinationUnreachable, 4, 0, sent),
                // A Fragment header over random bytes.
                2 => FragmentOf(addresses[from], addresses[to], random),
                _ => [0x60, .. random],
            };
            foreach ((int offset, byte xor) in flips)
            {
                if (offset < garbage.Length)
                {
                    garbage[offset] ^= xor;
                }
            }
            var buffer = new byte[2048];
            garbage.CopyTo(buffer, 0);
            TranslationResult result = engine.Translate(buffer, garbage.Length, 0);
            if (result.Verdict == Verdict.Forward && buffer[Ipv6Packet.Field.NextHeader] == (byte)IpProtocol.Icmpv6 && buffer[Ipv6Packet.HeaderLength] < 128)
            {
                Assert.True(ChecksumIsValid(buffer[..result.Length])); // a translated error is never sent with a wrong checksum
            }
            while (engine.TryTakeReleasedPacket(buffer, out _))
            {
            }
            // The flow the engine held before still works.
            ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(Ipv6Packet.HeaderLength));
            Assert.Equal(Inside(0), Destination(Forward(engine, Build(1, Remote, 53, External, externalPort, 4))));
        });

    private static byte[] FragmentOf(Ipv6Address source, Ipv6Address destination, byte[] data)
    {
        var buffer = new byte[Ipv6Packet.HeaderLength + 8 + data.Length];
        int offset = data.Length > 0 ? data[0] % 4 * 8 : 0;
        int length = Ipv6PacketWriter.WriteFragment(buffer, source, destination, IpProtocol.Udp, 3, offset, data.Length % 2 == 0, data);
        return buffer[..length];
    }
}
