namespace NatGate.Core.Timers;

/// <summary>
/// A hashed timing wheel (Varghese and Lauck, 1987) for the expiry of elements 0 to
/// <see cref="Capacity"/> - 1, which the caller owns (session slot indices).
/// Schedule, Cancel and IsScheduled are O(1); nothing is allocated after construction.
/// </summary>
/// <remarks>
/// Memory: 12 bytes per element (next, previous, deadline) plus 4 bytes per slot.
/// Deadlines are kept in whole wheel ticks after the start, rounded up, so an element never
/// fires early and fires at most one tick late; a uint lasts 136 years of one-second ticks.
/// A deadline more than one rotation away sits in its slot modulo the slot count and is
/// passed over until its round comes.
/// </remarks>
public sealed class TimingWheel
{
    // "next" of an element that is in no list.
    private const int NotScheduled = -2;

    // Per element: doubly linked lists per slot, -1 terminated at the tail. The head's
    // "previous" is the complement of its list's index, so Cancel finds the head without
    // recomputing the slot.
    private readonly int[] next;
    private readonly int[] previous;
    private readonly uint[] deadlineTicks;

    // Heads of the slot lists, then one more: the overdue list, for elements scheduled at
    // a tick that the wheel has already swept, so they fire at the next Advance.
    private readonly int[] heads;
    private readonly int overdueList;
    private readonly int slotMask;

    private readonly long startTicks;
    private readonly long tickLengthTicks;

    // The last wheel tick whose slot has been swept completely; -1 before the first sweep.
    private long sweptThroughTick = -1;

