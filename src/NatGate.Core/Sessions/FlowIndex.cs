using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace NatGate.Core.Sessions;

/// <summary>Answers, for the slot index stored in a <see cref="FlowIndex"/>, whether it is the one sought.</summary>
internal interface ISlotMatcher
{
    bool Matches(int value);
}

/// <summary>Gives the hash of the key behind a stored value, to move entries when one is deleted.</summary>
internal interface ISlotHasher
{
    ulong HashOf(int value);
}

/// <summary>
/// An open-addressing hash index from a key's hash to an int (a session slot), with linear
/// probing and backward-shift deletion (no tombstones, so probe lengths do not grow with churn).
/// Each entry is one uint: 7 bits of the hash as a tag, so that most mismatches are rejected
/// without touching the session, and 25 bits of value + 1 (0 marks an empty entry).
/// Keys live in the sessions themselves; matchers and hashers are structs so the JIT inlines them.
/// An insertion that would probe further than <see cref="MaximumProbe"/> entries is refused: that
/// is NatGate's bucket limit (IP Filter's ipf_nat_maxbucket), and a refusal is an ENOMEM.
/// </summary>
internal sealed class FlowIndex
{
    public const int MaximumValue = (1 << ValueBits) - 2;

    private const int ValueBits = 25;
    private const uint ValueMask = (1u << ValueBits) - 1;
    private const uint TagMask = ~ValueMask;

    private readonly uint[] entries;
    private readonly ulong size;

    /// <param name="capacity">Values the index must hold at most.</param>
    /// <param name="maximumProbe">The probe limit (bucket limit).</param>
    /// <param name="slotsPerValue">Entries per value: 2 keeps the index at most half full.</param>
    public FlowIndex(int capacity, int maximumProbe, double slotsPerValue = 2)
    {
        // At most half full (slotsPerValue 2): linear probing stays short (about 1.5 probes for a
        // hit). The size is exactly that, not rounded up to a power of two (which could double it
        // again): a home slot is found by multiply-shift instead of a mask.
        int length = (int)Math.Min(1L << 30, Math.Max(16L, (long)Math.Ceiling(Math.Max(1, capacity) * slotsPerValue)));
        // Pinned (allocated on the pinned object heap), so a batch can prefetch entries by address.
        entries = GC.AllocateArray<uint>(length, pinned: true);
        size = (ulong)length;
        MaximumProbe = Math.Min(maximumProbe, length);
    }

    /// <summary>The home slot of a hash: its low 32 bits scaled to the table (Lemire's fast range).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int HomeOf(ulong hash) => (int)(((hash & 0xFFFF_FFFFUL) * size) >> 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Next(int position) => position + 1 == (int)size ? 0 : position + 1;

    public int MaximumProbe { get; }

    public int Count { get; private set; }

    public long MemoryBytes => (long)entries.Length * sizeof(uint);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint TagOf(ulong hash) => (uint)(hash >> (64 - (32 - ValueBits))) << ValueBits;

