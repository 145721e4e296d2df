using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// Stateless translation of an IPv6 packet into an IPv4 packet (RFC 7915 section 5), from one span
/// into another, allocating nothing. The caller chooses the addresses (and, optionally, ports or
/// ICMP identifier) through <see cref="Ipv4Endpoints"/>; for an ICMPv6 error it also chooses them
/// for the quoted packet, which is translated too.
/// </summary>
/// <remarks>
/// <para>The input and output must not overlap. The output needs at most the input's length (the
/// header shrinks from 40 bytes or more to 20), and an ICMP error never exceeds
/// <see cref="MaximumIcmpErrorLength"/>.</para>
/// <para>What is written: traffic class as TOS, hop limit as TTL (unchanged: on NatGate's path the
/// kernel's forwarding does the decrement, see <see cref="HopLimit"/>), Hop-by-Hop, Destination
/// Options and exhausted Routing headers skipped, a Fragment header turned into IPv4 fragment
/// fields. TCP and UDP checksums are adjusted for the pseudo-header change; ICMPv6 echo becomes
/// ICMP echo with the pseudo-header taken out of its checksum; ICMPv6 errors are mapped by the
/// tables of section 5.2 and get a fresh checksum. IPv4 fragmentation to a next-hop MTU and the
/// ICMPv6 errors RFC 7915 5.4 asks for on a drop are the caller's (<see cref="Nat64DropReason"/>
/// says which).</para>
/// </remarks>
[SkipLocalsInit]
public static class Ipv6ToIpv4Translator
{
    /// <summary>The largest ICMPv4 error written: the quote is cut to fit (RFC 1812 4.3.2.3).</summary>
    public const int MaximumIcmpErrorLength = 576;

    /// <summary>
    /// IPv4 packets up to this length go out with DF clear, longer ones with DF set (RFC 7915 5):
    /// 1260 bytes of IPv4 are 1280 of IPv6, the minimum IPv6 MTU.
    /// </summary>
    public const int DontFragmentThreshold = 1260;

    private const int HeaderLength = Ipv4Packet.MinimumHeaderLength;
    private const int ErrorOverhead = HeaderLength + IcmpMessage.HeaderLength;

    /// <summary>Translates a packet that is not an ICMPv6 error (one is dropped with <see cref="Nat64DropReason.QuotedEndpointsMissing"/>).</summary>
    public static Nat64TranslationResult Translate(ReadOnlySpan<byte> ipv6Packet, Ipv4Address sourceAddress, Ipv4Address destinationAddress,
        Span<byte> output, out int written)
        => Run(ipv6Packet, new Ipv4Endpoints(sourceAddress, destinationAddress), default, hasQuoted: false, output, out written);

    /// <summary>Translates a packet that is not an ICMPv6 error, rewriting ports or identifier as <paramref name="endpoints"/> says.</summary>
    public static Nat64TranslationResult Translate(ReadOnlySpan<byte> ipv6Packet, in Ipv4Endpoints endpoints, Span<byte> output, out int written)
        => Run(ipv6Packet, endpoints, default, hasQuoted: false, output, out written);

    /// <summary>
    /// Translates any packet; for an ICMPv6 error, the quoted packet's IPv4 header gets
    /// <paramref name="quotedEndpoints"/> (usually the reverse of the outer mapping: the quoted
    /// packet was travelling the other way).
    /// </summary>
    public static Nat64TranslationResult Translate(ReadOnlySpan<byte> ipv6Packet, in Ipv4Endpoints endpoints, in Ipv4Endpoints quotedEndpoints,
        Span<byte> output, out int written)
        => Run(ipv6Packet, endpoints, quotedEndpoints, hasQuoted: true, output, out written);

    private static Nat64TranslationResult Run(ReadOnlySpan<byte> packet, in Ipv4Endpoints endpoints, in Ipv4Endpoints quotedEndpoints, bool hasQuoted,
        Span<byte> output, out int written)
    {
        if (packet.Overlaps(output))
        {
            throw new ArgumentException("The output overlaps the packet; translate into a separate buffer.", nameof(output));
        }
        Nat64DropReason reason = TranslatePacket(packet, endpoints, quotedEndpoints, hasQuoted, quoted: false, int.MaxValue, output, out written);
        if (reason != Nat64DropReason.None)
        {
            written = 0;
        }
        return new Nat64TranslationResult(reason);
    }

