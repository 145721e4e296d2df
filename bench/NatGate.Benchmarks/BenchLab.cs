using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// The benchmarks' network: inside hosts in 10.0.0.0/8 behind one map rule whose external side is
/// the 256 addresses of 198.51.100.0/24 (about 64k ports each per protocol, so 10 million sessions
/// fit), remotes in 198.18.0.0/15 (RFC 2544's benchmarking range). Flow number n is a fixed tuple,
/// so a benchmark can rebuild the same flows any number of times.
/// </summary>
internal static class BenchLab
{
    /// <summary>The engine's clock at the start; time only moves when a benchmark moves it.</summary>
    public const long Start = 638_000_000_000_000_000;

    /// <summary>Inside hosts the flows are spread over (flow n is on host n mod Hosts).</summary>
    public const int Hosts = 1 << 18;

    public const int ExternalAddressCount = 256;

    public static readonly Ipv4Address FirstExternal = Ipv4Address.Parse("198.51.100.0");
    public static readonly Ipv4Address LastExternal = FirstExternal + (uint)(ExternalAddressCount - 1);

    /// <summary>Hosts of the default flows: 10.1.0.0 onwards (inside 10.0.0.0/9).</summary>
    public static readonly Ipv4Address DefaultHostBase = Ipv4Address.Parse("10.1.0.0");

    private static readonly Ipv4Address FirstRemote = Ipv4Address.Parse("198.18.0.0");
    private const int Remotes = 1 << 17;

    public static NatEngine CreateEngine(int maximumSessions)
        => new(new NatEngineOptions
        {
            RandomSeed = 1,
            Limits = new FlowTableLimits { MaximumSessions = maximumSessions, MaximumSessionsPerHost = 0 },
        }, Start);

    /// <summary>A map rule from <paramref name="insidePrefix"/> to all 256 external addresses.</summary>
    public static NatRule MapRule(string insidePrefix, int? ageSeconds = null)
        => NatEngine.MapRule(Ipv4Prefix.Parse(insidePrefix), FirstExternal) with
        {
            TranslatedLast = LastExternal,
            AgeSeconds = ageSeconds,
        };

    public static IpProtocol ProtocolNumber(Transport transport) => transport == Transport.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;

    /// <summary>
    /// Writes flow <paramref name="flow"/>'s packet from its inside host to its remote: a TCP ACK
    /// (40 bytes, a connection picked up mid-stream) or a UDP datagram with 16 bytes of payload (44 bytes).
    /// </summary>
    public static int WriteOutbound(Span<byte> destination, Transport transport, int flow, Ipv4Address hostBase)
    {
        Ipv4Address host = hostBase + (uint)(flow % Hosts);
        ushort insidePort = (ushort)(1024 + (flow / Hosts));
        Ipv4Address remote = FirstRemote + (uint)(flow % Remotes);
        return transport == Transport.Tcp
            ? Ipv4PacketWriter.WriteTcp(destination, host, insidePort, remote, 443, TcpFlags.Ack, 1000, 2000, [])
            : Ipv4PacketWriter.WriteUdp(destination, host, insidePort, remote, 53, "0123456789abcdef"u8);
    }

    /// <summary>Writes the remote's answer to <paramref name="translatedOutbound"/>, an outbound packet as it left the NAT.</summary>
    public static int WriteReply(Span<byte> destination, Transport transport, ReadOnlySpan<byte> translatedOutbound)
    {
        Ipv4Address external = Ipv4Address.Read(translatedOutbound[12..]);
        Ipv4Address remote = Ipv4Address.Read(translatedOutbound[16..]);
        ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(translatedOutbound[20..]);
        ushort remotePort = BinaryPrimitives.ReadUInt16BigEndian(translatedOutbound[22..]);
        return transport == Transport.Tcp
            ? Ipv4PacketWriter.WriteTcp(destination, remote, remotePort, external, externalPort, TcpFlags.Ack, 2000, 1000, [])
            : Ipv4PacketWriter.WriteUdp(destination, remote, remotePort, external, externalPort, "fedcba9876543210"u8);
    }

    /// <summary>
    /// Translates flows [<paramref name="first"/>, <paramref name="first"/> + <paramref name="count"/>)'s
    /// first packets, creating their sessions; throws unless every one made a session.
    /// <paramref name="translated"/>, when given, receives each packet as it left (indexed by flow - first).
    /// </summary>
    public static void Open(NatEngine engine, Transport transport, int first, int count, Ipv4Address hostBase, long nowTicks,
        PacketRing? translated = null, int[]? slotOf = null)
    {
        Span<byte> scratch = stackalloc byte[PacketRing.Stride];
        int before = engine.SessionCount;
        for (int flow = first; flow < first + count; flow++)
        {
            int length = WriteOutbound(scratch, transport, flow, hostBase);
            TranslationResult result = engine.Translate(scratch, length, nowTicks);
            Ipv4Address source = Ipv4Address.Read(scratch[12..]);
            if (result.Verdict != Verdict.Forward || source < FirstExternal || source > LastExternal)
            {
                throw new InvalidOperationException($"Flow {flow} made no session: {result.Verdict} {result.Reason} (sessions {engine.SessionCount}).");
            }
            if (translated is not null)
            {
                int index = flow - first;
                scratch.CopyTo(translated.Slot(slotOf is null ? index : slotOf[index]));
            }
        }
        if (engine.SessionCount != before + count)
        {
            throw new InvalidOperationException($"Expected {before + count} sessions, found {engine.SessionCount}.");
        }
    }

    /// <summary>
    /// Copies the next <paramref name="batch"/>.Count templates (from <paramref name="cursor"/> on,
    /// wrapping at <paramref name="flows"/>) into the batch and translates it in one
    /// <see cref="NatEngine.TranslateBatch"/>, as the daemon's worker does; returns the last verdict.
    /// </summary>
    public static int TranslateWhole(NatEngine engine, PacketRing templates, PacketRing batch, int[] lengths, TranslationResult[] results,
        int length, int flows, ref int cursor)
    {
        int position = cursor;
        for (int i = 0; i < lengths.Length; i++)
        {
            templates.Slot(position).CopyTo(batch.Slot(i));
            lengths[i] = length;
            if (++position == flows)
            {
                position = 0;
            }
        }
        cursor = position;
        engine.TranslateBatch(batch.All, PacketRing.Stride, 0, lengths, [], results, Start);
        return (int)results[lengths.Length - 1].Verdict;
    }

    /// <summary>A seeded random permutation of 0..count-1: the order a benchmark visits flows, so sessions are touched at random.</summary>
    public static int[] Shuffled(int count, int seed)
    {
        var order = new int[count];
        for (int i = 0; i < count; i++)
        {
            order[i] = i;
        }
        new Random(seed).Shuffle(order);
        return order;
    }

    /// <summary>Throws unless <paramref name="packet"/> parses and its checksums hold.</summary>
    public static void AssertValid(Span<byte> packet, string what)
    {
        if (Ipv4Packet.TryParse(packet, out Ipv4Packet ip) != PacketError.None || !ip.IsHeaderChecksumValid || !TransportChecksum.IsValid(ip))
        {
            throw new InvalidOperationException($"{what}: invalid packet {Convert.ToHexString(packet)}");
        }
    }
}
