using Prometheus;

namespace NatGate.SessionLog;

/// <summary>The session log's metrics: what it recorded, what it lost and why, read from its counters at each scrape.</summary>
internal static class SessionLogMetrics
{
    public static void Register(CollectorRegistry registry, Func<SessionLogFigures> figures)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(figures);
        MetricFactory factory = Metrics.WithCustomRegistry(registry);
        Counter recorded = factory.CreateCounter("natgate_session_events_total", "Session events the engine recorded for the session log and watchers (created, updated, deleted, port blocks).");
        Counter lost = factory.CreateCounter("natgate_session_events_lost_total",
            "Session events lost, by reason: ring_full (the log fell behind the traffic; the packet path never waits for it), sink_failed (a sink could not take one).", "reason");
        Counter delivered = factory.CreateCounter("natgate_session_log_records_total", "Records handed to the session log's sinks.");
        registry.AddBeforeCollectCallback(() =>
        {
            SessionLogFigures now = figures();
            recorded.IncTo(now.Recorded);
            lost.WithLabels("ring_full").IncTo(now.Lost);
            lost.WithLabels("sink_failed").IncTo(now.SinkFailures);
            delivered.IncTo(now.Delivered);
        });
    }
}
