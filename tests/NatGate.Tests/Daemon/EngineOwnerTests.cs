using NatGate.Core.Control;
using NatGate.Core.Translation;
using NatGate.Daemon;

namespace NatGate.Tests.Daemon;

/// <summary>
/// The single-queue worker owns the engine and translates without the lock; every other
/// thread's call must run on that worker, come back with its result or its exception, and
/// never hang when the worker leaves.
/// </summary>
public sealed class EngineOwnerTests
{
    /// <summary>Runs a call from another thread; a call that never completes fails the test instead of hanging it.</summary>
    private static T FromAnotherThread<T>(Func<T> call)
        => Task.Run(call, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken).GetAwaiter().GetResult();

    private static GatewayController NewController() => new(new NatEngine(new NatEngineOptions { RandomSeed = 1 }, 0), TimeProvider.System);

    /// <summary>A stand-in for the worker: owns the engine and serves posted calls until told to stop.</summary>
    private sealed class Worker : IDisposable
    {
        private readonly SemaphoreSlim wake = new(0);
        private readonly ManualResetEventSlim owning = new();
        private readonly Thread thread;
        private volatile bool stopping;

        public Worker(GatewayController controller, bool serve = true)
        {
            thread = new Thread(() =>
            {
                EngineOwner owner = controller.TakeOwnership(WakeUp);
                ThreadId = Environment.CurrentManagedThreadId;
                owning.Set();
                try
                {
                    while (!stopping)
                    {
                        // No timeout: a posted call is served only if posting woke this thread.
                        wake.Wait();
                        if (serve)
                        {
                            owner.RunPending(controller.Engine);
                        }
                    }
                }
                finally
                {
                    controller.ReleaseOwnership(owner);
                }
            })
            { IsBackground = true };
            thread.Start();
            Assert.True(owning.Wait(TimeSpan.FromSeconds(10)));
        }

        public int ThreadId { get; private set; }

        private void WakeUp()
        {
            try
            {
                wake.Release();
            }
            catch (ObjectDisposedException)
            {
                // a caller that read the owner just before it left; it takes its call back
            }
        }

        public void Stop()
        {
            stopping = true;
            wake.Release();
            Assert.True(thread.Join(TimeSpan.FromSeconds(10)));
        }

        public void Dispose()
        {
            if (!stopping)
            {
                Stop();
            }
            wake.Dispose();
            owning.Dispose();
        }
    }

    [Fact]
    public void A_call_from_another_thread_runs_on_the_owning_worker_and_returns_its_result()
    {
        GatewayController controller = NewController();
        using var worker = new Worker(controller);

        int ranOn = FromAnotherThread(() => controller.Run(_ => Environment.CurrentManagedThreadId));
        NatStatistics statistics = FromAnotherThread(controller.Statistics);

        Assert.Equal(worker.ThreadId, ranOn);
        Assert.Equal(0, statistics.InUse);
    }

    [Fact]
    public void A_call_that_throws_on_the_worker_throws_the_same_exception_to_the_caller()
    {
        GatewayController controller = NewController();
        using var worker = new Worker(controller);

        var refused = Assert.Throws<NatControlException>(() => FromAnotherThread(() =>
        {
            controller.RemoveSession(12345);
            return 0;
        }));

        Assert.Equal(NatErrno.ESRCH, refused.Errno);
        Assert.Equal(worker.ThreadId, FromAnotherThread(() => controller.Run(_ => Environment.CurrentManagedThreadId))); // the worker lived on
    }

    [Fact]
    public void Without_an_owner_calls_run_under_the_lock_on_the_calling_thread()
    {
        GatewayController controller = NewController();
        using (var worker = new Worker(controller))
        {
            Assert.Equal(worker.ThreadId, FromAnotherThread(() => controller.Run(_ => Environment.CurrentManagedThreadId)));
        }

        int ranOn = controller.Run(_ =>
        {
            Assert.True(controller.EngineLock.IsHeldByCurrentThread);
            return Environment.CurrentManagedThreadId;
        });

        Assert.Equal(Environment.CurrentManagedThreadId, ranOn);
    }

    [Fact]
    public void A_second_owner_is_refused()
    {
        GatewayController controller = NewController();
        using var worker = new Worker(controller);

        Assert.Throws<InvalidOperationException>(() => controller.TakeOwnership(() => { }));
    }

    [Fact]
    public void A_call_still_waiting_when_the_worker_leaves_runs_as_it_hands_the_engine_back()
    {
        GatewayController controller = NewController();
        var worker = new Worker(controller, serve: false);
        int ranOn = 0;
        var caller = new Thread(() => ranOn = controller.Run(_ => Environment.CurrentManagedThreadId));
        caller.Start();
        Thread.Sleep(100); // the call waits in the queue of a worker that does not serve it
        Assert.True(caller.IsAlive);

        worker.Dispose();

        Assert.True(caller.Join(TimeSpan.FromSeconds(10)), "the caller hung on a worker that had left");
        Assert.Equal(worker.ThreadId, ranOn);
    }

    [Fact]
    public async Task Many_callers_while_ownership_comes_and_goes_all_complete_exactly_once()
    {
        GatewayController controller = NewController();
        int runs = 0;
        using var done = new CancellationTokenSource();
        using var started = new CountdownEvent(4);
        Task<int>[] callers = [.. Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
        {
            int mine = 0;
            while (!done.IsCancellationRequested)
            {
                controller.Run(_ => Interlocked.Increment(ref runs));
                if (++mine == 1)
                {
                    started.Signal();
                }
            }
            return mine;
        }, TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default))];
        Assert.True(started.Wait(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        for (int round = 0; round < 20; round++)
        {
            using var worker = new Worker(controller);
            Thread.Sleep(10);
        }
        await done.CancelAsync();
        int[] made = await Task.WhenAll(callers).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(made.Sum(), runs);
    }
}
