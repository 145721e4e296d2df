using NatGate.Core.Addressing;
using BenchmarkDotNet.Attributes;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// Expiry: a table of 1 million sessions of which <see cref="Due"/> are due; one invocation is
/// one ExpireSessions call that removes them (timing wheel sweep, index deletions, port release).
/// The 1 million minus Due long-lived sessions (inside 10.0.0.0/9, age about 11.5 days) sit in a
/// wheel slot the sweeps never reach during the run; the due ones (inside 10.128.0.0/9, age 10 s)
/// are made again before each iteration. ns/op is per expired session.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)]
public class ExpiryBenchmarks
{
    public const int Total = 1_000_000;
    public const int Due = 1 << 16;
    private const int DueAgeSeconds = 10;

    // 122 wheel rotations of 8192 one-second slots, less 5 s: the slot lies just behind the start,
    // so a sweep from the start onwards reaches it only after a whole rotation (8192 s).
    private const int LongAgeSeconds = (8192 * 122) - 5;

    private static readonly Ipv4Address DueHostBase = Core.Addressing.Ipv4Address.Parse("10.129.0.0");

    private NatEngine engine = null!;
    private long now;

    [Params(Transport.Tcp, Transport.Udp)]
    public Transport Transport { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        engine = BenchLab.CreateEngine(Total);
        // Sweep the empty wheel once, so the first measured sweep covers seconds, not a rotation.
        engine.ExpireSessions(BenchLab.Start);
        engine.AddRule(BenchLab.MapRule("10.0.0.0/9", LongAgeSeconds));
        engine.AddRule(BenchLab.MapRule("10.128.0.0/9", DueAgeSeconds));
        BenchLab.Open(engine, Transport, 0, Total - Due, BenchLab.DefaultHostBase, BenchLab.Start);
        now = BenchLab.Start;
    }

    [IterationSetup]
    public void OpenDueSessions()
    {
        if (engine.SessionCount == Total)
        {
            return; // the last setup's sessions were never expired (an iteration that did not run the benchmark)
        }
        if (engine.SessionCount != Total - Due)
        {
            throw new InvalidOperationException($"The table holds {engine.SessionCount} sessions before opening, not {Total - Due}.");
        }
        now += TimeSpan.FromSeconds(20).Ticks;
        BenchLab.Open(engine, Transport, 0, Due, DueHostBase, now);
    }

    [Benchmark(OperationsPerInvoke = Due)]
    public int ExpireSessions()
    {
        int expired = engine.ExpireSessions(now + TimeSpan.FromSeconds(DueAgeSeconds + 2).Ticks);
        if (expired != Due)
        {
            throw new InvalidOperationException($"Expired {expired} sessions, not {Due}.");
        }
        return expired;
    }
}
