using NatGate.Core.Checksums;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation;

/// <summary>
/// On the "router on a stick" data path a forwarded packet crosses the kernel's forwarding
/// twice (into the TUN, and out again after translation), losing two from its TTL. Giving one
/// back makes the gateway one hop, as traceroute should see it (DESIGN.md, issue 4).
/// </summary>
public static class HopLimit
{
    /// <summary>
    /// Adds one to an IPv4 packet's TTL, fixing the header checksum for that one word, or to an
    /// IPv6 packet's hop limit (which no checksum covers); a value of 255 stays.
    /// </summary>
    public static void RestoreOne(Span<byte> packet)
    {
        if (packet.Length >= Ipv6Packet.HeaderLength && packet[0] >> 4 == 6)
        {
            if (packet[Ipv6Packet.Field.HopLimit] != byte.MaxValue)
            {
                packet[Ipv6Packet.Field.HopLimit]++;
            }
            return;
        }
        if (packet.Length < Ipv4Packet.MinimumHeaderLength || packet[0] >> 4 != 4)
        {
            return;
        }
        byte timeToLive = packet[Ipv4Packet.Field.TimeToLive];
        if (timeToLive == byte.MaxValue)
        {
            return;
        }
        // TTL is the high byte of the 16-bit word it shares with the protocol.
        ushort oldWord = (ushort)(timeToLive << 8 | packet[Ipv4Packet.Field.Protocol]);
        packet[Ipv4Packet.Field.TimeToLive] = (byte)(timeToLive + 1);
        ushort checksum = (ushort)(packet[Ipv4Packet.Field.HeaderChecksum] << 8 | packet[Ipv4Packet.Field.HeaderChecksum + 1]);
        checksum = InternetChecksum.Update(checksum, oldWord, (ushort)(oldWord + 0x100));
        packet[Ipv4Packet.Field.HeaderChecksum] = (byte)(checksum >> 8);
        packet[Ipv4Packet.Field.HeaderChecksum + 1] = (byte)checksum;
    }
}
