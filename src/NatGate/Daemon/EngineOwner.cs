using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using NatGate.Core.Translation;

namespace NatGate.Daemon;

/// <summary>
/// The one thread that owns the engine while a single worker serves the only TUN queue. That
/// worker translates its batches without taking <see cref="GatewayController.EngineLock"/>:
/// every other thread's call (the control API, expiry, metrics) is posted here and runs on the
/// worker between two batches, the single-writer discipline of VPP's worker threads. The packet
/// path then takes no lock at all in the steady state (issue 5, "no allocation and no lock on
/// the per-packet path").
/// </summary>
public sealed class EngineOwner
{
    private readonly ConcurrentQueue<EngineWork> pending = new();
    private readonly Action wake;
    private readonly int threadId = Environment.CurrentManagedThreadId;

    /// <param name="wake">Wakes the owning thread if it sleeps (the TUN queue's interrupt).</param>
    internal EngineOwner(Action wake)
    {
        this.wake = wake;
    }

    internal bool IsCurrentThread => Environment.CurrentManagedThreadId == threadId;

    /// <summary>True when calls are waiting; cheap enough for every turn of the worker's loop.</summary>
    public bool HasPending => !pending.IsEmpty;

    internal void Post(EngineWork work)
    {
        pending.Enqueue(work);
        wake();
    }

    /// <summary>Runs every call posted so far, on the owning thread.</summary>
    public void RunPending(NatEngine engine)
    {
        while (pending.TryDequeue(out EngineWork? work))
        {
            if (work.TryClaim())
            {
                work.Execute(engine);
            }
        }
    }
}

/// <summary>
/// One posted call. Whoever claims it first runs it: the owner, or, when the owner has gone
/// before reaching it, the caller itself, so a call never waits on a thread that has left.
/// </summary>
internal sealed class EngineWork(Func<NatEngine, object?> operation)
{
    private readonly object gate = new();
    private bool done;
    private int claimed;
    private object? result;
    private ExceptionDispatchInfo? error;

    public bool TryClaim() => Interlocked.Exchange(ref claimed, 1) == 0;

    public void Execute(NatEngine engine)
    {
        try
        {
            result = operation(engine);
        }
#pragma warning disable CA1031 // the caller's exception, handed back to the caller's thread
        catch (Exception caught)
#pragma warning restore CA1031
        {
            error = ExceptionDispatchInfo.Capture(caught);
        }
        finally
        {
            lock (gate)
            {
                done = true;
                Monitor.PulseAll(gate);
            }
        }
    }

    public bool Wait(TimeSpan timeout)
    {
        lock (gate)
        {
            return done || (Monitor.Wait(gate, timeout) && done);
        }
    }

    /// <summary>The call's result, or its exception rethrown with its original stack.</summary>
    public object? Result
    {
        get
        {
            error?.Throw();
            return result;
        }
    }
}
