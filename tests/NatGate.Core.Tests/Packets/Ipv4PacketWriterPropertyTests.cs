using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Packets;

public sealed class Ipv4PacketWriterPropertyTests
{
    private static readonly Gen<Ipv4Address> Address = Gen.UInt.Select(v => new Ipv4Address(v));

    [Fact]
    public void Written_tcp_and_udp_packets_verify_and_parse_back()
    {
        Gen.Select(Address, Gen.UShort, Address, Gen.UShort, Gen.Byte, Gen.UInt, Gen.Byte.Array[0, 100])
            .Sample((source, sourcePort, destination, destinationPort, flags, sequence, payload) =>
            {
                byte[] buffer = new byte[200];
                int length = Ipv4PacketWriter.WriteTcp(buffer, source, sourcePort, destination, destinationPort, (TcpFlags)flags, sequence, ~sequence, payload);
                Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet packet));
                Assert.True(TransportChecksum.IsValid(packet));
                Assert.Equal(source, packet.SourceAddress);
                Assert.Equal(destination, packet.DestinationAddress);
                Assert.Equal(PacketError.None, TcpSegment.TryParse(packet.Payload, out TcpSegment tcp));
                Assert.Equal(sourcePort, tcp.SourcePort);
                Assert.Equal(destinationPort, tcp.DestinationPort);
                Assert.Equal((TcpFlags)flags, tcp.Flags);
                Assert.Equal(sequence, tcp.SequenceNumber);
                Assert.Equal(~sequence, tcp.AcknowledgmentNumber);
                Assert.Equal(payload, tcp.Payload.ToArray());

                length = Ipv4PacketWriter.WriteUdp(buffer, source, sourcePort, destination, destinationPort, payload);
                Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out packet));
                Assert.True(TransportChecksum.IsValid(packet));
                Assert.Equal(PacketError.None, UdpDatagram.TryParse(packet.Payload, out UdpDatagram udp));
                Assert.NotEqual(0, udp.Checksum);
                Assert.Equal(sourcePort, udp.SourcePort);
                Assert.Equal(destinationPort, udp.DestinationPort);
                Assert.Equal(payload, udp.Payload.ToArray());
            });
    }

    [Fact]
    public void Written_icmp_errors_verify_and_quote_the_original()
    {
        Gen.Select(Address, Address, Gen.Byte.Array[0, 1200], Gen.Int[28, 600])
            .Sample((source, destination, payload, maximumEmbedded) =>
            {
                byte[] original = new byte[1300];
                int originalLength = Ipv4PacketWriter.WriteUdp(original, destination, 1000, source, 2000, payload);
                byte[] buffer = new byte[700];
                int length = Ipv4PacketWriter.WriteIcmpError(buffer, source, destination, IcmpType.TimeExceeded, 0, original, maximumEmbedded);
                Assert.Equal(28 + Math.Min(originalLength, maximumEmbedded), length);
                Assert.Equal(PacketError.None, Ipv4Packet.TryParse(buffer.AsSpan(0, length), out Ipv4Packet packet));
                Assert.True(TransportChecksum.IsValid(packet));
                Assert.Equal(PacketError.None, IcmpMessage.TryParse(packet.Payload, out IcmpMessage icmp));
                Assert.True(icmp.IsError);
                Assert.Equal(PacketError.None, Ipv4Packet.TryParseEmbedded(icmp.Payload, out Ipv4Packet quoted));
                Assert.Equal(originalLength, quoted.TotalLength);
                Assert.True(original.AsSpan(0, quoted.Bytes.Length).SequenceEqual(quoted.Bytes));
            });
    }

    [Fact]
    public void Computed_checksums_ignore_what_the_field_holds()
    {
        Gen.Select(Address, Address, Gen.Byte.Array[20, 120], Gen.UShort).Sample((source, destination, segment, garbage) =>
        {
            foreach ((IpProtocol protocol, int field) in new[] { (IpProtocol.Tcp, 16), (IpProtocol.Udp, 6) })
            {
                segment[field] = 0;
                segment[field + 1] = 0;
                ushort expected = TransportChecksum.ComputeIpv4(source, destination, protocol, segment);
                segment[field] = (byte)(garbage >> 8);
                segment[field + 1] = (byte)garbage;
                Assert.Equal(expected, TransportChecksum.ComputeIpv4(source, destination, protocol, segment));
                segment[field] = (byte)(expected >> 8);
                segment[field + 1] = (byte)expected;
                Assert.True(TransportChecksum.IsValidIpv4(source, destination, protocol, segment));
            }
            segment[2] = (byte)(garbage >> 8);
            ushort icmp = TransportChecksum.ComputeIcmp(segment);
            segment[2] = (byte)(icmp >> 8);
            segment[3] = (byte)icmp;
            Assert.True(TransportChecksum.IsValidIcmp(segment));
        });
    }
}
