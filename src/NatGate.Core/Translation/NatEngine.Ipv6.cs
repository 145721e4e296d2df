using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation.Npt;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// An IPv6 packet: the prefix translations (IPv6 bimaps, NPTv6) take it, stateless and in
    /// place. Outbound, a source in a rule's internal prefix moves to its external prefix; inbound,
    /// a destination in an external prefix moves back; a packet between two inside hosts through
    /// an external address is translated both ways (RFC 6296 section 4.3, hairpinning). Neighbour
    /// discovery is never translated (RFC 6296 section 3.6), and IPv6 that no rule takes is dropped:
    /// only the routing NatGate installs brings IPv6 here, so it is never passed on raw.
    /// </summary>
    private TranslationResult TranslateIpv6(Span<byte> packet)
    {
        if (Ipv6Packet.TryParse(packet, out Ipv6Packet ip) != PacketError.None)
        {
            return Malformed();
        }
        RuleSlot[] translations = ruleSet.Matcher.PrefixTranslations;
        Ipv6Address source = Ipv6Address.Read(ip.SourceAddress);
        Ipv6Address destination = Ipv6Address.Read(ip.DestinationAddress);
        int length = Ipv6Packet.HeaderLength + ip.PayloadLength;
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
        return Unsupported();
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
