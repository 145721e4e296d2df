using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// The rewrite of a packet to a session's translated tuple, written once for both families: the
/// deltas computed when the session is made (IP Filter's <c>nat_ipsumd</c> and <c>nat_sumd</c>),
/// and per packet the stores of the new tuple and one checksum add per header (RFC 1624).
/// </summary>
internal static class PacketRewrite
{
    /// <summary>
    /// The deltas for a session's forward direction: the address changes (IPv4's header checksum,
    /// and a partial checksum's pseudo-header sum), and the transport checksum's: for TCP and UDP
    /// the addresses (in the pseudo-header) and the ports; for the family's ICMP the identifier,
    /// and in ICMPv6 the addresses too (its checksum covers a pseudo-header, ICMPv4's does not).
    /// </summary>
    public static (ushort AddressDelta, ushort TransportDelta) Deltas<TFamily, TAddress>(in FlowKey<TAddress> original, in FlowKey<TAddress> translated)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        ushort addressDelta = InternetChecksum.Add(
            TAddress.ChecksumDelta(original.Source, translated.Source),
            TAddress.ChecksumDelta(original.Destination, translated.Destination));
        IpProtocol protocol = original.Protocol;
        ushort transportDelta = protocol switch
        {
            IpProtocol.Tcp or IpProtocol.Udp => InternetChecksum.Add(addressDelta, InternetChecksum.Add(
                InternetChecksum.Delta(original.SourcePort, translated.SourcePort),
                InternetChecksum.Delta(original.DestinationPort, translated.DestinationPort))),
            _ when protocol == TAddress.IcmpProtocol => TFamily.IcmpChecksumDelta(addressDelta, InternetChecksum.Delta(original.SourcePort, translated.SourcePort)),
            _ => 0,
        };
        return (addressDelta, transportDelta);
    }

    /// <summary>
    /// Writes <paramref name="target"/> into the packet: its addresses (and IPv4's header checksum),
    /// its ports or ICMP identifier, and the transport checksum. With <paramref name="checksumPartial"/>
    /// (a TUN's NEEDS_CSUM) a TCP or UDP checksum field holds only the pseudo-header sum, so it
    /// takes the address change alone: the ports are summed with the data when it is completed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Rewrite<TFamily, TAddress>(Span<byte> packet, Span<byte> transport, in FlowKey<TAddress> target, ushort addressDelta, ushort transportDelta, bool checksumPartial)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        TFamily.WriteAddresses(packet, target.Source, target.Destination, addressDelta);
        IpProtocol protocol = target.Protocol;
        if (protocol == IpProtocol.Tcp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport, target.SourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(transport[2..], target.DestinationPort);
            Span<byte> checksum = transport.Slice(TcpSegment.Field.Checksum, 2);
            ushort value = BinaryPrimitives.ReadUInt16BigEndian(checksum);
            BinaryPrimitives.WriteUInt16BigEndian(checksum, checksumPartial ? InternetChecksum.Add(value, addressDelta) : InternetChecksum.ApplyDelta(value, transportDelta));
        }
        else if (protocol == IpProtocol.Udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport, target.SourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(transport[2..], target.DestinationPort);
            Span<byte> checksum = transport.Slice(UdpDatagram.Field.Checksum, 2);
            ushort value = BinaryPrimitives.ReadUInt16BigEndian(checksum);
            BinaryPrimitives.WriteUInt16BigEndian(checksum, checksumPartial ? InternetChecksum.Add(value, addressDelta) : InternetChecksum.ApplyDeltaUdp(value, transportDelta));
        }
        else if (protocol == TAddress.IcmpProtocol)
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport[IcmpMessage.Field.Identifier..], target.SourcePort);
            Span<byte> checksum = transport.Slice(IcmpMessage.Field.Checksum, 2);
            BinaryPrimitives.WriteUInt16BigEndian(checksum, InternetChecksum.ApplyDelta(BinaryPrimitives.ReadUInt16BigEndian(checksum), transportDelta));
        }
    }
}
