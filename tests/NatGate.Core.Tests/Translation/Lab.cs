using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

/// <summary>An engine with one map rule, and helpers to send packets through it and read them back.</summary>
internal sealed class Lab
{
    public static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");
    public static readonly Ipv4Address InsideA = Ipv4Address.Parse("10.0.0.2");
    public static readonly Ipv4Address InsideB = Ipv4Address.Parse("10.0.0.3");
    public static readonly Ipv4Address Remote = Ipv4Address.Parse("203.0.113.5");
    public static readonly Ipv4Address OtherRemote = Ipv4Address.Parse("203.0.113.6");
    public static readonly Ipv4Address Router = Ipv4Address.Parse("203.0.113.254");
    public static readonly Ipv4Prefix InsidePrefix = Ipv4Prefix.Parse("10.0.0.0/24");
    public const long Start = 638_000_000_000_000_000;

    public Lab(NatPolicy? policy = null, NatEngineOptions? options = null, bool addMapRule = true)
    {
        Engine = new NatEngine(options ?? new NatEngineOptions { RandomSeed = 42 }, Start);
        if (addMapRule)
        {
            MapRuleIndex = Engine.AddRule(NatEngine.MapRule(InsidePrefix, External, policy: policy));
        }
        Now = Start;
    }

    public NatEngine Engine { get; }

    public int MapRuleIndex { get; }

    public long Now { get; set; }

    public void Advance(TimeSpan by) => Now += by.Ticks;

    public static byte[] Udp(Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort, string payload = "hello", bool withChecksum = true)
    {
        var buffer = new byte[65536];
        int length = Ipv4PacketWriter.WriteUdp(buffer, source, sourcePort, destination, destinationPort, System.Text.Encoding.ASCII.GetBytes(payload), withChecksum: withChecksum, identification: 0x1234);
        return buffer[..length];
    }

    public static byte[] Tcp(Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort, TcpFlags flags, string payload = "")
    {
        var buffer = new byte[65536];
        int length = Ipv4PacketWriter.WriteTcp(buffer, source, sourcePort, destination, destinationPort, flags, 1000, flags.HasFlag(TcpFlags.Ack) ? 2000u : 0, System.Text.Encoding.ASCII.GetBytes(payload), identification: 0x4321);
        return buffer[..length];
    }

    public static byte[] Echo(Ipv4Address source, Ipv4Address destination, ushort identifier, bool reply = false)
    {
        var buffer = new byte[65536];
        int length = Ipv4PacketWriter.WriteIcmpQuery(buffer, source, destination, reply ? IcmpType.EchoReply : IcmpType.Echo, identifier, 7, "ping"u8);
        return buffer[..length];
    }

    /// <summary>Translates a copy of <paramref name="packet"/>; returns the result and the bytes as they leave.</summary>
    public (TranslationResult Result, byte[] Packet) Send(byte[] packet)
    {
        var buffer = new byte[4096];
        packet.CopyTo(buffer, 0);
        TranslationResult result = Engine.Translate(buffer, packet.Length, Now);
        return (result, buffer[..Math.Max(result.Length, 0)]);
    }

    /// <summary>Sends and insists the packet is forwarded with valid checksums.</summary>
    public byte[] Forward(byte[] packet)
    {
        (TranslationResult result, byte[] output) = Send(packet);
        Assert.Equal(Verdict.Forward, result.Verdict);
        AssertValid(output);
        return output;
    }

    public DropReason Dropped(byte[] packet)
    {
        (TranslationResult result, _) = Send(packet);
        Assert.Equal(Verdict.Drop, result.Verdict);
        return result.Reason;
    }

    public static void AssertValid(byte[] packet)
    {
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Assert.True(TransportChecksum.IsValid(ip), $"invalid checksum in {Convert.ToHexString(packet)}");
    }

    public static (Ipv4Address Source, ushort SourcePort, Ipv4Address Destination, ushort DestinationPort) Tuple(byte[] packet)
    {
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
        Span<byte> transport = ip.Payload;
        if (ip.Protocol == IpProtocol.Icmp)
        {
            ushort identifier = BinaryPrimitives.ReadUInt16BigEndian(transport[4..]);
            return (ip.SourceAddress, identifier, ip.DestinationAddress, identifier);
        }
        return (ip.SourceAddress, BinaryPrimitives.ReadUInt16BigEndian(transport), ip.DestinationAddress, BinaryPrimitives.ReadUInt16BigEndian(transport[2..]));
    }
}
