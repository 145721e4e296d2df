using System.Buffers.Binary;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation.Npt;

/// <summary>
/// A stateless IPv6-to-IPv6 prefix translation (NPTv6, RFC 6296) between an internal and an
/// external prefix of the same length, up to /64. The rewrite is checksum-neutral: the prefix
/// changes and one 16-bit word takes an adjustment computed once here, so the one's-complement
/// sum of the address, and with it every transport checksum over the pseudo-header, is unchanged.
/// </summary>
/// <remarks>
/// Per packet: one parse, one mask-and-compare, one one's-complement add, one 16-byte store; no
/// allocation. In an ICMPv6 error the quoted packet's address is rewritten too, which is neutral
/// for the ICMPv6 checksum for the same reason. The caller decides what to send for a
/// <see cref="NptResult.Refused"/> packet.
/// </remarks>
public sealed class Nptv6Mapping
{
    /// <summary>The longest prefix translated: the adjustment needs a word outside it (RFC 6296 3.5).</summary>
    public const int MaximumPrefixLength = 64;

    /// <summary>Up to this length the adjustment goes into the subnet word, bits 48-63 (RFC 6296 3.4).</summary>
    public const int SubnetAdjustmentMaximumPrefixLength = 48;

    // Shifts of 16-bit words within the 128-bit address number: bits 48-63 sit 64 bits up, and
    // the interface identifier's words (bits 64-79 first) at 48, 32, 16 and 0.
    private const int SubnetWordShift = 64;
    private const int FirstInterfaceIdentifierWordShift = 48;
    private const int NoWord = -1;

    // 0xFFFF and 0x0000 are the same one's-complement number, so a word holding 0xFFFF has no
    // distinct image; it is never written and never translated (RFC 6296 3.2, 3.3).
    private const ushort NegativeZero = 0xFFFF;

    // RFC 4861 4.1-4.5: router solicitation (133) to redirect (137) stay on their link.
    private const byte FirstNeighbourDiscoveryType = 133;
    private const byte LastNeighbourDiscoveryType = 137;

    private readonly UInt128 _prefixMask;
    private readonly UInt128 _internalNetwork;
    private readonly UInt128 _externalNetwork;
    private readonly bool _adjustsInterfaceIdentifier;

    /// <summary>
    /// Prepares the translation and its adjustment. Both prefixes must be IPv6, of the same
    /// length, between /1 and /64.
    /// </summary>
    /// <exception cref="ArgumentException">The prefixes are not two IPv6 prefixes of one length from /1 to /64.</exception>
    public Nptv6Mapping(IpPrefix internalPrefix, IpPrefix externalPrefix)
    {
        RequireIpv6(internalPrefix, "internal", nameof(internalPrefix));
        RequireIpv6(externalPrefix, "external", nameof(externalPrefix));
        if (internalPrefix.Length != externalPrefix.Length)
        {
            throw new ArgumentException(
                $"NPTv6 maps prefixes of one length: the internal prefix {internalPrefix} is /{Length(internalPrefix)} and the external prefix {externalPrefix} is /{Length(externalPrefix)}. "
                + "Use an internal prefix as long as the external one (RFC 6296 3.7 would zero-extend the shorter one, which leaves some of its subnets untranslatable).",
                nameof(externalPrefix));
        }
        if (internalPrefix.Length == 0)
        {
            throw new ArgumentException(
                $"NPTv6 needs a prefix to replace: {internalPrefix} and {externalPrefix} are /0, which would map every address onto itself. Use the prefixes the site and its provider hold, such as fd01:203:405::/48 and 2001:db8:1::/48.",
                nameof(internalPrefix));
        }
        if (internalPrefix.Length > MaximumPrefixLength)
        {
            throw new ArgumentException(
                $"NPTv6 translates prefixes of /{MaximumPrefixLength} or shorter: {internalPrefix} and {externalPrefix} are /{Length(internalPrefix)}, "
                + "which leaves no whole interface identifier word for the checksum-neutral adjustment (RFC 6296 3.5). Use /64 or shorter prefixes.",
                nameof(internalPrefix));
        }

        Internal = internalPrefix;
        External = externalPrefix;
        _prefixMask = UInt128.MaxValue << (128 - internalPrefix.Length);
        _internalNetwork = internalPrefix.Network;
        _externalNetwork = externalPrefix.Network;
        _adjustsInterfaceIdentifier = internalPrefix.Length > SubnetAdjustmentMaximumPrefixLength;

        // RFC 6296 3.1: the adjustment is internal minus external, each prefix zero-extended and
        // summed as 16-bit words in one's complement. Outbound adds it, inbound subtracts it
        // (adds its complement, RFC 6296 3.3).
        OutboundAdjustment = InternetChecksum.Add(
            InternetChecksum.Fold(SumOfWords(_internalNetwork)),
            (ushort)~InternetChecksum.Fold(SumOfWords(_externalNetwork)));
        InboundAdjustment = (ushort)~OutboundAdjustment;
    }

