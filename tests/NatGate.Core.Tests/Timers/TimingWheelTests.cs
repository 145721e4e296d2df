using CsCheck;
using NatGate.Core.Timers;

namespace NatGate.Core.Tests.Timers;

public sealed class TimingWheelTests
{
    private const long Second = TimeSpan.TicksPerSecond;
    private static readonly long Start = TimeSpan.FromDays(1).Ticks;

    [Fact]
    public void Constructor_rejects_a_slot_count_that_is_not_a_power_of_two()
        => Assert.Throws<ArgumentException>(() => new TimingWheel(10, Start, Second, 1000));

    [Fact]
    public void Element_fires_at_its_deadline_and_not_before()
    {
        var wheel = new TimingWheel(4, Start);
        wheel.Schedule(2, Start + (30 * Second));
        Span<int> expired = stackalloc int[4];
        Assert.Equal(0, wheel.Advance(Start + (30 * Second) - 1, expired));
        Assert.True(wheel.IsScheduled(2));
        Assert.Equal(1, wheel.Advance(Start + (30 * Second), expired));
        Assert.Equal(2, expired[0]);
        Assert.False(wheel.IsScheduled(2));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void Deadline_is_rounded_up_to_the_tick()
    {
        var wheel = new TimingWheel(1, Start);
        wheel.Schedule(0, Start + (5 * Second) + 1);
        Span<int> expired = stackalloc int[1];
        Assert.Equal(0, wheel.Advance(Start + (6 * Second) - 1, expired));
        Assert.Equal(1, wheel.Advance(Start + (6 * Second), expired));
    }

    [Fact]
    public void Elements_outside_the_capacity_are_refused()
    {
        var wheel = new TimingWheel(1, Start);
        Assert.Throws<ArgumentOutOfRangeException>(() => wheel.Schedule(1, Start));
        Assert.Throws<ArgumentOutOfRangeException>(() => wheel.IsScheduled(-1));
    }

    [Fact]
    public void Reschedule_moves_the_element()
    {
        var wheel = new TimingWheel(2, Start);
        wheel.Schedule(0, Start + (10 * Second));
        wheel.Schedule(0, Start + (20 * Second));
        Assert.Equal(1, wheel.Count);
        Span<int> expired = stackalloc int[2];
        Assert.Equal(0, wheel.Advance(Start + (19 * Second), expired));
        Assert.Equal(1, wheel.Advance(Start + (20 * Second), expired));
        Assert.Equal(0, expired[0]);

        // Moving earlier works too.
        wheel.Schedule(1, Start + (100 * Second));
        wheel.Schedule(1, Start + (25 * Second));
        Assert.Equal(1, wheel.Advance(Start + (25 * Second), expired));
        Assert.Equal(1, expired[0]);
    }

    [Fact]
    public void Cancel_removes_and_is_a_no_op_when_not_scheduled()
    {
        var wheel = new TimingWheel(3, Start);
        wheel.Schedule(0, Start + Second);
        wheel.Schedule(1, Start + Second);
        wheel.Schedule(2, Start + Second);
        wheel.Cancel(1);
        wheel.Cancel(1);
        Assert.Equal(2, wheel.Count);
        Assert.False(wheel.IsScheduled(1));
        Span<int> expired = stackalloc int[3];
        int count = wheel.Advance(Start + Second, expired);
        Assert.Equal(2, count);
        Assert.Equal([0, 2], Sorted(expired[..count]));
    }

    [Fact]
    public void Deadline_in_the_past_fires_at_the_next_advance()
    {
        var wheel = new TimingWheel(2, Start);
        Span<int> expired = stackalloc int[2];
        Assert.Equal(0, wheel.Advance(Start + (50 * Second), expired));
        wheel.Schedule(0, Start + (10 * Second));
        wheel.Schedule(1, Start - (10 * Second));
        Assert.Equal(2, wheel.Advance(Start + (50 * Second), expired));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void Long_gap_fires_everything_due_and_keeps_the_rest()
    {
        var wheel = new TimingWheel(4, Start, Second, 16);
        Span<int> expired = stackalloc int[4];
        Assert.Equal(0, wheel.Advance(Start + (990 * Second), expired));
        wheel.Schedule(0, Start + (993 * Second));
        wheel.Schedule(1, Start + (1000 * Second));
        wheel.Schedule(2, Start + (1001 * Second));
        wheel.Schedule(3, Start + (1005 * Second));
        int count = wheel.Advance(Start + (1000 * Second), expired);
        Assert.Equal([0, 1], Sorted(expired[..count]));
        Assert.True(wheel.IsScheduled(2));
        Assert.Equal(0, wheel.Advance(Start + (1000 * Second), expired));
        Assert.Equal(1, wheel.Advance(Start + (1001 * Second), expired));
        Assert.Equal(2, expired[0]);
        Assert.Equal(1, wheel.Advance(Start + (5000 * Second), expired));
        Assert.Equal(3, expired[0]);
    }

    [Fact]
    public void Deadline_beyond_one_rotation_fires_at_the_end_of_the_rotation()
    {
        // 16 one-second slots: a deadline 40 s away is brought in to 15 s after the last swept
        // second, for the owner to look at and schedule again.
        var wheel = new TimingWheel(1, Start, Second, 16);
        Span<int> expired = stackalloc int[1];
        Assert.Equal(0, wheel.Advance(Start + (10 * Second), expired));
        wheel.Schedule(0, Start + (50 * Second));
        Assert.Equal(16 * Second, wheel.RotationTicks);
        Assert.Equal(0, wheel.Advance(Start + (25 * Second), expired));
        Assert.Equal(1, wheel.Advance(Start + (26 * Second), expired));
    }

    [Fact]
    public void Long_gap_costs_one_rotation_not_one_step_per_tick()
    {
        // A billion one-tick slots would take seconds to walk; one rotation of 8 takes nothing.
        var wheel = new TimingWheel(2, 0, 1, 8);
        wheel.Schedule(0, 5);
        Span<int> expired = stackalloc int[2];
        Assert.Equal(1, wheel.Advance(1_000_000_000, expired));
        wheel.Schedule(1, 1_000_000_003);
        Assert.Equal(0, wheel.Advance(1_000_000_002, expired));
        Assert.Equal(1, wheel.Advance(1_000_000_003, expired));
        Assert.Equal(1, expired[0]);
    }

    [Theory]
    [InlineData(7440)]
    [InlineData(20000)]
    [InlineData(8192)]
    [InlineData(8191)]
    [InlineData(8193)]
    [InlineData(86400)]
    public void Owner_that_schedules_again_sees_its_deadline_met_beyond_one_rotation(int seconds)
    {
        // As the flow table does: an element that fires before its real deadline is scheduled again.
        var wheel = new TimingWheel(1, Start);
        long deadline = Start + (seconds * Second);
        wheel.Schedule(0, deadline);
        Span<int> expired = stackalloc int[1];
        int earlyFirings = 0;
        long firedAt = 0;
        // Walk second by second, as a data path would.
        for (long now = Start; firedAt == 0 && now <= deadline + Second; now += Second)
        {
            int count = wheel.Advance(now, expired);
            for (int index = 0; index < count; index++)
            {
                if (now < deadline)
                {
                    earlyFirings++;
                    wheel.Schedule(0, deadline);
                }
                else
                {
                    firedAt = now;
                }
            }
        }
        Assert.Equal(deadline, firedAt);
        // Once per rotation: the first reaches 8191 s (one rotation after tick -1, the last swept before the start).
        Assert.Equal(seconds / 8192, earlyFirings);
    }

    [Fact]
    public void Batches_resume_where_they_stopped()
    {
        var wheel = new TimingWheel(100, Start, Second, 64);
        for (int element = 0; element < 100; element++)
        {
            // Spread over several slots, all due by 60 s.
            wheel.Schedule(element, Start + (element % 60 * Second));
        }
        wheel.Schedule(99, Start + (61 * Second));
        var seen = new HashSet<int>();
        Span<int> batch = stackalloc int[7];
        int calls = 0;
        while (true)
        {
            int count = wheel.Advance(Start + (60 * Second), batch);
            calls++;
            for (int index = 0; index < count; index++)
            {
                Assert.True(seen.Add(batch[index]));
            }
            if (count < batch.Length)
            {
                break;
            }
        }
        Assert.Equal(99, seen.Count);
        Assert.Equal(15, calls);
        Assert.DoesNotContain(99, seen);
        Assert.Equal(1, wheel.Count);
    }

    [Fact]
    public void Empty_batch_returns_nothing_and_loses_nothing()
    {
        var wheel = new TimingWheel(3, Start, Second, 4);
        wheel.Schedule(0, Start + Second);
        wheel.Schedule(1, Start + (9 * Second));
        wheel.Schedule(2, Start + (2 * Second));
        Assert.Equal(0, wheel.Advance(Start + (100 * Second), []));
        Span<int> expired = stackalloc int[3];
        Assert.Equal(3, wheel.Advance(Start + (100 * Second), expired));
    }

    [Fact]
    public void Deadline_far_beyond_the_wheel_fires_once_a_rotation()
    {
        var wheel = new TimingWheel(1, Start);
        wheel.Schedule(0, long.MaxValue);
        Span<int> expired = stackalloc int[1];
        Assert.Equal(0, wheel.Advance(Start + (8190 * Second), expired));
        Assert.Equal(1, wheel.Advance(Start + (8191 * Second), expired));
        wheel.Schedule(0, long.MaxValue);
        Assert.Equal(0, wheel.Advance(Start + ((8191 + 8191) * Second), expired));
        Assert.Equal(1, wheel.Advance(Start + ((8191 + 8192) * Second), expired));
    }

    [Fact]
    public void Schedule_cancel_and_advance_do_not_allocate_memory()
    {
        var wheel = new TimingWheel(1000, Start);
        Span<int> expired = stackalloc int[64];
        wheel.Schedule(0, Start);
        wheel.Advance(Start, expired);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int element = 0; element < 1000; element++)
        {
            wheel.Schedule(element, Start + (element * Second));
            wheel.Schedule(element, Start + (element * 7 * Second));
        }
        for (int element = 0; element < 1000; element += 3)
        {
            wheel.Cancel(element);
        }
        for (long now = Start; wheel.Count > 0; now += 100 * Second)
        {
            while (wheel.Advance(now, expired) == expired.Length)
            {
            }
        }
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    // Random schedule, cancel and advance, in bounded batches, against a model of the contract:
    // per element its deadline rounded up to the tick, and the earliest it may fire, which is
    // that deadline or, when further off, one rotation after the last tick the wheel is known to
    // have swept completely (an Advance that returned less than its batch). An element due by
    // now must come out unless the batch is full; none may come out before its earliest; one that
    // comes out early is scheduled again, as the flow table does; a full batch loses nothing.
    [Fact]
    public void Random_operations_agree_with_a_model()
    {
        var operation = Gen.Select(Gen.Int[0, 9], Gen.Int[0, 31], Gen.Int[-5, 100], Gen.Int[0, 4]);
        Gen.Select(Gen.Int[0, 3], Gen.Int[1, 3], operation.Array[1, 300])
            .Sample((slotPower, tickSeconds, operations) => RunAgainstModel(1 << slotPower, tickSeconds * Second, operations), iter: 500);
    }

    private static void RunAgainstModel(int slotCount, long tickLength, (int Kind, int Element, int Offset, int BatchSize)[] operations)
    {
        const int Capacity = 32;
        var wheel = new TimingWheel(Capacity, Start, tickLength, slotCount);
        var deadlines = new long?[Capacity];
        var earliest = new long[Capacity];
        long now = Start;
        long sweptThrough = Start - tickLength;
        Span<int> buffer = stackalloc int[5];
        void Schedule(int element, long deadline)
        {
            long rounded = deadline <= Start ? Start : Start + ((deadline - Start + tickLength - 1) / tickLength * tickLength);
            deadlines[element] = rounded;
            earliest[element] = Math.Min(rounded, sweptThrough + (slotCount * tickLength));
            wheel.Schedule(element, deadline);
        }
        foreach (var (kind, element, offset, batchSize) in operations)
        {
            if (kind < 5)
            {
                // Offsets in half ticks, so deadlines both on and between tick edges; some far beyond a rotation.
                Schedule(element, now + (offset * tickLength / 2) + (offset > 90 ? 40 * tickLength : 0));
            }
            else if (kind < 6)
            {
                deadlines[element] = null;
                wheel.Cancel(element);
            }
            else
            {
                now += kind == 9 ? Math.Abs(offset) * tickLength : Math.Abs(offset) * tickLength / 3;
                Span<int> batch = buffer[..batchSize];
                int count = wheel.Advance(now, batch);
                var early = new List<(int Element, long Deadline)>();
                for (int index = 0; index < count; index++)
                {
                    int fired = batch[index];
                    Assert.True(deadlines[fired] is not null, $"element {fired} fired but was not scheduled");
                    Assert.True(earliest[fired] <= now, $"element {fired} fired at {now}, before {earliest[fired]}");
                    if (deadlines[fired] is long deadline && deadline > now)
                    {
                        early.Add((fired, deadline));
                    }
                    deadlines[fired] = null;
                }
                if (count < batchSize)
                {
                    sweptThrough = Start + ((now - Start) / tickLength * tickLength);
                    for (int candidate = 0; candidate < Capacity; candidate++)
                    {
                        Assert.False(deadlines[candidate] <= now, $"element {candidate}, due at {deadlines[candidate]}, did not fire by {now}");
                    }
                }
                foreach (var (fired, deadline) in early)
                {
                    Schedule(fired, deadline);
                }
            }
            int scheduled = 0;
            for (int candidate = 0; candidate < Capacity; candidate++)
            {
                Assert.Equal(deadlines[candidate] is not null, wheel.IsScheduled(candidate));
                scheduled += deadlines[candidate] is null ? 0 : 1;
            }
            Assert.Equal(scheduled, wheel.Count);
        }
    }

    private static int[] Sorted(ReadOnlySpan<int> values)
    {
        int[] copy = values.ToArray();
        Array.Sort(copy);
        return copy;
    }
}
