using NatGate.Core.Packets;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// The type, code and "rest of header" mappings between ICMPv4 and ICMPv6 errors of RFC 7915
/// sections 4.2 and 5.2, with the parameter problem pointer tables (figures 3 and 6) and the MTU
/// arithmetic. Bytes 4 to 7 travel as one big-endian number: an MTU, a pointer, or unused.
/// </summary>
internal static class IcmpTranslationTables
{
    /// <summary>The minimum IPv6 MTU (RFC 8200 5): no Packet Too Big may advertise less (RFC 7915 4).</summary>
    public const int MinimumIpv6Mtu = 1280;

    /// <summary>The minimum IPv4 MTU (RFC 791).</summary>
    public const int MinimumIpv4Mtu = 68;

    /// <summary>The IPv6 header minus the IPv4 header, the growth the MTUs are adjusted by.</summary>
    public const int HeaderGrowth = Ipv6Packet.HeaderLength - Ipv4Packet.MinimumHeaderLength;

    // RFC 1191 section 7's table of MTU plateaus, largest first.
    private static ReadOnlySpan<ushort> MtuPlateaus => [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

    /// <summary>
    /// RFC 7915 4.2: an ICMPv4 error's type, code and bytes 4 to 7 as ICMPv6. <paramref name="quotedTotalLength"/>
    /// is the quoted datagram's total length field, for the RFC 1191 plateau guess when a router sent a zero MTU.
    /// </summary>
    public static Nat64DropReason TryMapToIcmpv6(byte type, byte code, uint restOfHeader, int quotedTotalLength,
        out byte icmpv6Type, out byte icmpv6Code, out uint icmpv6RestOfHeader)
    {
        icmpv6Type = 0;
        icmpv6Code = 0;
        icmpv6RestOfHeader = 0;
        switch (type)
        {
            case IcmpType.DestinationUnreachable:
                icmpv6Type = Icmpv6Type.DestinationUnreachable;
                switch (code)
                {
                    case 0 or 1 or 5 or 6 or 7 or 8 or 11 or 12:
                        // Network, host, source route, unknown, isolated, TOS: "no route to destination".
                        icmpv6Code = 0;
                        return Nat64DropReason.None;
                    case 2:
                        // Protocol unreachable: parameter problem "unrecognized Next Header", pointing at it.
                        icmpv6Type = Icmpv6Type.ParameterProblem;
                        icmpv6Code = 1;
                        icmpv6RestOfHeader = Ipv6Packet.Field.NextHeader;
                        return Nat64DropReason.None;
                    case 3:
                        icmpv6Code = 4;
                        return Nat64DropReason.None;
                    case 4:
                        icmpv6Type = Icmpv6Type.PacketTooBig;
                        icmpv6RestOfHeader = (uint)PacketTooBigMtu((ushort)restOfHeader, quotedTotalLength);
                        return Nat64DropReason.None;
                    case 9 or 10 or 13 or 15:
                        // Administratively prohibited, precedence cutoff.
                        icmpv6Code = 1;
                        return Nat64DropReason.None;
                    default:
                        // 14 (host precedence violation) and unknown codes.
                        return Nat64DropReason.UntranslatableIcmpCode;
                }
            case IcmpType.TimeExceeded:
                icmpv6Type = Icmpv6Type.TimeExceeded;
                icmpv6Code = code;
                return Nat64DropReason.None;
            case IcmpType.ParameterProblem:
                if (code is not (0 or 2))
                {
                    // Code 1 (missing a required option) and unknown codes.
                    return Nat64DropReason.UntranslatableIcmpCode;
                }
                int pointer = PointerToIpv6((int)(restOfHeader >> 24));
                if (pointer < 0)
                {
                    return Nat64DropReason.UntranslatableParameterProblemPointer;
                }
                icmpv6Type = Icmpv6Type.ParameterProblem;
                icmpv6Code = 0;
                icmpv6RestOfHeader = (uint)pointer;
                return Nat64DropReason.None;
            default:
                // Source quench, redirect, alternative host address and unknown errors.
                return Nat64DropReason.UntranslatableIcmpType;
        }
    }

    /// <summary>RFC 7915 5.2: an ICMPv6 error's type, code and bytes 4 to 7 as ICMPv4.</summary>
    public static Nat64DropReason TryMapToIcmpv4(byte type, byte code, uint restOfHeader, out byte icmpType, out byte icmpCode, out uint icmpRestOfHeader)
    {
        icmpType = 0;
        icmpCode = 0;
        icmpRestOfHeader = 0;
        switch (type)
        {
            case Icmpv6Type.DestinationUnreachable:
                icmpType = IcmpType.DestinationUnreachable;
                switch (code)
                {
                    case 0 or 2 or 3:
                        // No route, beyond scope, address unreachable: host unreachable.
                        icmpCode = 1;
                        return Nat64DropReason.None;
                    case 1:
                        // Administratively prohibited: communication with the host prohibited.
                        icmpCode = 10;
                        return Nat64DropReason.None;
                    case 4:
                        icmpCode = 3;
                        return Nat64DropReason.None;
                    default:
                        return Nat64DropReason.UntranslatableIcmpCode;
                }
            case Icmpv6Type.PacketTooBig:
                icmpType = IcmpType.DestinationUnreachable;
                icmpCode = 4;
                // RFC 1191: bytes 4 and 5 unused, 6 and 7 the next-hop MTU.
                icmpRestOfHeader = FragmentationNeededMtu(restOfHeader);
                return Nat64DropReason.None;
            case Icmpv6Type.TimeExceeded:
                icmpType = IcmpType.TimeExceeded;
                icmpCode = code;
                return Nat64DropReason.None;
            case Icmpv6Type.ParameterProblem:
                switch (code)
                {
                    case 0:
                        int pointer = PointerToIpv4(restOfHeader);
                        if (pointer < 0)
                        {
                            return Nat64DropReason.UntranslatableParameterProblemPointer;
                        }
                        icmpType = IcmpType.ParameterProblem;
                        icmpRestOfHeader = (uint)pointer << 24;
                        return Nat64DropReason.None;
                    case 1:
                        // Unrecognized Next Header: protocol unreachable.
                        icmpType = IcmpType.DestinationUnreachable;
                        icmpCode = 2;
                        return Nat64DropReason.None;
                    default:
                        // Code 2 (unrecognized IPv6 option) and unknown codes.
                        return Nat64DropReason.UntranslatableIcmpCode;
                }
            default:
                return Nat64DropReason.UntranslatableIcmpType;
        }
    }

    /// <summary>
    /// RFC 7915 4.2: the Packet Too Big MTU for an ICMPv4 "fragmentation needed": the advertised
    /// MTU plus 20, or, when a pre-RFC 1191 router sent zero, the largest RFC 1191 plateau below
    /// the quoted total length plus 20; never below 1280 (RFC 7915 section 4). The next-hop MTUs the
    /// RFC also takes the minimum with are the caller's to apply.
    /// </summary>
    public static int PacketTooBigMtu(ushort advertisedMtu, int quotedTotalLength)
    {
        int mtu = advertisedMtu;
        if (mtu == 0)
        {
            mtu = MinimumIpv4Mtu;
            foreach (ushort plateau in MtuPlateaus)
            {
                if (plateau < quotedTotalLength)
                {
                    mtu = plateau;
                    break;
                }
            }
        }
        return Math.Max(MinimumIpv6Mtu, mtu + HeaderGrowth);
    }

    /// <summary>
    /// RFC 7915 5.2: the "fragmentation needed" MTU for an ICMPv6 Packet Too Big: the advertised MTU
    /// minus 20, kept within the 16-bit field and not below the IPv4 minimum of 68.
    /// </summary>
    public static uint FragmentationNeededMtu(uint advertisedMtu)
        => (uint)Math.Clamp((long)advertisedMtu - HeaderGrowth, MinimumIpv4Mtu, ushort.MaxValue);

    /// <summary>RFC 7915 figure 3: an IPv4 header offset as the IPv6 header offset of the same field; -1 for none.</summary>
    public static int PointerToIpv6(int ipv4Pointer) => ipv4Pointer switch
    {
        0 => 0,
        1 => 1,
        2 or 3 => 4,
        8 => 7,
        9 => 6,
        >= 12 and <= 15 => 8,
        >= 16 and <= 19 => 24,
        _ => -1,
    };

    /// <summary>RFC 7915 figure 6: an IPv6 header offset as the IPv4 header offset of the same field; -1 for none.</summary>
    public static int PointerToIpv4(uint ipv6Pointer) => ipv6Pointer switch
    {
        0 => 0,
        1 => 1,
        4 or 5 => 2,
        6 => 9,
        7 => 8,
        >= 8 and <= 23 => 12,
        >= 24 and <= 39 => 16,
        _ => -1,
    };
}
