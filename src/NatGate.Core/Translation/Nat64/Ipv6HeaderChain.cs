using System.Buffers.Binary;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// The walk of an IPv6 packet's extension headers that RFC 7915 section 5.1 asks for: Hop-by-Hop,
/// Destination Options and Routing headers are skipped (not translated), a Fragment header is
/// remembered for the IPv4 fragment fields, and everything else is the upper layer. Unlike
/// <see cref="Ipv6Packet"/> it reads a <see cref="ReadOnlySpan{T}"/>, checks Segments Left, and
/// walks a packet quoted in an ICMPv6 error, whose bytes may stop before its payload length.
/// </summary>
internal readonly ref struct Ipv6HeaderChain
{
    private const int FragmentHeaderLength = 8;

    /// <summary>Where the upper-layer header (or, for a non-first fragment, the fragment data) starts.</summary>
    public int TransportOffset { get; private init; }

    /// <summary>The upper-layer protocol: after the Fragment header too, for a non-first fragment.</summary>
    public IpProtocol Protocol { get; private init; }

    /// <summary>The bytes of the packet present, up to 40 + payload length.</summary>
    public int Length { get; private init; }

    /// <summary>The upper-layer length the payload length field declares (what the pseudo-header counts).</summary>
    public int DeclaredTransportLength { get; private init; }

    /// <summary>True when a Fragment header is present, atomic ones included.</summary>
    public bool HasFragmentHeader { get; private init; }

    /// <summary>The fragment offset in bytes.</summary>
    public int FragmentOffset { get; private init; }

    /// <summary>The M flag.</summary>
    public bool MoreFragments { get; private init; }

    /// <summary>The Fragment header's identification.</summary>
    public uint FragmentIdentification { get; private init; }

    /// <summary>True for a fragment of a larger packet (not an atomic fragment, RFC 6946).</summary>
    public bool IsFragmented => FragmentOffset != 0 || MoreFragments;

    /// <summary>True when the upper-layer header is in this packet (no fragment, or the first one).</summary>
    public bool HasTransportHeader => FragmentOffset == 0;

    /// <summary>
    /// Walks <paramref name="packet"/>. A <paramref name="quoted"/> packet may be cut short after
    /// its headers, and its Routing header is not checked (it was caught mid-route).
    /// </summary>
    public static Nat64DropReason TryWalk(ReadOnlySpan<byte> packet, bool quoted, out Ipv6HeaderChain chain)
    {
        chain = default;
        if (packet.Length < Ipv6Packet.HeaderLength || packet[0] >> 4 != 6)
        {
            return Nat64DropReason.MalformedPacket;
        }
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv6Packet.Field.PayloadLength..]);
        IpProtocol nextHeader = (IpProtocol)packet[Ipv6Packet.Field.NextHeader];
        if (payloadLength == 0 && nextHeader == IpProtocol.HopByHop)
        {
            // A jumbogram (RFC 2675) has no IPv4 counterpart.
            return Nat64DropReason.MalformedPacket;
        }
        int declaredLength = Ipv6Packet.HeaderLength + payloadLength;
        if (declaredLength > packet.Length && !quoted)
        {
            return Nat64DropReason.MalformedPacket;
        }
        int length = Math.Min(declaredLength, packet.Length);
        int offset = Ipv6Packet.HeaderLength;
        bool hasFragment = false;
        int fragmentOffset = 0;
        bool moreFragments = false;
        uint identification = 0;
        for (int count = 0; ; count++)
        {
            int headerLength;
            switch (nextHeader)
            {
                case IpProtocol.HopByHop when count == 0:
                case IpProtocol.DestinationOptions:
                case IpProtocol.Routing:
                    if (hasFragment)
                    {
                        return Nat64DropReason.ExtensionHeaderAfterFragment;
                    }
                    if (length - offset < 4)
                    {
                        return Nat64DropReason.MalformedPacket;
                    }
                    // RFC 8200 4.4: Segments Left is the fourth byte of a Routing header.
                    if (nextHeader == IpProtocol.Routing && packet[offset + 3] != 0 && !quoted)
                    {
                        return Nat64DropReason.UnexpiredRoutingHeader;
                    }
                    headerLength = (packet[offset + 1] + 1) * 8;
                    break;
                case IpProtocol.HopByHop:
                    // RFC 8200 4.1: Hop-by-Hop only right after the fixed header.
                    return Nat64DropReason.MalformedPacket;
                case IpProtocol.Fragment:
                    if (hasFragment)
                    {
                        return Nat64DropReason.ExtensionHeaderAfterFragment;
                    }
                    headerLength = FragmentHeaderLength;
                    break;
                case IpProtocol.Ah when hasFragment:
                    return Nat64DropReason.ExtensionHeaderAfterFragment;
                default:
                    chain = new Ipv6HeaderChain
                    {
                        TransportOffset = offset,
                        Protocol = nextHeader,
                        Length = length,
                        DeclaredTransportLength = declaredLength - offset,
                        HasFragmentHeader = hasFragment,
                        FragmentOffset = fragmentOffset,
                        MoreFragments = moreFragments,
                        FragmentIdentification = identification,
                    };
                    return Nat64DropReason.None;
            }
            if (count == Ipv6Packet.MaximumExtensionHeaders)
            {
                return Nat64DropReason.TooManyExtensionHeaders;
            }
            if (headerLength > length - offset)
            {
                return Nat64DropReason.MalformedPacket;
            }
            if (nextHeader == IpProtocol.Fragment)
            {
                hasFragment = true;
                ushort offsetAndFlags = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
                fragmentOffset = offsetAndFlags & 0xFFF8;
                moreFragments = (offsetAndFlags & 1) != 0;
                identification = BinaryPrimitives.ReadUInt32BigEndian(packet[(offset + 4)..]);
                if (fragmentOffset != 0 && IsExtensionHeader((IpProtocol)packet[offset]))
                {
                    return Nat64DropReason.ExtensionHeaderAfterFragment;
                }
                if (fragmentOffset != 0)
                {
                    // A non-first fragment carries no upper-layer header: the rest is data.
                    chain = new Ipv6HeaderChain
                    {
                        TransportOffset = offset + headerLength,
                        Protocol = (IpProtocol)packet[offset],
                        Length = length,
                        DeclaredTransportLength = declaredLength - offset - headerLength,
                        HasFragmentHeader = true,
                        FragmentOffset = fragmentOffset,
                        MoreFragments = moreFragments,
                        FragmentIdentification = identification,
                    };
                    return Nat64DropReason.None;
                }
            }
            nextHeader = (IpProtocol)packet[offset];
            offset += headerLength;
        }
    }

    private static bool IsExtensionHeader(IpProtocol nextHeader)
        => nextHeader is IpProtocol.HopByHop or IpProtocol.Routing or IpProtocol.Fragment or IpProtocol.DestinationOptions or IpProtocol.Ah;
}
