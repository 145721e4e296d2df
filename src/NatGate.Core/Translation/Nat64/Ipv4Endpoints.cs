using NatGate.Core.Addressing;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// What one IPv4 header gets when an IPv6 packet is translated to it: the addresses and,
/// optionally, new TCP/UDP ports or a new ICMP echo identifier, written in the same pass with
/// their checksum adjustment (a stateful NAT64, RFC 6146, rewrites them; null keeps the value).
/// For an ICMP error the quoted packet has endpoints of its own, usually the outer ones reversed.
/// </summary>
/// <param name="SourceAddress">The IPv4 source.</param>
/// <param name="DestinationAddress">The IPv4 destination.</param>
public readonly record struct Ipv4Endpoints(Ipv4Address SourceAddress, Ipv4Address DestinationAddress)
{
    /// <summary>The new TCP or UDP source port; null keeps it.</summary>
    public ushort? SourcePort { get; init; }

    /// <summary>The new TCP or UDP destination port; null keeps it.</summary>
    public ushort? DestinationPort { get; init; }

    /// <summary>The new ICMP echo identifier; null keeps it.</summary>
    public ushort? IcmpIdentifier { get; init; }

    /// <summary>
    /// The IPv4 identification for a packet without a Fragment header (RFC 7915 5.1 leaves its
    /// choice to the translator; RFC 6864 asks that it not repeat quickly for a source,
    /// destination and protocol while DF is clear). With a Fragment header the identification
    /// comes from it instead.
    /// </summary>
    public ushort Identification { get; init; }

    /// <summary>
    /// For the first fragment of a fragmented ICMPv6 echo, the whole message's length: the
    /// pseudo-header that leaves the checksum counts it (RFC 4443 2.3), and the fragment alone does
    /// not tell it. Null refuses such a fragment (<see cref="Nat64DropReason.FragmentedIcmp"/>).
    /// </summary>
    public int? IcmpMessageLength { get; init; }
}
