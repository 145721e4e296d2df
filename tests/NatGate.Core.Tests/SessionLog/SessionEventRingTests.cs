using NatGate.Core.Control;
using NatGate.Core.SessionLog;

namespace NatGate.Core.Tests.SessionLog;

/// <summary>The ring between the engine and the log's thread: order kept, never blocking, losses counted.</summary>
public sealed class SessionEventRingTests
{
    private static SessionLogRecord Record(int id) => new() { SessionId = id, Kind = SessionEventKind.Created, State = "Active" };

    [Fact]
    public void Records_come_out_in_the_order_they_went_in()
    {
        var ring = new SessionEventRing(8) { Recording = true };
        for (int id = 0; id < 5; id++)
        {
            Assert.True(ring.TryWrite(Record(id)));
        }
        var read = new SessionLogRecord[3];
        Assert.Equal(3, ring.Read(read));
        Assert.Equal([0, 1, 2], read.Select(record => record.SessionId));
        Assert.Equal(2, ring.Read(read));
        Assert.Equal([3, 4], read.Take(2).Select(record => record.SessionId));
        Assert.Equal(0, ring.Read(read));
        Assert.Equal(5, ring.Written);
        Assert.Equal(0, ring.Lost);
    }

    [Fact]
    public void A_full_ring_refuses_at_once_and_counts_what_it_lost()
    {
        var ring = new SessionEventRing(4);
        for (int id = 0; id < 4; id++)
        {
            Assert.True(ring.TryWrite(Record(id)));
        }
        Assert.False(ring.TryWrite(Record(4)));
        Assert.False(ring.TryWrite(Record(5)));
        Assert.Equal(2, ring.Lost);
        Assert.Equal(0, ring.Free);
        // Room again once the reader has taken some; the lost ones stay lost, the order is kept.
        var read = new SessionLogRecord[2];
        Assert.Equal(2, ring.Read(read));
        Assert.True(ring.TryWrite(Record(6)));
        var rest = new SessionLogRecord[8];
        Assert.Equal(3, ring.Read(rest));
        Assert.Equal([2, 3, 6], rest.Take(3).Select(record => record.SessionId));
    }

    [Fact]
    public void A_reader_on_another_thread_sees_every_record_whole()
    {
        var ring = new SessionEventRing(64);
        const int Total = 200_000;
        long sum = 0;
        int seen = 0;
        int torn = 0;
        var reader = new Thread(() =>
        {
            var batch = new SessionLogRecord[16];
            while (seen < Total)
            {
                int count = ring.Read(batch);
                for (int i = 0; i < count; i++)
                {
                    // Each record's two fields were written together: a torn read would differ.
                    torn += batch[i].SessionId == batch[i].RuleIndex ? 0 : 1;
                    sum += batch[i].SessionId;
                }
                seen += count;
            }
        });
        reader.Start();
        for (int id = 0; id < Total; id++)
        {
            while (!ring.TryWrite(Record(id) with { RuleIndex = id }))
            {
                Thread.Yield();
            }
        }
        Assert.True(reader.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, torn);
        Assert.Equal((long)Total * (Total - 1) / 2, sum);
        Assert.Equal(Total, ring.Written);
    }

    [Theory]
    [InlineData(false, false, SessionEventKind.Created, false)]
    [InlineData(true, false, SessionEventKind.Created, true)]
    [InlineData(true, false, SessionEventKind.Updated, false)]
    [InlineData(true, true, SessionEventKind.Updated, true)]
    [InlineData(false, true, SessionEventKind.Updated, false)]
    public void The_ring_wants_what_its_readers_want(bool recording, bool updates, SessionEventKind kind, bool wanted)
    {
        var ring = new SessionEventRing(4) { Recording = recording, RecordingUpdates = updates };
        Assert.Equal(wanted, ring.Wants(kind));
    }
}
