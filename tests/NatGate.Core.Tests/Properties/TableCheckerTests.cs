using System.Runtime.CompilerServices;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// <see cref="FlowTable.CheckConsistency"/> is only worth its silence if it speaks up: each test
/// damages one structure of a consistent table behind its back and expects the checker to say so.
/// </summary>
public sealed class TableCheckerTests
{
    private static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");
    private static readonly Ipv4Address Remote = Ipv4Address.Parse("203.0.113.5");

    private static ref Dictionary<Ipv4Address, int> SessionsPerHost(FlowTable table) => ref TableFields<Ipv4Address>.SessionsPerHost(table);

    // An accessor to a generic type's field is declared in a generic type of the same shape (.NET 9).
    private static class TableFields<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "sessionsPerHost")]
        public static extern ref Dictionary<TAddress, int> SessionsPerHost(FlowTable<TAddress> table);
    }

    /// <summary>Eight hosts, each with a mapping of three sessions (three remotes), and two sessions with no mapping; all on the wheel.</summary>
    private static (FlowTable Table, List<int> Representatives, List<int> Members) NewTable()
    {
        var table = new FlowTable(new FlowTableLimits { MaximumSessions = 64 }, 0, seed: 3);
        var representatives = new List<int>();
        var members = new List<int>();
        for (int host = 0; host < 8; host++)
        {
            Ipv4Address inside = Ipv4Address.Parse("10.0.0.0") + (uint)(host + 2);
            int representative = -1;
            for (int remote = 0; remote < 3; remote++)
            {
                var session = new Session
                {
                    Original = new FlowKey(IpProtocol.Udp, inside, 4000, Remote + (uint)remote, 53),
                    Translated = new FlowKey(IpProtocol.Udp, External, (ushort)(20000 + host), Remote + (uint)remote, 53),
                    Attributes = remote == 0 ? SessionAttributes.PortAllocated : SessionAttributes.None,
                };
                Assert.Equal(TableRefusal.None, table.CheckRoom(session, startsMapping: representative < 0));
                int slot = table.Add(session, representative, startsMapping: representative < 0);
                (representative < 0 ? representatives : members).Add(slot);
                representative = representative < 0 ? slot : representative;
            }
        }
        for (int other = 0; other < 2; other++)
        {
            var gre = new Session
            {
                Original = new FlowKey((IpProtocol)47, Ipv4Address.Parse("10.0.0.100") + (uint)other, 0, Remote + (uint)other, 0),
                Translated = new FlowKey((IpProtocol)47, External + 1, 0, Remote + (uint)other, 0),
            };
            Assert.Equal(TableRefusal.None, table.CheckRoom(gre, startsMapping: false));
            table.Add(gre, -1, startsMapping: false);
        }
        foreach (int slot in table.OccupiedSlots())
        {
            table.Wheel.Schedule(slot, TimeSpan.TicksPerMinute);
        }
        Assert.Empty(table.CheckConsistency(everySessionScheduled: true));
        return (table, representatives, members);
    }

    private static void AssertReports(FlowTable table, string expected)
    {
        IReadOnlyList<string> problems = table.CheckConsistency(everySessionScheduled: true);
        Assert.True(problems.Any(problem => problem.Contains(expected, StringComparison.Ordinal)),
            $"expected a problem containing \"{expected}\", got:\n{string.Join("\n", problems)}");
    }

    [Fact]
    public void A_consistent_table_reports_nothing_through_churn()
    {
        (FlowTable table, List<int> representatives, List<int> members) = NewTable();
        table.Remove(members[0], out _);
        table.Remove(representatives[1], out _);
        table.Remove(representatives[2], out _);
        table.Remove(members[5], out _);
        Assert.Empty(table.CheckConsistency(everySessionScheduled: true));
    }

    [Fact]
    public void A_tuple_changed_behind_the_flow_index_is_reported()
    {
        (FlowTable table, _, List<int> members) = NewTable();
        ref Session session = ref table.At(members[0]);
        FlowKey original = session.Original;
        session.Original = new FlowKey(original.Protocol, original.Source, 4001, original.Destination, original.DestinationPort);
        AssertReports(table, "its original tuple finds nothing");
    }

    [Fact]
    public void A_mapping_link_that_does_not_link_back_is_reported()
    {
        (FlowTable table, _, List<int> members) = NewTable();
        table.At(members[0]).MappingPrevious = members[3];
        AssertReports(table, "does not link back");
    }

    [Fact]
    public void A_second_representative_in_one_mapping_is_reported()
    {
        (FlowTable table, _, List<int> members) = NewTable();
        table.At(members[0]).Attributes |= SessionAttributes.MappingRepresentative;
        AssertReports(table, "second representative");
    }

    [Fact]
    public void A_member_that_forgot_its_mapping_is_reported()
    {
        (FlowTable table, _, List<int> members) = NewTable();
        table.At(members[0]).Attributes &= ~SessionAttributes.InMapping;
        AssertReports(table, "is in no mapping but links to");
    }

    [Fact]
    public void A_representative_missing_from_a_mapping_index_is_reported()
    {
        // As FlowTable.Remove leaves it when the heir's insertion finds no room (see RobustnessFindings).
        (FlowTable table, List<int> representatives, List<int> members) = NewTable();
        table.At(members[0]).Attributes |= SessionAttributes.MappingRepresentative;
        table.At(representatives[0]).Attributes &= ~SessionAttributes.MappingRepresentative;
        AssertReports(table, "represents a mapping but is in the mapping indexes 0 and 0 times");
    }

    [Fact]
    public void A_lost_free_slot_is_reported()
    {
        (FlowTable table, _, _) = NewTable();
        // Two removals put two slots on the free list (the others were never used); cut it after the first.
        int[] gre = [.. table.OccupiedSlots().Where(slot => table.At(slot).Original.Protocol == (IpProtocol)47)];
        table.Remove(gre[0], out _);
        table.Remove(gre[1], out _);
        Assert.Empty(table.CheckConsistency(everySessionScheduled: false));
        table.At(gre[1]).MappingNext = -1;
        AssertReports(table, "is not on the free list");
    }

    [Fact]
    public void A_never_used_slot_in_use_is_reported()
    {
        (FlowTable table, _, _) = NewTable();
        // Slots are taken in order: the last one has never held a session.
        table.At(table.Capacity - 1).Attributes = SessionAttributes.InUse;
        AssertReports(table, "never-used slot 63 is in use");
    }

    [Fact]
    public void A_wrong_host_count_is_reported()
    {
        (FlowTable table, _, _) = NewTable();
        SessionsPerHost(table)[Ipv4Address.Parse("10.0.0.2")]++;
        AssertReports(table, "host 10.0.0.2 is counted 4 sessions but holds 3");
    }

    [Fact]
    public void A_session_off_the_timing_wheel_is_reported()
    {
        (FlowTable table, List<int> representatives, _) = NewTable();
        table.Wheel.Cancel(representatives[0]);
        AssertReports(table, "is not on the timing wheel");
        Assert.Empty(table.CheckConsistency(everySessionScheduled: false));
    }

    [Fact]
    public void A_removed_session_left_on_the_timing_wheel_is_reported()
    {
        (FlowTable table, List<int> representatives, _) = NewTable();
        table.Remove(representatives[0], out _);
        table.Wheel.Schedule(representatives[0], TimeSpan.TicksPerMinute);
        AssertReports(table, "is still on the timing wheel");
    }
}
