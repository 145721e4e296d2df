using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>Checksums recomputed in full after every translation, round trips, and random bytes that never throw.</summary>
public sealed class Nat64TranslationProperties
{
    private static readonly IpProtocol[] Protocols = [IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmp];

    private static readonly Gen<Ipv6Address> Ipv6Gen = Gen.Select(Gen.ULong, Gen.ULong, (high, low) => new Ipv6Address((UInt128)high << 64 | low));

    private static readonly Gen<Ipv4Address> Ipv4Gen = Gen.UInt.Select(v => new Ipv4Address(v));

    private static readonly Gen<ushort?> NewPortGen = Gen.Select(Gen.Bool, Gen.UShort, (keep, port) => keep ? null : (ushort?)port);

    /// <summary>A transport segment of a random protocol with random ports (or identifier) and payload, checksum not yet filled.</summary>
    private static readonly Gen<(IpProtocol Protocol, byte[] Segment)> SegmentGen =
        Gen.Select(Gen.Int[0, 2], Gen.UShort, Gen.UShort, Gen.Byte.Array[0, 300], Gen.Bool).Select((index, first, second, payload, request) =>
        {
            IpProtocol protocol = Protocols[index];
            byte[] segment = protocol switch
            {
                IpProtocol.Tcp => Tcp(first, second, payload),
                IpProtocol.Udp => Udp(first, second, payload),
                _ => Echo(request ? IcmpType.Echo : IcmpType.EchoReply, first, second, payload),
            };
            return (protocol, segment);
        });

    private static byte[] AsIcmpv6(byte[] segment)
    {
        byte[] copy = (byte[])segment.Clone();
        copy[0] = copy[0] == IcmpType.Echo ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply;
        return copy;
    }

    [Fact]
    public void Ipv6_to_ipv4_leaves_every_checksum_valid()
    {
        Gen.Select(SegmentGen, Ipv6Gen, Ipv6Gen, Ipv4Gen, Ipv4Gen, NewPortGen, NewPortGen, Gen.Byte).Sample(
            (segment, source, destination, source4, destination4, newSource, newDestination, hopLimit) =>
            {
                IpProtocol protocol = segment.Protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : segment.Protocol;
                byte[] transport = protocol == IpProtocol.Icmpv6 ? AsIcmpv6(segment.Segment) : segment.Segment;
                byte[] ipv6 = Ipv6(source, destination, protocol, transport, hopLimit);
                var endpoints = new Ipv4Endpoints(source4, destination4) { SourcePort = newSource, DestinationPort = newDestination, IcmpIdentifier = newSource };
                byte[] output = new byte[ipv6.Length];
                Nat64TranslationResult result = Ipv6ToIpv4Translator.Translate(ipv6, endpoints, output, out int written);
                Assert.True(result.IsTranslated, result.ToString());
                Assert.True(Ipv4ChecksumsValid(output[..written]), Hex(output.AsSpan(0, written)));
            }, iter: 2000);
    }

    [Fact]
    public void Ipv4_to_ipv6_leaves_every_checksum_valid_udp_without_checksum_included()
    {
        Gen.Select(SegmentGen, Ipv4Gen, Ipv4Gen, Ipv6Gen, Ipv6Gen, NewPortGen, NewPortGen, Gen.Bool).Sample(
            (segment, source, destination, source6, destination6, newSource, newDestination, withChecksum) =>
            {
                bool fill = withChecksum || segment.Protocol != IpProtocol.Udp;
                byte[] ipv4 = Ipv4(source, destination, segment.Protocol, segment.Segment, fillChecksum: fill);
                var endpoints = new Ipv6Endpoints(source6, destination6) { SourcePort = newSource, DestinationPort = newDestination, IcmpIdentifier = newDestination };
                byte[] output = new byte[ipv4.Length + Ipv4ToIpv6Translator.MaximumGrowth];
                Nat64TranslationResult result = Ipv4ToIpv6Translator.Translate(ipv4, endpoints, output, out int written);
                Assert.True(result.IsTranslated, result.ToString());
                Assert.True(Ipv6ChecksumValid(output[..written]), Hex(output.AsSpan(0, written)));
            }, iter: 2000);
    }

