using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;

namespace NatGate.Core.Packets;

/// <summary>IPv6's packet rules (RFC 8200, RFC 4443): no header checksum, extension headers walked, ICMPv6's checksum over a pseudo-header.</summary>
public readonly struct Ipv6Family : IPacketFamily<Ipv6Address>
{
    public static int Version => 6;

    public static PacketError Parse(ReadOnlySpan<byte> packet, out NetworkHeader<Ipv6Address> header)
    {
        header = default;
        // The view takes a writable span; parsing writes nothing.
        Span<byte> bytes = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(packet), packet.Length);
        PacketError error = Ipv6Packet.TryParse(bytes, out Ipv6Packet ip);
        if (error != PacketError.None)
        {
            return error;
        }
        IpProtocol protocol = ip.TransportProtocol == IpProtocol.Fragment ? ip.FragmentNextHeader : ip.TransportProtocol;
        header = new NetworkHeader<Ipv6Address>(
            Ipv6Address.Read(ip.SourceAddress), Ipv6Address.Read(ip.DestinationAddress), protocol, ip.TransportOffset,
            Ipv6Packet.HeaderLength + ip.PayloadLength, ip.FragmentOffset, ip.MoreFragments, ip.FragmentIdentification);
        return PacketError.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteAddresses(Span<byte> packet, Ipv6Address source, Ipv6Address destination, ushort addressDelta)
    {
        source.Write(packet[Ipv6Packet.Field.SourceAddress..]);
        destination.Write(packet[Ipv6Packet.Field.DestinationAddress..]);
    }

    public static bool IsIcmpError(byte type) => type < 128;

    public static bool IsIcmpQuery(byte type) => type is Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply;

    public static bool IsIcmpQueryRequest(byte type) => type == Icmpv6Type.EchoRequest;

    public static ushort IcmpChecksumDelta(ushort addressDelta, ushort identifierDelta) => InternetChecksum.Add(addressDelta, identifierDelta);
}
