using System.Runtime.CompilerServices;

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
/// Each entry is one uint: 8 bits of the hash as a tag, so that most mismatches are rejected
/// without touching the session, and 24 bits of value + 1 (0 marks an empty entry).
/// Keys live in the sessions themselves; matchers and hashers are structs so the JIT inlines them.
/// An insertion that would probe further than <see cref="MaximumProbe"/> entries is refused: that
/// is NatGate's bucket limit (IP Filter's ipf_nat_maxbucket), and a refusal is an ENOMEM.
/// </summary>
internal sealed class FlowIndex
{
    public const int MaximumValue = (1 << 24) - 2;

    private readonly uint[] entries;
    private readonly int mask;

    public FlowIndex(int capacity, int maximumProbe)
    {
        // At most half full: linear probing stays short (about 1.5 probes for a hit).
        int size = (int)Math.Min(1L << 30, Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, capacity) * 2u)));
        entries = new uint[size];
        mask = size - 1;
        MaximumProbe = Math.Min(maximumProbe, size);
    }

    public int MaximumProbe { get; }

    public int Count { get; private set; }

    public long MemoryBytes => (long)entries.Length * sizeof(uint);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint TagOf(ulong hash) => (uint)(hash >> 56) << 24;

    /// <summary>The stored value whose key matches, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find<TMatcher>(ulong hash, ref TMatcher matcher)
        where TMatcher : struct, ISlotMatcher
    {
        uint tag = TagOf(hash);
        int position = (int)hash & mask;
        uint[] table = entries;
        for (int probe = 0; probe < MaximumProbe; probe++)
        {
            uint entry = table[position];
            if (entry == 0)
            {
                return -1;
            }
            if ((entry & 0xFF00_0000u) == tag)
            {
                int value = (int)(entry & 0x00FF_FFFFu) - 1;
                if (matcher.Matches(value))
                {
                    return value;
                }
            }
            position = (position + 1) & mask;
        }
        return -1;
    }

    /// <summary>Adds a value under <paramref name="hash"/>; false when every entry within the probe limit is taken.</summary>
    public bool TryInsert(ulong hash, int value)
    {
        int position = (int)hash & mask;
        for (int probe = 0; probe < MaximumProbe; probe++)
        {
            if (entries[position] == 0)
            {
                entries[position] = TagOf(hash) | (uint)(value + 1);
                Count++;
                return true;
            }
            position = (position + 1) & mask;
        }
        return false;
    }

    /// <summary>Whether an insertion under <paramref name="hash"/> would find room.</summary>
    public bool HasRoom(ulong hash)
    {
        int position = (int)hash & mask;
        for (int probe = 0; probe < MaximumProbe; probe++)
        {
            if (entries[position] == 0)
            {
                return true;
            }
            position = (position + 1) & mask;
        }
        return false;
    }

    /// <summary>Removes <paramref name="value"/> stored under <paramref name="hash"/>; false if absent.</summary>
    public bool Remove<THasher>(ulong hash, int value, ref THasher hasher)
        where THasher : struct, ISlotHasher
    {
        uint wanted = (uint)(value + 1);
        int position = (int)hash & mask;
        int probe = 0;
        while (true)
        {
            uint entry = entries[position];
            if (entry == 0 || probe++ >= MaximumProbe)
            {
                return false;
            }
            if ((entry & 0x00FF_FFFFu) == wanted)
            {
                break;
            }
            position = (position + 1) & mask;
        }
        // Backward shift: pull later entries of the run into the hole when their home slot
        // allows it, so that no lookup ever stops early at a hole.
        int hole = position;
        int next = (hole + 1) & mask;
        while (entries[next] != 0)
        {
            int home = (int)hasher.HashOf((int)(entries[next] & 0x00FF_FFFFu) - 1) & mask;
            // The entry at `next` may move to `hole` if its home is not in (hole, next].
            bool homeInRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
            if (!homeInRange)
            {
                entries[hole] = entries[next];
                hole = next;
            }
            next = (next + 1) & mask;
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
}
