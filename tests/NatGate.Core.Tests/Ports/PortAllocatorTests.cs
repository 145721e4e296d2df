using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Ports;

namespace NatGate.Core.Tests.Ports;

public sealed class PortAllocatorTests
{
    private static readonly Ipv4Address HostA = Ipv4Address.Parse("10.0.0.1");
    private static readonly Ipv4Address HostB = Ipv4Address.Parse("10.0.0.2");
    private static readonly long UdpQuarantine = TimeSpan.FromSeconds(120).Ticks;

    [Fact]
    public void Port_range_counts_contains_and_prints()
    {
        var range = new PortRange(1024, 2047);
        Assert.Equal(1024, range.Count);
        Assert.True(range.Contains(1024));
        Assert.True(range.Contains(2047));
        Assert.False(range.Contains(1023));
        Assert.False(range.Contains(2048));
        Assert.Equal("1024-2047", range.ToString());
        Assert.Equal(65535, PortRange.All.Count);
        Assert.False(PortRange.All.Contains(0));
        Assert.Equal(0, new PortRange(10, 9).Count);
    }

    [Fact]
    public void Constructor_rejects_an_empty_range()
        => Assert.Throws<ArgumentException>(() => new PortAllocator(new PortRange(10, 9), 0, 1));

    [Fact]
    public void Free_preferred_port_is_preserved()
    {
        var allocator = new PortAllocator(PortRange.All, UdpQuarantine, 1);
        Assert.True(allocator.TryAllocate(5000, HostA, 0, preserveParity: false, allowClassChange: false, out ushort port));
        Assert.Equal(5000, port);
        Assert.True(allocator.IsAllocated(5000));
        Assert.Equal(1, allocator.AllocatedCount);
        Assert.Equal(65535, allocator.Capacity);
    }

    [Fact]
    public void Taken_privileged_port_gets_another_privileged_port()
    {
        var allocator = new PortAllocator(PortRange.All, 0, 2);
        Assert.True(allocator.TryReserve(80));
        for (int attempt = 0; attempt < 500; attempt++)
        {
            Assert.True(allocator.TryAllocate(80, HostB, 0, preserveParity: false, allowClassChange: false, out ushort port));
            Assert.NotEqual(80, port);
            Assert.InRange(port, 1, 1023);
        }
    }

    [Fact]
    public void Taken_unprivileged_port_gets_another_unprivileged_port()
    {
        var allocator = new PortAllocator(PortRange.All, 0, 3);
        Assert.True(allocator.TryReserve(5000));
        for (int attempt = 0; attempt < 500; attempt++)
        {
            Assert.True(allocator.TryAllocate(5000, HostB, 0, preserveParity: false, allowClassChange: false, out ushort port));
            Assert.InRange(port, 1024, 65535);
        }
    }

    [Fact]
    public void Full_class_fails_unless_a_class_change_is_allowed()
    {
        // 1000-1100: 24 privileged ports, 77 unprivileged ones.
        var allocator = new PortAllocator(new PortRange(1000, 1100), 0, 4);
        for (ushort port = 1000; port < 1024; port++)
        {
            Assert.True(allocator.TryReserve(port));
        }
        Assert.False(allocator.TryAllocate(1010, HostB, 0, preserveParity: false, allowClassChange: false, out ushort refused));
        Assert.Equal(0, refused);
        Assert.True(allocator.TryAllocate(1010, HostB, 0, preserveParity: false, allowClassChange: true, out ushort port2));
        Assert.InRange(port2, 1024, 1100);
    }

    [Fact]
    public void Preferred_port_outside_the_range_gets_a_port_inside_it()
    {
        var allocator = new PortAllocator(new PortRange(40000, 40099), 0, 5);
        for (int attempt = 0; attempt < 100; attempt++)
        {
            Assert.True(allocator.TryAllocate(5000, HostA, 0, preserveParity: false, allowClassChange: false, out ushort port));
            Assert.InRange(port, 40000, 40099);
        }
        Assert.Equal(100, allocator.AllocatedCount);
        Assert.False(allocator.TryAllocate(5000, HostA, 0, preserveParity: false, allowClassChange: true, out _));
    }

    [Fact]
    public void Privileged_preferred_port_with_no_privileged_ports_in_range_needs_a_class_change()
    {
        var allocator = new PortAllocator(new PortRange(40000, 40099), 0, 6);
        Assert.False(allocator.TryAllocate(80, HostA, 0, preserveParity: false, allowClassChange: false, out _));
        Assert.True(allocator.TryAllocate(80, HostA, 0, preserveParity: false, allowClassChange: true, out ushort port));
        Assert.InRange(port, 40000, 40099);
    }

