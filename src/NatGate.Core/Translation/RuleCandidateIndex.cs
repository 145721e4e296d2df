using System.Numerics;
using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;

namespace NatGate.Core.Translation;

/// <summary>Which address of a packet a rule is filed under in a <see cref="RuleCandidateIndex"/>.</summary>
internal enum AddressSide
{
    Source,
    Destination,
}

/// <summary>The full test of one rule (by its position in rule order) against the packet being matched.</summary>
internal interface ICandidateTest
{
    bool Matches(int position);
}

/// <summary>
/// Finds the first rule, in rule order, that passes a test, looking only at rules that could: each
/// rule is filed under one prefix that its source or destination condition requires (and, for a
/// rule that only matches one destination port, that port), and a lookup probes one hash entry per
/// prefix length present. Rules filed under nothing (both conditions negated) are checked too, so
/// the candidates are always a superset of the matches and the first match in rule order wins
/// exactly as in a walk over every rule. Immutable once built; a lookup allocates nothing.
/// </summary>
internal sealed class RuleCandidateIndex
{
    private const ulong Occupied = 1UL << 63;
    private const int SideShift = 56;
    private const int PortShift = 39; // 17 bits: 0 for any port, else port + 1
    private const int LengthShift = 32;

    private readonly ulong[] keys; // open addressing, linear probing; 0 is an empty slot
    private readonly int[] groupOfSlot;
    private readonly int[] groupStart; // group g holds positions[groupStart[g] .. groupStart[g + 1]]
    private readonly int[] positions; // ascending within each group
    private readonly int[] unfiled; // ascending
    private readonly byte[][] lengthsBySide; // the prefix lengths filed under, longest first
    private readonly ulong[] lengthsWithAnyPort; // bit n: some rule is filed under a /n for any port
    private readonly ulong[] lengthsWithPort; // bit n: some rule is filed under a /n and one port
    private readonly int shift;
    private readonly ulong seed;

    private RuleCandidateIndex(Builder builder, ulong seed)
    {
        this.seed = seed;
        unfiled = [.. builder.Unfiled];
        ulong[] entryKeys = [.. builder.Keys];
        positions = [.. builder.Positions];
        Array.Sort(entryKeys, positions);

        lengthsWithAnyPort = new ulong[2];
        lengthsWithPort = new ulong[2];
        var starts = new List<int>();
        var groupKeys = new List<ulong>();
        for (int i = 0; i < entryKeys.Length; i++)
        {
            ulong key = entryKeys[i];
            if (i == 0 || key != entryKeys[i - 1])
            {
                starts.Add(i);
                groupKeys.Add(key);
                int side = (int)(key >> SideShift) & 1;
                int length = (int)(key >> LengthShift) & 63;
                if ((key >> PortShift & 0x1FFFF) == 0)
                {
                    lengthsWithAnyPort[side] |= 1UL << length;
                }
                else
                {
                    lengthsWithPort[side] |= 1UL << length;
                }
            }
        }
        starts.Add(entryKeys.Length);
        groupStart = [.. starts];
        for (int group = 0; group < groupKeys.Count; group++)
        {
            // The sort by key left each group's positions in any order; rule order is what counts.
            Array.Sort(positions, groupStart[group], groupStart[group + 1] - groupStart[group]);
        }

        lengthsBySide = new byte[2][];
        for (int side = 0; side < 2; side++)
        {
            ulong present = lengthsWithAnyPort[side] | lengthsWithPort[side];
            var lengths = new List<byte>();
            for (int length = 32; length >= 0; length--)
            {
                if ((present >> length & 1) != 0)
                {
                    lengths.Add((byte)length);
                }
            }
            lengthsBySide[side] = [.. lengths];
        }

        // At most half full, so a probe for an absent key soon meets an empty slot.
        int bits = Math.Max(3, BitOperations.Log2((uint)Math.Max(1, groupKeys.Count)) + 2);
        shift = 64 - bits;
        keys = new ulong[1 << bits];
        groupOfSlot = new int[1 << bits];
        for (int group = 0; group < groupKeys.Count; group++)
        {
            int slot = SlotOf(groupKeys[group]);
            while (keys[slot] != 0)
            {
                slot = (slot + 1) & (keys.Length - 1);
            }
            keys[slot] = groupKeys[group];
            groupOfSlot[slot] = group;
        }
    }

    /// <summary>How many (prefix, port) groups rules are filed under.</summary>
    public int GroupCount => groupStart.Length - 1;

    /// <summary>Rules filed under nothing, checked for every lookup.</summary>
    public int UnfiledCount => unfiled.Length;

