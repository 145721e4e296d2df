using BenchmarkDotNet.Attributes;
using NatGate.Core.SessionLog;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// New sessions (<see cref="NewSessionBenchmarkBase"/>, one map rule, 1,000 sessions first) with
/// the session log on: each new session copies its created record into the ring, which a thread
/// of its own drains as the daemon's log pump does (here it only reads; the sinks' formatting
/// runs on that thread, never on the packet path). The difference from
/// <see cref="NewSessionBenchmarks"/> at 1,000 is what logging costs a new session. Records the
/// ring could not take are reported at the end: a run that lost some measured a full ring.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(Invocations, 1)]
public class NewSessionLoggedBenchmarks : NewSessionBenchmarkBase
{
    private readonly SessionEventRing ring = new() { Recording = true };
    private Thread? drainer;
    private volatile bool stopping;
    private long drained;

    protected override int PrefillSessions => 1_000;

    protected override void LoadRules(NatEngine engine)
    {
        engine.AddRule(BenchLab.MapRule("10.0.0.0/8"));
        engine.RecordSessionEvents(ring);
        drainer = new Thread(Drain) { IsBackground = true, Name = "session-log-drain" };
        drainer.Start();
    }

    private void Drain()
    {
        var batch = new SessionLogRecord[512];
        bool busy = false;
        while (!stopping)
        {
            int count = ring.Read(batch);
            drained += count;
            if (count == 0)
            {
                // As the daemon's pump waits when the ring is empty: 1 ms after records came, else 20 ms.
                Thread.Sleep(busy ? 1 : 20);
            }
            busy = count > 0;
        }
    }

    [GlobalCleanup]
    public void StopDraining()
    {
        stopping = true;
        drainer?.Join();
        Console.WriteLine($"// session log: {ring.Written} records written, {drained} drained, {ring.Lost} lost to a full ring");
    }
}
