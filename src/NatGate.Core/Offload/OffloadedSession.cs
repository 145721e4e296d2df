using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Offload;

/// <summary>
/// A session as a cache below the engine needs it: the tuple each direction's packets arrive
/// with and the tuple they leave with, and the checksum deltas between them. Forward packets
/// match <see cref="Original"/> and become <see cref="Translated"/>; replies match
/// Translated.Reverse() and become Original.Reverse() (as <see cref="Session{TAddress}"/> has it).
/// </summary>
/// <param name="Id">The engine's session number, as listings show it.</param>
/// <param name="Original">The tuple forward packets arrive with.</param>
/// <param name="Translated">What forward packets become.</param>
/// <param name="InitiatedOutside">The session was opened from outside (a redirect, or a mapping admitted by filtering).</param>
public readonly record struct OffloadedSession<TAddress>(int Id, FlowKey<TAddress> Original, FlowKey<TAddress> Translated, bool InitiatedOutside)
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    /// <summary>How replies arrive.</summary>
    public FlowKey<TAddress> ReplyKey => Translated.Reverse();

    /// <summary>What replies become.</summary>
    public FlowKey<TAddress> ReplyRewrite => Original.Reverse();

    /// <summary>The deltas that take a forward packet from <see cref="Original"/> to <see cref="Translated"/>.</summary>
    public OffloadDeltas ForwardDeltas => OffloadDeltas.Between(Original, Translated);

    /// <summary>The deltas that take a reply from <see cref="ReplyKey"/> to <see cref="ReplyRewrite"/>.</summary>
    public OffloadDeltas ReplyDeltas => OffloadDeltas.Between(ReplyKey, ReplyRewrite);
}

/// <summary>
/// RFC 1624 deltas (~old + new, summed as 16-bit words, the values as the packet's big-endian
/// words read) that take a packet's checksums from one tuple to another, split as the kernel's
/// checksum helpers need them: a partial checksum (CHECKSUM_PARTIAL, GSO) must take the
/// pseudo-header's change but not the ports', which are summed with the data later.
/// </summary>
/// <param name="Ip">The IPv4 header checksum: both addresses (0 for IPv6, which has none).</param>
/// <param name="PseudoHeader">The transport checksum's pseudo-header: both addresses (0 for ICMPv4, whose checksum has none).</param>
/// <param name="Ports">The transport checksum: both ports, or an ICMP echo's identifier.</param>
public readonly record struct OffloadDeltas(ushort Ip, ushort PseudoHeader, ushort Ports)
{
    public static OffloadDeltas Between<TAddress>(FlowKey<TAddress> from, FlowKey<TAddress> to)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        ushort addresses = InternetChecksum.Add(TAddress.ChecksumDelta(from.Source, to.Source), TAddress.ChecksumDelta(from.Destination, to.Destination));
        bool ipv4 = TAddress.Size == 4;
        if (from.Protocol == TAddress.IcmpProtocol)
        {
            // One identifier, carried in both ports of the key (FlowKey). ICMPv6's checksum covers
            // a pseudo-header (RFC 4443 2.3); ICMPv4's covers the message alone (RFC 792).
            return new OffloadDeltas(ipv4 ? addresses : (ushort)0, ipv4 ? (ushort)0 : addresses, InternetChecksum.Delta(from.SourcePort, to.SourcePort));
        }
        ushort ports = InternetChecksum.Add(InternetChecksum.Delta(from.SourcePort, to.SourcePort), InternetChecksum.Delta(from.DestinationPort, to.DestinationPort));
        return new OffloadDeltas(ipv4 ? addresses : (ushort)0, addresses, ports);
    }

    /// <summary>Whether a cache can carry a protocol's packets: TCP, UDP and the family's ICMP echo (the tc program's cases).</summary>
    public static bool Carries<TAddress>(IpProtocol protocol)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => protocol is IpProtocol.Tcp or IpProtocol.Udp || protocol == TAddress.IcmpProtocol;
}
