using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using NatGate.Core.Control;
using NatGate.Core.SessionLog;
using NatGate.Core.Translation;
using NatGate.Daemon;

namespace NatGate.SessionLog;

/// <summary>
/// The session log's thread: drains the engine's <see cref="SessionEventRing"/> and hands each
/// record to the sinks (sessions and port blocks: a map-block rule's sessions are logged by their
/// block, and TCP state changes are for watchers only) and to the watchers. It keeps the ring's
/// recording on while there is a sink or a watcher. It sleeps when the ring is empty (1 ms after
/// records came, 20 ms when idle), so the engine never signals it: the packet path only copies a
/// record. At stop it writes every live session's end and drains the ring.
/// </summary>
internal sealed class SessionLogPump : IDisposable
{
    private const int ReadBatch = 512;

    // An idle gateway's pump wakes 50 times a second; while records come, every millisecond, so
    // that the ring (32,768 records) never fills at the engine's 1-2 million new sessions a second.
    private static readonly TimeSpan IdleWait = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan BusyWait = TimeSpan.FromMilliseconds(1);

    private readonly IReadOnlyList<ISessionLogSink> sinks;
    private readonly ILogger logger;
    private readonly ManualResetEventSlim stopSignal = new();
    private readonly long[] failuresBySink;
    private Thread? thread;
    private long delivered;
    private bool disposed;

    public SessionLogPump(SessionEventRing ring, IReadOnlyList<ISessionLogSink> sinks, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(ring);
        ArgumentNullException.ThrowIfNull(sinks);
        Ring = ring;
        this.sinks = sinks;
        this.logger = logger;
        failuresBySink = new long[sinks.Count];
        Hub.Changed = FollowReaders;
        FollowReaders();
    }

    /// <summary>
    /// Opens the sinks (a bad path or address stops the start here), makes the ring, has the
    /// engine record into it, and starts the thread. Watchers can come later whatever the sinks.
    /// </summary>
    public static SessionLogPump Open(NatEngine engine, SessionLogOptions options, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(options);
        List<ISessionLogSink> sinks = options.OpenSinks();
        var ring = new SessionEventRing();
        engine.RecordSessionEvents(ring);
        var pump = new SessionLogPump(ring, sinks, logger);
        pump.Start();
        if (sinks.Count > 0)
        {
            string names = string.Join(", ", sinks.Select(sink => sink.Name));
            SessionLogMessages.Logging(logger, names);
        }
        return pump;
    }

    public SessionEventRing Ring { get; }

    public SessionEventHub Hub { get; } = new();

    /// <summary>The figures metrics show: records the engine wrote, lost when the ring was full, and those a sink could not deliver.</summary>
    public SessionLogFigures Figures
    {
        get
        {
            long failures = 0;
            for (int sink = 0; sink < failuresBySink.Length; sink++)
            {
                failures += Interlocked.Read(ref failuresBySink[sink]);
            }
            return new(Ring.Written, Ring.Lost, Interlocked.Read(ref delivered), failures);
        }
    }

    public void Start()
    {
        thread = new Thread(Run) { IsBackground = true, Name = "natgate-sessionlog" };
        thread.Start();
    }

    /// <summary>Recording on while someone reads; TCP state changes only while a watcher wants them.</summary>
    private void FollowReaders()
    {
        Ring.RecordingUpdates = Hub.WantsUpdates;
        Ring.Recording = sinks.Count > 0 || Hub.Count > 0;
    }

    private void Run()
    {
        var batch = new SessionLogRecord[ReadBatch];
        bool unflushed = false;
        while (!stopSignal.IsSet)
        {
            int count = Ring.Read(batch);
            if (count == 0)
            {
                bool busy = unflushed;
                if (unflushed)
                {
                    FlushSinks(DateTime.UtcNow.Ticks);
                    unflushed = false;
                }
                stopSignal.Wait(busy ? BusyWait : IdleWait);
                continue;
            }
            Deliver(batch.AsSpan(0, count));
            unflushed = true;
        }
    }

