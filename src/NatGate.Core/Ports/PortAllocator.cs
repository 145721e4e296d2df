using NatGate.Core.Addressing;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Ports;

/// <summary>
/// Allocates external ports (or ICMP query identifiers) for one external address and one protocol.
/// </summary>
/// <remarks>
/// Memory: one bit per port for the allocation bitmap, plus, when quarantine is on, 4 bytes
/// per port (a fingerprint of the last inside holder and the end of its quarantine): about
/// 256 KiB for 64512 ports, of which only the pages of ports once released are ever written
/// (and so backed by memory).
/// Nothing is allocated after construction.
/// </remarks>
public sealed class PortAllocator
{
    private const int WordBits = 64;

    // Ports 0-1023 and 1024-65535 are the two classes RFC 4787 REQ-3a keeps apart.
    private const ushort FirstUnprivilegedPort = 1024;

    private const ulong EvenBitsMask = 0x5555_5555_5555_5555;

    // Bit i stands for port Range.First + i; set means allocated. Bits past the end of the
    // range in the last word are set once, so a scan never offers them.
    private readonly ulong[] allocatedBits;

    // Per port: the inside host that held it last, and when its quarantine ends, in whole
    // seconds after quarantineEpochTicks (rounded up, so it never ends early; 0 means none).
    // Seconds in a uint keep the arrays at 8 bytes per port and last 136 years.
    // Per port, 4 bytes (a UDP address's 64k ports cost 256 KiB): the high half is a 16-bit
    // fingerprint of the host that released the port, the low half the second its quarantine
    // ends, modulo 65536 (serial-number arithmetic, RFC 1982: quarantines are under 9 hours).
    // 0 means no quarantine. Two hosts whose fingerprints collide (1 in 65536) are taken for
    // one: the other may get the port back early, which REQ-8 asks to avoid, never a conflict.
    private readonly uint[] quarantine;

    private readonly long quarantineTicks;
    private long quarantineEpochTicks;
    private bool quarantineEpochSet;
    private ulong randomState;

