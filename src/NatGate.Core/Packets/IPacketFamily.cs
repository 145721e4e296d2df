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
    /// Parses the packet an ICMP error quotes (RFC 792, RFC 4443 2.4 c): its network header must be
    /// whole, its payload may stop short, and <see cref="NetworkHeader{TAddress}.Length"/> is then
    /// the bytes present. IPv4's quoted header checksum is not checked (the ICMP checksum covers it).
    /// </summary>
    static abstract PacketError ParseQuoted(ReadOnlySpan<byte> quote, out NetworkHeader<TAddress> header);

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

    /// <summary>
    /// Whether an ICMP message between <paramref name="source"/> and <paramref name="destination"/>
    /// carries a correct checksum: ICMPv4's covers the message, ICMPv6's the pseudo-header too.
    /// </summary>
    static abstract bool IsIcmpChecksumValid(TAddress source, TAddress destination, ReadOnlySpan<byte> message);

    /// <summary>The checksum to store in an ICMP message, its checksum field taken as zero.</summary>
    static abstract ushort IcmpChecksum(TAddress source, TAddress destination, ReadOnlySpan<byte> message);

    /// <summary>
    /// Writes over the packet at the start of <paramref name="buffer"/> (<paramref name="packetLength"/>
    /// bytes) the ICMP error that refuses it: "communication administratively prohibited" from
    /// <paramref name="from"/> to its source (ICMPv4 3/13, RFC 1812 5.2.7.1; ICMPv6 1/1, RFC 4443
    /// 3.1), quoting as much of it as the family lets an error carry (576 bytes in all for IPv4,
    /// RFC 1812 4.3.2.3; the minimum MTU, 1280, for IPv6, RFC 4443 2.4 c). Returns the reply's
    /// length, or 0 when the buffer has no room for it.
    /// </summary>
    static abstract int WriteProhibited(Span<byte> buffer, int packetLength, TAddress from);
}
