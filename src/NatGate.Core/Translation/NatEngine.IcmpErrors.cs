using NatGate.Core.Addressing;
using System.Buffers.Binary;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

using System.Runtime.CompilerServices;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// ICMP errors of either family (RFC 5508 REQ-3/4/5, RFC 5382 REQ-9; for ICMPv6 RFC 4443 3 and
    /// RFC 7857 section 2.5): the quoted packet went the other way through a session, so it is
    /// translated back to how its sender wrote it (addresses, ports or echo identifier, and its
    /// checksums), and the outer header follows. What an error carries past the quote (Packet Too
    /// Big's MTU, Parameter Problem's pointer) is left as it is, so path MTU discovery works. An
    /// error never creates or refreshes a session (RFC 5508 REQ-6); one without a session is
    /// dropped and counted. <paramref name="parts"/> is null while the family has no table yet.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)] // a cold path: see NatEngine.Translate
    private TranslationResult TranslateIcmpError<TFamily, TAddress>(FamilyParts<TAddress>? parts, Span<byte> packet, in NetworkHeader<TAddress> header, Span<byte> icmp)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        // ICMPv6's header has ICMPv4's layout (type, code, checksum, 4 bytes; RFC 4443 2.1), so one set of offsets serves both.
        Span<byte> quote = icmp[IcmpMessage.HeaderLength..];
        if (!TFamily.IsIcmpChecksumValid(header.Source, header.Destination, icmp)
            || TFamily.ParseQuoted(quote, out NetworkHeader<TAddress> inner) != PacketError.None
            || inner.FragmentOffset != 0)
        {
            return Malformed();
        }
        Span<byte> innerTransport = inner.Transport(quote);
        IpProtocol protocol = inner.Protocol;
        bool hasPorts = protocol is IpProtocol.Tcp or IpProtocol.Udp || protocol == TAddress.IcmpProtocol;
        // RFC 1122 3.2.2 and RFC 4443 2.4 e: no error is sent about an error, so a quoted ICMP message is a query.
        if ((hasPorts && innerTransport.Length < 8) || (protocol == TAddress.IcmpProtocol && !TFamily.IsIcmpQuery(innerTransport[0])))
        {
            return Malformed();
        }
        if (parts is null)
        {
            return Drop(DropReason.IcmpErrorNoSession);
        }
        FlowKey<TAddress> embedded = KeyOf(protocol, inner.Source, inner.Destination, innerTransport);

        // The error travels opposite to the packet it quotes: look the quoted packet up reversed.
        int index = parts.Table.Find(embedded.Reverse(), out bool forward);
        if (index < 0)
        {
            return Drop(DropReason.IcmpErrorNoSession);
        }
        ref Session<TAddress> session = ref parts.Table.At(index);
        // The quoted packet was Original.Reverse() after a reply-way translation (error going forward)
        // or Translated after a forward one (error going the reply way): restore what preceded each.
        FlowKey<TAddress> restored = forward ? session.Translated.Reverse() : session.Original;

        ushort innerAddressDelta = InternetChecksum.Add(
            TAddress.ChecksumDelta(embedded.Source, restored.Source),
            TAddress.ChecksumDelta(embedded.Destination, restored.Destination));
        TFamily.WriteAddresses(quote, restored.Source, restored.Destination, innerAddressDelta);
        if (protocol is IpProtocol.Tcp or IpProtocol.Udp)
        {
            BinaryPrimitives.WriteUInt16BigEndian(innerTransport, restored.SourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(innerTransport[2..], restored.DestinationPort);
            ushort innerTransportDelta = InternetChecksum.Add(innerAddressDelta, InternetChecksum.Add(
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
        else if (protocol == TAddress.IcmpProtocol)
        {
            BinaryPrimitives.WriteUInt16BigEndian(innerTransport[IcmpMessage.Field.Identifier..], restored.SourcePort);
            // ICMPv6's checksum covers the pseudo-header, so the quoted addresses' change too.
            Span<byte> checksum = innerTransport.Slice(IcmpMessage.Field.Checksum, 2);
            BinaryPrimitives.WriteUInt16BigEndian(checksum, InternetChecksum.ApplyDelta(BinaryPrimitives.ReadUInt16BigEndian(checksum),
                TFamily.IcmpChecksumDelta(innerAddressDelta, InternetChecksum.Delta(embedded.SourcePort, restored.SourcePort))));
        }

        // Outer header: to the quoted packet's original sender; from the translated quoted
        // destination when that host itself sent the error, else from the router that did.
        TAddress outerSource = header.Source == embedded.Destination ? restored.Destination : header.Source;
        TAddress outerDestination = restored.Source;
        ushort outerDelta = InternetChecksum.Add(
            TAddress.ChecksumDelta(header.Source, outerSource),
            TAddress.ChecksumDelta(header.Destination, outerDestination));
        TFamily.WriteAddresses(packet, outerSource, outerDestination, outerDelta);
        // The ICMP checksum covers the whole quote (and ICMPv6's the new pseudo-header); it was
        // verified above, so it is computed again rather than patched for every change.
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], TFamily.IcmpChecksum(outerSource, outerDestination, icmp));

        Counters.IcmpErrorsTranslated++;
        return new TranslationResult(Verdict.Forward, DropReason.None, header.Length);
    }
}
