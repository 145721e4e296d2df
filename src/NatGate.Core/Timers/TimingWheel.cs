namespace NatGate.Core.Timers;

/// <summary>
/// A hashed timing wheel (Varghese and Lauck, 1987) for the expiry of elements 0 to
/// <see cref="Capacity"/> - 1, which the caller owns (session slot indices).
/// Schedule, Cancel and IsScheduled are O(1); nothing is allocated after construction.
/// </summary>
/// <remarks>
/// Memory: 8 bytes per element (next, previous) plus 4 bytes per slot; the wheel keeps no
/// deadline per element, so every element in a swept slot is due. Deadlines are rounded up to
/// whole wheel ticks, so an element within one rotation never fires early and fires at most one
/// tick late. A deadline further away than one rotation is brought in to the last tick of the
/// rotation: the element fires then, early, and its owner (which knows the real deadline, as the
/// flow table's lazy timers do) schedules it again. That costs one extra firing per rotation
/// (8192 s with one-second ticks) for the longest timers, and saves 4 bytes per element.
/// </remarks>
public sealed class TimingWheel
{
    // "next" of an element that is in no list. next[] holds a link + 2 (the tail's -1 is 1), so that 0, the value of memory never written,
    // is "not scheduled": a wheel for ten million sessions is built without touching its pages.
    private const int NotScheduled = 0;
    private const int LinkBias = 2;

    // Per element: doubly linked lists per slot, -1 terminated at the tail. The head's
    // "previous" is the complement of its list's index, so Cancel finds the head without
    // recomputing the slot.
    private readonly int[] next;
    private readonly int[] previous;

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
        heads = new int[slotCount + 1];
        Array.Fill(heads, -1);
    }

    /// <summary>How many elements the wheel can hold: they are 0 to Capacity - 1.</summary>
    public int Capacity { get; }

    /// <summary>Bytes the wheel holds: its per-element links and its slot heads.</summary>
    public long MemoryBytes => ((long)next.Length + previous.Length + heads.Length) * sizeof(int);

    /// <summary>How many elements are scheduled.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// Schedules <paramref name="element"/> to fire at <paramref name="deadlineTicks"/>, or moves it there if
    /// it is scheduled already. A deadline in the past fires at the next <see cref="Advance"/>; one
    /// more than a rotation past the last swept tick fires at the end of that rotation instead.
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
        // Within one rotation of the last swept tick, so that the element's slot comes round at
        // its deadline and not a rotation before it: a sweep then takes everything it finds.
        long deadline = Math.Min(ToWheelTickRoundedUp(deadlineTicks), sweptThroughTick + slotMask + 1);
        Link(element, deadline <= sweptThroughTick ? overdueList : (int)(deadline & slotMask));
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

    /// <summary>The length of one rotation: a deadline further away fires (early) at the end of it.</summary>
    public long RotationTicks => (slotMask + 1) * tickLengthTicks;

    /// <summary>
    /// Removes the elements whose deadline is at or before <paramref name="nowTicks"/>, writes them to
    /// <paramref name="expired"/> and returns how many. Stops when <paramref name="expired"/> is full;
    /// the next call resumes where this one stopped.
    /// </summary>
    public int Advance(long nowTicks, Span<int> expired)
    {
        long nowTick = ToWheelTickRoundedDown(nowTicks);
        int written = 0;
        if (!Sweep(overdueList, expired, ref written))
        {
            return written;
        }
        // After a gap longer than a rotation every slot is swept once, not once per tick:
        // any element due by now sits in one of them.
        long firstTick = Math.Max(sweptThroughTick + 1, nowTick - slotMask);
        for (long tick = firstTick; tick <= nowTick; tick++)
        {
            if (!Sweep((int)(tick & slotMask), expired, ref written))
            {
                // Resume at this slot next time: the rest of it, and the slots not yet swept
                // after a long gap, are swept by any later call, as time only grows.
                sweptThroughTick = tick - 1;
                return written;
            }
        }
        sweptThroughTick = Math.Max(sweptThroughTick, nowTick);
        return written;
    }

    /// <summary>
    /// Moves the elements of one list to <paramref name="expired"/>, all of them due (see
    /// <see cref="Schedule"/>); false if it filled up first.
    /// </summary>
    private bool Sweep(int list, Span<int> expired, ref int written)
    {
        int element = heads[list];
        while (element != -1)
        {
            if (written == expired.Length)
            {
                return false;
            }
            int following = next[element] - LinkBias;
            Unlink(element);
            next[element] = NotScheduled;
            Count--;
            expired[written++] = element;
            element = following;
        }
        return true;
    }

    private void Link(int element, int list)
    {
        int head = heads[list];
        next[element] = head + LinkBias;
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
        int after = next[element] - LinkBias;
        if (before < 0)
        {
            heads[~before] = after;
        }
        else
        {
            next[before] = after + LinkBias;
        }
        if (after != -1)
        {
            previous[after] = before;
        }
    }

    private long ToWheelTickRoundedUp(long ticks)
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
        return Math.Min(wheelTick, uint.MaxValue);
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
