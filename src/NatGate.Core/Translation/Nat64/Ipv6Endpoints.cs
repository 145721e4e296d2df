using NatGate.Core.Addressing;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// What one IPv6 header gets when an IPv4 packet is translated to it: the addresses and,
/// optionally, new TCP/UDP ports or a new ICMP echo identifier, written in the same pass with
/// their checksum adjustment (a stateful NAT64, RFC 6146, rewrites them; null keeps the value).
/// For an ICMP error the quoted packet has endpoints of its own, usually the outer ones reversed.
/// </summary>
public readonly record struct Ipv6Endpoints(Ipv6Address SourceAddress, Ipv6Address DestinationAddress)
{
    /// <summary>The new TCP or UDP source port; null keeps it.</summary>
    public ushort? SourcePort { get; init; }

    /// <summary>The new TCP or UDP destination port; null keeps it.</summary>
    public ushort? DestinationPort { get; init; }

    /// <summary>The new ICMPv6 echo identifier; null keeps it.</summary>
    public ushort? IcmpIdentifier { get; init; }

    /// <summary>
    /// For the first fragment of a fragmented ICMP echo, the whole message's length: the ICMPv6
    /// checksum's pseudo-header counts it (RFC 4443 2.3), and the fragment alone does not tell it.
    /// Null refuses such a fragment (<see cref="Nat64DropReason.FragmentedIcmp"/>).
    /// </summary>
    public int? IcmpMessageLength { get; init; }

    /// <summary>
    /// Leaves a packet without DF whole, with no Fragment header, however long: a packet whose
    /// checksum an offload will complete (a super-packet) cannot be split. False follows RFC 7915
    /// 4.1: a packet without DF longer than the minimum IPv6 MTU gets a Fragment header, for the
    /// caller to split (<see cref="Ipv6FragmentSplitter"/>).
    /// </summary>
    public bool KeepWhole { get; init; }
}
