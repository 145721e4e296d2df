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

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1000)]
    public unsafe void Sessions_start_on_a_cache_line_so_none_spans_three(int length)
    {
        // A batch prefetches a session's first byte and the byte 64 after it: that covers an
        // 80-byte session only if it starts at most 48 bytes into a line.
        var sessions = new SessionArray(length);
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
