using NatGate.Core.Addressing;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation;

/// <summary>
/// IPv4 fragments (RFC 4787 REQ-14, RFC 5508 section 3.3): only a first fragment carries ports,
/// so its translation is remembered by (source, destination, protocol, identification) and applied
/// to the later fragments. Later fragments that arrive first are held, in bounded memory, until
/// their first fragment comes or the timeout passes.
/// </summary>
/// <remarks>
/// The memory is shared out so that no one can starve the others (issue 10): the held slots are
/// split between fragments from the outside (to an external address) and from the inside, and
/// within each half one source address holds at most an eighth of them; one source address
/// tracks at most a sixteenth of the datagrams. A spoofed flood of fragments then costs its own
/// share, not the inside's.
/// </remarks>
internal sealed class FragmentTracker
{
    private readonly Dictionary<FragmentKey, FragmentRewrite> datagrams;
    private readonly Dictionary<Ipv4Address, int> datagramsPerSource = [];
    private readonly int maximumDatagrams;
    private readonly int maximumDatagramsPerSource;
    private readonly int maximumHeldPerSource;
    private readonly long timeoutTicks;
    private readonly byte[] heldBytes;
    private readonly HeldFragment[] held;
    private readonly int heldSize;
    private readonly Queue<int> released;
    private readonly List<FragmentKey> expiredScratch = [];

    public FragmentTracker(NatEngineOptions options)
    {
        maximumDatagrams = options.MaximumFragmentedDatagrams;
        datagrams = new Dictionary<FragmentKey, FragmentRewrite>(maximumDatagrams);
        timeoutTicks = options.FragmentTimeout.Ticks;
        heldSize = options.HeldFragmentSize;
        held = new HeldFragment[options.MaximumHeldFragments];
        maximumDatagramsPerSource = Math.Max(1, maximumDatagrams / 16);
        maximumHeldPerSource = Math.Max(1, held.Length / 2 / 8);
        heldBytes = new byte[held.Length * heldSize];
        released = new Queue<int>(held.Length);
    }

    public int TrackedDatagrams => datagrams.Count;

    public int HeldFragments { get; private set; }

    /// <summary>Whether a first fragment of <paramref name="key"/> could be remembered: the table and its source's share have room.</summary>
    public bool HasRoom(FragmentKey key)
        => datagrams.ContainsKey(key)
            || (datagrams.Count < maximumDatagrams && datagramsPerSource.GetValueOrDefault(key.Source) < maximumDatagramsPerSource);

    /// <summary>Remembers how a first fragment was rewritten; releases held fragments of the same datagram.</summary>
    public bool Remember(FragmentKey key, Ipv4Address newSource, Ipv4Address newDestination, ushort ipDelta, long nowTicks)
    {
        if (!HasRoom(key))
        {
            return false;
        }
        if (!datagrams.ContainsKey(key))
        {
            datagramsPerSource[key.Source] = datagramsPerSource.GetValueOrDefault(key.Source) + 1;
        }
        datagrams[key] = new FragmentRewrite(newSource, newDestination, ipDelta, nowTicks + timeoutTicks);
        if (HeldFragments > 0)
        {
            for (int slot = 0; slot < held.Length; slot++)
            {
                if (held[slot].Used && !held[slot].Released && held[slot].Key == key)
                {
                    Rewrite(heldBytes.AsSpan(slot * heldSize, held[slot].Length), datagrams[key]);
                    held[slot].Released = true;
                    released.Enqueue(slot);
                }
            }
        }
        return true;
    }

    /// <summary>Rewrites a later fragment if its datagram is known.</summary>
    public bool TryRewrite(FragmentKey key, Span<byte> packet)
    {
        if (!datagrams.TryGetValue(key, out FragmentRewrite rewrite))
        {
            return false;
        }
        Rewrite(packet, rewrite);
        return true;
    }

