using System.Numerics;
using NatGate.Core.Packets;

namespace NatGate.Core.Addressing;

/// <summary>
/// What the flow table needs of an address family's address: equality, order, text, and a
/// cheap mix of two addresses into 64 bits for the flow hash. Implemented by value types only,
/// so the JIT compiles the table once per family with every call inlined (no boxing, no
/// interface dispatch on the packet path).
/// </summary>
public interface IFlowAddress<TSelf> : IEquatable<TSelf>, IComparable<TSelf>, IEqualityOperators<TSelf, TSelf, bool>, ISpanFormattable
    where TSelf : unmanaged, IFlowAddress<TSelf>
{
    /// <summary>The unspecified address (0.0.0.0 or ::), which a mapping key uses for "any remote".</summary>
    static abstract TSelf Any { get; }

    /// <summary>Bytes of the address on the wire: 4 or 16.</summary>
    static abstract int Size { get; }

    /// <summary>
    /// The family's ICMP, whose queries carry an identifier a NAT maps like a port: 1 for IPv4,
    /// 58 for IPv6. (Protocol 58 inside IPv4, or 1 inside IPv6, is an unknown protocol, translated
    /// by address only.)
    /// </summary>
    static abstract IpProtocol IcmpProtocol { get; }

    /// <summary>
    /// Two addresses folded into 64 bits before the flow hash's seed and multiplications: the
    /// whole of both for IPv4, a multiply-fold of each half for IPv6. Equal pairs give equal mixes.
    /// </summary>
    static abstract ulong Mix(TSelf source, TSelf destination);

    /// <summary>One address folded into 64 bits (the whole of an IPv4 one): for seeds and fingerprints.</summary>
    static abstract ulong Fold(TSelf address);

    /// <summary>Whether <paramref name="address"/> is in the prefix <paramref name="network"/>/<paramref name="length"/>.</summary>
    static abstract bool InPrefix(TSelf address, TSelf network, int length);

    /// <summary>The address <paramref name="offset"/> further on (the n-th of a range).</summary>
    static abstract TSelf Offset(TSelf address, ulong offset);

    /// <summary>How far <paramref name="later"/> is past <paramref name="earlier"/>, at most <see cref="ulong.MaxValue"/>.</summary>
    static abstract ulong Distance(TSelf earlier, TSelf later);

    /// <summary>The family's own address out of a rule's; throws for the other family.</summary>
    static abstract TSelf From(IpAddress address);

    /// <summary>The RFC 1624 delta of a checksum over the address when it changes (its 16-bit words' deltas summed).</summary>
    static abstract ushort ChecksumDelta(TSelf oldValue, TSelf newValue);

    /// <summary>The address as a rule or a listing names it, with its family.</summary>
    static abstract IpAddress ToIpAddress(TSelf address);

    /// <summary>The address from its <see cref="Size"/> bytes as on the wire.</summary>
    static abstract TSelf Read(ReadOnlySpan<byte> bytes);

    /// <summary>Writes the address's <see cref="Size"/> bytes as on the wire.</summary>
    void Write(Span<byte> bytes);
}
