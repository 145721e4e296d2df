using BenchmarkDotNet.Attributes;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// What the new-session benchmarks share: every invocation translates the first packets of 64
/// fresh flows, so each makes a session, allocates an external port and is rewritten. Every
/// iteration opens <see cref="PerIteration"/> flows; the iteration setup removes them again (by
/// id, highest first, so the next iteration gets the same slots) and moves the clock past the UDP
/// port quarantine. A derived class says how many sessions the table holds first and which rules
/// are loaded. ns/op is per new session.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(Invocations, 1)]
public abstract class NewSessionBenchmarkBase
{
    public const int Batch = 64;
    protected const int Invocations = 2048;
    public const int PerIteration = Invocations * Batch;

    /// <summary>Sessions in the table before measuring.</summary>
    protected abstract int PrefillSessions { get; }

    /// <summary>Loads the rules; the flows' own is a map rule for 10.0.0.0/8.</summary>
    protected abstract void LoadRules(NatEngine engine);

    private NatEngine engine = null!;
    private PacketRing fresh = null!;
    private readonly PacketRing batch = new(Batch);
    private int packetLength;
    private int cursor;
    private long now;
    private int failures;

    [Params(Transport.Tcp, Transport.Udp)]
    public Transport Transport { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        engine = BenchLab.CreateEngine(PrefillSessions + PerIteration);
        LoadRules(engine);
        BenchLab.Open(engine, Transport, 0, PrefillSessions, BenchLab.DefaultHostBase, BenchLab.Start);
        fresh = new PacketRing(PerIteration);
        for (int i = 0; i < PerIteration; i++)
        {
            packetLength = BenchLab.WriteOutbound(fresh.Slot(i), Transport, PrefillSessions + i, BenchLab.DefaultHostBase);
        }
        now = BenchLab.Start;
    }

    [IterationSetup]
    public void RemoveLastIterationsSessions()
    {
        // BenchmarkDotNet's first (jitting) run may invoke fewer times than an iteration does.
        int count = engine.SessionCount;
        if (failures != 0 || count < PrefillSessions || count > PrefillSessions + PerIteration)
        {
            throw new InvalidOperationException($"{failures} new flows made no session (the table holds {count}).");
        }
        for (int id = count - 1; id >= PrefillSessions; id--)
        {
            engine.RemoveSession(id, now);
        }
        now += TimeSpan.FromSeconds(121).Ticks;
        cursor = 0;
    }

    /// <summary>As <see cref="CreateSessions"/>, through <see cref="NatEngine.TranslateBatch"/> as the daemon does it.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int CreateSessionsBatched()
    {
        for (int i = 0; i < Batch; i++)
        {
            fresh.Slot(cursor++).CopyTo(batch.Slot(i));
            lengths[i] = packetLength;
        }
        engine.TranslateBatch(batch.All, PacketRing.Stride, 0, lengths, [], results, now);
        int sum = 0;
        for (int i = 0; i < Batch; i++)
        {
            sum += (int)results[i].Verdict;
        }
        failures += sum;
        return sum;
    }

    private readonly int[] lengths = new int[Batch];
    private readonly TranslationResult[] results = new TranslationResult[Batch];

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
