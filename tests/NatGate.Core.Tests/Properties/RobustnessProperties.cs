using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Properties.NatHarness;

namespace NatGate.Core.Tests.Properties;

/// <summary>Garbage never throws and never breaks the engine for the flows it already holds.</summary>
public sealed class RobustnessProperties
{
    private static readonly Flow KnownUdp = new(IpProtocol.Udp, Inside(1), 5000, Remote(1), 53, [1, 2, 3], false);
    private static readonly Flow KnownTcp = new(IpProtocol.Tcp, Inside(2), 40000, Remote(2), 443, [], false);
    private static readonly Flow KnownIcmp = new(IpProtocol.Icmp, Inside(3), 777, Remote(3), 0, [9, 9], false);

    /// <summary>One piece of garbage: a base packet kind, byte flips, a truncation, a length change, and which checksums to repair.</summary>
    private sealed record Garbage(int Kind, byte[] Random, (int Offset, byte Xor)[] Flips, int Truncate, int TotalLength, int HeaderLength, byte Protocol, bool FixHeader, bool FixIcmp, bool Fragment)
    {
        public override string ToString()
            => $"kind {Kind} random [{Convert.ToHexString(Random)}] flips [{string.Join(",", Flips)}] truncate {Truncate} total {TotalLength} ihl {HeaderLength} proto {Protocol} fixHeader {FixHeader} fixIcmp {FixIcmp} fragment {Fragment}";
    }

    private static readonly Gen<Garbage> GarbageGen = Gen.Select(
        Gen.Int[0, 7], Gen.Byte.Array[0, 160], Gen.Select(Gen.Int[0, 200], Gen.Byte[1, 255]).Array[0, 4], Gen.OneOf(Gen.Const(-1), Gen.Int[0, 200]),
        Gen.OneOf(Gen.Const(-1), Gen.Int[0, 300]), Gen.OneOf(Gen.Const(5), Gen.Int[0, 15]), Gen.OneOf(Gen.Const((byte)IpProtocol.Icmp), Gen.Const((byte)IpProtocol.Tcp), Gen.Const((byte)IpProtocol.Udp), Gen.Byte),
        Gen.Select(Gen.Bool, Gen.Bool, Gen.Int[0, 9]),
        (kind, random, flips, truncate, total, ihl, protocol, fixes) => new Garbage(kind, random, flips, truncate, total, ihl, protocol, fixes.Item1, fixes.Item2, fixes.Item3 == 0));

