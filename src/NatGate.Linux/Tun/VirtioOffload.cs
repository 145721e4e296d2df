using NatGate.Core.Packets;

namespace NatGate.Linux.Tun;

/// <summary>
/// The checksum offload of a TUN with IFF_VNET_HDR, between the <c>virtio_net_hdr</c> before
/// each packet and the one flag the data path sees, "checksum partial" (wireguard-go keeps the
/// same work in <c>offload_linux.go</c>, out of its device loop). With offloads the kernel hands
/// over 64 KiB super-packets whose checksum holds only the pseudo-header sum; one translation
/// then stands for a whole burst of segments (DESIGN.md "TUN facts").
/// </summary>
public static class VirtioOffload
{
    /// <summary>
    /// After a read: a partial checksum on TCP or UDP, over IPv4 or IPv6, stays partial (the engine updates it for the
    /// address change, the kernel completes it when it segments or sends), and
    /// <paramref name="checksumPartial"/> says so; on anything else it is completed here first.
    /// False when the header does not fit the packet: the packet is to be dropped.
    /// </summary>
    public static bool PrepareRead(Span<byte> header, Span<byte> packet, out bool checksumPartial)
    {
        var virtio = new VirtioNetHeader(header);
        checksumPartial = false;
        if (!virtio.NeedsChecksum)
        {
            return true;
        }
        if (TransportStart(packet) == virtio.ChecksumStart)
        {
            checksumPartial = true;
            return true;
        }
        return virtio.CompleteChecksum(packet);
    }

    /// <summary>
    /// Where a TCP or UDP header starts, for either family (over IPv6 after the extension
    /// headers, RFC 8200 section 4), the place a partial checksum the engine can update starts;
    /// -1 for anything else. A TSO or USO super-packet over IPv6 must stay partial like IPv4's:
    /// completed and sent with its header cleared, 64 KiB would leave as one packet too big for
    /// any link.
    /// </summary>
    private static int TransportStart(Span<byte> packet)
    {
        if (packet.Length >= Ipv4Packet.MinimumHeaderLength && packet[0] >> 4 == 4)
        {
            return (IpProtocol)packet[Ipv4Packet.Field.Protocol] is IpProtocol.Tcp or IpProtocol.Udp ? (packet[0] & 0x0F) * 4 : -1;
        }
        return packet.Length >= Ipv6Packet.HeaderLength && packet[0] >> 4 == 6
            && Ipv6Packet.TryParse(packet, out Ipv6Packet ipv6) == PacketError.None && !ipv6.IsFragment
            && ipv6.TransportProtocol is IpProtocol.Tcp or IpProtocol.Udp ? ipv6.TransportOffset : -1;
    }

    /// <summary>
    /// Before a write: a packet whose checksum is partial keeps the header it was read with (its
    /// GSO type and size, the checksum's start and offset), which still describes it after
    /// translation, unless the translation moved it to the other family (NAT64): then the
    /// checksum's start and the header length move with the transport header, and a TCP
    /// super-packet's GSO type follows the family. Any other packet is whole and checksummed
    /// (NatGate's own ICMP errors, released fragments, a checksum completed on read) and goes as
    /// a plain packet, its header cleared.
    /// </summary>
    public static void PrepareWrite(Span<byte> header, Span<byte> packet, bool checksumPartial)
    {
        var virtio = new VirtioNetHeader(header);
        if (!checksumPartial)
        {
            virtio.Clear();
            return;
        }
        int transportStart = TransportStart(packet);
        if (transportStart > 0 && transportStart != virtio.ChecksumStart)
        {
            virtio.MoveTransportTo(transportStart, ipv6: packet[0] >> 4 == 6);
        }
    }
}
