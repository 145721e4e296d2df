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

    public static PacketError ParseQuoted(ReadOnlySpan<byte> quote, out NetworkHeader<Ipv6Address> header)
    {
        header = default;
        Span<byte> bytes = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(quote), quote.Length);
        PacketError error = Ipv6Packet.TryParseEmbedded(bytes, out Ipv6Packet ip);
        if (error != PacketError.None)
        {
            return error;
        }
        IpProtocol protocol = ip.TransportProtocol == IpProtocol.Fragment ? ip.FragmentNextHeader : ip.TransportProtocol;
        header = new NetworkHeader<Ipv6Address>(
            Ipv6Address.Read(ip.SourceAddress), Ipv6Address.Read(ip.DestinationAddress), protocol, ip.TransportOffset,
            ip.Bytes.Length, ip.FragmentOffset, ip.MoreFragments, ip.FragmentIdentification);
        return PacketError.None;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteAddresses(Span<byte> packet, Ipv6Address source, Ipv6Address destination, ushort addressDelta)
    {
        source.Write(packet[Ipv6Packet.Field.SourceAddress..]);
        destination.Write(packet[Ipv6Packet.Field.DestinationAddress..]);
    }

    /// <summary>
    /// The four errors RFC 4443 section 3 defines, each quoting the invoking packet after 8 bytes.
    /// (Other types below 128 are unassigned or experimental: their layout is not known.)
    /// </summary>
    public static bool IsIcmpError(byte type) => type is >= Icmpv6Type.DestinationUnreachable and <= Icmpv6Type.ParameterProblem;

    public static bool IsIcmpQuery(byte type) => type is Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply;

    public static bool IsIcmpQueryRequest(byte type) => type == Icmpv6Type.EchoRequest;

    public static ushort IcmpChecksumDelta(ushort addressDelta, ushort identifierDelta) => InternetChecksum.Add(addressDelta, identifierDelta);

    public static bool IsIcmpChecksumValid(Ipv6Address source, Ipv6Address destination, ReadOnlySpan<byte> message)
        => message.Length >= Icmpv6Message.Field.Checksum + 2
            && InternetChecksum.Sum(message, InternetChecksum.PseudoHeaderSum(source, destination, IpProtocol.Icmpv6, message.Length)) == 0xFFFF;

    public static ushort IcmpChecksum(Ipv6Address source, Ipv6Address destination, ReadOnlySpan<byte> message)
    {
        ushort pseudoHeader = InternetChecksum.PseudoHeaderSum(source, destination, IpProtocol.Icmpv6, message.Length);
        // Summed around the field, which is "the field taken as zero" (the offset is even).
        ushort head = InternetChecksum.Sum(message[..Icmpv6Message.Field.Checksum], pseudoHeader);
        return (ushort)~InternetChecksum.Sum(message[(Icmpv6Message.Field.Checksum + 2)..], head);
    }

    public static int WriteProhibited(Span<byte> buffer, int packetLength, Ipv6Address from)
    {
        int quoted = Math.Min(packetLength, Ipv6PacketWriter.MaximumQuotedBytes);
        if (packetLength < Ipv6Packet.HeaderLength || buffer.Length < Ipv6Packet.HeaderLength + Icmpv6Message.HeaderLength + quoted)
        {
            return 0;
        }
        Ipv6Address source = Ipv6Address.Read(buffer[Ipv6Packet.Field.SourceAddress..]);
        return Ipv6PacketWriter.WriteIcmpv6Error(buffer, from, source, Icmpv6Type.DestinationUnreachable, 1, 0, buffer[..quoted]);
    }
}
