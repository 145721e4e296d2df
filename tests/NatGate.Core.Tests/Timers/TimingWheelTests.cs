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
        Assert.Equal(Start + (6 * Second), wheel.DeadlineOf(0));
        Span<int> expired = stackalloc int[1];
        Assert.Equal(0, wheel.Advance(Start + (6 * Second) - 1, expired));
        Assert.Equal(1, wheel.Advance(Start + (6 * Second), expired));
    }

    [Fact]
    public void Deadline_of_an_unscheduled_element_throws()
    {
        var wheel = new TimingWheel(1, Start);
        Assert.Throws<InvalidOperationException>(() => wheel.DeadlineOf(0));
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
        Assert.Equal(Start + (20 * Second), wheel.DeadlineOf(0));
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
        wheel.Schedule(0, Start + (3 * Second));
        wheel.Schedule(1, Start + (40 * Second));
        wheel.Schedule(2, Start + (1000 * Second));
        wheel.Schedule(3, Start + (1001 * Second));
        Span<int> expired = stackalloc int[4];
        int count = wheel.Advance(Start + (1000 * Second), expired);
        Assert.Equal([0, 1, 2], Sorted(expired[..count]));
        Assert.True(wheel.IsScheduled(3));
        Assert.Equal(0, wheel.Advance(Start + (1000 * Second), expired));
        Assert.Equal(1, wheel.Advance(Start + (1001 * Second), expired));
    }

    [Fact]
    public void Long_gap_costs_one_rotation_not_one_step_per_tick()
    {
        // A billion one-tick slots would take seconds to walk; one rotation of 8 takes nothing.
        var wheel = new TimingWheel(1, 0, 1, 8);
        wheel.Schedule(0, 1_000_000_000);
        Span<int> expired = stackalloc int[1];
        Assert.Equal(0, wheel.Advance(999_999_999, expired));
        Assert.Equal(1, wheel.Advance(1_000_000_000, expired));
    }

    [Theory]
    [InlineData(7440)]
    [InlineData(20000)]
    [InlineData(8192)]
    [InlineData(8191)]
    [InlineData(8193)]
    public void Deadline_beyond_one_rotation_waits_for_its_round(int seconds)
    {
        var wheel = new TimingWheel(2, Start);
        wheel.Schedule(0, Start + (seconds * Second));
        wheel.Schedule(1, Start + ((seconds % 8192) * Second) + Second);
        Span<int> expired = stackalloc int[2];
        // Walk second by second, as a data path would.
        for (long now = Start; now < Start + (seconds * Second); now += Second)
        {
            int count = wheel.Advance(now, expired);
            for (int index = 0; index < count; index++)
            {
                Assert.NotEqual(0, expired[index]);
            }
        }
        Assert.True(wheel.IsScheduled(0));
        Assert.Equal(Start + (seconds * Second), wheel.DeadlineOf(0));
        int last = wheel.Advance(Start + (seconds * Second), expired);
        Assert.Equal(1, last);
        Assert.Equal(0, expired[0]);
    }

    [Fact]
    public void Batches_resume_where_they_stopped()
    {
        var wheel = new TimingWheel(100, Start, Second, 16);
        for (int element = 0; element < 100; element++)
        {
            // Spread over several slots and rotations, all due by 60 s.
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
    public void Deadline_far_beyond_the_wheel_means_never_in_practice()
    {
        var wheel = new TimingWheel(1, Start);
        wheel.Schedule(0, long.MaxValue);
        Span<int> expired = stackalloc int[1];
        Assert.Equal(0, wheel.Advance(Start + TimeSpan.FromDays(3650).Ticks, expired));
        Assert.True(wheel.IsScheduled(0));
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

    // Random schedule, cancel and advance, in bounded batches, against a model: a sorted list
    // of (deadline rounded up to the tick, element). Advance must return exactly the due
    // elements, never one early, and a batch smaller than what is due must lose nothing.
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
        var model = new SortedSet<(long Deadline, int Element)>();
        var deadlines = new long[Capacity];
        long now = Start;
        Span<int> buffer = stackalloc int[5];
        foreach (var (kind, element, offset, batchSize) in operations)
        {
            if (kind < 5)
            {
                // Offsets in half ticks, so deadlines both on and between tick edges; some far beyond a rotation.
                long deadline = now + (offset * tickLength / 2) + (offset > 90 ? 40 * tickLength : 0);
                long rounded = deadline <= Start ? Start : Start + ((deadline - Start + tickLength - 1) / tickLength * tickLength);
                model.Remove((deadlines[element], element));
                model.Add((rounded, element));
                deadlines[element] = rounded;
                wheel.Schedule(element, deadline);
                Assert.Equal(rounded, wheel.DeadlineOf(element));
            }
            else if (kind < 6)
            {
                model.Remove((deadlines[element], element));
                wheel.Cancel(element);
            }
            else
            {
                now += kind == 9 ? Math.Abs(offset) * tickLength : Math.Abs(offset) * tickLength / 3;
                Span<int> batch = buffer[..batchSize];
                int count = wheel.Advance(now, batch);
                int due = 0;
                foreach (var entry in model)
                {
                    if (entry.Deadline > now)
                    {
                        break;
                    }
                    due++;
                }
                Assert.Equal(Math.Min(due, batchSize), count);
                for (int index = 0; index < count; index++)
                {
                    int fired = batch[index];
                    Assert.True(deadlines[fired] <= now, $"element {fired} fired at {now}, before its deadline {deadlines[fired]}");
                    Assert.True(model.Remove((deadlines[fired], fired)), $"element {fired} fired but was not scheduled");
                }
            }
            Assert.Equal(model.Count, wheel.Count);
            for (int candidate = 0; candidate < Capacity; candidate++)
            {
                Assert.Equal(model.Contains((deadlines[candidate], candidate)), wheel.IsScheduled(candidate));
            }
        }
    }

    private static int[] Sorted(ReadOnlySpan<int> values)
    {
        int[] copy = values.ToArray();
        Array.Sort(copy);
        return copy;
    }
}
