using NatGate.Core.Addressing;
using System.Buffers.Binary;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// ICMP errors (RFC 5508 REQ-3/4/5, RFC 5382 REQ-9): the embedded datagram is a packet that
    /// went the other way through a session, so it is translated back to how its sender wrote it
    /// (addresses, ports or identifier, and its checksums), and the outer header follows. An error
    /// never creates or refreshes a session (RFC 5508 REQ-6 and RFC 7857 section 2.5).
    /// </summary>
    private TranslationResult TranslateIcmpError(Ipv4Packet ip)
    {
        Span<byte> icmp = ip.Payload;
        if (!TransportChecksum.IsValidIcmp(icmp)
            || Ipv4Packet.TryParseEmbedded(icmp[8..], out Ipv4Packet inner) != PacketError.None
            || inner.FragmentOffset != 0)
        {
            return Malformed();
        }
        Span<byte> innerTransport = inner.Payload;
        IpProtocol protocol = inner.Protocol;
        bool hasPorts = protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp;
        // RFC 1122 3.2.2: no error is sent about an error, so a quoted ICMP message is a query.
        if ((hasPorts && innerTransport.Length < 8) || (protocol == IpProtocol.Icmp && !IcmpMessage.IsQueryType(innerTransport[0])))
        {
            return Malformed();
        }
        FlowKey embedded = KeyOf(protocol, inner.SourceAddress, inner.DestinationAddress, innerTransport);

        // The error travels opposite to the packet it quotes: look the quoted packet up reversed.
        FlowKey asPacket = embedded.Reverse();
        int index = table.Find(asPacket, out bool forward);
        if (index < 0)
        {
            return Drop(DropReason.IcmpErrorNoSession);
        }
        ref Session session = ref table.At(index);
        // The quoted packet was Original.Reverse() after a reply-way translation (error going forward)
        // or Translated after a forward one (error going the reply way): restore what preceded each.
        FlowKey restored = forward ? session.Translated.Reverse() : session.Original;

        ushort innerIpDelta = InternetChecksum.Add(
            InternetChecksum.Delta(embedded.Source, restored.Source),
            InternetChecksum.Delta(embedded.Destination, restored.Destination));
        inner.SourceAddress = restored.Source;
        inner.DestinationAddress = restored.Destination;
        inner.HeaderChecksum = InternetChecksum.ApplyDelta(inner.HeaderChecksum, innerIpDelta);
        if (protocol is IpProtocol.Tcp or IpProtocol.Udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(innerTransport, restored.SourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(innerTransport[2..], restored.DestinationPort);
            ushort innerTransportDelta = InternetChecksum.Add(innerIpDelta, InternetChecksum.Add(
                InternetChecksum.Delta(embedded.SourcePort, restored.SourcePort),
                InternetChecksum.Delta(embedded.DestinationPort, restored.DestinationPort)));
            int checksumOffset = protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum;
            // Only a quoted checksum that is there can be fixed (an error quotes 8 bytes at least, TCP's sits at 16).
            if (innerTransport.Length >= checksumOffset + 2)
            {
                Span<byte> checksum = innerTransport.Slice(checksumOffset, 2);
                ushort value = BinaryPrimitives.ReadUInt16BigEndian(checksum);
                value = protocol == IpProtocol.Udp
                    ? InternetChecksum.ApplyDeltaUdp(value, innerTransportDelta)
                    : InternetChecksum.ApplyDelta(value, innerTransportDelta);
                BinaryPrimitives.WriteUInt16BigEndian(checksum, value);
            }
        }
        else if (protocol == IpProtocol.Icmp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(innerTransport[IcmpMessage.Field.Identifier..], restored.SourcePort);
            Span<byte> checksum = innerTransport.Slice(IcmpMessage.Field.Checksum, 2);
            BinaryPrimitives.WriteUInt16BigEndian(checksum, InternetChecksum.ApplyDelta(
                BinaryPrimitives.ReadUInt16BigEndian(checksum), InternetChecksum.Delta(embedded.SourcePort, restored.SourcePort)));
        }

        // Outer header: to the quoted packet's original sender; from the translated quoted
        // destination when that host itself sent the error, else from the router that did.
        Ipv4Address outerSource = ip.SourceAddress == embedded.Destination ? restored.Destination : ip.SourceAddress;
        Ipv4Address outerDestination = restored.Source;
        ushort outerDelta = InternetChecksum.Add(
            InternetChecksum.Delta(ip.SourceAddress, outerSource),
            InternetChecksum.Delta(ip.DestinationAddress, outerDestination));
        ip.SourceAddress = outerSource;
        ip.DestinationAddress = outerDestination;
        ip.HeaderChecksum = InternetChecksum.ApplyDelta(ip.HeaderChecksum, outerDelta);
        // The ICMP checksum covers the whole quoted datagram; it was verified above, so recompute it.
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], InternetChecksum.Compute(icmp));

        Counters.IcmpErrorsTranslated++;
        return new TranslationResult(Verdict.Forward, DropReason.None, ip.TotalLength);
    }
}
