using BenchmarkDotNet.Attributes;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// What the daemon's synchronisation costs: with several TUN queues, each worker translates a
/// batch under one lock on the shared table (a session's two directions may arrive on different
/// queues, so both must see one table). 1,000 UDP flows, so the table is in cache and the lock's
/// own cost is not hidden behind memory misses. ns/op is per packet.
/// <see cref="OneWorkerNoLock"/> and <see cref="OneWorkerLockPerBatch"/> translate 64 batches of
/// 64 packets on one thread; <see cref="TwoWorkersSharedLock"/> has two threads do as much each at
/// once, contending for the lock, so its ns per packet is wall time over both workers' packets.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1063 // BenchmarkDotNet needs the class unsealed; nothing derives from it
public class QueueLockBenchmarks : IDisposable
#pragma warning restore CA1063
{
    private const int Flows = 1_000;
    private const int Batch = 64;
    private const int BatchesPerWorker = 64;

    private NatEngine engine = null!;
    private PacketRing outbound = null!;
    private readonly Worker[] workers = [new(), new()];
    private readonly Lock gate = new();
    private int packetLength;

    [GlobalSetup]
    public void Setup()
    {
        engine = BenchLab.CreateEngine(Flows);
        engine.AddRule(BenchLab.MapRule("10.0.0.0/8"));
        outbound = new PacketRing(Flows);
        BenchLab.Open(engine, Transport.Udp, 0, Flows, BenchLab.DefaultHostBase, BenchLab.Start);
        for (int flow = 0; flow < Flows; flow++)
        {
            packetLength = BenchLab.WriteOutbound(outbound.Slot(flow), Transport.Udp, flow, BenchLab.DefaultHostBase);
        }
        Array.Fill(workers[0].Lengths, packetLength);
        Array.Fill(workers[1].Lengths, packetLength);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch * BatchesPerWorker)]
    public int OneWorkerNoLock() => Run(workers[0], 0, locked: false);

    [Benchmark(OperationsPerInvoke = Batch * BatchesPerWorker)]
    public int OneWorkerLockPerBatch() => Run(workers[0], 0, locked: true);

    [Benchmark(OperationsPerInvoke = 2 * Batch * BatchesPerWorker)]
    public int TwoWorkersSharedLock()
    {
        // The second worker is a thread started once and woken per invocation, so that thread
        // creation is not measured; it spins briefly before it sleeps, as the daemon's workers do.
        secondDone.Reset();
        secondGo.Set();
        int first = Run(workers[0], 0, locked: true);
        secondDone.Wait();
        return first + secondResult;
    }

    private readonly ManualResetEventSlim secondGo = new(false, spinCount: 1000);
    private readonly ManualResetEventSlim secondDone = new(false, spinCount: 1000);
    private int secondResult;
    private Thread? secondWorker;
    private volatile bool stopping;

    [GlobalSetup(Target = nameof(TwoWorkersSharedLock))]
    public void SetupTwoWorkers()
    {
        Setup();
        secondWorker = new Thread(() =>
        {
            while (true)
            {
                secondGo.Wait();
                secondGo.Reset();
                if (stopping)
                {
                    return;
                }
                secondResult = Run(workers[1], Flows / 2, locked: true);
                secondDone.Set();
            }
        })
        { IsBackground = true };
        secondWorker.Start();
    }

    [GlobalCleanup(Target = nameof(TwoWorkersSharedLock))]
    public void StopTwoWorkers()
    {
        stopping = true;
        secondGo.Set();
        secondWorker?.Join();
    }

    public void Dispose()
    {
        secondGo.Dispose();
        secondDone.Dispose();
        GC.SuppressFinalize(this);
    }

    private int Run(Worker worker, int firstFlow, bool locked)
    {
        int position = firstFlow;
        int sum = 0;
        for (int batch = 0; batch < BatchesPerWorker; batch++)
        {
            for (int i = 0; i < Batch; i++)
            {
                outbound.Slot(position).CopyTo(worker.Packets.Slot(i));
                if (++position == Flows)
                {
                    position = 0;
                }
            }
            if (locked)
            {
                lock (gate)
                {
                    engine.TranslateBatch(worker.Packets.All, PacketRing.Stride, 0, worker.Lengths, [], worker.Results, BenchLab.Start);
                }
            }
            else
            {
                engine.TranslateBatch(worker.Packets.All, PacketRing.Stride, 0, worker.Lengths, [], worker.Results, BenchLab.Start);
            }
            sum += (int)worker.Results[Batch - 1].Verdict;
        }
        return sum;
    }

    private sealed class Worker
    {
        public PacketRing Packets { get; } = new(Batch);

        public int[] Lengths { get; } = new int[Batch];

        public TranslationResult[] Results { get; } = new TranslationResult[Batch];
    }
}
