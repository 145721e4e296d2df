using BenchmarkDotNet.Attributes;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// Loading a rule set (<see cref="BenchRules.Mixed"/>): into an empty engine (ipnat -f), and over
/// the same set already loaded (ipnat -C -f, a reload). Both number the rules, reserve the
/// forwarded ports, and build the matching order and its indexes once. The time is per load: the
/// packet path waits that long for a change made between two batches. <see cref="ApplyPreparedReplacement"/>
/// is the packet thread's share of a reload whose set was prepared on another thread.
/// </summary>
[MemoryDiagnoser]
[InvocationCount(1, 1)]
public class RuleLoadBenchmarks
{
    private NatRule[] rules = [];
    private NatEngine engine = null!;
    private PreparedRuleSet prepared = null!;

    [Params(1_000, 10_000, 100_000)]
    public int Rules { get; set; }

    [GlobalSetup]
    public void Setup() => rules = BenchRules.Mixed(Rules);

    [IterationSetup(Target = nameof(LoadRules))]
    public void EmptyEngine() => engine = BenchLab.CreateEngine(1024);

    [IterationSetup(Target = nameof(ReplaceRules))]
    public void LoadedEngine()
    {
        engine = BenchLab.CreateEngine(1024);
        engine.LoadRules(rules);
    }

    [IterationSetup(Target = nameof(ApplyPreparedReplacement))]
    public void LoadedEngineAndPreparedSet()
    {
        LoadedEngine();
        prepared = engine.PrepareReplacement(rules);
    }

    [Benchmark]
    public int LoadRules() => engine.LoadRules(rules).Count;

    [Benchmark]
    public int ReplaceRules() => engine.ReplaceRules(rules).Count;

    [Benchmark]
    public int ApplyPreparedReplacement() => engine.ReplaceRules(prepared).Count;
}
