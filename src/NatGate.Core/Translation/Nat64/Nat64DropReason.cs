namespace NatGate.Core.Translation.Nat64;

/// <summary>Why a NAT64 translation (RFC 7915) refused a packet; <see cref="None"/> means it was translated.</summary>
public enum Nat64DropReason : byte
{
    /// <summary>Translated.</summary>
    None,

    /// <summary>The packet's IP header is not well formed (too short, wrong version, lengths beyond the bytes present, a jumbogram).</summary>
    MalformedPacket,

    /// <summary>The IPv4 header checksum is wrong (RFC 1812 5.2.2): a router drops such packets rather than translate them.</summary>
    HeaderChecksumInvalid,

    /// <summary>The transport header is shorter than its fixed part, so its checksum cannot be adjusted.</summary>
    TransportTruncated,

    /// <summary>The output span cannot hold the translated packet.</summary>
    OutputTooShort,

    /// <summary>An IPv6 packet whose payload, less its extension headers, plus a 20-byte header exceeds IPv4's 65,535-byte total length.</summary>
    TooLongForIpv4,

    /// <summary>
    /// An IPv4 loose or strict source route option still has hops to visit (RFC 7915 4.1); the RFC
    /// asks for an ICMPv4 "source route failed" (type 3, code 5) to the sender.
    /// </summary>
    UnexpiredSourceRoute,

    /// <summary>
    /// An IPv6 Routing header has Segments Left above zero (RFC 7915 5.1); the RFC asks for an ICMPv6
    /// parameter problem (type 4, code 0) pointing at the Segments Left field.
    /// </summary>
    UnexpiredRoutingHeader,

    /// <summary>An extension header follows the Fragment header (RFC 7915 5.1.1: SHOULD be dropped).</summary>
    ExtensionHeaderAfterFragment,

    /// <summary>More IPv6 extension headers than the translator walks.</summary>
    TooManyExtensionHeaders,

    /// <summary>A fragment of an ICMP or ICMPv6 message: its checksum cannot move between pseudo-header and none without reassembly (RFC 7915 1.2).</summary>
    FragmentedIcmp,

    /// <summary>The first fragment of a UDP datagram without a checksum: one cannot be computed without reassembly (RFC 7915 4.5).</summary>
    FragmentedUdpWithoutChecksum,

    /// <summary>An ICMP type with no counterpart, or that must not cross (ND, MLD, redirect, timestamp, source quench, unknown types; RFC 7915 4.2, 5.2).</summary>
    UntranslatableIcmpType,

    /// <summary>An ICMP error code the RFC 7915 4.2 and 5.2 tables say to drop silently.</summary>
    UntranslatableIcmpCode,

    /// <summary>A parameter problem whose pointer names a field with no counterpart (RFC 7915 figures 3 and 6).</summary>
    UntranslatableParameterProblemPointer,

    /// <summary>The ICMP error's own checksum is wrong; translating it would hide the corruption behind a fresh checksum.</summary>
    IcmpChecksumInvalid,

    /// <summary>The packet quoted inside an ICMP error is itself an ICMP error (RFC 7915 4.3, 5.3: stop at the first embedded header).</summary>
    NestedIcmpError,

    /// <summary>The packet quoted inside an ICMP error is too short or not well formed to translate.</summary>
    QuotedPacketMalformed,

    /// <summary>An ICMP error arrived but the caller gave no endpoints for its quoted packet.</summary>
    QuotedEndpointsMissing,
}