    /// <summary>
    /// Keeps a copy of an early fragment, in the half of the slots for its side
    /// (<paramref name="fromOutside"/>) and within its source's share; false when there is no room.
    /// </summary>
    public bool TryHold(FragmentKey key, ReadOnlySpan<byte> packet, long nowTicks, bool fromOutside)
    {
        if (packet.Length > heldSize)
        {
            return false;
        }
        int half = held.Length / 2;
        int first = fromOutside ? half : 0;
        int end = fromOutside ? held.Length : half;
        int free = -1;
        int ofSource = 0;
        for (int slot = first; slot < end; slot++)
        {
            if (!held[slot].Used)
            {
                free = free < 0 ? slot : free;
            }
            else if (held[slot].Key.Source == key.Source)
            {
                ofSource++;
            }
        }
        if (free < 0 || ofSource >= maximumHeldPerSource)
        {
            return false;
        }
        for (int slot = free; slot < end; slot++)
        {
            if (!held[slot].Used)
            {
                packet.CopyTo(heldBytes.AsSpan(slot * heldSize));
                held[slot] = new HeldFragment { Used = true, Key = key, Length = packet.Length, ExpiresTicks = nowTicks + timeoutTicks };
                HeldFragments++;
                return true;
            }
        }
        return false;
    }

    /// <summary>Copies out the next fragment released by its first fragment's arrival.</summary>
    public bool TryTakeReleased(Span<byte> destination, out int length)
    {
        length = 0;
        if (released.Count == 0 || destination.Length < held[released.Peek()].Length)
        {
            return false;
        }
        int slot = released.Dequeue();
        length = held[slot].Length;
        heldBytes.AsSpan(slot * heldSize, length).CopyTo(destination);
        held[slot] = default;
        HeldFragments--;
        return true;
    }

    /// <summary>Forgets datagrams and drops held fragments whose time is up; returns how many fragments were dropped.</summary>
    public int Expire(long nowTicks)
    {
        expiredScratch.Clear();
        foreach ((FragmentKey key, FragmentRewrite rewrite) in datagrams)
        {
            if (rewrite.ExpiresTicks <= nowTicks)
            {
                expiredScratch.Add(key);
            }
        }
        foreach (FragmentKey key in expiredScratch)
        {
            datagrams.Remove(key);
            if (--CollectionsMarshal.GetValueRefOrNullRef(datagramsPerSource, key.Source) <= 0)
            {
                datagramsPerSource.Remove(key.Source);
            }
        }
        int dropped = 0;
        for (int slot = 0; slot < held.Length; slot++)
        {
            if (held[slot].Used && !held[slot].Released && held[slot].ExpiresTicks <= nowTicks)
            {
                held[slot] = default;
                HeldFragments--;
                dropped++;
            }
        }
        return dropped;
    }

    private static void Rewrite(Span<byte> packet, FragmentRewrite rewrite)
    {
        rewrite.NewSource.Write(packet[Ipv4Packet.Field.SourceAddress..]);
        rewrite.NewDestination.Write(packet[Ipv4Packet.Field.DestinationAddress..]);
        Span<byte> checksum = packet[Ipv4Packet.Field.HeaderChecksum..];
        BinaryPrimitives.WriteUInt16BigEndian(checksum, InternetChecksum.ApplyDelta(BinaryPrimitives.ReadUInt16BigEndian(checksum), rewrite.IpDelta));
    }

    private readonly record struct FragmentRewrite(Ipv4Address NewSource, Ipv4Address NewDestination, ushort IpDelta, long ExpiresTicks);

    private struct HeldFragment
    {
        public bool Used;
        public bool Released;
        public FragmentKey Key;
        public int Length;
        public long ExpiresTicks;
    }
}

/// <summary>What ties the fragments of one datagram together (RFC 791).</summary>
internal readonly record struct FragmentKey(Ipv4Address Source, Ipv4Address Destination, IpProtocol Protocol, ushort Identification);