    /// <summary>The prefix the inside hosts are numbered from.</summary>
    public IpPrefix Internal { get; }

    /// <summary>The prefix the outside sees them under.</summary>
    public IpPrefix External { get; }

    /// <summary>
    /// The one's-complement value added to the adjusted word on the way out (0xD54F for RFC 6296
    /// 3.6's example, fd01:203:405::/48 to 2001:db8:1::/48).
    /// </summary>
    public ushort OutboundAdjustment { get; }

    /// <summary>The value added on the way in: the complement of <see cref="OutboundAdjustment"/> (0x2AB0 in RFC 6296 3.6).</summary>
    public ushort InboundAdjustment { get; }

    /// <summary>
    /// The external address of an internal one. False when <paramref name="internalAddress"/> is
    /// outside <see cref="Internal"/> or its adjusted word is 0xFFFF (then the output is the input).
    /// </summary>
    public bool TryToExternal(Ipv6Address internalAddress, out Ipv6Address externalAddress)
    {
        bool translated = Map(internalAddress.Value, NptDirection.Outbound, out UInt128 mapped) == NptResult.Translated;
        externalAddress = new Ipv6Address(mapped);
        return translated;
    }

    /// <summary>
    /// The internal address of an external one. False when <paramref name="externalAddress"/> is
    /// outside <see cref="External"/> or its adjusted word is 0xFFFF (then the output is the input).
    /// </summary>
    public bool TryToInternal(Ipv6Address externalAddress, out Ipv6Address internalAddress)
    {
        bool translated = Map(externalAddress.Value, NptDirection.Inbound, out UInt128 mapped) == NptResult.Translated;
        internalAddress = new Ipv6Address(mapped);
        return translated;
    }

    /// <summary>The external address of an internal one.</summary>
    /// <exception cref="ArgumentException">The address is outside <see cref="Internal"/>, or cannot be translated.</exception>
    public Ipv6Address ToExternal(Ipv6Address internalAddress)
        => ToOrThrow(internalAddress, NptDirection.Outbound, nameof(internalAddress));

    /// <summary>The internal address of an external one.</summary>
    /// <exception cref="ArgumentException">The address is outside <see cref="External"/>, or cannot be translated.</exception>
    public Ipv6Address ToInternal(Ipv6Address externalAddress)
        => ToOrThrow(externalAddress, NptDirection.Inbound, nameof(externalAddress));

    /// <summary>Translates an outbound packet in place; see <see cref="Translate"/>.</summary>
    public NptResult TranslateOutbound(Span<byte> packet) => Translate(packet, NptDirection.Outbound);

    /// <summary>Translates an inbound packet in place; see <see cref="Translate"/>.</summary>
    public NptResult TranslateInbound(Span<byte> packet) => Translate(packet, NptDirection.Inbound);