    /// <summary>
    /// The position of the first rule that passes <paramref name="test"/>, or -1. <paramref name="port"/>
    /// is the packet's destination port when rules filed under a port may match it (TCP, UDP), else -1.
    /// </summary>
    public int FindFirst<TTest>(Ipv4Address source, Ipv4Address destination, int port, ref TTest test)
        where TTest : struct, ICandidateTest
    {
        int best = FirstIn(unfiled, int.MaxValue, ref test);
        best = FindOnSide(AddressSide.Source, source, -1, best, ref test);
        best = FindOnSide(AddressSide.Destination, destination, port, best, ref test);
        return best == int.MaxValue ? -1 : best;
    }

    private int FindOnSide<TTest>(AddressSide side, Ipv4Address address, int port, int best, ref TTest test)
        where TTest : struct, ICandidateTest
    {
        ulong withAnyPort = lengthsWithAnyPort[(int)side];
        ulong withPort = port >= 0 ? lengthsWithPort[(int)side] : 0;
        foreach (byte length in lengthsBySide[(int)side])
        {
            ulong key = KeyOf(side, address.Masked(Ipv4Prefix.MaskOf(length)), length, -1);
            if ((withAnyPort >> length & 1) != 0)
            {
                best = FirstIn(Group(key), best, ref test);
            }
            if ((withPort >> length & 1) != 0)
            {
                best = FirstIn(Group(key | ((ulong)(port + 1) << PortShift)), best, ref test);
            }
        }
        return best;
    }

    /// <summary>The first position before <paramref name="best"/> in an ascending group that passes the test; else <paramref name="best"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int FirstIn<TTest>(ReadOnlySpan<int> group, int best, ref TTest test)
        where TTest : struct, ICandidateTest
    {
        foreach (int position in group)
        {
            if (position >= best)
            {
                break;
            }
            if (test.Matches(position))
            {
                return position;
            }
        }
        return best;
    }

    private ReadOnlySpan<int> Group(ulong key)
    {
        int slot = SlotOf(key);
        while (true)
        {
            ulong found = keys[slot];
            if (found == key)
            {
                int group = groupOfSlot[slot];
                return positions.AsSpan(groupStart[group], groupStart[group + 1] - groupStart[group]);
            }
            if (found == 0)
            {
                return default;
            }
            slot = (slot + 1) & (keys.Length - 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int SlotOf(ulong key)
    {
        // Keyed (murmur3's finaliser over key ^ seed): packets choose the probed keys, the seed keeps them from aiming at clusters.
        ulong mixed = key ^ seed;
        mixed = (mixed ^ (mixed >> 33)) * 0xFF51AFD7ED558CCDUL;
        mixed = (mixed ^ (mixed >> 33)) * 0xC4CEB9FE1A85EC53UL;
        return (int)((mixed ^ (mixed >> 33)) >> shift);
    }

    private static ulong KeyOf(AddressSide side, Ipv4Address network, int length, int port)
        => Occupied | ((ulong)side << SideShift) | ((ulong)(port + 1) << PortShift) | ((ulong)length << LengthShift) | network.Value;

    /// <summary>Collects where each rule is filed, then builds the index.</summary>
    internal sealed class Builder
    {
        public List<ulong> Keys { get; } = [];

        public List<int> Positions { get; } = [];

        public List<int> Unfiled { get; } = [];

        /// <summary>
        /// Files the rule at <paramref name="position"/> under a prefix its <paramref name="side"/>
        /// address must be in, and, if <paramref name="port"/> is not -1, a destination port it must have.
        /// </summary>
        public void File(int position, AddressSide side, Ipv4Prefix prefix, int port = -1)
        {
            Keys.Add(KeyOf(side, prefix.Network, prefix.Length, port));
            Positions.Add(position);
        }

        /// <summary>Files the rule under every prefix of the range <paramref name="first"/> to <paramref name="last"/>.</summary>
        public void FileRange(int position, AddressSide side, Ipv4Address first, Ipv4Address last)
        {
            ulong start = first.Value;
            while (start <= last.Value)
            {
                // The largest aligned block that starts here and ends within the range.
                int length = start == 0 ? 0 : 32 - BitOperations.TrailingZeroCount((uint)start);
                while (start + (1UL << (32 - length)) - 1 > last.Value)
                {
                    length++;
                }
                File(position, side, new Ipv4Prefix(new Ipv4Address((uint)start), length));
                start += 1UL << (32 - length);
            }
        }

        /// <summary>Keeps the rule at <paramref name="position"/> for every lookup.</summary>
        public void FileUnderNothing(int position) => Unfiled.Add(position);

        public RuleCandidateIndex Build(ulong seed)
        {
            Unfiled.Sort();
            return new RuleCandidateIndex(this, seed);
        }
    }
}
