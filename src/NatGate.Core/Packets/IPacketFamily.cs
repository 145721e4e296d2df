using NatGate.Core.Addressing;

namespace NatGate.Core.Packets;

/// <summary>
/// An address family's packet rules, for the parts of the translation path that are written
/// once for both families: how a header is parsed and checked, how a translated packet's
/// addresses are written, which ICMP types are queries and errors, and what an ICMP checksum
/// covers. Implemented by empty structs (<see cref="Ipv4Family"/>, <see cref="Ipv6Family"/>), so
/// the JIT compiles each caller once per family with these calls inlined.
/// </summary>
public interface IPacketFamily<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    /// <summary>4 or 6: the version nibble of the family's packets.</summary>
    static abstract int Version { get; }

    /// <summary>Parses and checks the network header (and IPv4's header checksum); <paramref name="packet"/> may be longer than the packet.</summary>
    static abstract PacketError Parse(ReadOnlySpan<byte> packet, out NetworkHeader<TAddress> header);

    /// <summary>
    /// Writes a translated packet's addresses. IPv4 also applies <paramref name="addressDelta"/>
    /// (the RFC 1624 delta of the address change) to its header checksum; IPv6 has none.
    /// </summary>
    static abstract void WriteAddresses(Span<byte> packet, TAddress source, TAddress destination, ushort addressDelta);

    /// <summary>An ICMP error type of the family (RFC 792 / RFC 4443 2.1: types below 128 in ICMPv6).</summary>
    static abstract bool IsIcmpError(byte type);

    /// <summary>An ICMP query type, whose identifier a NAT maps like a port (RFC 5508 / RFC 4443 4).</summary>
    static abstract bool IsIcmpQuery(byte type);

    /// <summary>A query's request (echo request), which alone starts a query session.</summary>
    static abstract bool IsIcmpQueryRequest(byte type);

    /// <summary>
    /// The delta of an ICMP query's checksum for a translation: ICMPv4's covers the identifier only;
    /// ICMPv6's also covers the pseudo-header, so the address change too (RFC 4443 2.3).
    /// </summary>
    static abstract ushort IcmpChecksumDelta(ushort addressDelta, ushort identifierDelta);
}
