using System.Threading.Channels;
using NatGate.Core.SessionLog;

namespace NatGate.SessionLog;

/// <summary>
/// The watchers of the session event stream (GET /v1/sessions/events, `natgate sessions
/// --watch`). The log pump offers each record to every watcher; a watcher that falls behind loses
/// records (counted, and said in its stream) instead of holding the pump or the engine up.
/// </summary>
internal sealed class SessionEventHub
{
    /// <summary>Records a watcher may have waiting before it loses some.</summary>
    public const int WatcherBacklog = 8192;

    private SessionEventWatcher[] watchers = [];
    private readonly Lock gate = new();

    /// <summary>Called when a watcher comes or goes (the pump turns the ring's recording on or off).</summary>
    public Action? Changed { get; set; }

    public int Count => Volatile.Read(ref watchers).Length;

    /// <summary>True when some watcher wants TCP state changes.</summary>
    public bool WantsUpdates => Volatile.Read(ref watchers).Any(watcher => watcher.Filter.WantsUpdates);

    public SessionEventWatcher Watch(SessionEventFilter filter)
    {
        var watcher = new SessionEventWatcher(this, filter);
        lock (gate)
        {
            SessionEventWatcher[] more = [.. watchers, watcher];
            Volatile.Write(ref watchers, more);
        }
        Changed?.Invoke();
        return watcher;
    }

    /// <summary>Gives the record to every watcher whose filter takes it. The pump's thread.</summary>
    public void Publish(in SessionLogRecord record)
    {
        foreach (SessionEventWatcher watcher in Volatile.Read(ref watchers))
        {
            watcher.Offer(record);
        }
    }

    /// <summary>Ends every watcher's stream (the daemon stops).</summary>
    public void CompleteAll()
    {
        foreach (SessionEventWatcher watcher in Volatile.Read(ref watchers))
        {
            watcher.Complete();
        }
    }

    internal void Leave(SessionEventWatcher watcher)
    {
        lock (gate)
        {
            SessionEventWatcher[] fewer = [.. watchers.Where(other => other != watcher)];
            Volatile.Write(ref watchers, fewer);
        }
        Changed?.Invoke();
    }
}

/// <summary>One watcher: its filter, its queue of records, and what it lost.</summary>
internal sealed class SessionEventWatcher : IDisposable
{
    private readonly SessionEventHub hub;
    private readonly Channel<SessionLogRecord> queue = Channel.CreateBounded<SessionLogRecord>(new BoundedChannelOptions(SessionEventHub.WatcherBacklog)
    {
        // TryWrite fails when full (Wait is the mode where it does): the pump never waits.
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
        SingleWriter = true,
    });
    private long lost;

    internal SessionEventWatcher(SessionEventHub hub, SessionEventFilter filter)
    {
        this.hub = hub;
        Filter = filter;
    }

    public SessionEventFilter Filter { get; }

    public ChannelReader<SessionLogRecord> Records => queue.Reader;

    /// <summary>Records lost since the last call, because this watcher fell behind.</summary>
    public long TakeLost() => Interlocked.Exchange(ref lost, 0);

    internal void Offer(in SessionLogRecord record)
    {
        if (Filter.Matches(record) && !queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref lost);
        }
    }

    internal void Complete() => queue.Writer.TryComplete();

    public void Dispose()
    {
        Complete();
        hub.Leave(this);
    }
}