    /// <summary>
    /// Rewrites an IPv6 packet in place: outbound, a source in <see cref="Internal"/> moves into
    /// <see cref="External"/>; inbound, a destination in <see cref="External"/> moves into
    /// <see cref="Internal"/>. In an ICMPv6 error (types 1-4) the quoted packet's other address
    /// moves too, so each side sees its own packet (draft-bctb-6man-rfc6296-bis 3.8). No checksum
    /// is touched, since none changes. Neighbour discovery is never translated. The buffer may be
    /// longer than the packet. Any result but <see cref="NptResult.Translated"/> leaves every byte
    /// as it was.
    /// </summary>
    public NptResult Translate(Span<byte> packet, NptDirection direction)
    {
        if (Ipv6Packet.TryParse(packet, out Ipv6Packet ipv6) != PacketError.None)
        {
            return NptResult.Malformed;
        }
        bool outbound = direction == NptDirection.Outbound;
        Span<byte> address = ipv6.Bytes.Slice(outbound ? Ipv6Packet.Field.SourceAddress : Ipv6Packet.Field.DestinationAddress, Ipv6Address.Size);
        NptResult result = Map(BinaryPrimitives.ReadUInt128BigEndian(address), direction, out UInt128 mapped);
        if (result != NptResult.Translated)
        {
            return result;
        }

        Span<byte> quotedAddress = default;
        UInt128 quotedMapped = default;
        if (ipv6.TransportProtocol == IpProtocol.Icmpv6)
        {
            if (Icmpv6Message.TryParse(ipv6.Transport, out Icmpv6Message icmp) != PacketError.None)
            {
                return NptResult.Malformed;
            }
            if (icmp.Type is >= FirstNeighbourDiscoveryType and <= LastNeighbourDiscoveryType)
            {
                return NptResult.NotMatched;
            }
            if (icmp.Type is Icmpv6Type.DestinationUnreachable or Icmpv6Type.PacketTooBig or Icmpv6Type.TimeExceeded or Icmpv6Type.ParameterProblem)
            {
                result = PrepareQuote(ipv6, icmp, direction, out quotedAddress, out quotedMapped);
                if (result != NptResult.Translated)
                {
                    return result;
                }
            }
        }

        // Everything is checked: only now are bytes written.
        BinaryPrimitives.WriteUInt128BigEndian(address, mapped);
        if (!quotedAddress.IsEmpty)
        {
            BinaryPrimitives.WriteUInt128BigEndian(quotedAddress, quotedMapped);
        }
        return NptResult.Translated;
    }

    public override string ToString() => $"{Internal} <-> {External}";

    /// <summary>
    /// Finds and maps the quoted packet's address: the destination of an outbound error (the
    /// inside host answers a packet that came in) and the source of an inbound one (the outside
    /// answers a packet that went out).
    /// </summary>
    private NptResult PrepareQuote(Ipv6Packet ipv6, Icmpv6Message icmp, NptDirection direction, out Span<byte> quotedAddress, out UInt128 quotedMapped)
    {
        quotedAddress = default;
        quotedMapped = default;
        Span<byte> quote = icmp.Payload;
        // draft-bctb-6man-rfc6296-bis 3.8: the quote must hold a whole IPv6 header.
        if (quote.Length < Ipv6Packet.HeaderLength || quote[0] >> 4 != 6)
        {
            return NptResult.Malformed;
        }
        // draft-bctb-6man-rfc6296-bis 3.8: an error that fails its checksum is dropped, since its
        // quote is suspect. A fragment's checksum covers bytes not here, so it is taken as it is.
        if (!ipv6.IsFragment && !TransportChecksum.IsValidIpv6(ipv6.SourceAddress, ipv6.DestinationAddress, IpProtocol.Icmpv6, ipv6.Transport))
        {
            return NptResult.Malformed;
        }
        Span<byte> address = quote.Slice(
            direction == NptDirection.Outbound ? Ipv6Packet.Field.DestinationAddress : Ipv6Packet.Field.SourceAddress,
            Ipv6Address.Size);
        if (Map(BinaryPrimitives.ReadUInt128BigEndian(address), direction, out quotedMapped) != NptResult.Translated)
        {
            return NptResult.QuoteNotMatched;
        }
        quotedAddress = address;
        return NptResult.Translated;
    }