    private void Deliver(ReadOnlySpan<SessionLogRecord> records)
    {
        foreach (ref readonly SessionLogRecord record in records)
        {
            Hub.Publish(record);
            // The attribution log: sessions and port blocks; a map-block rule's sessions are
            // covered by their block (RFC 7422), and state changes are not an attribution fact.
            if (record.Kind == SessionEventKind.Updated || (record.UnderPortBlock && !record.IsPortBlock))
            {
                continue;
            }
            for (int index = 0; index < sinks.Count; index++)
            {
                try
                {
                    sinks[index].Write(record);
                }
                catch (Exception error) when (error is IOException or SocketException or UnauthorizedAccessException)
                {
                    Failed(index, error);
                }
            }
            Interlocked.Increment(ref delivered);
        }
    }

    private void FlushSinks(long nowTicks)
    {
        for (int index = 0; index < sinks.Count; index++)
        {
            try
            {
                sinks[index].Flush(nowTicks);
            }
            catch (Exception error) when (error is IOException or SocketException or UnauthorizedAccessException)
            {
                Failed(index, error);
            }
        }
    }

    /// <summary>A record a sink could not take: counted; said in the log the first times and then every thousandth.</summary>
    private void Failed(int sink, Exception error)
    {
        long failures = Interlocked.Increment(ref failuresBySink[sink]);
        if (failures <= 3 || failures % 1000 == 0)
        {
            SessionLogMessages.SinkFailed(logger, sinks[sink].Name, failures, error.Message);
        }
    }

    /// <summary>
    /// At a stop, with the packet workers gone: every live session's end (<see cref="SessionEndReason.Stopped"/>)
    /// and the port blocks they held, a slice at a time through the engine, waiting for the ring
    /// to drain between slices so that none is lost; then drains the ring and closes the sinks.
    /// </summary>
    public void Stop(GatewayController controller, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(controller);
        if (Ring.Recording && thread is not null)
        {
            const int Slice = 2048;
            int slot = 0;
            int slots = controller.Run(engine => engine.SessionSlots);
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (slot < slots)
            {
                // Room for a slice (each slot holds at most one session, and a block release).
                while (Ring.Free < 2 * Slice && waited.Elapsed < TimeSpan.FromSeconds(30))
                {
                    Thread.Sleep(5);
                }
                int first = slot;
                slot = controller.Run(engine => engine.RecordSessionsAtStop(first, Slice, nowTicks));
            }
        }
        Dispose();
    }

    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        stopSignal.Set();
        thread?.Join(TimeSpan.FromSeconds(10));
        // What the thread left in the ring, then the sinks closed.
        var batch = new SessionLogRecord[ReadBatch];
        int count;
        while ((count = Ring.Read(batch)) > 0)
        {
            Deliver(batch.AsSpan(0, count));
        }
        FlushSinks(DateTime.UtcNow.Ticks);
        Ring.Recording = false;
        if (sinks.Count > 0)
        {
            SessionLogFigures figures = Figures;
            SessionLogMessages.Stopped(logger, figures.Recorded, figures.Lost, figures.SinkFailures);
        }
        Hub.CompleteAll();
        foreach (ISessionLogSink sink in sinks)
        {
            sink.Dispose();
        }
        stopSignal.Dispose();
    }
}

/// <summary>The session log's counts for metrics.</summary>
/// <param name="Recorded">Records the engine wrote into the ring.</param>
/// <param name="Lost">Records lost because the ring was full (the log fell behind the traffic).</param>
/// <param name="Delivered">Records handed to the sinks.</param>
/// <param name="SinkFailures">Records a sink could not deliver (a full disk, an unreachable syslog socket).</param>
public readonly record struct SessionLogFigures(long Recorded, long Lost, long Delivered, long SinkFailures);
