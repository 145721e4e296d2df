using System.Diagnostics;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// "memory N [tcp|udp] [ipv4|ipv6]": bytes per session measured from the process. Prints the managed heap
/// (GC.GetTotalMemory after a full collection) and the resident set before the engine exists,
/// after it is built empty (its arrays are reserved up front) and after N sessions are opened,
/// and divides the growth by N; also the engine's own count of its table's bytes.
/// </summary>
internal static class SessionMemory
{
    public static int Run(string[] args)
    {
        int count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000_000;
        Transport transport = args.Length > 2 && args[2].Equals("tcp", StringComparison.OrdinalIgnoreCase) ? Transport.Tcp : Transport.Udp;

        bool ipv6 = args.Length > 3 && args[3].Equals("ipv6", StringComparison.OrdinalIgnoreCase);

        Snapshot before = Snapshot.Take();
        NatEngine engine = ipv6 ? Ipv6BenchLab.CreateEngine(count) : BenchLab.CreateEngine(count);
        if (ipv6)
        {
            // The IPv6 table is made by the first packet that needs it: count it as reserved.
            Span<byte> first = stackalloc byte[PacketRing.Stride];
            engine.Translate(first, Ipv6BenchLab.WriteOutbound(first, transport, count), BenchLab.Start);
        }
        else
        {
            engine.AddRule(BenchLab.MapRule("10.0.0.0/8"));
        }
        Snapshot empty = Snapshot.Take();
        var clock = Stopwatch.StartNew();
        if (ipv6)
        {
            Ipv6BenchLab.Open(engine, transport, 0, count - 1);
        }
        else
        {
            BenchLab.Open(engine, transport, 0, count, BenchLab.DefaultHostBase, BenchLab.Start);
        }
        clock.Stop();
        Snapshot full = Snapshot.Take();

        int sessions = engine.SessionCount + engine.Ipv6SessionCount;
        Console.WriteLine($"sessions: {sessions:N0} {transport} {(ipv6 ? "IPv6" : "IPv4")} (capacity {engine.Capacity:N0}), opened in {clock.Elapsed.TotalSeconds:F1} s ({count / clock.Elapsed.TotalSeconds / 1e6:F2} million/s, one packet each)");
        if (!ipv6)
        {
            Console.WriteLine($"engine's own count (TableMemoryBytes): {engine.TableMemoryBytes / (double)count:F1} B per session");
        }
        Report("managed heap", before.Heap, empty.Heap, full.Heap, count);
        Report("GC committed", before.Committed, empty.Committed, full.Committed, count);
        Report("resident set", before.Resident, empty.Resident, full.Resident, count);
        GC.KeepAlive(engine);
        return 0;
    }

    private static void Report(string what, long before, long empty, long full, int count)
        => Console.WriteLine($"{what}: {before / 1048576.0:F0} MiB before, {empty / 1048576.0:F0} MiB empty engine, {full / 1048576.0:F0} MiB full"
            + $" -> {(full - before) / (double)count:F1} B per session ({(empty - before) / (double)count:F1} reserved up front, {(full - empty) / (double)count:F1} added while filling)");

    private readonly record struct Snapshot(long Heap, long Committed, long Resident)
    {
        public static Snapshot Take()
        {
            long heap = GC.GetTotalMemory(forceFullCollection: true);
            GCMemoryInfo info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
            using var process = Process.GetCurrentProcess();
            return new Snapshot(heap, info.TotalCommittedBytes, process.WorkingSet64);
        }
    }
}
