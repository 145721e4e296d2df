using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation.Npt;

using System.Runtime.CompilerServices;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// An IPv6 packet: the prefix translations (IPv6 bimaps, NPTv6) take it, stateless and in
    /// place. Outbound, a source in a rule's internal prefix moves to its external prefix; inbound,
    /// a destination in an external prefix moves back; a packet between two inside hosts through
    /// an external address is translated both ways (RFC 6296 section 4.3, hairpinning). Neighbour
    /// discovery is never translated (RFC 6296 section 3.6). What no prefix translation takes goes
    /// to NAT66 when IPv6 map or rdr rules are loaded (the new-session path decides as for IPv4),
    /// and is dropped otherwise: only the routing NatGate installs brings IPv6 here.
    /// <paramref name="buffer"/> starts with <paramref name="packet"/> and may hold more: room for a reply.
    /// </summary>
    // Compiled on its own, as IPv4's path is (see Translate).
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private TranslationResult TranslateIpv6(Span<byte> buffer, Span<byte> packet, long nowTicks, bool checksumPartial)
    {
        // Parsed once, for the prefix translations and the stateful path both.
        if (Ipv6Family.Parse(packet, out NetworkHeader<Ipv6Address> header) != PacketError.None)
        {
            return Malformed();
        }
        if (IsNat64Destination(header.Destination))
        {
            return TranslateNat64Outbound(buffer, packet, header, nowTicks, checksumPartial); // to an IPv4 host (NatEngine.Nat64)
        }
        RuleSlot[] translations = ruleSet.Matcher.PrefixTranslations;
        if (translations.Length == 0)
        {
            return ruleSet.Matcher.Ipv6.Count > 0 || ipv6 is not null ? TranslateStateful(buffer, header, nowTicks, checksumPartial) : Unsupported();
        }
        Ipv6Address source = header.Source;
        Ipv6Address destination = header.Destination;
        int length = header.Length;
        if (FindPrefixTranslation(translations, source, inbound: false) is { } outbound)
        {
            NptResult result = outbound.TranslateOutbound(packet);
            if (result != NptResult.Translated)
            {
                return PrefixTranslationFailed(result);
            }
            if (FindPrefixTranslation(translations, destination, inbound: true) is { } hairpin)
            {
                if (Hairpinning == HairpinningMode.Disabled)
                {
                    return Drop(DropReason.HairpinDisabled);
                }
                result = hairpin.TranslateInbound(packet);
                if (result != NptResult.Translated)
                {
                    return PrefixTranslationFailed(result);
                }
            }
            Counters.MappedOut++;
            Counters.BytesOut += length;
            return new TranslationResult(Verdict.Forward, DropReason.None, length);
        }
        if (FindPrefixTranslation(translations, destination, inbound: true) is { } inbound)
        {
            NptResult result = inbound.TranslateInbound(packet);
            if (result != NptResult.Translated)
            {
                return PrefixTranslationFailed(result);
            }
            Counters.MappedIn++;
            Counters.BytesIn += length;
            return new TranslationResult(Verdict.Forward, DropReason.None, length);
        }
        return ruleSet.Matcher.Ipv6.Count > 0 || ipv6 is not null ? TranslateStateful(buffer, header, nowTicks, checksumPartial) : Unsupported();
    }

    /// <summary>
    /// NAT66: stateful translation of IPv6 with the same rules, behaviours, limits and timers as
    /// IPv4, on the paths written once for both families: sessions, ICMPv6 errors about them
    /// (<see cref="TranslateIcmpError"/>), fragments (a first fragment by its session, the later
    /// ones after it, RFC 8200 4.5; an atomic fragment, offset 0 without M, is a whole packet) and
    /// refusals answered with ICMPv6. Neighbour discovery is never translated.
    /// </summary>
    private TranslationResult TranslateStateful(Span<byte> buffer, in NetworkHeader<Ipv6Address> header, long nowTicks, bool checksumPartial)
    {
        Span<byte> packet = buffer[..header.Length];
        if (header.FragmentOffset != 0)
        {
            return TranslateLaterFragment<Ipv6Family, Ipv6Address>(Ipv6Parts(), packet, header, nowTicks);
        }
        IpProtocol protocol = header.Protocol;
        Span<byte> transport = header.Transport(packet);
        switch (protocol)
        {
            case IpProtocol.Tcp when TcpSegment.TryParse(transport, out _) != PacketError.None:
            case IpProtocol.Udp or IpProtocol.Icmpv6 when transport.Length < 8:
            // RFC 8200 8.1: a UDP checksum of zero is not allowed over IPv6.
            case IpProtocol.Udp when transport[UdpDatagram.Field.Checksum] == 0 && transport[UdpDatagram.Field.Checksum + 1] == 0 && !checksumPartial:
                return Malformed();
            case IpProtocol.Icmpv6 when Ipv6Family.IsIcmpError(transport[0]):
                // An error fits the minimum MTU (RFC 4443 2.4 c): a fragmented one is not translated.
                return header.MoreFragments ? Unsupported() : TranslateIcmpError<Ipv6Family, Ipv6Address>(ipv6, packet, header, transport);
            case IpProtocol.Icmpv6 when !Ipv6Family.IsIcmpQuery(transport[0]):
                return Unsupported(); // neighbour discovery (RFC 6296 3.6), router and multicast listener messages: never
            default:
                break;
        }
        FamilyParts<Ipv6Address> parts = Ipv6Parts();
        FlowKey<Ipv6Address> key = KeyOf(protocol, header.Source, header.Destination, transport);
        int index = parts.Table.Find(key, out bool forward);
        if (index < 0)
        {
            return CreateSession<Ipv6Family, Ipv6Address>(parts, buffer, header, transport, key, nowTicks, checksumPartial);
        }
        return Apply<Ipv6Family, Ipv6Address>(parts, index, forward, packet, header, transport, nowTicks, checksumPartial);
    }

    /// <summary>The first prefix translation, in matching order, whose internal (or, inbound, external) prefix holds <paramref name="address"/>.</summary>
    private static Nptv6Mapping? FindPrefixTranslation(RuleSlot[] translations, Ipv6Address address, bool inbound)
    {
        foreach (RuleSlot slot in translations)
        {
            Nptv6Mapping mapping = slot.PrefixTranslation!;
            if ((inbound ? mapping.External : mapping.Internal).Contains(address))
            {
                return mapping;
            }
        }
        return null;
    }

    private TranslationResult PrefixTranslationFailed(NptResult result) => result switch
    {
        NptResult.Malformed => Malformed(),
        NptResult.Refused => Drop(DropReason.UntranslatableAddress),
        NptResult.QuoteNotMatched => Drop(DropReason.IcmpErrorNoSession),
        _ => Unsupported(), // neighbour discovery, and what the prefix does not hold
    };
}