    [Theory]
    [InlineData(5000, 1000)]
    [InlineData(5001, 1000)]
    [InlineData(5000, 1001)]
    [InlineData(5001, 1001)]
    public void Parity_is_kept_when_asked(int preferred, int first)
    {
        var allocator = new PortAllocator(new PortRange((ushort)first, (ushort)(first + 10_000)), 0, 7);
        Assert.True(allocator.TryReserve((ushort)preferred));
        for (int attempt = 0; attempt < 200; attempt++)
        {
            Assert.True(allocator.TryAllocate((ushort)preferred, HostB, 0, preserveParity: true, allowClassChange: false, out ushort port));
            Assert.Equal(preferred & 1, port & 1);
        }
    }

    [Fact]
    public void Parity_yields_when_no_port_of_that_parity_is_free()
    {
        var allocator = new PortAllocator(new PortRange(2000, 2003), 0, 8);
        Assert.True(allocator.TryReserve(2000));
        Assert.True(allocator.TryReserve(2002));
        Assert.True(allocator.TryAllocate(2000, HostB, 0, preserveParity: true, allowClassChange: false, out ushort port));
        Assert.Equal(1, port & 1);
    }

    [Fact]
    public void Exhaustion_fails_and_a_release_makes_room()
    {
        var allocator = new PortAllocator(new PortRange(3000, 3009), 0, 9);
        for (int index = 0; index < 10; index++)
        {
            Assert.True(allocator.TryAllocate(3000, HostA, 0, preserveParity: false, allowClassChange: false, out _));
        }
        Assert.Equal(10, allocator.AllocatedCount);
        Assert.False(allocator.TryAllocate(3000, HostA, 0, preserveParity: false, allowClassChange: true, out _));
        allocator.Release(3007, HostA, 0);
        Assert.Equal(9, allocator.AllocatedCount);
        Assert.True(allocator.TryAllocate(3000, HostB, 0, preserveParity: false, allowClassChange: false, out ushort port));
        Assert.Equal(3007, port);
    }

    [Fact]
    public void Released_port_is_quarantined_against_other_hosts_only()
    {
        long start = TimeSpan.FromHours(5).Ticks;
        var allocator = new PortAllocator(new PortRange(6000, 6001), UdpQuarantine, 10);
        Assert.True(allocator.TryReserve(6000));
        Assert.True(allocator.TryReserve(6001));
        allocator.Release(6000, HostA, start);

        // RFC 4787 REQ-8: another host must not get the port before 120 s have passed.
        long justBefore = start + UdpQuarantine - 1;
        Assert.False(allocator.TryAllocate(6000, HostB, justBefore, preserveParity: false, allowClassChange: true, out _));
        Assert.False(allocator.IsAllocated(6000));

        // The same host may take it back at once.
        Assert.True(allocator.TryAllocate(7000, HostA, start, preserveParity: false, allowClassChange: false, out ushort again));
        Assert.Equal(6000, again);
        allocator.Release(6000, HostA, start + TimeSpan.FromSeconds(10).Ticks);

        // The quarantine restarted at the second release.
        long afterSecondRelease = start + TimeSpan.FromSeconds(10).Ticks + UdpQuarantine;
        Assert.False(allocator.TryAllocate(6000, HostB, afterSecondRelease - 1, preserveParity: false, allowClassChange: false, out _));
        Assert.True(allocator.TryAllocate(6000, HostB, afterSecondRelease, preserveParity: false, allowClassChange: false, out ushort port));
        Assert.Equal(6000, port);
    }

    [Fact]
    public void Quarantined_preferred_port_makes_way_for_another_free_port()
    {
        var allocator = new PortAllocator(new PortRange(6000, 6009), UdpQuarantine, 11);
        Assert.True(allocator.TryReserve(6005));
        allocator.Release(6005, HostA, 0);
        Assert.True(allocator.TryAllocate(6005, HostB, 1, preserveParity: false, allowClassChange: false, out ushort port));
        Assert.NotEqual(6005, port);
        Assert.InRange(port, 6000, 6009);
    }

    [Fact]
    public void Zero_quarantine_hands_a_port_to_anyone_at_once()
    {
        var allocator = new PortAllocator(new PortRange(6000, 6000), 0, 12);
        Assert.True(allocator.TryReserve(6000));
        allocator.Release(6000, HostA, 0);
        Assert.True(allocator.TryAllocate(6000, HostB, 0, preserveParity: false, allowClassChange: false, out ushort port));
        Assert.Equal(6000, port);
    }

