using BenchmarkDotNet.Attributes;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// New sessions (<see cref="NewSessionBenchmarkBase"/>) with one map rule and a table that already
/// holds 1 million sessions (or 1,000): a mapping per flow, endpoint-independent.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(Invocations, 1)]
public class NewSessionBenchmarks : NewSessionBenchmarkBase
{
    /// <summary>Sessions in the table before measuring: 1 million (the target's case) or 1,000 (the table mostly in cache).</summary>
    [Params(1_000, 1_000_000)]
    public int Prefill { get; set; }

    protected override int PrefillSessions => Prefill;

    protected override void LoadRules(NatEngine engine) => engine.AddRule(BenchLab.MapRule("10.0.0.0/8"));
}