    /// <summary>Creates an empty wheel.</summary>
    /// <param name="capacity">How many elements: they are 0 to capacity - 1.</param>
    /// <param name="startTicks">The time of wheel tick 0.</param>
    /// <param name="tickLengthTicks">The length of one wheel tick, its resolution.</param>
    /// <param name="slotCount">Slots in one rotation; a power of two.</param>
    public TimingWheel(int capacity, long startTicks, long tickLengthTicks = TimeSpan.TicksPerSecond, int slotCount = 8192)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tickLengthTicks);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(slotCount);
        if ((slotCount & (slotCount - 1)) != 0)
        {
            throw new ArgumentException($"The slot count {slotCount} must be a power of two.", nameof(slotCount));
        }
        Capacity = capacity;
        this.startTicks = startTicks;
        this.tickLengthTicks = tickLengthTicks;
        slotMask = slotCount - 1;
        overdueList = slotCount;
        next = new int[capacity];
        previous = new int[capacity];
        deadlineTicks = new uint[capacity];
        Array.Fill(next, NotScheduled);
        heads = new int[slotCount + 1];
        Array.Fill(heads, -1);
    }

    /// <summary>How many elements the wheel can hold: they are 0 to Capacity - 1.</summary>
    public int Capacity { get; }

    /// <summary>How many elements are scheduled.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// Schedules <paramref name="element"/> to fire at <paramref name="deadlineTicks"/>, or moves it there if
    /// it is scheduled already. A deadline in the past fires at the next <see cref="Advance"/>.
    /// </summary>
    public void Schedule(int element, long deadlineTicks)
    {
        CheckElement(element);
        if (next[element] != NotScheduled)
        {
            Unlink(element);
        }
        else
        {
            Count++;
        }
        uint deadline = ToWheelTickRoundedUp(deadlineTicks);
        this.deadlineTicks[element] = deadline;
        Link(element, deadline <= sweptThroughTick ? overdueList : (int)(deadline & (uint)slotMask));
    }

    /// <summary>Removes <paramref name="element"/> from the wheel; does nothing if it is not scheduled.</summary>
    public void Cancel(int element)
    {
        CheckElement(element);
        if (next[element] == NotScheduled)
        {
            return;
        }
        Unlink(element);
        next[element] = NotScheduled;
        Count--;
    }

    /// <summary>Whether <paramref name="element"/> is scheduled.</summary>
    public bool IsScheduled(int element)
    {
        CheckElement(element);
        return next[element] != NotScheduled;
    }

    /// <summary>The deadline of a scheduled <paramref name="element"/>, rounded up to the wheel's tick.</summary>
    public long DeadlineOf(int element)
    {
        if (!IsScheduled(element))
        {
            throw new InvalidOperationException($"Element {element} is not scheduled, so it has no deadline; check IsScheduled first.");
        }
        return startTicks + (deadlineTicks[element] * tickLengthTicks);
    }

    /// <summary>
    /// Removes the elements whose deadline is at or before <paramref name="nowTicks"/>, writes them to
    /// <paramref name="expired"/> and returns how many. Stops when <paramref name="expired"/> is full;
    /// the next call resumes where this one stopped.
    /// </summary>
    public int Advance(long nowTicks, Span<int> expired)
    {
        long nowTick = ToWheelTickRoundedDown(nowTicks);
        int written = 0;
        if (!Sweep(overdueList, nowTick, expired, ref written))
        {
            return written;
        }
        // After a gap longer than a rotation every slot is swept once, not once per tick:
        // any element due by now sits in one of them.
        long firstTick = Math.Max(sweptThroughTick + 1, nowTick - slotMask);
        for (long tick = firstTick; tick <= nowTick; tick++)
        {
            if (!Sweep((int)(tick & slotMask), nowTick, expired, ref written))
            {
                // Resume at this slot next time. Elements it kept, and slots not yet swept
                // after a long gap, are swept again by any later call, as time only grows.
                sweptThroughTick = tick - 1;
                return written;
            }
        }
        sweptThroughTick = Math.Max(sweptThroughTick, nowTick);
        return written;
    }

    /// <summary>Moves the due elements of one list to <paramref name="expired"/>; false if it filled up first.</summary>
    private bool Sweep(int list, long nowTick, Span<int> expired, ref int written)
    {
        int element = heads[list];
        while (element != -1)
        {
            int following = next[element];
            if (deadlineTicks[element] <= nowTick)
            {
                if (written == expired.Length)
                {
                    return false;
                }
                Unlink(element);
                next[element] = NotScheduled;
                Count--;
                expired[written++] = element;
            }
            element = following;
        }
        return true;
    }

    private void Link(int element, int list)
    {
        int head = heads[list];
        next[element] = head;
        previous[element] = ~list;
        if (head != -1)
        {
            previous[head] = element;
        }
        heads[list] = element;
    }

    private void Unlink(int element)
    {
        int before = previous[element];
        int after = next[element];
        if (before < 0)
        {
            heads[~before] = after;
        }
        else
        {
            next[before] = after;
        }
        if (after != -1)
        {
            previous[after] = before;
        }
    }

    private uint ToWheelTickRoundedUp(long ticks)
    {
        if (ticks <= startTicks)
        {
            return 0;
        }
        long elapsed = ticks - startTicks;
        if (elapsed < 0)
        {
            // The subtraction overflowed: a deadline such as long.MaxValue, meaning "never".
            return uint.MaxValue;
        }
        long wheelTick = (elapsed / tickLengthTicks) + (elapsed % tickLengthTicks != 0 ? 1 : 0);
        return (uint)Math.Min(wheelTick, uint.MaxValue);
    }

    private long ToWheelTickRoundedDown(long ticks)
    {
        if (ticks < startTicks)
        {
            return -1;
        }
        long elapsed = ticks - startTicks;
        return elapsed < 0 ? uint.MaxValue : Math.Min(elapsed / tickLengthTicks, uint.MaxValue);
    }

    private void CheckElement(int element)
    {
        if ((uint)element >= (uint)Capacity)
        {
            ThrowElementOutOfRange(element);
        }
    }

    private void ThrowElementOutOfRange(int element)
        => throw new ArgumentOutOfRangeException(nameof(element), element, $"Elements are 0 to {Capacity - 1}.");
}
