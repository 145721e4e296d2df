using NatGate.Core.Addressing;
using System.Runtime.InteropServices;
using NatGate.Core.Packets;

namespace NatGate.Core.Translation;

/// <summary>
/// Fragments of either family (RFC 4787 REQ-14, RFC 5508 section 3.3; IPv6's Fragment header,
/// RFC 8200 section 4.5): only a first fragment carries ports, so its translation is remembered by
/// its <see cref="FragmentKey{TAddress}"/> and applied to the later fragments, whose addresses are
/// all that changes. Later fragments that arrive first are held, in bounded memory, until their
/// first fragment comes or the timeout passes. One tracker per family; the methods that rewrite
/// take the family's packet rules.
/// </summary>
/// <remarks>
/// The memory is shared out so that no one can starve the others (issue 10): the held slots are
/// split between fragments from the outside (to an external address) and from the inside, and
/// within each half one source address holds at most an eighth of them; one source address
/// tracks at most a sixteenth of the datagrams. A spoofed flood of fragments then costs its own
/// share, not the inside's.
/// </remarks>
internal sealed class FragmentTracker<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    private readonly Dictionary<FragmentKey<TAddress>, FragmentRewrite> datagrams;
    private readonly Dictionary<TAddress, int> datagramsPerSource = [];
    private readonly int maximumDatagrams;
    private readonly int maximumDatagramsPerSource;
    private readonly int maximumHeldPerSource;
    private readonly long timeoutTicks;
    private readonly byte[] heldBytes;
    private readonly HeldFragment[] held;
    private readonly int heldSize;
    private readonly Queue<int> released;
    private readonly List<FragmentKey<TAddress>> expiredScratch = [];

    public FragmentTracker(NatEngineOptions options)
    {
        maximumDatagrams = options.MaximumFragmentedDatagrams;
        datagrams = new Dictionary<FragmentKey<TAddress>, FragmentRewrite>(maximumDatagrams);
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
    public bool HasRoom(FragmentKey<TAddress> key)
        => datagrams.ContainsKey(key)
            || (datagrams.Count < maximumDatagrams && datagramsPerSource.GetValueOrDefault(key.Source) < maximumDatagramsPerSource);

    /// <summary>Remembers how a first fragment was rewritten; releases held fragments of the same datagram.</summary>
    public bool Remember<TFamily>(FragmentKey<TAddress> key, TAddress newSource, TAddress newDestination, ushort ipDelta, long nowTicks)
        where TFamily : struct, IPacketFamily<TAddress>
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
                    Rewrite<TFamily>(heldBytes.AsSpan(slot * heldSize, held[slot].Length), datagrams[key]);
                    held[slot].Released = true;
                    released.Enqueue(slot);
                }
            }
        }
        return true;
    }

    /// <summary>
    /// Remembers where a first fragment went when its later fragments change family on the way
    /// (NAT64, RFC 7915 4.1 and 5.1.1): they are translated, not rewritten, so this tracker keeps
    /// only the new addresses, and releases the held fragments of the datagram as they came, for
    /// the engine to translate again (<see cref="TryTakeReleased"/> says so).
    /// </summary>
    public bool RememberAcrossFamilies(FragmentKey<TAddress> key, TAddress newSource, TAddress newDestination, long nowTicks)
    {
        if (!HasRoom(key))
        {
            return false;
        }
        if (!datagrams.ContainsKey(key))
        {
            datagramsPerSource[key.Source] = datagramsPerSource.GetValueOrDefault(key.Source) + 1;
        }
        // A first fragment translated again keeps the datagram's length learnt meanwhile.
        int datagramLength = datagrams.TryGetValue(key, out FragmentRewrite known) ? known.DatagramLength : 0;
        datagrams[key] = new FragmentRewrite(newSource, newDestination, 0, nowTicks + timeoutTicks) { DatagramLength = datagramLength };
        ReleaseUntranslated(key, nowTicks);
        return true;
    }

    /// <summary>
    /// Releases the held fragments of <paramref name="key"/> as they came, for the engine to
    /// translate again: their first fragment was another part's (NAT64's), which now knows the datagram.
    /// </summary>
    public void ReleaseUntranslated(FragmentKey<TAddress> key, long nowTicks)
    {
        if (HeldFragments == 0)
        {
            return;
        }
        for (int slot = 0; slot < held.Length; slot++)
        {
            if (held[slot].Used && !held[slot].Released && held[slot].Key == key)
            {
                held[slot].Released = true;
                held[slot].TranslateAgain = true;
                held[slot].ReleasedTicks = nowTicks;
                released.Enqueue(slot);
            }
        }
    }

    /// <summary>
    /// The new addresses remembered for <paramref name="key"/>'s datagram, if it is known, and the
    /// length of its data (what follows the IP header, or IPv6's Fragment header, when whole) once
    /// its last fragment has been seen, else 0.
    /// </summary>
    public bool TryGetDestination(FragmentKey<TAddress> key, out TAddress newSource, out TAddress newDestination, out int datagramLength)
    {
        if (!datagrams.TryGetValue(key, out FragmentRewrite rewrite))
        {
            newSource = default;
            newDestination = default;
            datagramLength = 0;
            return false;
        }
        newSource = rewrite.NewSource;
        newDestination = rewrite.NewDestination;
        datagramLength = rewrite.DatagramLength;
        return true;
    }

    /// <summary>Notes the length of a known datagram's data, told by its last fragment.</summary>
    public void NoteDatagramLength(FragmentKey<TAddress> key, int length)
    {
        ref FragmentRewrite rewrite = ref CollectionsMarshal.GetValueRefOrNullRef(datagrams, key);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref rewrite))
        {
            rewrite = rewrite with { DatagramLength = length };
        }
    }

    /// <summary>Rewrites a later fragment if its datagram is known.</summary>
    public bool TryRewrite<TFamily>(FragmentKey<TAddress> key, Span<byte> packet)
        where TFamily : struct, IPacketFamily<TAddress>
    {
        if (!datagrams.TryGetValue(key, out FragmentRewrite rewrite))
        {
            return false;
        }
        Rewrite<TFamily>(packet, rewrite);
        return true;
    }

    /// <summary>
    /// Keeps a copy of an early fragment, in the half of the slots for its side
    /// (<paramref name="fromOutside"/>) and within its source's share; false when there is no room.
    /// </summary>
    public bool TryHold(FragmentKey<TAddress> key, ReadOnlySpan<byte> packet, long nowTicks, bool fromOutside)
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
            else if (held[slot].Key.Source == key.Source && !held[slot].Released)
            {
                // Released ones leave with the batch: a NAT64 echo's first fragment, held as its
                // early fragments are let out, must not be refused for their share.
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

    /// <summary>Whether a released fragment waits to be taken.</summary>
    public bool HasReleased => released.Count > 0;

    /// <summary>
    /// Copies out the next fragment released by its first fragment's arrival: rewritten, or as it
    /// came when <paramref name="translateAgain"/> (released at <paramref name="releasedTicks"/>).
    /// </summary>
    public bool TryTakeReleased(Span<byte> destination, out int length, out bool translateAgain, out long releasedTicks)
    {
        length = 0;
        translateAgain = false;
        releasedTicks = 0;
        if (released.Count == 0 || destination.Length < held[released.Peek()].Length)
        {
            return false;
        }
        int slot = released.Dequeue();
        length = held[slot].Length;
        translateAgain = held[slot].TranslateAgain;
        releasedTicks = held[slot].ReleasedTicks;
        heldBytes.AsSpan(slot * heldSize, length).CopyTo(destination);
        held[slot] = default;
        HeldFragments--;
        return true;
    }

    /// <summary>Forgets datagrams and drops held fragments whose time is up; returns how many fragments were dropped.</summary>
    public int Expire(long nowTicks)
    {
        expiredScratch.Clear();
        foreach ((FragmentKey<TAddress> key, FragmentRewrite rewrite) in datagrams)
        {
            if (rewrite.ExpiresTicks <= nowTicks)
            {
                expiredScratch.Add(key);
            }
        }
        foreach (FragmentKey<TAddress> key in expiredScratch)
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

    /// <summary>A later fragment's rewrite: its addresses (and IPv4's header checksum); its data has no ports to change.</summary>
    private static void Rewrite<TFamily>(Span<byte> packet, FragmentRewrite rewrite)
        where TFamily : struct, IPacketFamily<TAddress>
        => TFamily.WriteAddresses(packet, rewrite.NewSource, rewrite.NewDestination, rewrite.IpDelta);

    private readonly record struct FragmentRewrite(TAddress NewSource, TAddress NewDestination, ushort IpDelta, long ExpiresTicks)
    {
        // Known once the last fragment has passed (NAT64 needs it for an ICMP echo's first fragment).
        public int DatagramLength { get; init; }
    }

    private struct HeldFragment
    {
        public bool Used;
        public bool Released;
        // Released as it came, for the engine to translate (NAT64 changes its family).
        public bool TranslateAgain;
        public long ReleasedTicks;
        public FragmentKey<TAddress> Key;
        public int Length;
        public long ExpiresTicks;
    }
}

/// <summary>
/// What ties the fragments of one datagram together: (source, destination, protocol,
/// identification) in IPv4 (RFC 791); (source, destination, identification) in IPv6, whose later
/// fragments may name another Next Header than the first (RFC 8200 4.5), so there the protocol is 0.
/// </summary>
internal readonly record struct FragmentKey<TAddress>(TAddress Source, TAddress Destination, IpProtocol Protocol, uint Identification)
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    /// <summary>The key of the datagram whose fragment has <paramref name="header"/>.</summary>
    public static FragmentKey<TAddress> Of(in NetworkHeader<TAddress> header)
        => new(header.Source, header.Destination, TAddress.IcmpProtocol == IpProtocol.Icmp ? header.Protocol : default, header.Identification);
}
