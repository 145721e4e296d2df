using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// The loaded rules by number. A number is free once its slot holds null (a rule removed with no
/// sessions, or whose last session has ended); <see cref="Add"/> hands out the lowest free number
/// from a heap, so loading N rules costs O(N log N) instead of a scan for every rule.
/// </summary>
internal sealed class RuleSlotTable
{
    /// <summary>How many rules can be loaded at once: a session keeps its rule's number in 18 bits.</summary>
    public const int MaximumRules = Session.MaximumRuleIndex + 1;

    private RuleSlot?[] slots = new RuleSlot?[16];
    private readonly PriorityQueue<int, int> freeNumbers = new();

    /// <summary>One past the highest number ever handed out.</summary>
    public int Count { get; private set; }

    /// <summary>Numbers in use: active rules, and removed ones whose sessions live on.</summary>
    public int Occupied => Count - freeNumbers.Count;

    /// <summary>The rule numbered <paramref name="index"/>, or null if the number is free. Only null may be stored: it frees the number.</summary>
    public RuleSlot? this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return slots[index];
        }
        set
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            if (value is not null)
            {
                throw new InvalidOperationException("A rule number is given out by Add; only null (freeing it) may be stored.");
            }
            if (slots[index] is not null)
            {
                slots[index] = null;
                freeNumbers.Enqueue(index, index);
            }
        }
    }

    /// <summary>Numbers <paramref name="slot"/> with the lowest free number and stores it there.</summary>
    public void Add(RuleSlot slot)
    {
        if (!freeNumbers.TryDequeue(out int index, out _))
        {
            if (Count == MaximumRules)
            {
                throw new InvalidOperationException($"At most {MaximumRules} rules can be loaded; callers check first.");
            }
            if (Count == slots.Length)
            {
                Array.Resize(ref slots, Math.Min(slots.Length * 2, MaximumRules));
            }
            index = Count++;
        }
        slot.Index = index;
        slots[index] = slot;
    }

    public Enumerator GetEnumerator() => new(slots, Count);

    /// <summary>Every number below <see cref="Count"/> in order, free ones as null.</summary>
    public struct Enumerator(RuleSlot?[] slots, int count)
    {
        private int index = -1;

        public readonly RuleSlot? Current => slots[index];

        public bool MoveNext() => ++index < count;
    }
}
