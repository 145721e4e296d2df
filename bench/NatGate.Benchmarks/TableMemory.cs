using System.Diagnostics;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Benchmarks;

/// <summary>
/// "table-memory N ipv4|ipv6": bytes per session of the flow table alone, for either family,
/// before the IPv6 engine exists to fill one with packets. Builds a table for N sessions and adds
/// N, each a mapping of its own (an inside endpoint to a remote, as NAPT makes them), then
/// divides the managed heap's growth by N. The table holds the sessions, the three indexes, the
/// timer wheel and the per-host counts; the engine around it adds no per-session memory (its
/// port allocators are per external address). "memory N" measures the IPv4 engine the same way.
/// </summary>
internal static class TableMemory
{
    public static int Run(string[] args)
    {
        int count = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10_000_000;
        bool ipv6 = args.Length > 2 && args[2].Equals("ipv6", StringComparison.OrdinalIgnoreCase);
        return ipv6
            ? Measure(count, "IPv6", index => new Ipv6Address(0xfd00_0077_0000_0000UL, (ulong)(index / 60_000) + 2),
                Ipv6Address.Parse("2001:db8::10", null), Ipv6Address.Parse("2001:db8:ff::5", null))
            : Measure(count, "IPv4", index => new Ipv4Address(0x0A00_0000u + (uint)(index / 60_000) + 2),
                Ipv4Address.Parse("198.51.100.10"), Ipv4Address.Parse("203.0.113.5"));
    }

    private static int Measure<TAddress>(int count, string family, Func<int, TAddress> insideHost, TAddress external, TAddress remote)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var table = new FlowTable<TAddress>(new FlowTableLimits { MaximumSessions = count, MaximumSessionsPerHost = 0 }, 0, 0x5EED);
        long empty = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        for (int index = 0; index < count; index++)
        {
            // Inside endpoints spread over hosts of 60,000 ports each; external ports over several remotes' worth.
            var session = new Session<TAddress>
            {
                Original = new FlowKey<TAddress>(IpProtocol.Udp, insideHost(index), (ushort)(1024 + (index % 60_000)), remote, 53),
                Translated = new FlowKey<TAddress>(IpProtocol.Udp, TAddress.Offset(external, (ulong)(index / 60_000)), (ushort)(1024 + (index % 60_000)), remote, 53),
            };
            if (table.CheckRoom(session, startsMapping: true) != TableRefusal.None)
            {
                Console.WriteLine($"refused at {index:N0}");
                return 1;
            }
            int slot = table.Add(session, -1, startsMapping: true);
            table.Wheel.Schedule(slot, TimeSpan.TicksPerMinute);
        }
        clock.Stop();
        long full = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"{family}: {table.Count:N0} sessions of {System.Runtime.CompilerServices.Unsafe.SizeOf<Session<TAddress>>()} bytes, added in {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"table's own count: {(table.MemoryBytes + table.Wheel.MemoryBytes) / (double)count:F1} B per session");
        Console.WriteLine($"managed heap: {(full - before) / (double)count:F1} B per session ({(empty - before) / (double)count:F1} reserved up front, {(full - empty) / (double)count:F1} added while filling)");
        GC.KeepAlive(table);
        return 0;
    }
}
