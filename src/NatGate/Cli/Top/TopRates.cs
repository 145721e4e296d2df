using NatGate.Control;

namespace NatGate.Cli.Top;

/// <summary>One session's traffic over the last interval, per second.</summary>
internal sealed record SessionRate(SessionView Session, double PacketsPerSecond, double BytesOutPerSecond, double BytesInPerSecond)
{
    public double BytesPerSecond => BytesOutPerSecond + BytesInPerSecond;
}

/// <summary>
/// What natgate top shows for one interval: the sessions now, new sessions, packets and bytes a
/// second (summed over the sessions listed, the kernel fast path's share included), and the
/// busiest sessions first.
/// </summary>
internal sealed record TopSnapshot(DateTimeOffset Time, TimeSpan Interval, int Sessions, double NewSessionsPerSecond,
    double PacketsPerSecond, double BytesOutPerSecond, double BytesInPerSecond, IReadOnlyList<SessionRate> Busiest);

/// <summary>
/// Rates from two listings a poll apart: each session's counters now less its counters at the
/// last poll, over the time between. A session is known by its id and creation time (an id is
/// reused once its session ends); one made since the last poll counts all it carried. Traffic of
/// sessions that ended between two polls is not seen; new sessions a second come from the
/// daemon's count of sessions added, which sees them all. Time is passed in.
/// </summary>
internal sealed class TopRates
{
    private Dictionary<(int Id, DateTimeOffset Created), (long Packets, long BytesOut, long BytesIn)> previous = [];
    private long previousAdded;
    private DateTimeOffset? previousTime;

    /// <summary>
    /// Takes one poll; returns the interval's snapshot with the <paramref name="rows"/> busiest
    /// sessions, or null for the first poll, which only sets the baseline.
    /// </summary>
    public TopSnapshot? Update(IReadOnlyList<SessionView> sessions, StatisticsView statistics, DateTimeOffset now, int rows)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        ArgumentNullException.ThrowIfNull(statistics);
        var current = new Dictionary<(int Id, DateTimeOffset Created), (long Packets, long BytesOut, long BytesIn)>(sessions.Count);
        foreach (SessionView session in sessions)
        {
            current[(session.Id, session.CreationTime)] = (session.PacketsOut + session.PacketsIn, session.BytesOut, session.BytesIn);
        }
        DateTimeOffset? since = previousTime;
        Dictionary<(int Id, DateTimeOffset Created), (long Packets, long BytesOut, long BytesIn)> before = previous;
        long addedBefore = previousAdded;
        (previous, previousAdded, previousTime) = (current, statistics.Added, now);
        if (since is not { } start || now <= start)
        {
            return null;
        }
        double seconds = (now - start).TotalSeconds;
        var rates = new List<SessionRate>(sessions.Count);
        double packets = 0, bytesOut = 0, bytesIn = 0;
        foreach (SessionView session in sessions)
        {
            (long Packets, long BytesOut, long BytesIn) counted = current[(session.Id, session.CreationTime)];
            (long Packets, long BytesOut, long BytesIn) earlier = before.TryGetValue((session.Id, session.CreationTime), out var seen) ? seen
                : session.CreationTime >= start.AddSeconds(-1) ? default // made since the last poll (listed times are whole seconds)
                : counted; // older than the last poll, yet not in it: nothing is known of this interval
            var rate = new SessionRate(session,
                Math.Max(0, counted.Packets - earlier.Packets) / seconds,
                Math.Max(0, counted.BytesOut - earlier.BytesOut) / seconds,
                Math.Max(0, counted.BytesIn - earlier.BytesIn) / seconds);
            packets += rate.PacketsPerSecond;
            bytesOut += rate.BytesOutPerSecond;
            bytesIn += rate.BytesInPerSecond;
            rates.Add(rate);
        }
        List<SessionRate> busiest = [.. rates
            .OrderByDescending(rate => rate.BytesPerSecond)
            .ThenByDescending(rate => rate.PacketsPerSecond)
            .ThenBy(rate => rate.Session.Id)
            .Take(Math.Max(0, rows))];
        return new TopSnapshot(now, now - start, sessions.Count, Math.Max(0, statistics.Added - addedBefore) / seconds, packets, bytesOut, bytesIn, busiest);
    }
}