    /// <summary>Builds the bytes of one piece of garbage into <paramref name="buffer"/>; returns the length.</summary>
    private static int Build(Garbage garbage, byte[] buffer, ushort udpExternal, ushort tcpExternal, ushort icmpExternal)
    {
        Array.Clear(buffer);
        int length;
        byte[] scratch = new byte[BufferSize];
        switch (garbage.Kind)
        {
            case 0:
                // Pure random bytes.
                garbage.Random.CopyTo(buffer, 0);
                return garbage.Random.Length;
            case 1:
                // Random bytes that look like IPv4: version 4, some IHL, a protocol, inside or external addresses.
                length = Math.Max(garbage.Random.Length, 20);
                garbage.Random.CopyTo(buffer, 0);
                buffer[0] = (byte)(0x40 | garbage.HeaderLength);
                buffer[Ipv4Packet.Field.Protocol] = garbage.Protocol;
                BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(Ipv4Packet.Field.TotalLength), (ushort)length);
                BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(Ipv4Packet.Field.FlagsAndFragmentOffset), (ushort)(garbage.Fragment ? 0x2000 : 0));
                (garbage.Random.Length % 2 == 0 ? Inside(garbage.Random.Length % 7 + 1) : Remote(1)).Write(buffer.AsSpan(Ipv4Packet.Field.SourceAddress));
                (garbage.Random.Length % 2 == 0 ? Remote(2) : External).Write(buffer.AsSpan(Ipv4Packet.Field.DestinationAddress));
                break;
            case 2:
                length = WriteOutbound(buffer, KnownUdp with { Inside = Inside(9), Payload = garbage.Random });
                break;
            case 3:
                length = Write(buffer, IpProtocol.Udp, Remote(1), 53, External, udpExternal, garbage.Random, reply: true);
                break;
            case 4:
                length = Write(buffer, IpProtocol.Tcp, Remote(2), 443, External, tcpExternal, garbage.Random, reply: true);
                break;
            case 5:
                length = Write(buffer, IpProtocol.Icmp, Remote(3), icmpExternal, External, icmpExternal, garbage.Random, reply: true);
                break;
            default:
                // An ICMP error quoting one of the known flows as it left, from a router.
                int quotedLength = garbage.Kind == 6
                    ? Write(scratch, IpProtocol.Udp, External, udpExternal, Remote(1), 53, garbage.Random)
                    : Write(scratch, IpProtocol.Tcp, External, tcpExternal, Remote(2), 443, garbage.Random);
                length = Ipv4PacketWriter.WriteIcmpError(buffer, Router, External, IcmpType.DestinationUnreachable, 1, scratch.AsSpan(0, quotedLength),
                    8 + (garbage.Truncate < 0 ? 540 : garbage.Truncate));
                break;
        }

        foreach ((int offset, byte xor) in garbage.Flips)
        {
            buffer[offset % Math.Max(length, 1)] ^= xor;
        }
        if (garbage.TotalLength >= 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(Ipv4Packet.Field.TotalLength), (ushort)garbage.TotalLength);
        }
        if (garbage.Truncate >= 0 && garbage.Kind < 6)
        {
            length = Math.Min(length, garbage.Truncate);
        }
        int headerLength = (buffer[0] & 0x0F) * 4;
        if (garbage.FixIcmp && length >= 28 && headerLength == 20 && (IpProtocol)buffer[Ipv4Packet.Field.Protocol] == IpProtocol.Icmp)
        {
            Span<byte> icmp = buffer.AsSpan(20, length - 20);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], 0);
            BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], InternetChecksum.Compute(icmp));
        }
        if (garbage.FixHeader && headerLength >= 20 && headerLength <= length)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(Ipv4Packet.Field.HeaderChecksum), 0);
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(Ipv4Packet.Field.HeaderChecksum), InternetChecksum.Compute(buffer.AsSpan(0, headerLength)));
        }
        return length;
    }

    [Fact]
    public void Garbage_never_throws_and_known_flows_keep_working()
    {
        Gen.Select(Mapping, Filtering, GarbageGen.Array[1, 12]).Sample((mapping, filtering, garbage) =>
        {
            NatEngine engine = NewEngine(mapping, filtering);
            byte[] buffer = new byte[BufferSize];
            var known = new List<(Flow Flow, Tuple5 Translated)>();
            foreach (Flow flow in new[] { KnownUdp, KnownTcp, KnownIcmp })
            {
                int length = WriteOutbound(buffer, flow);
                TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"known {flow}");
                known.Add((flow, Read(buffer.AsSpan(0, result.Length))));
            }

            foreach (Garbage piece in garbage)
            {
                int length = Build(piece, buffer, known[0].Translated.SourcePort, known[1].Translated.SourcePort, known[2].Translated.SourcePort);
                bool headerWasValid = Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet before) == PacketError.None && before.IsHeaderChecksumValid;
                TranslationResult result = engine.Translate(buffer, length, Start);
                Assert.InRange(result.Length, 0, buffer.Length);
                if (result.Verdict == Verdict.Reply)
                {
                    AssertChecksumsValid(buffer.AsSpan(0, result.Length), $"reply to {piece}");
                }
                else if (result.Verdict == Verdict.Forward && headerWasValid)
                {
                    Assert.True(Ipv4Packet.TryParse(buffer.AsSpan(0, result.Length), out Ipv4Packet after) == PacketError.None && after.IsHeaderChecksumValid,
                        $"forwarded {piece} with a broken header checksum");
                }
            }

            Assert.Equal(engine.SessionCount, engine.ListSessions().Count);
            _ = engine.Statistics();
            _ = engine.ExportSessions();
            _ = engine.PortUsage();
            foreach ((Flow flow, Tuple5 translated) in known)
            {
                int length = WriteOutbound(buffer, flow);
                TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"known {flow} after garbage");
                Assert.Equal(translated, Read(buffer.AsSpan(0, result.Length)));
                length = WriteReply(buffer, flow, translated);
                result = Translate(engine, buffer, length, Start, Verdict.Forward, $"reply to known {flow} after garbage");
                Assert.Equal(flow.Outbound.Reverse(), Read(buffer.AsSpan(0, result.Length)));
            }
            Assert.Equal(0, engine.ExpireSessions(Start + TimeSpan.FromSeconds(1).Ticks));
        }, iter: 500);
    }
}
