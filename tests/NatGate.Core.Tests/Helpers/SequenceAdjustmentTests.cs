using NatGate.Core.Helpers;

namespace NatGate.Core.Tests.Helpers;

public sealed class SequenceAdjustmentTests
{
    [Fact]
    public void Nothing_moves_before_a_change()
    {
        var adjustment = new SequenceAdjustment();
        Assert.True(adjustment.IsEmpty);
        Assert.Equal(1000u, adjustment.Sequence(1000));
        Assert.Equal(1000u, adjustment.Acknowledgement(1000));
    }

    [Fact]
    public void The_changed_segment_keeps_its_start_and_what_follows_moves()
    {
        var adjustment = new SequenceAdjustment();
        adjustment.Record(1000, +4);
        Assert.Equal(1000u, adjustment.Sequence(1000));   // the changed segment itself
        Assert.Equal(1024u, adjustment.Sequence(1020));   // the next, after a 20-byte line
        Assert.Equal(1020u, adjustment.Acknowledgement(1024));
        Assert.Equal(1000u, adjustment.Acknowledgement(1000)); // an acknowledgement of what came before
    }

    [Fact]
    public void A_retransmission_of_the_changed_segment_moves_nothing_again()
    {
        var adjustment = new SequenceAdjustment();
        adjustment.Record(1000, +4);
        adjustment.Record(1000, +4);
        Assert.Equal(1024u, adjustment.Sequence(1020));
    }

    [Fact]
    public void Changes_add_up_and_each_segment_takes_the_offset_of_its_place()
    {
        var adjustment = new SequenceAdjustment();
        adjustment.Record(1000, +4);
        adjustment.Record(2000, -3);
        Assert.Equal(2004u, adjustment.Sequence(2000)); // the second changed segment: the first change only
        Assert.Equal(2101u, adjustment.Sequence(2100)); // after both: +4 - 3
        Assert.Equal(2100u, adjustment.Acknowledgement(2101));
        Assert.Equal(2000u, adjustment.Acknowledgement(2004));
    }

    [Fact]
    public void Sequence_numbers_wrap_around()
    {
        var adjustment = new SequenceAdjustment();
        adjustment.Record(uint.MaxValue - 5, +10);
        Assert.Equal(uint.MaxValue - 5, adjustment.Sequence(uint.MaxValue - 5));
        Assert.Equal(14u, adjustment.Sequence(4));
        Assert.Equal(4u, adjustment.Acknowledgement(14));
        Assert.True(SequenceAdjustment.IsBefore(uint.MaxValue, 3));
        Assert.False(SequenceAdjustment.IsBefore(3, uint.MaxValue));
    }
}
