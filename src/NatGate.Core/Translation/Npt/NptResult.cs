namespace NatGate.Core.Translation.Npt;

/// <summary>What <see cref="Nptv6Mapping.Translate"/> did with a packet. Only <see cref="Translated"/> changed its bytes.</summary>
public enum NptResult : byte
{
    /// <summary>The address (and, in an ICMPv6 error, the quoted one) was rewritten; forward the packet.</summary>
    Translated,

    /// <summary>
    /// Not this mapping's packet: its source (outbound) or destination (inbound) is outside the
    /// prefix, or it is neighbour discovery, which stays on its link. Left untouched.
    /// </summary>
    NotMatched,

    /// <summary>
    /// The address has 0xFFFF in the word that carries the adjustment (the subnet for a /48 or
    /// shorter prefix, every interface identifier word for a longer one), which no translated
    /// address can hold (RFC 6296 3.2, 3.7). Drop it; an ICMPv6 error SHOULD tell the sender,
    /// unless the packet is itself an ICMPv6 error (RFC 4443 2.4 e). Left untouched.
    /// </summary>
    Refused,

    /// <summary>
    /// An ICMPv6 error to or from a translated address whose quoted packet is not this mapping's
    /// (its source inbound, or destination outbound, outside the prefix or untranslatable): drop it
    /// silently (draft-bctb-6man-rfc6296-bis 3.8). Left untouched.
    /// </summary>
    QuoteNotMatched,

    /// <summary>
    /// Not a parseable IPv6 packet, an ICMPv6 message under 8 bytes, or an ICMPv6 error whose
    /// quote lacks a whole IPv6 header or whose checksum fails (draft-bctb-6man-rfc6296-bis 3.8).
    /// Drop it. Left untouched.
    /// </summary>
    Malformed,
}
