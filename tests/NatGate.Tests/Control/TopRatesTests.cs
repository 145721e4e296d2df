using NatGate.Cli.Top;
using NatGate.Control;

namespace NatGate.Tests.Control;

/// <summary>natgate top's arithmetic: rates from two polls' counters, with the time passed in.</summary>
public sealed class TopRatesTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);

    private static SessionView Session(int id, long packetsOut, long packetsIn, long bytesOut, long bytesIn, DateTimeOffset? created = null) => new()
    {
        Id = id,
        Protocol = "udp",
        ProtocolNumber = 17,
        InternalSourceAddress = "10.0.0.2",
        InternalSourcePort = (ushort)(40000 + id),
        InternalDestinationAddress = "203.0.113.5",
        InternalDestinationPort = 53,
        ExternalSourceAddress = "198.51.100.10",
        ExternalSourcePort = (ushort)(40000 + id),
        ExternalDestinationAddress = "203.0.113.5",
        ExternalDestinationPort = 53,
        CreationTime = created ?? Start.AddMinutes(-5),
        State = "Active",
        PacketsOut = packetsOut,
        PacketsIn = packetsIn,
        BytesOut = bytesOut,
        BytesIn = bytesIn,
    };

    private static StatisticsView Statistics(long added) => new() { Added = added, Drops = new Dictionary<string, long>() };

    [Fact]
    public void The_first_poll_is_only_a_baseline()
    {
        var rates = new TopRates();
        Assert.Null(rates.Update([Session(1, 10, 10, 1000, 1000)], Statistics(1), Start, rows: 10));
    }

    [Fact]
    public void Rates_are_the_counters_differences_over_the_interval_busiest_first()
    {
        var rates = new TopRates();
        rates.Update([Session(1, 10, 10, 1000, 1000), Session(2, 0, 0, 0, 0)], Statistics(2), Start, rows: 10);
        TopSnapshot snapshot = rates.Update(
            [Session(1, 20, 30, 3000, 5000), Session(2, 100, 0, 100_000, 0)], Statistics(2), Start.AddSeconds(2), rows: 10)!;

        Assert.Equal(TimeSpan.FromSeconds(2), snapshot.Interval);
        Assert.Equal(new[] { 2, 1 }, snapshot.Busiest.Select(rate => rate.Session.Id));
        SessionRate first = snapshot.Busiest[1];
        Assert.Equal(15, first.PacketsPerSecond);     // (20 + 30 - 20) / 2
        Assert.Equal(1000, first.BytesOutPerSecond);  // (3000 - 1000) / 2
        Assert.Equal(2000, first.BytesInPerSecond);   // (5000 - 1000) / 2
        Assert.Equal(50 + 15, snapshot.PacketsPerSecond);
        Assert.Equal(50_000 + 1000, snapshot.BytesOutPerSecond);
        Assert.Equal(0, snapshot.NewSessionsPerSecond);
    }

    [Fact]
    public void A_new_session_counts_all_it_carried_and_a_reused_id_is_another_session()
    {
        var rates = new TopRates();
        rates.Update([Session(1, 500, 500, 50_000, 50_000)], Statistics(1), Start, rows: 10);
        // Session 1 ended and its id went to a new session with fewer packets than the old one had.
        TopSnapshot snapshot = rates.Update([Session(1, 4, 4, 400, 400, created: Start.AddSeconds(0.5))], Statistics(2), Start.AddSeconds(1), rows: 10)!;
        SessionRate only = Assert.Single(snapshot.Busiest);
        Assert.Equal(8, only.PacketsPerSecond);
        Assert.Equal(400, only.BytesOutPerSecond);
        Assert.Equal(1, snapshot.NewSessionsPerSecond);
        Assert.Equal(1, snapshot.Sessions);
    }

    [Fact]
    public void Only_the_rows_asked_for_are_kept()
    {
        var rates = new TopRates();
        SessionView[] none = [.. Enumerable.Range(1, 30).Select(id => Session(id, 0, 0, 0, 0))];
        rates.Update(none, Statistics(30), Start, rows: 5);
        SessionView[] some = [.. Enumerable.Range(1, 30).Select(id => Session(id, id, 0, id * 100L, 0))];
        TopSnapshot snapshot = rates.Update(some, Statistics(30), Start.AddSeconds(1), rows: 5)!;
        Assert.Equal(new[] { 30, 29, 28, 27, 26 }, snapshot.Busiest.Select(rate => rate.Session.Id));
        Assert.Equal(30, snapshot.Sessions);
    }

    [Fact]
    public void Bytes_read_in_si_units()
    {
        Assert.Equal("999 B", TopCommand.Bytes(999));
        Assert.Equal("1.5 kB", TopCommand.Bytes(1500));
        Assert.Equal("12.3 MB", TopCommand.Bytes(12_300_000));
    }
}
