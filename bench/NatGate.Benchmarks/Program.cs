using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using NatGate.Benchmarks;

if (args.Length > 0 && args[0] == "latency")
{
    return MemoryLatency.Run(args);
}
if (args.Length > 0 && args[0] == "memory")
{
    return SessionMemory.Run(args);
}
if (args.Length > 0 && args[0] == "table-memory")
{
    return TableMemory.Run(args);
}

// A short job so the whole suite runs in about a quarter of an hour on two cores: one launch,
// three warm-up and five measured iterations. Command-line options (--job, --iterationCount ...) override it.
IConfig config = DefaultConfig.Instance
    .AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(5).WithId("Short5").AsDefault())
    .AddColumn(new PacketRateColumn());
BenchmarkSwitcher.FromAssembly(typeof(EstablishedFlowBenchmarks).Assembly).Run(args, config);
return 0;