    /// <summary>Asks the processor to start loading the entry a lookup of <paramref name="hash"/> reads first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Prefetch(ulong hash)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref entries[HomeOf(hash)]));
        }
    }

    /// <summary>
    /// The value of the first entry whose tag matches <paramref name="hash"/> (within a few probes),
    /// without comparing keys: a guess at the session a lookup will find, to prefetch it. -1 if none.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Candidate(ulong hash)
    {
        uint tag = TagOf(hash);
        int position = HomeOf(hash);
        for (int probe = 0; probe < 4; probe++)
        {
            uint entry = entries[position];
            if (entry == 0)
            {
                return -1;
            }
            if ((entry & TagMask) == tag)
            {
                return (int)(entry & ValueMask) - 1;
            }
            position = Next(position);
        }
        return -1;
    }

    /// <summary>The stored value whose key matches, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find<TMatcher>(ulong hash, ref TMatcher matcher)
        where TMatcher : struct, ISlotMatcher
    {
        uint tag = TagOf(hash);
        int position = HomeOf(hash);
        uint[] table = entries;
        for (int probe = 0; probe < MaximumProbe; probe++)
        {
            uint entry = table[position];
            if (entry == 0)
            {
                return -1;
            }
            if ((entry & TagMask) == tag)
            {
                int value = (int)(entry & ValueMask) - 1;
                if (matcher.Matches(value))
                {
                    return value;
                }
            }
            position = Next(position);
        }
        return -1;
    }

    /// <summary>Adds a value under <paramref name="hash"/>; false when every entry within the probe limit is taken.</summary>
    public bool TryInsert(ulong hash, int value)
    {
        int position = HomeOf(hash);
        for (int probe = 0; probe < MaximumProbe; probe++)
        {
            if (entries[position] == 0)
            {
                entries[position] = TagOf(hash) | (uint)(value + 1);
                Count++;
                return true;
            }
            position = Next(position);
        }
        return false;
    }

    /// <summary>Whether an insertion under <paramref name="hash"/> would find room.</summary>
    public bool HasRoom(ulong hash) => FirstEmpty(hash, skip: -1) >= 0;

    /// <summary>
    /// Whether insertions under <paramref name="first"/> and then <paramref name="second"/> would
    /// both find room: the two may compete for one empty entry.
    /// </summary>
    public bool HasRoomForBoth(ulong first, ulong second)
    {
        int taken = FirstEmpty(first, skip: -1);
        return taken >= 0 && FirstEmpty(second, skip: taken) >= 0;
    }

    private int FirstEmpty(ulong hash, int skip)
    {
        int position = HomeOf(hash);
        for (int probe = 0; probe < MaximumProbe; probe++)
        {
            if (entries[position] == 0 && position != skip)
            {
                return position;
            }
            position = Next(position);
        }
        return -1;
    }

    /// <summary>
    /// Stores <paramref name="newValue"/> in the entry that holds <paramref name="oldValue"/> under
    /// <paramref name="hash"/>, in place: the entry keeps its position, so unlike a removal and an
    /// insertion this can never fail for lack of room. False if the old value is absent.
    /// </summary>
    public bool Replace(ulong hash, int oldValue, int newValue)
    {
        uint wanted = (uint)(oldValue + 1);
        int position = HomeOf(hash);
        for (int probe = 0; probe < MaximumProbe; probe++)
        {
            uint entry = entries[position];
            if (entry == 0)
            {
                return false;
            }
            if ((entry & ValueMask) == wanted)
            {
                entries[position] = (entry & TagMask) | (uint)(newValue + 1);
                return true;
            }
            position = Next(position);
        }
        return false;
    }

    /// <summary>Removes <paramref name="value"/> stored under <paramref name="hash"/>; false if absent.</summary>
    public bool Remove<THasher>(ulong hash, int value, ref THasher hasher)
        where THasher : struct, ISlotHasher
    {
        uint wanted = (uint)(value + 1);
        int position = HomeOf(hash);
        int probe = 0;
        while (true)
        {
            uint entry = entries[position];
            if (entry == 0 || probe++ >= MaximumProbe)
            {
                return false;
            }
            if ((entry & ValueMask) == wanted)
            {
                break;
            }
            position = Next(position);
        }
        // Backward shift: pull later entries of the run into the hole when their home slot
        // allows it, so that no lookup ever stops early at a hole.
        int hole = position;
        int next = Next(hole);
        while (entries[next] != 0)
        {
            int home = HomeOf(hasher.HashOf((int)(entries[next] & ValueMask) - 1));
            // The entry at `next` may move to `hole` if its home is not in (hole, next].
            bool homeInRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
            if (!homeInRange)
            {
                entries[hole] = entries[next];
                hole = next;
            }
            next = Next(next);
        }
        entries[hole] = 0;
        Count--;
        return true;
    }

    public void Clear()
    {
        Array.Clear(entries);
        Count = 0;
    }

    /// <summary>
    /// For tests (see <see cref="FlowTable.CheckConsistency"/>), never the packet path: walks every
    /// entry and reports what would make a lookup miss it: a tag that is not its key's, an entry
    /// past the probe limit from its home or behind an empty entry, a count that is not the number
    /// of entries. <paramref name="hashOfValue"/> is called once per entry and gives the hash of
    /// the key behind the value, or null when the value names no key (the caller reports that).
    /// </summary>
    internal void CheckEntries(string name, Func<int, ulong?> hashOfValue, Action<string> report)
    {
        int occupied = 0;
        for (int position = 0; position < entries.Length; position++)
        {
            uint entry = entries[position];
            if (entry == 0)
            {
                continue;
            }
            occupied++;
            int value = (int)(entry & ValueMask) - 1;
            if (value < 0)
            {
                report($"{name}: entry {position} has a tag but no value");
                continue;
            }
            if (hashOfValue(value) is not { } hash)
            {
                continue;
            }
            if ((entry & TagMask) != TagOf(hash))
            {
                report($"{name}: entry {position} (value {value}) has tag 0x{entry >> ValueBits:x2}, but its key's is 0x{TagOf(hash) >> ValueBits:x2}");
            }
            int home = HomeOf(hash);
            int distance = position >= home ? position - home : position + entries.Length - home;
            if (distance >= MaximumProbe)
            {
                report($"{name}: entry {position} (value {value}) is {distance} entries from its home {home}, past the probe limit {MaximumProbe}");
                continue;
            }
            for (int before = home; before != position; before = Next(before))
            {
                if (entries[before] == 0)
                {
                    report($"{name}: entry {position} (value {value}) sits behind the empty entry {before}, where a lookup from its home {home} stops");
                    break;
                }
            }
        }
        if (occupied != Count)
        {
            report($"{name}: Count is {Count} but {occupied} entries are taken");
        }
    }
}