    private static Nat64DropReason TranslatePacket(ReadOnlySpan<byte> packet, in Ipv4Endpoints endpoints, in Ipv4Endpoints quotedEndpoints,
        bool hasQuoted, bool quoted, int maximumLength, Span<byte> output, out int written)
    {
        written = 0;
        Nat64DropReason reason = Ipv6HeaderChain.TryWalk(packet, quoted, out Ipv6HeaderChain chain);
        if (reason != Nat64DropReason.None)
        {
            return quoted && reason == Nat64DropReason.MalformedPacket ? Nat64DropReason.QuotedPacketMalformed : reason;
        }
        int totalLength = HeaderLength + chain.DeclaredTransportLength;
        if (totalLength > ushort.MaxValue)
        {
            return Nat64DropReason.TooLongForIpv4;
        }
        ReadOnlySpan<byte> transport = packet[chain.TransportOffset..chain.Length];
        ReadOnlySpan<byte> sourceAddress = packet.Slice(Ipv6Packet.Field.SourceAddress, 16);
        ReadOnlySpan<byte> destinationAddress = packet.Slice(Ipv6Packet.Field.DestinationAddress, 16);
        IpProtocol protocol = chain.Protocol;

        if (protocol == IpProtocol.Icmpv6 && chain.HasTransportHeader)
        {
            if (chain.IsFragmented && endpoints.IcmpMessageLength is null)
            {
                // The pseudo-header leaving the checksum counts the whole message (RFC 7915 1.2).
                return Nat64DropReason.FragmentedIcmp;
            }
            if (transport.Length < (quoted ? IcmpMessage.Field.Checksum + 2 : Icmpv6Message.HeaderLength))
            {
                return quoted ? Nat64DropReason.QuotedPacketMalformed : Nat64DropReason.TransportTruncated;
            }
            byte type = transport[Icmpv6Message.Field.Type];
            if (type < 128)
            {
                if (quoted)
                {
                    return Nat64DropReason.NestedIcmpError;
                }
                return hasQuoted
                    ? TranslateIcmpError(packet, transport, endpoints, quotedEndpoints, output, out written)
                    : Nat64DropReason.QuotedEndpointsMissing;
            }
            if (type is not (Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply))
            {
                // Neighbor Discovery, MLD, and informational types with no ICMPv4 counterpart (RFC 7915 5.2).
                return Nat64DropReason.UntranslatableIcmpType;
            }
        }

        int copied = quoted ? Math.Min(transport.Length, maximumLength - HeaderLength) : transport.Length;
        if (output.Length < HeaderLength + copied)
        {
            return Nat64DropReason.OutputTooShort;
        }
        Span<byte> payload = output.Slice(HeaderLength, copied);
        transport[..copied].CopyTo(payload);

        if (chain.HasTransportHeader)
        {
            switch (protocol)
            {
                case IpProtocol.Tcp:
                case IpProtocol.Udp:
                    if (!quoted && transport.Length < (protocol == IpProtocol.Tcp ? TcpSegment.MinimumHeaderLength : UdpDatagram.HeaderLength))
                    {
                        return Nat64DropReason.TransportTruncated;
                    }
                    // The pseudo-headers differ only in the addresses: next header equals protocol and the
                    // upper-layer length is the same, which also makes this right for a first fragment.
                    ushort ipv4Addresses = InternetChecksum.PseudoHeaderSum(endpoints.SourceAddress, endpoints.DestinationAddress, default, 0);
                    ushort ipv6Addresses = InternetChecksum.Sum(packet.Slice(Ipv6Packet.Field.SourceAddress, 32));
                    ushort delta = InternetChecksum.Add(ipv4Addresses, (ushort)~ipv6Addresses);
                    delta = TransportFields.Rewrite(payload, TcpSegment.Field.SourcePort, endpoints.SourcePort, delta);
                    delta = TransportFields.Rewrite(payload, TcpSegment.Field.DestinationPort, endpoints.DestinationPort, delta);
                    TransportFields.AdjustChecksum(payload, protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum, delta,
                        udp: protocol == IpProtocol.Udp);
                    break;
                case IpProtocol.Icmpv6:
                    TranslateEcho(payload, sourceAddress, destinationAddress, endpoints.IcmpMessageLength ?? chain.DeclaredTransportLength,
                        endpoints.IcmpIdentifier);
                    break;
            }
        }

        ushort identification;
        int flagsAndOffset;
        if (chain.HasFragmentHeader)
        {
            // RFC 7915 5.1.1: low 16 bits of the identification, MF from M, DF clear, offset copied.
            identification = (ushort)chain.FragmentIdentification;
            flagsAndOffset = (chain.MoreFragments ? 0x2000 : 0) | chain.FragmentOffset / 8;
        }
        else
        {
            identification = endpoints.Identification;
            flagsAndOffset = totalLength > DontFragmentThreshold ? 0x4000 : 0;
        }
        WriteHeader(output, packet, totalLength, identification, flagsAndOffset, protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : protocol, endpoints);
        written = HeaderLength + copied;
        return Nat64DropReason.None;
    }

