using BenchmarkDotNet.Attributes;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// New sessions (<see cref="NewSessionBenchmarkBase"/>, 1,000 sessions in the table) with one rule
/// loaded, or 10,000: <see cref="BenchRules.Mixed"/>'s 9,999 (port forwards and map rules for
/// other inside prefixes) and then the flows' own map rule, 10.0.0.0/8. Every new flow is looked
/// up among the redirects (a miss), the external addresses (a miss) and the map rules, where its
/// /8 comes after all the /24s: the last rule a walk in IP Filter's order would reach. ns/op is per new session.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(Invocations, 1)]
public class RuleMatchBenchmarks : NewSessionBenchmarkBase
{
    [Params(1, 10_000)]
    public int Rules { get; set; }

    protected override int PrefillSessions => 1_000;

    protected override void LoadRules(NatEngine engine)
        => engine.LoadRules([.. BenchRules.Mixed(Rules - 1), BenchLab.MapRule("10.0.0.0/8")]);
}
