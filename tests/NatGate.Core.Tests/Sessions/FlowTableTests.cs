using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using System.Runtime.CompilerServices;
using CsCheck;
using NatGate.Core.Sessions;

namespace NatGate.Core.Tests.Sessions;

public sealed class FlowTableTests
{
    private static readonly Ipv4Address InsideNetwork = Ipv4Address.Parse("10.0.0.0");
    private static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");
    private static readonly Ipv4Address Remote = Ipv4Address.Parse("203.0.113.5");

    private static Session SessionFor(int number)
    {
        var original = new FlowKey(IpProtocol.Udp, InsideNetwork + (uint)(number % 200), (ushort)(1000 + number), Remote, 53);
        return new Session { Original = original, Translated = new FlowKey(IpProtocol.Udp, External, (ushort)(1000 + number), Remote, 53) };
    }

    [Fact]
    public void A_session_is_80_bytes()
    {
        // The per-session budget (DESIGN.md: at most 128 bytes with indexes) starts here.
        Assert.Equal(80, Unsafe.SizeOf<Session>());
        Assert.Equal(16, Unsafe.SizeOf<FlowKey>());
    }

    [Fact]
    public void An_ipv6_session_is_128_bytes_two_cache_lines()
    {
        // Two 40-byte keys (16 + 16 + 2 + 2 + 1, padded to 8) and the same 48 bytes of state as
        // IPv4: a UInt128-backed address would have padded each key to 48 and the session to 144.
        Assert.Equal(40, Unsafe.SizeOf<FlowKey<Ipv6Address>>());
        Assert.Equal(128, Unsafe.SizeOf<Session<Ipv6Address>>());
    }

    [Fact]
    public unsafe void Ipv6_sessions_each_fill_exactly_two_cache_lines()
    {
        var sessions = new SessionArray<Ipv6Address>(5);
        for (int index = 0; index < 5; index++)
        {
            Assert.Equal(0, (long)(nuint)Unsafe.AsPointer(ref sessions[index]) % 64);
        }
    }