    /// <summary>Creates an allocator for the ports of <paramref name="range"/>, all free.</summary>
    /// <param name="range">The ports this allocator may hand out.</param>
    /// <param name="quarantineTicks">
    /// How long a released port is kept from a different inside host (0 for none); the same host may take it back at once.
    /// </param>
    /// <param name="randomSeed">Seed of the pseudo-random search start, so tests are deterministic.</param>
    public PortAllocator(PortRange range, long quarantineTicks, ulong randomSeed)
    {
        if (range.Count == 0)
        {
            throw new ArgumentException($"The port range {range} is empty: its last port must not be below its first.", nameof(range));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(quarantineTicks);
        // End seconds are kept modulo 65536 (see quarantine), so a quarantine must stay well under that.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quarantineTicks, TimeSpan.FromHours(9).Ticks);
        Range = range;
        Capacity = range.Count;
        this.quarantineTicks = quarantineTicks;
        allocatedBits = new ulong[(Capacity + WordBits - 1) / WordBits];
        int usedBitsInLastWord = Capacity % WordBits;
        if (usedBitsInLastWord != 0)
        {
            allocatedBits[^1] = ulong.MaxValue << usedBitsInLastWord;
        }
        quarantine = quarantineTicks > 0 ? new uint[Capacity] : [];
        // xorshift must not start from zero, or it stays there.
        randomState = randomSeed != 0 ? randomSeed : 0x9E37_79B9_7F4A_7C15;
    }

    /// <summary>The ports this allocator hands out.</summary>
    public PortRange Range { get; }

    /// <summary>How many ports the range holds.</summary>
    public int Capacity { get; }

    /// <summary>How many ports are allocated now.</summary>
    public int AllocatedCount { get; private set; }

    /// <summary>Whether <paramref name="port"/> is in range and allocated.</summary>
    public bool IsAllocated(ushort port) => Range.Contains(port) && IsBitSet(port - Range.First);

    /// <summary>
    /// Picks a port for a new mapping of inside host <paramref name="insideAddress"/> whose inside port is
    /// <paramref name="preferredPort"/>: the preferred port if free, else a free port of the same class
    /// (0-1023 or 1024-65535), with the same parity if asked, starting at a pseudo-random position.
    /// </summary>
    /// <returns>False when no port fits; <paramref name="port"/> is then 0.</returns>
    public bool TryAllocate<TAddress>(ushort preferredPort, TAddress insideAddress, long nowTicks, bool preserveParity, bool allowClassChange, out ushort port)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => TryAllocate(preferredPort, insideAddress, nowTicks, preserveParity, allowClassChange, Range, out port);

    /// <summary>
    /// As <see cref="TryAllocate{TAddress}(ushort, TAddress, long, bool, bool, out ushort)"/>, but only from the
    /// ports of <paramref name="within"/> (a rule's portmap range on an allocator that several rules share).
    /// </summary>
    public bool TryAllocate<TAddress>(ushort preferredPort, TAddress insideAddress, long nowTicks, bool preserveParity, bool allowClassChange, PortRange within, out ushort port)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        ushort insideHost = Fingerprint(insideAddress);
        int withinLow = Math.Max(within.First, Range.First) - Range.First;
        int withinHigh = Math.Min(within.Last, Range.Last) - Range.First;
        if (withinLow > withinHigh)
        {
            port = 0;
            return false;
        }

        // Port preservation first (RFC 4787 REQ-3, RFC 5382 section 5).
        if (Range.Contains(preferredPort) && within.Contains(preferredPort))
        {
            int preferredIndex = preferredPort - Range.First;
            PrefetchQuarantine(preferredIndex);
            if (!IsBitSet(preferredIndex) && !IsQuarantinedAgainst(preferredIndex, insideHost, nowTicks))
            {
                port = Take(preferredIndex);
                return true;
            }
        }

        // Keep the class of the inside port (RFC 4787 REQ-3a): its part of the range, as bit indices.
        bool privileged = preferredPort < FirstUnprivilegedPort;
        int classFirst = privileged ? 0 : FirstUnprivilegedPort;
        int classLast = privileged ? FirstUnprivilegedPort - 1 : ushort.MaxValue;
        int low = Math.Max(Math.Max(classFirst, Range.First) - Range.First, withinLow);
        int high = Math.Min(Math.Min(classLast, Range.Last) - Range.First, withinHigh);

        // Parity (RFC 4787 REQ-4, asked for by the rule) yields to the class (REQ-3a), which is kept first.
        // Bit i is port First + i and words are 64 bits, so one mask serves every word.
        ulong parityMask = ((Range.First ^ preferredPort) & 1) == 0 ? EvenBitsMask : ~EvenBitsMask;
        int found = -1;
        if (low <= high)
        {
            int start = low + RandomBelow(high - low + 1);
            PrefetchQuarantine(start);
            if (preserveParity)
            {
                found = FindFree(low, high, start, parityMask, insideHost, nowTicks);
            }
            if (found < 0)
            {
                found = FindFree(low, high, start, ulong.MaxValue, insideHost, nowTicks);
            }
        }
        if (found < 0 && allowClassChange)
        {
            int start = withinLow + RandomBelow(withinHigh - withinLow + 1);
            if (preserveParity)
            {
                found = FindFree(withinLow, withinHigh, start, parityMask, insideHost, nowTicks);
            }
            if (found < 0)
            {
                found = FindFree(withinLow, withinHigh, start, ulong.MaxValue, insideHost, nowTicks);
            }
        }
        if (found < 0)
        {
            port = 0;
            return false;
        }
        port = Take(found);
        return true;
    }

    /// <summary>
    /// Claims exactly <paramref name="port"/> (a static mapping, a restored session), ignoring quarantine.
    /// </summary>
    /// <returns>False if the port is out of range or already allocated.</returns>
    public bool TryReserve(ushort port)
    {
        if (!Range.Contains(port))
        {
            return false;
        }
        int index = port - Range.First;
        if (IsBitSet(index))
        {
            return false;
        }
        Take(index);
        return true;
    }

