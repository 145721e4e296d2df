using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// The IPv6 benchmarks' network (NAT66): inside hosts in fd00::/48 behind one map rule whose
/// external side is the 256 addresses of 2001:db8::/120, remotes in 2001:db8:ff::/64. Flow n is a
/// fixed tuple, as in <see cref="BenchLab"/>.
/// </summary>
internal static class Ipv6BenchLab
{
    public const int Hosts = 1 << 18;
    private const int Remotes = 1 << 17;

    public static readonly string Rules = "map wan0 fd00::/48 -> 2001:db8::/120 portmap tcp/udp auto";

    private static readonly Ipv6Address FirstHost = Ipv6Address.Parse("fd00:0:0:1::", null);
    private static readonly Ipv6Address FirstRemote = Ipv6Address.Parse("2001:db8:ff::", null);

    public static NatEngine CreateEngine(int maximumSessions)
    {
        NatEngine engine = BenchLab.CreateEngine(maximumSessions);
        engine.LoadRules(IpnatParser.Parse(Rules, "bench.conf").Rules);
        return engine;
    }

    /// <summary>Flow <paramref name="flow"/>'s packet from its inside host: a TCP ACK (60 bytes) or a UDP datagram with 16 bytes of payload (64 bytes).</summary>
    public static int WriteOutbound(Span<byte> destination, Transport transport, int flow)
    {
        Ipv6Address host = new(FirstHost.Upper, FirstHost.Lower + (ulong)(flow % Hosts));
        ushort insidePort = (ushort)(1024 + (flow / Hosts));
        Ipv6Address remote = new(FirstRemote.Upper, FirstRemote.Lower + (ulong)(flow % Remotes));
        return Write(destination, transport, host, insidePort, remote, transport == Transport.Tcp ? (ushort)443 : (ushort)53);
    }

    /// <summary>The remote's answer to an outbound packet as it left the NAT.</summary>
    public static int WriteReply(Span<byte> destination, Transport transport, ReadOnlySpan<byte> translatedOutbound)
    {
        Ipv6Address external = Ipv6Address.Read(translatedOutbound[Ipv6Packet.Field.SourceAddress..]);
        Ipv6Address remote = Ipv6Address.Read(translatedOutbound[Ipv6Packet.Field.DestinationAddress..]);
        ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(translatedOutbound[Ipv6Packet.HeaderLength..]);
        ushort remotePort = BinaryPrimitives.ReadUInt16BigEndian(translatedOutbound[(Ipv6Packet.HeaderLength + 2)..]);
        return Write(destination, transport, remote, remotePort, external, externalPort);
    }

    private static int Write(Span<byte> destination, Transport transport, Ipv6Address source, ushort sourcePort, Ipv6Address target, ushort targetPort)
    {
        int transportLength = transport == Transport.Tcp ? 20 : 8 + 16;
        Span<byte> packet = destination[..(Ipv6Packet.HeaderLength + transportLength)];
        packet.Clear();
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet[Ipv6Packet.Field.PayloadLength..], (ushort)transportLength);
        IpProtocol protocol = BenchLab.ProtocolNumber(transport);
        packet[Ipv6Packet.Field.NextHeader] = (byte)protocol;
        packet[Ipv6Packet.Field.HopLimit] = 64;
        source.Write(packet[Ipv6Packet.Field.SourceAddress..]);
        target.Write(packet[Ipv6Packet.Field.DestinationAddress..]);
        Span<byte> segment = packet[Ipv6Packet.HeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(segment, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(segment[2..], targetPort);
        int checksumOffset;
        if (transport == Transport.Tcp)
        {
            BinaryPrimitives.WriteUInt32BigEndian(segment[4..], 1000);
            BinaryPrimitives.WriteUInt32BigEndian(segment[8..], 2000);
            segment[12] = 5 << 4;
            segment[13] = (byte)TcpFlags.Ack;
            BinaryPrimitives.WriteUInt16BigEndian(segment[14..], 65535);
            checksumOffset = TcpSegment.Field.Checksum;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(segment[4..], (ushort)transportLength);
            "0123456789abcdef"u8.CopyTo(segment[8..]);
            checksumOffset = UdpDatagram.Field.Checksum;
        }
        BinaryPrimitives.WriteUInt16BigEndian(segment[checksumOffset..],
            TransportChecksum.ComputeIpv6(packet.Slice(Ipv6Packet.Field.SourceAddress, 16), packet.Slice(Ipv6Packet.Field.DestinationAddress, 16), protocol, segment));
        return packet.Length;
    }

    /// <summary>Translates flows [first, first + count)'s first packets; throws unless every one made an IPv6 session.</summary>
    public static void Open(NatEngine engine, Transport transport, int first, int count, PacketRing? translated = null, int[]? slotOf = null)
    {
        Span<byte> scratch = stackalloc byte[PacketRing.Stride];
        int before = engine.Ipv6SessionCount;
        for (int flow = first; flow < first + count; flow++)
        {
            int length = WriteOutbound(scratch, transport, flow);
            TranslationResult result = engine.Translate(scratch, length, BenchLab.Start);
            if (result.Verdict != Verdict.Forward)
            {
                throw new InvalidOperationException($"Flow {flow} made no session: {result.Verdict} {result.Reason} (sessions {engine.Ipv6SessionCount}).");
            }
            if (translated is not null)
            {
                int index = flow - first;
                scratch.CopyTo(translated.Slot(slotOf is null ? index : slotOf[index]));
            }
        }
        if (engine.Ipv6SessionCount != before + count)
        {
            throw new InvalidOperationException($"Expected {before + count} IPv6 sessions, found {engine.Ipv6SessionCount}.");
        }
    }
}