    [Fact]
    public void Ipv6_to_ipv4_to_ipv6_gives_back_the_same_packet()
    {
        Gen.Select(SegmentGen, Ipv6Gen, Ipv4Gen, Ipv4Gen, Gen.UShort, Gen.Byte, Gen.Byte).Sample(
            (segment, client, server4, pool, newPort, hopLimit, trafficClass) =>
            {
                Nat64Prefix prefix = Nat64Prefix.WellKnown;
                IpProtocol protocol = segment.Protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : segment.Protocol;
                byte[] transport = protocol == IpProtocol.Icmpv6 ? AsIcmpv6(segment.Segment) : segment.Segment;
                byte[] original = Ipv6(client, prefix.Embed(server4), protocol, transport, hopLimit, trafficClass);
                ushort oldPort = (ushort)(transport[0] << 8 | transport[1]);
                ushort oldIdentifier = (ushort)(transport[4] << 8 | transport[5]);

                byte[] ipv4 = new byte[original.Length];
                var outbound = new Ipv4Endpoints(pool, server4) { SourcePort = newPort, IcmpIdentifier = newPort };
                Assert.True(Ipv6ToIpv4Translator.Translate(original, outbound, ipv4, out int written4).IsTranslated);

                byte[] back = new byte[written4 + Ipv4ToIpv6Translator.MaximumGrowth];
                var inbound = new Ipv6Endpoints(client, prefix.Embed(server4)) { SourcePort = oldPort, IcmpIdentifier = oldIdentifier };
                Assert.True(Ipv4ToIpv6Translator.Translate(ipv4.AsSpan(0, written4), inbound, back, out int written6).IsTranslated);

                if (protocol == IpProtocol.Udp && transport.Length >= 8 && original[46] == 0xFF && original[47] == 0xFF)
                {
                    // 0x0000 and 0xFFFF are the same one's-complement sum; UDP only ever sends the second.
                    return;
                }
                Assert.Equal(Hex(original), Hex(back.AsSpan(0, written6)));
            }, iter: 2000);
    }