    /// <summary>The address translation itself, RFC 6296 3.2 (outbound) and 3.3 (inbound).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private NptResult Map(UInt128 address, NptDirection direction, out UInt128 mapped)
    {
        bool outbound = direction == NptDirection.Outbound;
        mapped = address;
        if ((address & _prefixMask) != (outbound ? _internalNetwork : _externalNetwork))
        {
            return NptResult.NotMatched;
        }
        int shift = AdjustedWordShift(address);
        if (shift == NoWord)
        {
            return NptResult.Refused;
        }
        ushort word = (ushort)(address >> shift);
        if (word == NegativeZero)
        {
            return NptResult.Refused;
        }
        ushort adjusted = InternetChecksum.Add(word, outbound ? OutboundAdjustment : InboundAdjustment);
        if (adjusted == NegativeZero)
        {
            // RFC 6296 3.2, 3.3: a result of 0xFFFF is written as zero.
            adjusted = 0;
        }
        UInt128 wordMask = (UInt128)0xFFFF << shift;
        mapped = (address & ~_prefixMask & ~wordMask)
            | (outbound ? _externalNetwork : _internalNetwork)
            | ((UInt128)adjusted << shift);
        return NptResult.Translated;
    }

    /// <summary>
    /// Where the adjusted word sits: bits 48-63 up to a /48 (RFC 6296 3.4); beyond, the first
    /// interface identifier word that is not 0xFFFF, from bits 64-79 on (RFC 6296 3.5, 3.7), none
    /// when the whole identifier is ones (an anycast identifier, RFC 2526, dropped per 3.7).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int AdjustedWordShift(UInt128 address)
    {
        if (!_adjustsInterfaceIdentifier)
        {
            return SubnetWordShift;
        }
        ulong interfaceIdentifier = (ulong)address;
        for (int shift = FirstInterfaceIdentifierWordShift; shift >= 0; shift -= 16)
        {
            if ((ushort)(interfaceIdentifier >> shift) != NegativeZero)
            {
                return shift;
            }
        }
        return NoWord;
    }

    private Ipv6Address ToOrThrow(Ipv6Address address, NptDirection direction, string parameterName)
    {
        NptResult result = Map(address.Value, direction, out UInt128 mapped);
        if (result == NptResult.Translated)
        {
            return new Ipv6Address(mapped);
        }
        (IpPrefix from, string side) = direction == NptDirection.Outbound ? (Internal, "internal") : (External, "external");
        throw new ArgumentException(
            result == NptResult.NotMatched
                ? $"{address} is outside the {side} prefix {from} of the NPTv6 mapping {this}; only its addresses are translated."
                : _adjustsInterfaceIdentifier
                    ? $"{address} cannot be translated by {this}: its interface identifier is all ones, leaving no word for the checksum-neutral adjustment (RFC 6296 3.7). Give the host another identifier."
                    : $"{address} cannot be translated by {this}: its subnet (bits 48-63) is 0xFFFF, which NPTv6 reserves (RFC 6296 3.2, 4.2). Number the subnet otherwise.",
            parameterName);
    }

    private static void RequireIpv6(IpPrefix prefix, string side, string parameterName)
    {
        if (!prefix.IsIpv6)
        {
            throw new ArgumentException(
                $"NPTv6 translates IPv6 prefixes, and the {side} prefix {(prefix.Family == AddressFamily.InterNetwork ? $"{prefix} is IPv4" : "is not set")}. Give an IPv6 prefix such as fd01:203:405::/48.",
                parameterName);
        }
    }

    private static string Length(IpPrefix prefix) => prefix.Length.ToString(CultureInfo.InvariantCulture);

    /// <summary>The eight 16-bit words of an address number, added (at most 8 x 0xFFFF).</summary>
    private static ulong SumOfWords(UInt128 value)
    {
        ulong sum = 0;
        for (int shift = 0; shift < 128; shift += 16)
        {
            sum += (ushort)(value >> shift);
        }
        return sum;
    }
}