    [Fact]
    public void An_ipv6_table_finds_both_tuples_and_counts_mappings_and_hosts()
    {
        var table = new FlowTable<Ipv6Address>(new FlowTableLimits { MaximumSessions = 64, MaximumSessionsPerHost = 0 }, 0, 9);
        Ipv6Address inside = Ipv6Address.Parse("fd00:77::2", null);
        Ipv6Address external = Ipv6Address.Parse("2001:db8::10", null);
        Ipv6Address remote = Ipv6Address.Parse("2001:db8:ffff::5", null);
        var indexes = new List<int>();
        for (int number = 0; number < 40; number++)
        {
            var original = new FlowKey<Ipv6Address>(IpProtocol.Tcp, inside, (ushort)(40000 + number), remote, 443);
            var session = new Session<Ipv6Address>
            {
                Original = original,
                Translated = new FlowKey<Ipv6Address>(IpProtocol.Tcp, external, (ushort)(50000 + number), remote, 443),
            };
            Assert.Equal(TableRefusal.None, table.CheckRoom(session, startsMapping: true));
            indexes.Add(table.Add(session, -1, startsMapping: true));
        }
        Assert.Empty(table.CheckConsistency());
        Assert.Equal(40, table.SessionsOfHost(inside));
        for (int number = 0; number < 40; number++)
        {
            var outbound = new FlowKey<Ipv6Address>(IpProtocol.Tcp, inside, (ushort)(40000 + number), remote, 443);
            var inbound = new FlowKey<Ipv6Address>(IpProtocol.Tcp, remote, 443, external, (ushort)(50000 + number));
            Assert.Equal(indexes[number], table.Find(outbound, out bool forward));
            Assert.True(forward);
            Assert.Equal(indexes[number], table.Find(inbound, out forward));
            Assert.False(forward);
            Assert.Equal(indexes[number], table.FindMappingByExternal(IpProtocol.Tcp, external, (ushort)(50000 + number)));
        }
        // Addresses that differ only in their last bit are different flows.
        Ipv6Address neighbour = Ipv6Address.Parse("fd00:77::3", null);
        Assert.Equal(-1, table.Find(new FlowKey<Ipv6Address>(IpProtocol.Tcp, neighbour, 40000, remote, 443), out _));
        Assert.True(table.Remove(indexes[0], out _));
        Assert.Equal(-1, table.Find(new FlowKey<Ipv6Address>(IpProtocol.Tcp, inside, 40000, remote, 443), out _));
        Assert.Empty(table.CheckConsistency());
        Assert.Equal(39, table.SessionsOfHost(inside));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1000)]
    public unsafe void Sessions_start_on_a_cache_line_so_none_spans_three(int length)
    {
        // A batch prefetches a session's first byte and the byte 64 after it: that covers an
        // 80-byte session only if it starts at most 48 bytes into a line.
        var sessions = new SessionArray<Ipv4Address>(length);
        Assert.Equal(0, (long)(nuint)Unsafe.AsPointer(ref sessions[0]) % 64);
        for (int index = 0; index < length; index++)
        {
            long start = (long)(nuint)Unsafe.AsPointer(ref sessions[index]);
            Assert.True((start + Unsafe.SizeOf<Session>() - 1) / 64 <= (start / 64) + 1, $"session {index} spans three lines");
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => sessions[length].Attributes);
    }

    [Fact]
    public void A_tuple_held_in_either_role_is_a_duplicate()
    {
        var table = new FlowTable(new FlowTableLimits { MaximumSessions = 16, MaximumSessionsPerHost = 0 }, 0, 5);
        Session first = SessionFor(1);
        Assert.Equal(TableRefusal.None, table.CheckRoom(first, startsMapping: false));
        int index = table.Add(first, -1, startsMapping: false);

        // A session whose reply tuple is the first one's forward tuple, and one whose forward
        // tuple is the first one's reply: either would make packets ambiguous.
        var mirrored = new Session { Original = new FlowKey(IpProtocol.Udp, Ipv4Address.Parse("10.0.0.99"), 7, Ipv4Address.Parse("10.0.0.100"), 8), Translated = first.Original.Reverse() };
        var answering = new Session { Original = first.Translated.Reverse(), Translated = new FlowKey(IpProtocol.Udp, Ipv4Address.Parse("10.0.0.101"), 9, Ipv4Address.Parse("10.0.0.102"), 10) };
        Assert.Equal(TableRefusal.Duplicate, table.CheckRoom(mirrored, startsMapping: false));
        Assert.Equal(TableRefusal.Duplicate, table.CheckRoom(answering, startsMapping: false));

        Assert.Equal(index, table.Find(first.Original, out bool forward));
        Assert.True(forward);
        Assert.Equal(index, table.Find(first.Translated.Reverse(), out forward));
        Assert.False(forward);
        Assert.Equal(-1, table.FindForward(first.Translated.Reverse()));
        Assert.Equal(-1, table.FindReply(first.Original));
    }

    [Fact]
    public void Random_adds_and_removes_keep_every_live_session_findable_both_ways()
    {
        // Backward-shift deletion moves entries; a small table and a short probe limit make collisions common.
        Gen.Int[0, 299].Array[1, 400].Sample(operations =>
        {
            var table = new FlowTable(new FlowTableLimits { MaximumSessions = 256, MaximumProbe = 32, MaximumSessionsPerHost = 0 }, 0, 99);
            var live = new Dictionary<int, int>();
            foreach (int number in operations)
            {
                if (live.TryGetValue(number, out int index))
                {
                    table.Remove(index, out _);
                    live.Remove(number);
                }
                else
                {
                    Session candidate = SessionFor(number);
                    if (table.CheckRoom(candidate, startsMapping: false) == TableRefusal.None)
                    {
                        live[number] = table.Add(candidate, -1, startsMapping: false);
                    }
                }
                foreach ((int liveNumber, int liveIndex) in live)
                {
                    Session expected = SessionFor(liveNumber);
                    if (table.FindForward(expected.Original) != liveIndex || table.FindReply(expected.Translated.Reverse()) != liveIndex)
                    {
                        return false;
                    }
                }
                if (table.Count != live.Count)
                {
                    return false;
                }
            }
            return true;
        }, iter: 200);
    }

    [Fact]
    public void Mappings_pass_to_the_next_session_when_their_representative_goes()
    {
        var table = new FlowTable(new FlowTableLimits { MaximumSessions = 16 }, 0, 7);
        Session first = SessionFor(1);
        first.Attributes = SessionAttributes.PortAllocated;
        int representative = table.Add(first, -1, startsMapping: true);
        Session second = SessionFor(1) with { };
        second.Original = new FlowKey(IpProtocol.Udp, first.Original.Source, first.Original.SourcePort, Ipv4Address.Parse("203.0.113.6"), 53);
        second.Translated = new FlowKey(IpProtocol.Udp, first.Translated.Source, first.Translated.SourcePort, Ipv4Address.Parse("203.0.113.6"), 53);
        int member = table.Add(second, representative, startsMapping: false);
        Assert.Equal(representative, table.FindMappingByExternal(IpProtocol.Udp, first.Translated.Source, first.Translated.SourcePort));
        Assert.False(table.Remove(representative, out _));
        Assert.Equal(member, table.FindMappingByExternal(IpProtocol.Udp, first.Translated.Source, first.Translated.SourcePort));
        Assert.True((table.At(member).Attributes & SessionAttributes.PortAllocated) != 0);
        Assert.True(table.Remove(member, out Session ended));
        Assert.Equal(first.Translated.SourcePort, ended.ExternalPort);
        Assert.Equal(-1, table.FindMappingByExternal(IpProtocol.Udp, first.Translated.Source, first.Translated.SourcePort));
        Assert.Equal(0, table.MappingCount);
    }
}