    /// <summary>
    /// Frees <paramref name="port"/> and starts its quarantine against hosts other than
    /// <paramref name="insideAddress"/>. A port that is not allocated is left alone.
    /// </summary>
    public void Release<TAddress>(ushort port, TAddress insideAddress, long nowTicks)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (!Range.Contains(port))
        {
            return;
        }
        int index = port - Range.First;
        if (!IsBitSet(index))
        {
            // A double release is the caller's bug, but the data path must not die of it.
            return;
        }
        allocatedBits[index / WordBits] &= ~(1UL << (index % WordBits));
        AllocatedCount--;
        if (quarantineTicks > 0)
        {
            // RFC 4787 REQ-8 / RFC 6888 REQ-8: do not hand a just-freed port to another host
            // while the old peer may still send to it.
            quarantine[index] = (uint)Fingerprint(insideAddress) << 16 | (QuarantineEndSeconds(nowTicks) & 0xFFFF);
        }
    }

    private ushort Take(int index)
    {
        allocatedBits[index / WordBits] |= 1UL << (index % WordBits);
        AllocatedCount++;
        // Written only when set: a port never released leaves its entry's page untouched, so the
        // operating system never backs it (64 MiB of 256 allocators, 6.7 B a session at 10 million).
        if (quarantineTicks > 0 && quarantine[index] != 0)
        {
            quarantine[index] = 0;
        }
        return (ushort)(Range.First + index);
    }

    /// <summary>
    /// Starts loading the quarantine entry of a port about to be examined, while its bitmap word is
    /// read: with many addresses the entries (256 KiB per allocator) are rarely in cache, and a
    /// free port's entry is always read. A prefetch never faults, so the array need not be pinned.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void PrefetchQuarantine(int index)
    {
        if (quarantineTicks > 0 && System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(Unsafe.AsPointer(ref quarantine[index]));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsBitSet(int index) => (allocatedBits[index / WordBits] & (1UL << (index % WordBits))) != 0;

    /// <summary>
    /// A free port index in [<paramref name="low"/>, <paramref name="high"/>] whose bit is in
    /// <paramref name="candidateMask"/>, scanning from <paramref name="start"/> and wrapping; -1 if none.
    /// </summary>
    private int FindFree(int low, int high, int start, ulong candidateMask, ushort insideHost, long nowTicks)
    {
        int found = ScanForward(start, high, candidateMask, insideHost, nowTicks);
        if (found < 0 && start > low)
        {
            found = ScanForward(low, start - 1, candidateMask, insideHost, nowTicks);
        }
        return found;
    }

    private int ScanForward(int from, int to, ulong candidateMask, ushort insideHost, long nowTicks)
    {
        int lastWord = to / WordBits;
        for (int word = from / WordBits; word <= lastWord; word++)
        {
            ulong free = ~allocatedBits[word] & candidateMask;
            if (word == from / WordBits)
            {
                free &= ulong.MaxValue << (from % WordBits);
            }
            if (word == lastWord)
            {
                free &= ulong.MaxValue >> (WordBits - 1 - (to % WordBits));
            }
            // Only free candidates pay for the quarantine check.
            while (free != 0)
            {
                int index = (word * WordBits) + BitOperations.TrailingZeroCount(free);
                if (!IsQuarantinedAgainst(index, insideHost, nowTicks))
                {
                    return index;
                }
                free &= free - 1;
            }
        }
        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsQuarantinedAgainst(int index, ushort insideHost, long nowTicks)
    {
        if (quarantineTicks == 0)
        {
            return false;
        }
        uint entry = quarantine[index];
        if (entry == 0 || entry >> 16 == insideHost)
        {
            return false;
        }
        // Still quarantined while the end second lies ahead of now (modulo 65536). An entry
        // found over is cleared, so an old one cannot seem to lie ahead again after the wrap.
        ushort now = (ushort)NowSeconds(nowTicks);
        if ((short)(ushort)((entry & 0xFFFF) - now) > 0)
        {
            return true;
        }
        quarantine[index] = 0;
        return false;
    }

    /// <summary>A host's 16-bit fingerprint, never 0 (so a quarantine entry is never 0).</summary>
    private static ushort Fingerprint<TAddress>(TAddress address)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        // Multiplying by an odd constant spreads neighbouring addresses over the high half.
        ushort fingerprint = (ushort)(((uint)TAddress.Fold(address) * 0x9E3779B1u) >> 16);
        return fingerprint == 0 ? (ushort)1 : fingerprint;
    }

    /// <summary>Whole seconds since the quarantine epoch, rounded down.</summary>
    private long NowSeconds(long nowTicks) => Math.Max(nowTicks - quarantineEpochTicks, 0) / TimeSpan.TicksPerSecond;
    private uint QuarantineEndSeconds(long nowTicks)
    {
        if (!quarantineEpochSet)
        {
            // The constructor has no clock, so seconds count from the first release.
            quarantineEpochTicks = nowTicks;
            quarantineEpochSet = true;
        }
        long elapsedTicks = Math.Max(nowTicks - quarantineEpochTicks, 0);
        if (elapsedTicks > long.MaxValue - quarantineTicks - TimeSpan.TicksPerSecond)
        {
            return uint.MaxValue;
        }
        long endTicks = elapsedTicks + quarantineTicks;
        // Rounded up, so the quarantine never ends before quarantineTicks have passed; at least 1, as 0 means none.
        long endSeconds = Math.Max((endTicks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond, 1);
        return (uint)Math.Min(endSeconds, uint.MaxValue);
    }

    /// <summary>A pseudo-random number in [0, <paramref name="bound"/>): xorshift64 and a multiply-shift reduction (RFC 6056 section 3.3.1).</summary>
    private int RandomBelow(int bound)
    {
        ulong state = randomState;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        randomState = state;
        return (int)(((state >> 32) * (ulong)bound) >> 32);
    }
}
