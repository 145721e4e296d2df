using NatGate.Core.Addressing;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>The largest batch <see cref="TranslateBatch"/> takes.</summary>
    public const int MaximumBatch = 256;

    /// <summary>
    /// Translates a batch of packets laid out at a fixed stride in one span, as a TUN batch holds
    /// them: packet i starts at i * <paramref name="stride"/> + <paramref name="packetOffset"/>,
    /// <paramref name="lengths"/>[i] bytes long, with the rest of its slot as room for a reply.
    /// With a million sessions a packet's session and index entries are rarely in cache, and each
    /// lookup would wait for memory in turn; so the batch goes in three passes: hash every packet
    /// and prefetch its flow index entry, then prefetch every session those entries name, then
    /// translate, by which time the loads of all the packets have been overlapping. A packet
    /// whose flow has no session yet gets its mapping's index entry prefetched instead.
    /// </summary>
    /// <param name="slots">The batch's memory.</param>
    /// <param name="stride">Bytes from one slot to the next.</param>
    /// <param name="packetOffset">Where a packet starts in its slot (after a virtio header, say).</param>
    /// <param name="lengths">Each packet's length; the batch has as many packets.</param>
    /// <param name="checksumPartial">Per packet, as for <see cref="Translate"/>; empty means none.</param>
    /// <param name="results">Receives each packet's result.</param>
    /// <param name="nowTicks">The time.</param>
    [SkipLocalsInit]
    public void TranslateBatch(Span<byte> slots, int stride, int packetOffset, ReadOnlySpan<int> lengths,
        ReadOnlySpan<bool> checksumPartial, Span<TranslationResult> results, long nowTicks)
    {
        int count = lengths.Length;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaximumBatch);
        ArgumentOutOfRangeException.ThrowIfLessThan(results.Length, count);
        ArgumentOutOfRangeException.ThrowIfLessThan(slots.Length, count == 0 ? 0 : ((count - 1) * stride) + stride);
        Span<ulong> hashes = stackalloc ulong[count];
        // 4 or 6: the family whose table a packet's hash is for (0: none).
        Span<byte> families = stackalloc byte[count];
        FlowTable<Ipv6Address>? ipv6Table = ipv6?.Table;
        for (int i = 0; i < count; i++)
        {
            Span<byte> packet = PacketOf(slots, stride, packetOffset, lengths, i);
            if (TryPeekKey(packet, out FlowKey key))
            {
                ulong hash = table.HashOf(key);
                hashes[i] = hash;
                families[i] = 4;
                table.PrefetchIndex(hash);
            }
            else if (ipv6Table is not null && TryPeekKey(packet, out FlowKey<Ipv6Address> key6))
            {
                ulong hash = ipv6Table.HashOf(key6);
                hashes[i] = hash;
                families[i] = 6;
                ipv6Table.PrefetchIndex(hash);
            }
            else
            {
                families[i] = 0;
            }
        }
        for (int i = 0; i < count; i++)
        {
            // A key is read again only for a packet that seems to start a session: keeping every
            // key from the first pass cost established packets about 4 ns each.
            if (families[i] == 4 && !table.PrefetchSession(hashes[i])
                && TryPeekKey(PacketOf(slots, stride, packetOffset, lengths, i), out FlowKey key))
            {
                table.PrefetchMapping(key);
            }
            else if (families[i] == 6 && !ipv6Table!.PrefetchSession(hashes[i])
                && TryPeekKey(PacketOf(slots, stride, packetOffset, lengths, i), out FlowKey<Ipv6Address> key6))
            {
                ipv6Table.PrefetchMapping(key6);
            }
        }
        for (int i = 0; i < count; i++)
        {
            results[i] = Translate(slots.Slice((i * stride) + packetOffset, stride - packetOffset), lengths[i], nowTicks,
                checksumPartial.Length > i && checksumPartial[i]);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Span<byte> PacketOf(Span<byte> slots, int stride, int packetOffset, ReadOnlySpan<int> lengths, int index)
        => slots.Slice((index * stride) + packetOffset, Math.Min(lengths[index], stride - packetOffset));

    /// <summary>
    /// An IPv6 packet's key, read without validation, when its transport header follows the fixed
    /// header at once (no extension headers, the common case); false otherwise.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryPeekKey(ReadOnlySpan<byte> packet, out FlowKey<Ipv6Address> key)
    {
        key = default;
        if (packet.Length < Ipv6Packet.HeaderLength + 8 || packet[0] >> 4 != 6)
        {
            return false;
        }
        var protocol = (IpProtocol)packet[Ipv6Packet.Field.NextHeader];
        if (protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmpv6))
        {
            return false;
        }
        key = KeyOf(protocol, Ipv6Address.Read(packet[Ipv6Packet.Field.SourceAddress..]),
            Ipv6Address.Read(packet[Ipv6Packet.Field.DestinationAddress..]), packet[Ipv6Packet.HeaderLength..]);
        return true;
    }

    /// <summary>A packet's key, read without validation (Translate validates); false when it has none to prefetch by.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TryPeekKey(ReadOnlySpan<byte> packet, out FlowKey key)
    {
        key = default;
        if (packet.Length < Ipv4Packet.MinimumHeaderLength || packet[0] >> 4 != 4)
        {
            return false;
        }
        int headerLength = (packet[0] & 0x0F) * 4;
        IpProtocol protocol = (IpProtocol)packet[Ipv4Packet.Field.Protocol];
        bool hasPorts = protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp;
        if (headerLength < Ipv4Packet.MinimumHeaderLength || packet.Length < headerLength || (hasPorts && packet.Length < headerLength + 8)
            || (BinaryPrimitives.ReadUInt16BigEndian(packet[Ipv4Packet.Field.FlagsAndFragmentOffset..]) & 0x1FFF) != 0)
        {
            return false;
        }
        key = KeyOf(protocol, Ipv4Address.Read(packet[Ipv4Packet.Field.SourceAddress..]),
            Ipv4Address.Read(packet[Ipv4Packet.Field.DestinationAddress..]), packet[headerLength..]);
        return true;
    }
}
