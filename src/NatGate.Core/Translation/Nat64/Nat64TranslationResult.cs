namespace NatGate.Core.Translation.Nat64;

/// <summary>The outcome of one NAT64 translation: translated, or dropped for a <see cref="DropReason"/>.</summary>
public readonly record struct Nat64TranslationResult(Nat64DropReason DropReason)
{
    /// <summary>The packet was translated into the output.</summary>
    public static Nat64TranslationResult Translated => default;

    /// <summary>True when the output holds the translated packet.</summary>
    public bool IsTranslated => DropReason == Nat64DropReason.None;

    /// <summary>A result that drops the packet for <paramref name="reason"/>.</summary>
    public static Nat64TranslationResult Drop(Nat64DropReason reason) => new(reason);

    /// <summary>"translated", or "dropped: " and the reason in words, for logs and test messages.</summary>
    public override string ToString() => IsTranslated ? "translated" : $"dropped: {Describe(DropReason)}";

    /// <summary>The reason in words.</summary>
    public static string Describe(Nat64DropReason reason) => reason switch
    {
        Nat64DropReason.None => "none",
        Nat64DropReason.MalformedPacket => "the IP header is malformed or truncated",
        Nat64DropReason.HeaderChecksumInvalid => "the IPv4 header checksum is wrong",
        Nat64DropReason.TransportTruncated => "the transport header is truncated",
        Nat64DropReason.OutputTooShort => "the output buffer is too short for the translated packet",
        Nat64DropReason.TooLongForIpv4 => "the packet is longer than an IPv4 packet can be",
        Nat64DropReason.UnexpiredSourceRoute => "an IPv4 source route option is not exhausted (RFC 7915 4.1)",
        Nat64DropReason.UnexpiredRoutingHeader => "an IPv6 Routing header has segments left (RFC 7915 5.1)",
        Nat64DropReason.ExtensionHeaderAfterFragment => "an extension header follows the Fragment header (RFC 7915 5.1.1)",
        Nat64DropReason.TooManyExtensionHeaders => "too many IPv6 extension headers",
        Nat64DropReason.FragmentedIcmp => "fragmented ICMP is not translated (RFC 7915 1.2)",
        Nat64DropReason.FragmentedUdpWithoutChecksum => "a fragmented UDP datagram has no checksum (RFC 7915 4.5)",
        Nat64DropReason.UntranslatableIcmpType => "the ICMP type has no counterpart (RFC 7915 4.2, 5.2)",
        Nat64DropReason.UntranslatableIcmpCode => "the ICMP error code has no counterpart (RFC 7915 4.2, 5.2)",
        Nat64DropReason.UntranslatableParameterProblemPointer => "the parameter problem pointer has no counterpart (RFC 7915 figures 3, 6)",
        Nat64DropReason.IcmpChecksumInvalid => "the ICMP error's checksum is wrong",
        Nat64DropReason.NestedIcmpError => "the ICMP error quotes another ICMP error (RFC 7915 4.3, 5.3)",
        Nat64DropReason.QuotedPacketMalformed => "the packet quoted in the ICMP error is malformed",
        Nat64DropReason.QuotedEndpointsMissing => "no endpoints were given for the packet quoted in the ICMP error",
        _ => reason.ToString(),
    };
}
