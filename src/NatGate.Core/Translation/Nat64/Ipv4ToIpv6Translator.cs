using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// Stateless translation of an IPv4 packet into an IPv6 packet (RFC 7915 section 4), from one span
/// into another, allocating nothing. The caller chooses the addresses (and, optionally, ports or
/// ICMP identifier) through <see cref="Ipv6Endpoints"/>; for an ICMPv4 error it also chooses them
/// for the quoted packet, which is translated too.
/// </summary>
/// <remarks>
/// <para>The input and output must not overlap. The output needs at most the input's length plus
/// <see cref="MaximumGrowth"/> (20 for the header, 8 for a Fragment header), and an ICMPv6 error
/// never exceeds <see cref="MaximumIcmpErrorLength"/>.</para>
/// <para>What is written: TOS as traffic class, flow label 0, TTL as hop limit (unchanged: on
/// NatGate's path the kernel's forwarding does the decrement, see <see cref="HopLimit"/>), IPv4
/// options dropped, and a Fragment header only when the IPv4 packet is a fragment, carrying its
/// identification, offset and MF, or has no DF and would exceed 1280 bytes (RFC 7915 4.1; the
/// caller splits it with <see cref="Ipv6FragmentSplitter"/>). A fragmented ICMP echo's first
/// fragment is translated when the caller knows the whole message's length. TCP and UDP checksums are adjusted for the pseudo-header change,
/// and a UDP datagram without a checksum gets one computed (RFC 7915 4.5 allows that or a drop);
/// ICMP echo becomes ICMPv6 echo with the pseudo-header added to its checksum; ICMPv4 errors are
/// mapped by the tables of section 4.2 and get a fresh checksum. The splitting itself, and the
/// ICMPv4 errors of section 4.4 on a drop, are the caller's (<see cref="Nat64DropReason"/> says which).</para>
/// </remarks>
[SkipLocalsInit]
public static class Ipv4ToIpv6Translator
{
    /// <summary>The largest ICMPv6 error written, the minimum IPv6 MTU: the quote is cut to fit (RFC 4443 2.4).</summary>
    public const int MaximumIcmpErrorLength = 1280;

    /// <summary>How much longer the output can be than the input: 20 more header bytes and a Fragment header.</summary>
    public const int MaximumGrowth = HeaderLength - Ipv4Packet.MinimumHeaderLength + FragmentHeaderLength;

    private const int HeaderLength = Ipv6Packet.HeaderLength;
    private const int FragmentHeaderLength = 8;
    private const int ErrorOverhead = HeaderLength + Icmpv6Message.HeaderLength;

    // RFC 791 3.1: loose and strict source and record route options.
    private const byte LooseSourceRoute = 131;
    private const byte StrictSourceRoute = 137;

    /// <summary>Translates a packet that is not an ICMPv4 error (one is dropped with <see cref="Nat64DropReason.QuotedEndpointsMissing"/>).</summary>
    public static Nat64TranslationResult Translate(ReadOnlySpan<byte> ipv4Packet, Ipv6Address sourceAddress,
        Ipv6Address destinationAddress, Span<byte> output, out int written)
        => Run(ipv4Packet, new Ipv6Endpoints(sourceAddress, destinationAddress), default, hasQuoted: false, output, out written);

    /// <summary>Translates a packet that is not an ICMPv4 error, rewriting ports or identifier as <paramref name="endpoints"/> says.</summary>
    public static Nat64TranslationResult Translate(ReadOnlySpan<byte> ipv4Packet, in Ipv6Endpoints endpoints, Span<byte> output, out int written)
        => Run(ipv4Packet, endpoints, default, hasQuoted: false, output, out written);

    /// <summary>
    /// Translates any packet; for an ICMPv4 error, the quoted packet's IPv6 header gets
    /// <paramref name="quotedEndpoints"/> (usually the reverse of the outer mapping: the quoted
    /// packet was travelling the other way).
    /// </summary>
    public static Nat64TranslationResult Translate(ReadOnlySpan<byte> ipv4Packet, in Ipv6Endpoints endpoints, in Ipv6Endpoints quotedEndpoints,
        Span<byte> output, out int written)
        => Run(ipv4Packet, endpoints, quotedEndpoints, hasQuoted: true, output, out written);

