using System.Diagnostics;
using System.Runtime.InteropServices;

namespace NatGate.Benchmarks;

/// <summary>
/// "latency [MiB]": what a cache miss costs on this machine, since a virtual machine may expose
/// no hardware counters. Random loads over a buffer of the given size (default 256 MiB), one cache
/// line each: dependent (a pointer chase, the latency of one miss) and independent (64 at a time,
/// as a batch-prefetching data path would issue them), with 4 KiB pages and with transparent huge
/// pages asked for by madvise.
/// </summary>
internal static partial class MemoryLatency
{
    private const int MadviseHugePage = 14;
    private const int Steps = 20_000_000;

    public static int Run(string[] args)
    {
        long mebibytes = args.Length > 1 ? long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 256;
        long bytes = mebibytes << 20;
        foreach (bool hugePages in (ReadOnlySpan<bool>)[false, true])
        {
            Measure(bytes, hugePages);
        }
        return 0;
    }

    private static unsafe void Measure(long bytes, bool hugePages)
    {
        const nuint alignment = 2 << 20;
        void* memory = NativeMemory.AlignedAlloc((nuint)bytes, alignment);
        try
        {
            if (hugePages && Madvise(memory, (nuint)bytes, MadviseHugePage) != 0)
            {
                Console.WriteLine($"madvise(MADV_HUGEPAGE) failed: errno {Marshal.GetLastPInvokeError()}");
            }
            int lines = (int)(bytes / 64);
            var cells = new Span<int>(memory, (int)(bytes / sizeof(int)));
            // Sattolo's algorithm: one random cycle through every line, so the chase visits them all.
            int[] order = new int[lines];
            for (int i = 0; i < lines; i++)
            {
                order[i] = i;
            }
            var random = new Random(3);
            for (int i = lines - 1; i > 0; i--)
            {
                int j = random.Next(i);
                (order[i], order[j]) = (order[j], order[i]);
            }
            for (int i = 0; i < lines; i++)
            {
                cells[i * 16] = order[i];
            }

            int line = 0;
            var clock = Stopwatch.StartNew();
            for (int step = 0; step < Steps; step++)
            {
                line = cells[line * 16];
            }
            double dependent = clock.Elapsed.TotalNanoseconds / Steps;

            int[] targets = new int[Steps];
            for (int i = 0; i < Steps; i++)
            {
                targets[i] = random.Next(lines) * 16;
            }
            long sum = 0;
            clock.Restart();
            for (int step = 0; step < Steps; step++)
            {
                sum += cells[targets[step]];
            }
            double independent = clock.Elapsed.TotalNanoseconds / Steps;
            Console.WriteLine($"{bytes >> 20} MiB, {(hugePages ? "huge pages (madvise)" : "4 KiB pages")}: dependent miss {dependent:F1} ns, independent misses {independent:F1} ns each (check {line + sum})");
        }
        finally
        {
            NativeMemory.AlignedFree(memory);
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    private static unsafe partial int Madvise(void* address, nuint length, int advice);
}
