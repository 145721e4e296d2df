using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation;

/// <summary>
/// Checksum offload (virtio NEEDS_CSUM): the kernel hands over TCP/UDP packets whose checksum
/// field holds only the pseudo-header sum; whoever sends them on completes it over the data.
/// After translation, completing it must give the right checksum for the new addresses and ports.
/// </summary>
public sealed class PartialChecksumTests
{
    /// <summary>Turns a full checksum into what the kernel hands over: the pseudo-header sum, not complemented.</summary>
    private static byte[] MakePartial(byte[] packet)
    {
        Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        Span<byte> transport = ip.Payload;
        int offset = ip.Protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        BinaryPrimitives.WriteUInt16BigEndian(transport[offset..], InternetChecksum.PseudoHeaderSum(ip.SourceAddress, ip.DestinationAddress, ip.Protocol, transport.Length));
        return packet;
    }

    /// <summary>What the device (or the kernel's segmentation) does: sum from the transport header on, complement, store.</summary>
    private static void Complete(byte[] packet)
    {
        Ipv4Packet.TryParse(packet, out Ipv4Packet ip);
        Span<byte> transport = ip.Payload;
        int offset = ip.Protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        BinaryPrimitives.WriteUInt16BigEndian(transport[offset..], InternetChecksum.Compute(transport));
    }

    private static byte[] TranslatePartial(Lab lab, byte[] packet)
    {
        var buffer = new byte[4096];
        packet.CopyTo(buffer, 0);
        TranslationResult result = lab.Engine.Translate(buffer, packet.Length, lab.Now, checksumPartial: true);
        Assert.Equal(Verdict.Forward, result.Verdict);
        return buffer[..result.Length];
    }

    [Fact]
    public void A_partial_tcp_checksum_completes_to_the_right_one_both_ways()
    {
        var lab = new Lab();
        // B holds external TCP port 40000 first, so A's connection changes port as well as address.
        lab.Forward(Lab.Tcp(Lab.InsideB, 40000, Lab.Remote, 80, TcpFlags.Syn));
        byte[] outbound = TranslatePartial(lab, MakePartial(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn, new string('d', 1000))));
        Complete(outbound);
        Lab.AssertValid(outbound);
        var (source, sourcePort, _, _) = Lab.Tuple(outbound);
        Assert.Equal(Lab.External, source);
        Assert.NotEqual(40000, sourcePort);

        byte[] inbound = TranslatePartial(lab, MakePartial(Lab.Tcp(Lab.Remote, 80, Lab.External, sourcePort, TcpFlags.Syn | TcpFlags.Ack, new string('r', 1400))));
        Complete(inbound);
        Lab.AssertValid(inbound);
        Assert.Equal((Lab.Remote, (ushort)80, Lab.InsideA, (ushort)40000), Lab.Tuple(inbound));
    }

    [Fact]
    public void A_partial_udp_checksum_completes_to_the_right_one()
    {
        var lab = new Lab();
        byte[] outbound = TranslatePartial(lab, MakePartial(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53, new string('q', 3000))));
        Complete(outbound);
        Lab.AssertValid(outbound);
        Assert.Equal(Lab.External, Lab.Tuple(outbound).Source);
    }

    [Fact]
    public void Mss_clamping_leaves_a_partial_checksum_to_the_completion()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { MssClamp = 1300 });
        byte[] syn = new byte[44];
        Ipv4PacketWriter.WriteIpv4Header(syn, Lab.InsideA, Lab.Remote, IpProtocol.Tcp, 24);
        BinaryPrimitives.WriteUInt16BigEndian(syn.AsSpan(20), 40000);
        BinaryPrimitives.WriteUInt16BigEndian(syn.AsSpan(22), 443);
        syn[32] = 6 << 4;
        syn[33] = (byte)TcpFlags.Syn;
        syn[40] = 2;
        syn[41] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(syn.AsSpan(42), 1460);
        byte[] translated = TranslatePartial(lab, MakePartial(syn));
        Assert.Equal(1300, BinaryPrimitives.ReadUInt16BigEndian(translated.AsSpan(42)));
        Complete(translated);
        Lab.AssertValid(translated);
    }

    /// <summary>The IPv6 forms of <see cref="MakePartial"/> and <see cref="Complete"/>: the pseudo-header of RFC 8200 section 8.1.</summary>
    private static byte[] MakePartialIpv6(byte[] packet)
    {
        Ipv6Packet.TryParse(packet, out Ipv6Packet ip);
        int offset = ip.TransportProtocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        BinaryPrimitives.WriteUInt16BigEndian(ip.Transport[offset..], TransportChecksum.PseudoHeaderSumIpv6(ip.SourceAddress, ip.DestinationAddress, ip.TransportProtocol, ip.Transport.Length));
        return packet;
    }

    private static void CompleteIpv6(byte[] packet)
    {
        Ipv6Packet.TryParse(packet, out Ipv6Packet ip);
        int offset = ip.TransportProtocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
        BinaryPrimitives.WriteUInt16BigEndian(ip.Transport[offset..], InternetChecksum.Compute(ip.Transport));
    }

    /// <summary>
    /// NAT66 with offloads (a TSO/USO super-packet over IPv6 stays partial): the 16-byte addresses'
    /// change alone goes into the pseudo-header sum, the ports' is summed at completion.
    /// </summary>
    [Theory]
    [InlineData(IpProtocol.Tcp)]
    [InlineData(IpProtocol.Udp)]
    public void A_partial_checksum_over_nat66_completes_to_the_right_one_both_ways(IpProtocol protocol)
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        engine.LoadRules(IpnatParser.Parse("map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto", "ipnat.conf").Rules);
        Ipv6Address insideA = Address("fd00:77::2"), insideB = Address("fd00:77::3"), external = Address("2001:db8::10"), remote = Address("2001:db8:ff::5");
        byte[] Make(Ipv6Address source, Ipv6Address destination, ushort sourcePort, ushort destinationPort)
            => protocol == IpProtocol.Tcp ? Tcp(source, destination, sourcePort, destinationPort) : Udp(source, destination, sourcePort, destinationPort);
        byte[] Translate(byte[] packet)
        {
            TranslationResult result = engine.Translate(packet, packet.Length, 0, checksumPartial: true);
            Assert.Equal(Verdict.Forward, result.Verdict);
            return packet[..result.Length];
        }
        // B holds external port 40000 first, so A's flow changes port as well as address.
        byte[] first = Make(insideB, remote, 40000, 443);
        Assert.Equal(Verdict.Forward, engine.Translate(first, first.Length, 0).Verdict);

        byte[] outbound = Translate(MakePartialIpv6(Make(insideA, remote, 40000, 443)));
        CompleteIpv6(outbound);
        Assert.True(ChecksumIsValid(outbound));
        Assert.Equal(external, Source(outbound));
        ushort externalPort = BinaryPrimitives.ReadUInt16BigEndian(outbound.AsSpan(Ipv6Packet.HeaderLength));
        Assert.NotEqual(40000, externalPort);

        byte[] inbound = Translate(MakePartialIpv6(Make(remote, external, 443, externalPort)));
        CompleteIpv6(inbound);
        Assert.True(ChecksumIsValid(inbound));
        Assert.Equal(insideA, Destination(inbound));
        Assert.Equal(40000, BinaryPrimitives.ReadUInt16BigEndian(inbound.AsSpan(Ipv6Packet.HeaderLength + 2)));
    }
}
