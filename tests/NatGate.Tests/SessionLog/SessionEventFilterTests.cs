using NatGate.Cli;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.SessionLog;
using NatGate.SessionLog;

namespace NatGate.Tests.SessionLog;

public sealed class SessionEventFilterTests
{
    private static readonly SessionLogRecord Session = SessionLogSinkTests.Deleted();
    private static readonly SessionLogRecord Block = SessionLogSinkTests.Block();

    [Fact]
    public void An_empty_filter_takes_everything()
    {
        Assert.True(new SessionEventFilter().Matches(Session));
        Assert.True(new SessionEventFilter().Matches(Block));
    }

    [Theory]
    [InlineData("10.77.0.2", true)]
    [InlineData("198.51.100.10", true)]
    [InlineData("198.51.100.2", true)]
    [InlineData("10.77.0.9", false)]
    public void An_address_matches_on_any_side(string address, bool matches)
        => Assert.Equal(matches, new SessionEventFilter { Address = IpAddress.Parse(address) }.Matches(Session));

    [Theory]
    [InlineData(40000, true)]
    [InlineData(61000, true)]
    [InlineData(80, true)]
    [InlineData(81, false)]
    public void A_port_matches_on_any_side(int port, bool matches)
        => Assert.Equal(matches, new SessionEventFilter { Port = (ushort)port }.Matches(Session));

    [Fact]
    public void A_port_matches_a_block_that_holds_it_and_a_protocol_no_block()
    {
        Assert.True(new SessionEventFilter { Port = 2500 }.Matches(Block));
        Assert.False(new SessionEventFilter { Port = 4000 }.Matches(Block));
        Assert.False(new SessionEventFilter { Protocol = IpProtocol.Tcp }.Matches(Block));
        Assert.True(new SessionEventFilter { Protocol = IpProtocol.Tcp }.Matches(Session));
        Assert.False(new SessionEventFilter { Protocol = IpProtocol.Udp }.Matches(Session));
    }

    [Fact]
    public void Icmp_means_either_family_s_icmp()
    {
        var filter = new SessionEventFilter { Protocol = IpProtocol.Icmp };
        Assert.True(filter.Matches(Session with { Protocol = IpProtocol.Icmpv6, Family = SessionFamily.Ipv6 }));
        Assert.True(filter.Matches(Session with { Protocol = IpProtocol.Icmp }));
    }

    [Fact]
    public void Kinds_are_read_by_their_names_and_filter()
    {
        Assert.True(SessionEventFilter.TryParseKind("port-block-released", out SessionEventKind kind));
        Assert.Equal(SessionEventKind.PortBlockReleased, kind);
        Assert.False(SessionEventFilter.TryParseKind("new", out _));
        var filter = new SessionEventFilter { Kinds = new HashSet<SessionEventKind> { SessionEventKind.Created } };
        Assert.False(filter.Matches(Session));
        Assert.False(filter.WantsUpdates);
        Assert.True(new SessionEventFilter().WantsUpdates);
    }

    [Fact]
    public void The_watch_line_says_what_happened_to_whom()
    {
        SessionEventView view = ControlClient.ParseSessionEvent(Json(Session));
        Assert.Equal("07:30:01.234 deleted  tcp 10.77.0.2:40000 -> 198.51.100.2:80 as 198.51.100.10:61000 TimeWait Expired packets 6/5 bytes 420/9000 rule 3 (lab \"one\" ])",
            SessionWatch.Describe(view));
        Assert.Equal("07:30:01.234 port-block-allocated 10.77.0.3 ports 198.51.100.10:2048-3071 rule 1",
            SessionWatch.Describe(ControlClient.ParseSessionEvent(Json(Block))));
    }

    private static string Json(in SessionLogRecord record)
    {
        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            SessionEventJson.Write(writer, record);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
