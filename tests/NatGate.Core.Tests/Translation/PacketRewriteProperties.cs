using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;
using NatGate.Core.Tests.Translation.Npt;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

/// <summary>
/// The rewrite both families' paths share (<see cref="PacketRewrite"/>): after it, every checksum
/// holds by full recomputation, for TCP, UDP and the family's ICMP echo, with complete and with
/// partial (offloaded) checksums.
/// </summary>
public sealed class PacketRewriteProperties
{
    private static readonly Gen<IpProtocol> Protocols = Gen.OneOf(Gen.Const(IpProtocol.Tcp), Gen.Const(IpProtocol.Udp), Gen.Const(IpProtocol.Icmp));
    private static readonly Gen<Ipv6Address> Ipv6 = Gen.Select(Gen.ULong, Gen.ULong, (upper, lower) => new Ipv6Address(upper, lower));

    private static FlowKey<TAddress> Translated<TAddress>(IpProtocol protocol, TAddress source, ushort sourcePort, TAddress destination, ushort destinationPort)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        // An ICMP query's identifier stands in both port fields.
        => new(protocol, source, sourcePort, destination, protocol == TAddress.IcmpProtocol ? sourcePort : destinationPort);

    private static void RewriteAndCheck<TFamily, TAddress>(byte[] packet, FlowKey<TAddress> translated, bool partial)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        Assert.Equal(PacketError.None, TFamily.Parse(packet, out NetworkHeader<TAddress> header));
        Span<byte> transport = header.Transport(packet);
        ushort sourcePort = BinaryPrimitives.ReadUInt16BigEndian(transport);
        ushort destinationPort = header.Protocol == TAddress.IcmpProtocol ? BinaryPrimitives.ReadUInt16BigEndian(transport[4..]) : BinaryPrimitives.ReadUInt16BigEndian(transport[2..]);
        if (header.Protocol == TAddress.IcmpProtocol)
        {
            sourcePort = destinationPort;
        }
        var original = new FlowKey<TAddress>(header.Protocol, header.Source, sourcePort, header.Destination, destinationPort);
        (ushort addressDelta, ushort transportDelta) = PacketRewrite.Deltas<TFamily, TAddress>(original, translated);
        PacketRewrite.Rewrite<TFamily, TAddress>(packet, transport, translated, addressDelta, transportDelta, partial);
        Assert.Equal(PacketError.None, TFamily.Parse(packet, out NetworkHeader<TAddress> after));
        Assert.Equal(translated.Source, after.Source);
        Assert.Equal(translated.Destination, after.Destination);
    }

    [Fact]
    public void Ipv4_checksums_hold_after_a_rewrite() =>
        Gen.Select(Protocols, Gen.UInt, Gen.UInt, Gen.UShort, Gen.UShort, Gen.UInt, Gen.UShort, Gen.Bool).Sample(
            (protocol, source, destination, sourcePort, destinationPort, newSource, newPort, swapDestination) =>
            {
                var buffer = new byte[256];
                Ipv4Address from = new(source), to = new(destination);
                int length = protocol switch
                {
                    IpProtocol.Tcp => Ipv4PacketWriter.WriteTcp(buffer, from, sourcePort, to, destinationPort, TcpFlags.Ack, 1, 2, "data"u8),
                    IpProtocol.Udp => Ipv4PacketWriter.WriteUdp(buffer, from, sourcePort, to, destinationPort, "data"u8),
                    _ => Ipv4PacketWriter.WriteIcmpQuery(buffer, from, to, IcmpType.Echo, sourcePort, 1, "data"u8),
                };
                byte[] packet = buffer[..length];
                Ipv4Address target = swapDestination ? new Ipv4Address(newSource ^ 0x5A5A5A5A) : to;
                RewriteAndCheck<Ipv4Family, Ipv4Address>(packet, Translated(protocol, new Ipv4Address(newSource), newPort, target, destinationPort), partial: false);
                Assert.Equal(PacketError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
                return ip.IsHeaderChecksumValid && TransportChecksum.IsValid(ip);
            });

    [Fact]
    public void Ipv6_checksums_hold_after_a_rewrite_icmpv6_included() =>
        Gen.Select(Protocols, Ipv6, Ipv6, Gen.UShort, Gen.UShort, Ipv6, Gen.UShort, Gen.Bool).Sample(
            (protocol, source, destination, sourcePort, destinationPort, newSource, newPort, swapDestination) =>
            {
                byte[] packet = protocol switch
                {
                    IpProtocol.Tcp => NptPackets.Tcp(source, destination, sourcePort, destinationPort),
                    IpProtocol.Udp => NptPackets.Udp(source, destination, sourcePort, destinationPort),
                    _ => NptPackets.EchoRequest(source, destination),
                };
                IpProtocol family = protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : protocol;
                Ipv6Address target = swapDestination ? new Ipv6Address(newSource.Lower, newSource.Upper) : destination;
                RewriteAndCheck<Ipv6Family, Ipv6Address>(packet, Translated(family, newSource, newPort, target, destinationPort), partial: false);
                return NptPackets.ChecksumIsValid(packet);
            });

    [Fact]
    public void A_partial_checksum_becomes_the_new_pseudo_header_sum_in_both_families()
    {
        Gen.Select(Gen.Bool, Gen.UInt, Gen.UInt, Gen.UShort, Gen.UShort).Sample((tcp, source, newSource, sourcePort, newPort) =>
        {
            var buffer = new byte[256];
            Ipv4Address from = new(source), to = Ipv4Address.Parse("203.0.113.5");
            int length = tcp ? Ipv4PacketWriter.WriteTcp(buffer, from, sourcePort, to, 443, TcpFlags.Ack, 1, 2, "data"u8)
                : Ipv4PacketWriter.WriteUdp(buffer, from, sourcePort, to, 53, "data"u8);
            byte[] packet = buffer[..length];
            IpProtocol protocol = tcp ? IpProtocol.Tcp : IpProtocol.Udp;
            int field = 20 + (tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum);
            // What a TUN with checksum offload hands over: the pseudo-header's sum, not complemented.
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(field), InternetChecksum.PseudoHeaderSum(from, to, protocol, length - 20));
            RewriteAndCheck<Ipv4Family, Ipv4Address>(packet, Translated(protocol, new Ipv4Address(newSource), newPort, to, tcp ? (ushort)443 : (ushort)53), partial: true);
            return BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(field)) == InternetChecksum.PseudoHeaderSum(new Ipv4Address(newSource), to, protocol, length - 20);
        });
        Gen.Select(Gen.Bool, Ipv6, Ipv6, Gen.UShort, Gen.UShort).Sample((tcp, source, newSource, sourcePort, newPort) =>
        {
            Ipv6Address to = Ipv6Address.Parse("2001:db8::5", null);
            byte[] packet = tcp ? NptPackets.Tcp(source, to, sourcePort, 443) : NptPackets.Udp(source, to, sourcePort, 53);
            IpProtocol protocol = tcp ? IpProtocol.Tcp : IpProtocol.Udp;
            int transportLength = packet.Length - Ipv6Packet.HeaderLength;
            int field = Ipv6Packet.HeaderLength + (tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(field), InternetChecksum.PseudoHeaderSum(source, to, protocol, transportLength));
            RewriteAndCheck<Ipv6Family, Ipv6Address>(packet, Translated(protocol, newSource, newPort, to, tcp ? (ushort)443 : (ushort)53), partial: true);
            return BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(field)) == InternetChecksum.PseudoHeaderSum(newSource, to, protocol, transportLength);
        });
    }

    [Fact]
    public void Each_family_parses_its_own_header_and_refuses_the_other()
    {
        byte[] ipv6 = NptPackets.Udp(Ipv6Address.Parse("fd00::2", null), Ipv6Address.Parse("2001:db8::5", null));
        Assert.Equal(PacketError.None, Ipv6Family.Parse(ipv6, out NetworkHeader<Ipv6Address> header6));
        Assert.Equal(IpProtocol.Udp, header6.Protocol);
        Assert.Equal(Ipv6Packet.HeaderLength, header6.TransportOffset);
        Assert.Equal(ipv6.Length, header6.Length);
        Assert.Equal(PacketError.BadVersion, Ipv4Family.Parse(ipv6, out _));

        var buffer = new byte[128];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("10.0.0.2"), 5, Ipv4Address.Parse("203.0.113.5"), 53, "x"u8);
        Assert.Equal(PacketError.None, Ipv4Family.Parse(buffer, out NetworkHeader<Ipv4Address> header4));
        Assert.Equal(length, header4.Length);
        Assert.Equal(20, header4.TransportOffset);
        Assert.Equal(PacketError.BadVersion, Ipv6Family.Parse(buffer, out _));
        buffer[Ipv4Packet.Field.HeaderChecksum] ^= 0xFF;
        Assert.Equal(PacketError.BadChecksum, Ipv4Family.Parse(buffer, out _));
    }
}