    [Fact]
    public void Icmp_errors_both_ways_leave_every_checksum_valid()
    {
        Gen.Select(SegmentGen, Gen.Int[0, 3], Gen.Int[8, 700], Gen.Byte, Gen.UInt).Sample((segment, kind, quoteLength, code, rest) =>
        {
            // IPv4 to IPv6: an error about an outbound IPv4 packet, quote cut anywhere past the 8 bytes RFC 792 asks for.
            byte[] original4 = Ipv4(Pool, Server4, segment.Protocol, segment.Segment);
            byte[] quote4 = original4[..Math.Min(original4.Length, 20 + quoteLength)];
            (byte type4, byte code4, uint rest4) = kind switch
            {
                0 => (IcmpType.DestinationUnreachable, (byte)(code % 16), 0u),
                1 => (IcmpType.DestinationUnreachable, (byte)4, rest & 0xFFFF),
                2 => (IcmpType.TimeExceeded, (byte)(code % 2), 0u),
                _ => (IcmpType.ParameterProblem, (byte)0, rest & 0xFF000000),
            };
            byte[] error4 = Ipv4(Server4, Pool, IpProtocol.Icmp, Icmp(type4, code4, rest4, quote4));
            byte[] output6 = new byte[error4.Length + 64];
            var quoted6 = new Ipv6Endpoints(Client, Server6) { SourcePort = 40000, IcmpIdentifier = 7 };
            Nat64TranslationResult result6 = Ipv4ToIpv6Translator.Translate(error4, new Ipv6Endpoints(Server6, Client), quoted6, output6, out int written6);
            if (result6.IsTranslated)
            {
                Assert.True(Ipv6ChecksumValid(output6[..written6]));
                Assert.True(written6 <= Ipv4ToIpv6Translator.MaximumIcmpErrorLength);
            }
            else
            {
                Assert.True(result6.DropReason is Nat64DropReason.UntranslatableIcmpCode or Nat64DropReason.UntranslatableParameterProblemPointer,
                    result6.ToString());
            }

            // IPv6 to IPv4: an error about an inbound IPv6 packet.
            IpProtocol protocol6 = segment.Protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : segment.Protocol;
            byte[] transport6 = protocol6 == IpProtocol.Icmpv6 ? AsIcmpv6(segment.Segment) : segment.Segment;
            byte[] original6 = Ipv6(Server6, Client, protocol6, transport6);
            byte[] quote6 = original6[..Math.Min(original6.Length, 40 + quoteLength)];
            (byte type6, byte code6, uint rest6) = kind switch
            {
                0 => (Icmpv6Type.DestinationUnreachable, (byte)(code % 8), 0u),
                1 => (Icmpv6Type.PacketTooBig, (byte)0, rest),
                2 => (Icmpv6Type.TimeExceeded, (byte)(code % 2), 0u),
                _ => (Icmpv6Type.ParameterProblem, (byte)(code % 3), rest % 48),
            };
            byte[] error6 = Ipv6(Client, Server6, IpProtocol.Icmpv6, Icmp(type6, code6, rest6, quote6));
            byte[] output4 = new byte[error6.Length];
            var quoted4 = new Ipv4Endpoints(Server4, Pool) { DestinationPort = 61000 };
            Nat64TranslationResult result4 = Ipv6ToIpv4Translator.Translate(error6, new Ipv4Endpoints(Pool, Server4), quoted4, output4, out int written4);
            if (result4.IsTranslated)
            {
                byte[] ipv4 = output4[..written4];
                Assert.True(Ipv4ChecksumsValid(ipv4));
                Assert.True(written4 <= Ipv6ToIpv4Translator.MaximumIcmpErrorLength);
                Assert.Equal(PacketError.None, Ipv4Packet.TryParseEmbedded(ipv4.AsSpan(28), out Ipv4Packet inner));
                Assert.True(inner.IsHeaderChecksumValid);
            }
            else
            {
                Assert.True(result4.DropReason is Nat64DropReason.UntranslatableIcmpCode or Nat64DropReason.UntranslatableParameterProblemPointer,
                    result4.ToString());
            }
        }, iter: 2000);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        Gen.Select(Gen.Byte.Array[0, 200], Gen.Int[0, 300], Gen.Bool).Sample((bytes, outputLength, quoted) =>
        {
            byte[] output = new byte[outputLength];
            // Give the bytes a plausible version nibble half the time, so the parsers get past the first check.
            if (quoted && bytes.Length > 0)
            {
                bytes[0] = (byte)(bytes[0] & 0x0F | 0x40);
            }
            _ = Ipv4ToIpv6Translator.Translate(bytes, new Ipv6Endpoints(Server6, Client), new Ipv6Endpoints(Client, Server6), output, out _);
            if (bytes.Length > 0)
            {
                bytes[0] = (byte)(bytes[0] & 0x0F | 0x60);
            }
            _ = Ipv6ToIpv4Translator.Translate(bytes, new Ipv4Endpoints(Pool, Server4), new Ipv4Endpoints(Server4, Pool), output, out _);
        }, iter: 20000);
    }

    [Fact]
    public void Mutated_packets_never_throw()
    {
        Gen.Select(SegmentGen, Gen.Int[0, 4], Gen.Int[0, 2000], Gen.Byte, Gen.Int[0, 700]).Sample((segment, kind, position, value, cut) =>
        {
            byte[] original4 = Ipv4(Pool, Server4, segment.Protocol, segment.Segment);
            byte[] packet = kind switch
            {
                0 => original4,
                1 => Ipv4(Server4, Pool, IpProtocol.Icmp, Icmp(IcmpType.TimeExceeded, 0, 0, original4)),
                2 => Ipv6(Client, Server6, segment.Protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : segment.Protocol, segment.Segment),
                _ => Ipv6(Client, Server6, IpProtocol.Icmpv6, Icmp(Icmpv6Type.TimeExceeded, 0, 0, Ipv6(Server6, Client, IpProtocol.Udp, segment.Segment))),
            };
            packet[position % packet.Length] = value;
            packet = packet[..Math.Min(packet.Length, Math.Max(cut, 1))];
            byte[] output = new byte[packet.Length + 64];
            _ = Ipv4ToIpv6Translator.Translate(packet, new Ipv6Endpoints(Server6, Client), new Ipv6Endpoints(Client, Server6), output, out _);
            _ = Ipv6ToIpv4Translator.Translate(packet, new Ipv4Endpoints(Pool, Server4), new Ipv4Endpoints(Server4, Pool), output, out _);
        }, iter: 20000);
    }
}