    [Fact]
    public void Reserve_conflicts_with_allocated_and_out_of_range_ports_but_ignores_quarantine()
    {
        var allocator = new PortAllocator(new PortRange(8000, 8100), UdpQuarantine, 13);
        Assert.True(allocator.TryReserve(8000));
        Assert.False(allocator.TryReserve(8000));
        Assert.False(allocator.TryReserve(7999));
        Assert.False(allocator.TryReserve(8101));
        Assert.True(allocator.TryAllocate(8050, HostA, 0, preserveParity: false, allowClassChange: false, out ushort port));
        Assert.Equal(8050, port);
        Assert.False(allocator.TryReserve(8050));
        allocator.Release(8050, HostA, 0);
        Assert.True(allocator.TryReserve(8050));
        Assert.Equal(2, allocator.AllocatedCount);
    }

    [Fact]
    public void Releasing_a_free_or_foreign_port_changes_nothing()
    {
        var allocator = new PortAllocator(new PortRange(8000, 8100), 0, 14);
        Assert.True(allocator.TryReserve(8000));
        allocator.Release(8001, HostA, 0);
        allocator.Release(9000, HostA, 0);
        Assert.Equal(1, allocator.AllocatedCount);
        Assert.True(allocator.IsAllocated(8000));
    }

    [Fact]
    public void Nearly_full_large_range_still_finds_the_last_free_ports()
    {
        var range = new PortRange(1024, 65535);
        var allocator = new PortAllocator(range, UdpQuarantine, 15);
        for (int port = range.First; port <= range.Last; port++)
        {
            Assert.True(allocator.TryReserve((ushort)port));
        }
        allocator.Release(1024, HostA, 0);
        allocator.Release(33333, HostA, 0);
        allocator.Release(65535, HostA, 0);
        var found = new HashSet<ushort>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            Assert.True(allocator.TryAllocate(2000, HostA, 1, preserveParity: false, allowClassChange: false, out ushort port));
            found.Add(port);
        }
        Assert.Equal(new HashSet<ushort> { 1024, 33333, 65535 }, found);
        Assert.False(allocator.TryAllocate(2000, HostA, 1, preserveParity: false, allowClassChange: true, out _));
        Assert.Equal(range.Count, allocator.AllocatedCount);
    }

    [Fact]
    public void Same_seed_gives_the_same_ports()
    {
        var first = new PortAllocator(PortRange.All, 0, 99);
        var second = new PortAllocator(PortRange.All, 0, 99);
        Assert.True(first.TryReserve(5000));
        Assert.True(second.TryReserve(5000));
        for (int attempt = 0; attempt < 50; attempt++)
        {
            Assert.True(first.TryAllocate(5000, HostB, 0, preserveParity: false, allowClassChange: false, out ushort fromFirst));
            Assert.True(second.TryAllocate(5000, HostB, 0, preserveParity: false, allowClassChange: false, out ushort fromSecond));
            Assert.Equal(fromFirst, fromSecond);
        }
    }

    [Fact]
    public void Allocate_reserve_and_release_do_not_allocate_memory()
    {
        var allocator = new PortAllocator(new PortRange(1024, 65535), UdpQuarantine, 16);
        Assert.True(allocator.TryAllocate(5000, HostA, 0, preserveParity: true, allowClassChange: false, out _));
        allocator.Release(5000, HostA, 0);
        // A first pass warms the code up, so that what the runtime itself allocates while it
        // compiles (tiering, on-stack replacement) is not counted against the allocator.
        Churn(allocator, 0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Churn(allocator, 1000);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());

        static void Churn(PortAllocator allocator, int start)
        {
            for (int round = start; round < start + 1000; round++)
            {
                Assert.True(allocator.TryAllocate(5000, HostB, round, preserveParity: true, allowClassChange: true, out ushort port));
                Assert.True(allocator.TryReserve(2000));
                allocator.Release(port, HostB, round);
                allocator.Release(2000, HostA, round);
            }
        }
    }

    // Random sequences against a model: a set of allocated ports and, per released port,
    // its last holder and release time (whole seconds, so the rounding up in the allocator is exact).
    [Fact]
    public void Random_operations_agree_with_a_model()
    {
        var operation = Gen.Select(Gen.Int[0, 9], Gen.Int[0, 1100], Gen.Int[0, 3], Gen.Int[0, 3]);
        Gen.Select(Gen.Int[900, 1100], Gen.Int[1, 150], Gen.Int[0, 3], Gen.ULong, operation.Array[1, 400])
            .Sample((first, count, quarantineSeconds, seed, operations) =>
                RunAgainstModel((ushort)first, (ushort)Math.Min(first + count - 1, 65535), quarantineSeconds, seed, operations),
                iter: 300);
    }

    private static void RunAgainstModel(ushort first, ushort last, int quarantineSeconds, ulong seed, (int Kind, int Port, int Host, int Flags)[] operations)
    {
        var range = new PortRange(first, last);
        long quarantineTicks = quarantineSeconds * 60 * TimeSpan.TicksPerSecond;
        var allocator = new PortAllocator(range, quarantineTicks, seed);
        var allocated = new HashSet<ushort>();
        var released = new Dictionary<ushort, (Ipv4Address Holder, long Time)>();
        long now = TimeSpan.FromDays(3).Ticks;

        bool Quarantined(int port, Ipv4Address host)
            => released.TryGetValue((ushort)port, out var release) && release.Holder != host && now < release.Time + quarantineTicks;
        bool Usable(int port, Ipv4Address host) => range.Contains((ushort)port) && !allocated.Contains((ushort)port) && !Quarantined(port, host);

        foreach (var (kind, portNumber, hostNumber, flags) in operations)
        {
            Ipv4Address host = HostA + (uint)hostNumber;
            ushort preferred = (ushort)portNumber;
            bool preserveParity = (flags & 1) != 0;
            bool allowClassChange = (flags & 2) != 0;
            if (kind < 5)
            {
                bool privileged = preferred < 1024;
                bool sameClassFree = false;
                bool sameClassAndParityFree = false;
                bool anyFree = false;
                for (int port = first; port <= last; port++)
                {
                    if (Usable(port, host))
                    {
                        anyFree = true;
                        if (port < 1024 == privileged)
                        {
                            sameClassFree = true;
                            sameClassAndParityFree |= (port & 1) == (preferred & 1);
                        }
                    }
                }
                bool expectSuccess = sameClassFree || (allowClassChange && anyFree);
                bool preferredUsable = Usable(preferred, host);
                bool succeeded = allocator.TryAllocate(preferred, host, now, preserveParity, allowClassChange, out ushort port2);
                Assert.Equal(expectSuccess, succeeded);
                if (succeeded)
                {
                    Assert.True(range.Contains(port2));
                    Assert.True(Usable(port2, host), $"port {port2} was handed out while in use or quarantined");
                    if (preferredUsable)
                    {
                        Assert.Equal(preferred, port2);
                    }
                    if (sameClassFree)
                    {
                        Assert.Equal(privileged, port2 < 1024);
                    }
                    if (preserveParity && sameClassAndParityFree)
                    {
                        Assert.Equal(preferred & 1, port2 & 1);
                    }
                    allocated.Add(port2);
                    released.Remove(port2);
                }
            }
            else if (kind < 7)
            {
                // Release one of the allocated ports, picked by the generated number.
                if (allocated.Count > 0)
                {
                    ushort victim = 0;
                    int skip = portNumber % allocated.Count;
                    foreach (ushort candidate in allocated)
                    {
                        if (skip-- == 0)
                        {
                            victim = candidate;
                            break;
                        }
                    }
                    allocator.Release(victim, host, now);
                    allocated.Remove(victim);
                    released[victim] = (host, now);
                }
            }
            else if (kind < 8)
            {
                ushort port = (ushort)(first - 5 + (portNumber % (last - first + 11)));
                bool expected = range.Contains(port) && !allocated.Contains(port);
                Assert.Equal(expected, allocator.TryReserve(port));
                if (expected)
                {
                    allocated.Add(port);
                    released.Remove(port);
                }
            }
            else
            {
                now += portNumber % 200 * TimeSpan.TicksPerSecond;
            }
            Assert.Equal(allocated.Count, allocator.AllocatedCount);
        }
        for (int port = first; port <= last; port++)
        {
            Assert.Equal(allocated.Contains((ushort)port), allocator.IsAllocated((ushort)port));
        }
    }

    [Fact]
    public void Allocation_within_a_sub_range_stays_inside_it_and_preserves_when_possible()
    {
        var allocator = new PortAllocator(PortRange.All, 0, 3);
        var portmap = new PortRange(20000, 20009);
        Assert.True(allocator.TryAllocate(20005, HostA, 0, preserveParity: false, allowClassChange: true, portmap, out ushort preserved));
        Assert.Equal(20005, preserved);
        var handed = new HashSet<ushort> { preserved };
        for (int i = 0; i < 9; i++)
        {
            Assert.True(allocator.TryAllocate(5000, HostA, 0, preserveParity: false, allowClassChange: true, portmap, out ushort port));
            Assert.InRange(port, (ushort)20000, (ushort)20009);
            Assert.True(handed.Add(port));
        }
        Assert.False(allocator.TryAllocate(5000, HostA, 0, preserveParity: false, allowClassChange: true, portmap, out _));
        // The rest of the allocator's range is untouched by the sub-range's exhaustion.
        Assert.True(allocator.TryAllocate(5000, HostA, 0, preserveParity: false, allowClassChange: true, out ushort outside));
        Assert.Equal(5000, outside);
    }
}
