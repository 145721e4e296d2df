using BenchmarkDotNet.Attributes;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// New sessions (as <see cref="NewSessionBenchmarks"/>, 1,000 sessions in the table) with one rule
/// loaded, or 10,000: <see cref="BenchRules.Mixed"/>'s 9,999 (port forwards and map rules for
/// other inside prefixes) and then the flows' own map rule, 10.0.0.0/8. Every new flow is looked
/// up among the redirects (a miss), the external addresses (a miss) and the map rules, where its
/// /8 comes after all the /24s: the last rule a walk in IP Filter's order would reach. ns/op is per new session.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(Invocations, 1)]
public class RuleMatchBenchmarks
{
    private const int Prefill = 1_000;
    private const int Batch = NewSessionBenchmarks.Batch;
    private const int Invocations = 1024;
    private const int PerIteration = Invocations * Batch;

    private NatEngine engine = null!;
    private PacketRing fresh = null!;
    private readonly PacketRing batch = new(Batch);
    private int packetLength;
    private int cursor;
    private long now;
    private int failures;

    [Params(1, 10_000)]
    public int Rules { get; set; }

    [Params(Transport.Tcp, Transport.Udp)]
    public Transport Transport { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        engine = BenchLab.CreateEngine(Prefill + PerIteration);
        engine.LoadRules([.. BenchRules.Mixed(Rules - 1), BenchLab.MapRule("10.0.0.0/8")]);
        BenchLab.Open(engine, Transport, 0, Prefill, BenchLab.DefaultHostBase, BenchLab.Start);
        fresh = new PacketRing(PerIteration);
        for (int i = 0; i < PerIteration; i++)
        {
            packetLength = BenchLab.WriteOutbound(fresh.Slot(i), Transport, Prefill + i, BenchLab.DefaultHostBase);
        }
        now = BenchLab.Start;
    }

    [IterationSetup]
    public void RemoveLastIterationsSessions()
    {
        int count = engine.SessionCount;
        if (failures != 0 || count < Prefill || count > Prefill + PerIteration)
        {
            throw new InvalidOperationException($"{failures} new flows made no session (the table holds {count}).");
        }
        for (int id = count - 1; id >= Prefill; id--)
        {
            engine.RemoveSession(id, now);
        }
        now += TimeSpan.FromSeconds(121).Ticks;
        cursor = 0;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int CreateSessions()
    {
        int sum = 0;
        NatEngine nat = engine;
        for (int i = 0; i < Batch; i++)
        {
            Span<byte> packet = batch.Slot(i);
            fresh.Slot(cursor++).CopyTo(packet);
            sum += (int)nat.Translate(packet, packetLength, now).Verdict;
        }
        failures += sum; // Forward is 0; a refusal is a Drop or a Reply
        return sum;
    }
}
