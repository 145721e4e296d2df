using System.Buffers.Binary;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Translation;

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
}