    private static Nat64TranslationResult Run(ReadOnlySpan<byte> packet, in Ipv6Endpoints endpoints, in Ipv6Endpoints quotedEndpoints, bool hasQuoted,
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

    private static Nat64DropReason TranslatePacket(ReadOnlySpan<byte> packet, in Ipv6Endpoints endpoints, in Ipv6Endpoints quotedEndpoints,
        bool hasQuoted, bool quoted, int maximumLength, Span<byte> output, out int written)
    {
        written = 0;
        Nat64DropReason malformed = quoted ? Nat64DropReason.QuotedPacketMalformed : Nat64DropReason.MalformedPacket;
        if (packet.Length < Ipv4Packet.MinimumHeaderLength || packet[Ipv4Packet.Field.VersionAndHeaderLength] >> 4 != 4)
        {
            return malformed;
        }
        int headerLength = (packet[Ipv4Packet.Field.VersionAndHeaderLength] & 0x0F) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.TotalLength..]);
        if (headerLength < Ipv4Packet.MinimumHeaderLength || headerLength > packet.Length || totalLength < headerLength
            || (!quoted && totalLength > packet.Length))
        {
            return malformed;
        }
        if (!quoted)
        {
            if (InternetChecksum.Sum(packet[..headerLength]) != 0xFFFF)
            {
                return Nat64DropReason.HeaderChecksumInvalid;
            }
            if (HasUnexpiredSourceRoute(packet[Ipv4Packet.MinimumHeaderLength..headerLength]))
            {
                return Nat64DropReason.UnexpiredSourceRoute;
            }
        }
        ReadOnlySpan<byte> transport = packet[headerLength..Math.Min(totalLength, packet.Length)];
        int flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.FlagsAndFragmentOffset..]);
        bool moreFragments = (flagsAndOffset & 0x2000) != 0;
        int fragmentOffset = (flagsAndOffset & 0x1FFF) * 8;
        bool isFragment = moreFragments || fragmentOffset != 0;
        IpProtocol protocol = (IpProtocol)packet[Ipv4Packet.Field.Protocol];
        int declaredTransportLength = totalLength - headerLength;
        // RFC 7915 4.1: a packet without DF that would exceed the minimum IPv6 MTU gets a Fragment
        // header (offset 0, no M, its identification) so that the caller can split it to fit.
        bool needsFragmentHeader = isFragment
            || (!quoted && !endpoints.KeepWhole && (flagsAndOffset & 0x4000) == 0
                && HeaderLength + declaredTransportLength > Ipv6FragmentSplitter.MinimumMtu);

        if (protocol == IpProtocol.Icmp && fragmentOffset == 0)
        {
            if (isFragment && endpoints.IcmpMessageLength is null)
            {
                // The checksum gains a pseudo-header that counts the whole message (RFC 7915 1.2).
                return Nat64DropReason.FragmentedIcmp;
            }
            if (transport.Length < (quoted ? IcmpMessage.Field.Checksum + 2 : IcmpMessage.HeaderLength))
            {
                return quoted ? Nat64DropReason.QuotedPacketMalformed : Nat64DropReason.TransportTruncated;
            }
            byte type = transport[IcmpMessage.Field.Type];
            if (IcmpMessage.IsErrorType(type))
            {
                if (quoted)
                {
                    return Nat64DropReason.NestedIcmpError;
                }
                return hasQuoted
                    ? TranslateIcmpError(packet, transport, endpoints, quotedEndpoints, output, out written)
                    : Nat64DropReason.QuotedEndpointsMissing;
            }
            if (type is not (IcmpType.Echo or IcmpType.EchoReply))
            {
                // Timestamp, information, address mask, router discovery and unknown types (RFC 7915 4.2).
                return Nat64DropReason.UntranslatableIcmpType;
            }
        }
        else if (protocol == IpProtocol.Udp && !quoted && fragmentOffset == 0 && transport.Length >= UdpDatagram.HeaderLength
            && BinaryPrimitives.ReadUInt16BigEndian(transport[UdpDatagram.Field.Checksum..]) == 0 && isFragment)
        {
            return Nat64DropReason.FragmentedUdpWithoutChecksum;
        }

        int ipv6HeaderLength = HeaderLength + (needsFragmentHeader ? FragmentHeaderLength : 0);
        int copied = quoted ? Math.Min(transport.Length, maximumLength - ipv6HeaderLength) : transport.Length;
        if (output.Length < ipv6HeaderLength + copied)
        {
            return Nat64DropReason.OutputTooShort;
        }
        IpProtocol nextHeader = protocol == IpProtocol.Icmp ? IpProtocol.Icmpv6 : protocol;
        WriteHeader(output, packet, declaredTransportLength + ipv6HeaderLength - HeaderLength, needsFragmentHeader ? IpProtocol.Fragment : nextHeader, endpoints);
        if (needsFragmentHeader)
        {
            // RFC 7915 4.1: the Fragment header carries the protocol, offset, MF and the identification.
            Span<byte> fragment = output.Slice(HeaderLength, FragmentHeaderLength);
            fragment[0] = (byte)nextHeader;
            fragment[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(fragment[2..], (ushort)(fragmentOffset | (moreFragments ? 1 : 0)));
            BinaryPrimitives.WriteUInt32BigEndian(fragment[4..], BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.Identification..]));
        }
        Span<byte> payload = output.Slice(ipv6HeaderLength, copied);
        transport[..copied].CopyTo(payload);

        if (fragmentOffset == 0)
        {
            switch (protocol)
            {
                case IpProtocol.Tcp:
                case IpProtocol.Udp:
                    if (!quoted && transport.Length < (protocol == IpProtocol.Tcp ? TcpSegment.MinimumHeaderLength : UdpDatagram.HeaderLength))
                    {
                        return Nat64DropReason.TransportTruncated;
                    }
                    ushort ipv6Addresses = InternetChecksum.PseudoHeaderSum(endpoints.SourceAddress, endpoints.DestinationAddress, default, 0);
                    ushort ipv4Addresses = InternetChecksum.Sum(packet.Slice(Ipv4Packet.Field.SourceAddress, 8));
                    ushort delta = InternetChecksum.Add(ipv6Addresses, (ushort)~ipv4Addresses);
                    delta = TransportFields.Rewrite(payload, TcpSegment.Field.SourcePort, endpoints.SourcePort, delta);
                    delta = TransportFields.Rewrite(payload, TcpSegment.Field.DestinationPort, endpoints.DestinationPort, delta);
                    if (protocol == IpProtocol.Udp && !quoted && BinaryPrimitives.ReadUInt16BigEndian(payload[UdpDatagram.Field.Checksum..]) == 0)
                    {
                        // RFC 7915 4.5: over IPv6 a UDP checksum is mandatory, so compute the one IPv4 left out.
                        BinaryPrimitives.WriteUInt16BigEndian(payload[UdpDatagram.Field.Checksum..],
                            TransportChecksum.ComputeIpv6(output.Slice(Ipv6Packet.Field.SourceAddress, 16), output.Slice(Ipv6Packet.Field.DestinationAddress, 16),
                                IpProtocol.Udp, payload));
                    }
                    else
                    {
                        TransportFields.AdjustChecksum(payload, protocol == IpProtocol.Tcp ? TcpSegment.Field.Checksum : UdpDatagram.Field.Checksum, delta,
                            udp: protocol == IpProtocol.Udp);
                    }
                    break;
                case IpProtocol.Icmp:
                    TranslateEcho(payload, endpoints, endpoints.IcmpMessageLength ?? declaredTransportLength);
                    break;
            }
        }
        written = ipv6HeaderLength + copied;
        return Nat64DropReason.None;
    }

    // RFC 7915 4.2 and 4.3: map the type and code, translate the quoted packet, and checksum the
    // new message afresh, now over the IPv6 pseudo-header.
    private static Nat64DropReason TranslateIcmpError(ReadOnlySpan<byte> packet, ReadOnlySpan<byte> message, in Ipv6Endpoints endpoints,
        in Ipv6Endpoints quotedEndpoints, Span<byte> output, out int written)
    {
        written = 0;
        if (!TransportChecksum.IsValidIcmp(message))
        {
            return Nat64DropReason.IcmpChecksumInvalid;
        }
        byte type = message[IcmpMessage.Field.Type];
        ReadOnlySpan<byte> quotedPacket = message[IcmpMessage.HeaderLength..];
        if (type is IcmpType.DestinationUnreachable or IcmpType.TimeExceeded or IcmpType.ParameterProblem && message[5] != 0)
        {
            // RFC 4884: a non-zero length (in 4-byte words) marks where the original datagram ends and
            // extensions begin. The extensions are not carried over.
            quotedPacket = quotedPacket[..Math.Min(quotedPacket.Length, message[5] * 4)];
        }
        int quotedTotalLength = quotedPacket.Length >= Ipv4Packet.Field.TotalLength + 2
            ? BinaryPrimitives.ReadUInt16BigEndian(quotedPacket[Ipv4Packet.Field.TotalLength..])
            : 0;
        uint restOfHeader = BinaryPrimitives.ReadUInt32BigEndian(message[IcmpMessage.Field.RestOfHeader..]);
        Nat64DropReason reason = IcmpTranslationTables.TryMapToIcmpv6(type, message[IcmpMessage.Field.Code], restOfHeader, quotedTotalLength,
            out byte icmpv6Type, out byte icmpv6Code, out uint icmpv6RestOfHeader);
        if (reason != Nat64DropReason.None)
        {
            return reason;
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
        int messageLength = Icmpv6Message.HeaderLength + quotedWritten;
        WriteHeader(output, packet, messageLength, IpProtocol.Icmpv6, endpoints);
        Span<byte> icmpv6 = output.Slice(HeaderLength, messageLength);
        icmpv6[Icmpv6Message.Field.Type] = icmpv6Type;
        icmpv6[Icmpv6Message.Field.Code] = icmpv6Code;
        BinaryPrimitives.WriteUInt16BigEndian(icmpv6[Icmpv6Message.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt32BigEndian(icmpv6[IcmpMessage.Field.RestOfHeader..], icmpv6RestOfHeader);
        BinaryPrimitives.WriteUInt16BigEndian(icmpv6[Icmpv6Message.Field.Checksum..],
            TransportChecksum.ComputeIpv6(output.Slice(Ipv6Packet.Field.SourceAddress, 16), output.Slice(Ipv6Packet.Field.DestinationAddress, 16),
                IpProtocol.Icmpv6, icmpv6));
        written = HeaderLength + messageLength;
        return Nat64DropReason.None;
    }

    // ICMP echo 8/0 becomes ICMPv6 echo 128/129 (RFC 7915 4.2): the type word changes and the
    // checksum now covers the IPv6 pseudo-header. A quoted message may stop after its checksum field.
    private static void TranslateEcho(Span<byte> message, in Ipv6Endpoints endpoints, int messageLength)
    {
        byte type = message[IcmpMessage.Field.Type];
        byte code = message[IcmpMessage.Field.Code];
        byte icmpv6Type = type == IcmpType.Echo ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply;
        message[Icmpv6Message.Field.Type] = icmpv6Type;
        ushort delta = InternetChecksum.Delta((ushort)(type << 8 | code), (ushort)(icmpv6Type << 8 | code));
        delta = InternetChecksum.Add(delta,
            InternetChecksum.PseudoHeaderSum(endpoints.SourceAddress, endpoints.DestinationAddress, IpProtocol.Icmpv6, messageLength));
        delta = TransportFields.Rewrite(message, Icmpv6Message.Field.Identifier, endpoints.IcmpIdentifier, delta);
        TransportFields.AdjustChecksum(message, Icmpv6Message.Field.Checksum, delta, udp: false);
    }

    /// <summary>
    /// True when a loose or strict source route option still has addresses to visit: its pointer
    /// (1-based, from the option's start) is not past its length (RFC 791 3.1). Malformed options end the walk.
    /// </summary>
    private static bool HasUnexpiredSourceRoute(ReadOnlySpan<byte> options)
    {
        int offset = 0;
        while (offset < options.Length)
        {
            byte option = options[offset];
            if (option == 0)
            {
                return false;
            }
            if (option == 1)
            {
                offset++;
                continue;
            }
            if (offset + 1 >= options.Length)
            {
                return false;
            }
            int length = options[offset + 1];
            if (length < 2 || offset + length > options.Length)
            {
                return false;
            }
            if (option is LooseSourceRoute or StrictSourceRoute && length >= 3 && options[offset + 2] <= length)
            {
                return true;
            }
            offset += length;
        }
        return false;
    }

    // RFC 7915 4.1: version 6, traffic class from TOS, flow label 0, hop limit from TTL.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteHeader(Span<byte> output, ReadOnlySpan<byte> ipv4Packet, int payloadLength, IpProtocol nextHeader, in Ipv6Endpoints endpoints)
    {
        Span<byte> header = output[..HeaderLength];
        BinaryPrimitives.WriteUInt32BigEndian(header, 6u << 28 | (uint)ipv4Packet[Ipv4Packet.Field.TypeOfService] << 20);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv6Packet.Field.PayloadLength..], (ushort)payloadLength);
        header[Ipv6Packet.Field.NextHeader] = (byte)nextHeader;
        header[Ipv6Packet.Field.HopLimit] = ipv4Packet[Ipv4Packet.Field.TimeToLive];
        endpoints.SourceAddress.Write(header[Ipv6Packet.Field.SourceAddress..]);
        endpoints.DestinationAddress.Write(header[Ipv6Packet.Field.DestinationAddress..]);
    }
}