    // RFC 7915 5.2 and 5.3: map the type and code, translate the quoted packet, and checksum the
    // new message afresh (ICMPv4 has no pseudo-header).
    private static Nat64DropReason TranslateIcmpError(ReadOnlySpan<byte> packet, ReadOnlySpan<byte> message, in Ipv4Endpoints endpoints,
        in Ipv4Endpoints quotedEndpoints, Span<byte> output, out int written)
    {
        written = 0;
        if (!TransportChecksum.IsValidIpv6(packet.Slice(Ipv6Packet.Field.SourceAddress, 16), packet.Slice(Ipv6Packet.Field.DestinationAddress, 16),
            IpProtocol.Icmpv6, message))
        {
            return Nat64DropReason.IcmpChecksumInvalid;
        }
        byte type = message[Icmpv6Message.Field.Type];
        uint restOfHeader = BinaryPrimitives.ReadUInt32BigEndian(message[IcmpMessage.Field.RestOfHeader..]);
        Nat64DropReason reason = IcmpTranslationTables.TryMapToIcmpv4(type, message[Icmpv6Message.Field.Code], restOfHeader,
            out byte icmpType, out byte icmpCode, out uint icmpRestOfHeader);
        if (reason != Nat64DropReason.None)
        {
            return reason;
        }
        ReadOnlySpan<byte> quotedPacket = message[Icmpv6Message.HeaderLength..];
        if (type is Icmpv6Type.DestinationUnreachable or Icmpv6Type.TimeExceeded && message[4] != 0)
        {
            // RFC 4884: a non-zero length (in 8-byte words) marks where the original datagram ends and
            // extensions begin. The extensions are not carried over.
            quotedPacket = quotedPacket[..Math.Min(quotedPacket.Length, message[4] * 8)];
        }
        if (output.Length < ErrorOverhead)
        {
            return Nat64DropReason.OutputTooShort;
        }
        reason = TranslatePacket(quotedPacket, quotedEndpoints, default, hasQuoted: false, quoted: true, MaximumIcmpErrorLength - ErrorOverhead,
            output[ErrorOverhead..], out int quotedWritten);
        if (reason != Nat64DropReason.None)
        {
            return reason;
        }
        int messageLength = IcmpMessage.HeaderLength + quotedWritten;
        Span<byte> icmp = output.Slice(HeaderLength, messageLength);
        icmp[IcmpMessage.Field.Type] = icmpType;
        icmp[IcmpMessage.Field.Code] = icmpCode;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(icmp[IcmpMessage.Field.RestOfHeader..], icmpRestOfHeader);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], TransportChecksum.ComputeIcmp(icmp));

        int totalLength = HeaderLength + messageLength;
        WriteHeader(output, packet, totalLength, endpoints.Identification, totalLength > DontFragmentThreshold ? 0x4000 : 0, IpProtocol.Icmp, endpoints);
        written = totalLength;
        return Nat64DropReason.None;
    }

    // ICMPv6 echo 128/129 becomes ICMP echo 8/0 (RFC 7915 5.2): the type word changes and the
    // pseudo-header leaves the checksum. A quoted message may stop after its checksum field.
    private static void TranslateEcho(Span<byte> message, ReadOnlySpan<byte> sourceAddress, ReadOnlySpan<byte> destinationAddress,
        int messageLength, ushort? identifier)
    {
        byte type = message[Icmpv6Message.Field.Type];
        byte code = message[Icmpv6Message.Field.Code];
        byte icmpType = type == Icmpv6Type.EchoRequest ? IcmpType.Echo : IcmpType.EchoReply;
        message[IcmpMessage.Field.Type] = icmpType;
        ushort delta = InternetChecksum.Delta((ushort)(type << 8 | code), (ushort)(icmpType << 8 | code));
        ushort pseudoHeader = TransportChecksum.PseudoHeaderSumIpv6(sourceAddress, destinationAddress, IpProtocol.Icmpv6, messageLength);
        delta = InternetChecksum.Add(delta, (ushort)~pseudoHeader);
        delta = TransportFields.Rewrite(message, IcmpMessage.Field.Identifier, identifier, delta);
        TransportFields.AdjustChecksum(message, IcmpMessage.Field.Checksum, delta, udp: false);
    }

    // RFC 7915 5.1: version 4, no options, TOS from the traffic class, TTL from the hop limit.
    private static void WriteHeader(Span<byte> output, ReadOnlySpan<byte> ipv6Packet, int totalLength, ushort identification, int flagsAndOffset,
        IpProtocol protocol, in Ipv4Endpoints endpoints)
    {
        Span<byte> header = output[..HeaderLength];
        header[Ipv4Packet.Field.VersionAndHeaderLength] = 0x45;
        header[Ipv4Packet.Field.TypeOfService] = (byte)(BinaryPrimitives.ReadUInt16BigEndian(ipv6Packet) >> 4);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.TotalLength..], (ushort)totalLength);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.Identification..], identification);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.FlagsAndFragmentOffset..], (ushort)flagsAndOffset);
        header[Ipv4Packet.Field.TimeToLive] = ipv6Packet[Ipv6Packet.Field.HopLimit];
        header[Ipv4Packet.Field.Protocol] = (byte)protocol;
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.HeaderChecksum..], 0);
        endpoints.SourceAddress.Write(header[Ipv4Packet.Field.SourceAddress..]);
        endpoints.DestinationAddress.Write(header[Ipv4Packet.Field.DestinationAddress..]);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv4Packet.Field.HeaderChecksum..], InternetChecksum.Compute(header));
    }
}
