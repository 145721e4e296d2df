using NatGate.Cli;
using NatGate.Control;

namespace NatGate.Tests.Control;

/// <summary>natgate sessions -o extended: conntrack's line, with the time passed in.</summary>
public sealed class ExtendedLineTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_redirected_connection_reads_as_conntrack_writes_a_dnat()
    {
        // 203.0.113.5:40000 came in to 198.51.100.10:8080 and went on to 10.0.0.3:80.
        var session = new SessionView
        {
            Id = 7,
            Protocol = "tcp",
            ProtocolNumber = 6,
            Original = new FlowView(6, "203.0.113.5", 40000, "198.51.100.10", 8080),
            Translated = new FlowView(6, "203.0.113.5", 40000, "10.0.0.3", 80),
            InitiatedOutside = true,
            InternalSourceAddress = "10.0.0.3",
            InternalDestinationAddress = "203.0.113.5",
            ExternalSourceAddress = "198.51.100.10",
            ExternalDestinationAddress = "203.0.113.5",
            Expires = Now.AddSeconds(7439.6),
            State = "Established",
            Rule = 2,
            PacketsIn = 5,
            BytesIn = 600,
            PacketsOut = 4,
            BytesOut = 4400,
        };
        Assert.Equal(
            "ipv4     2  tcp      6  7439 ESTABLISHED src=203.0.113.5 dst=198.51.100.10 sport=40000 dport=8080 packets=5 bytes=600 "
            + "src=10.0.0.3 dst=203.0.113.5 sport=80 dport=40000 packets=4 bytes=4400 [ASSURED] id=7 rule=2",
            SessionCommands.ExtendedLine(session, Now));
    }

    [Fact]
    public void An_unanswered_ipv6_echo_has_no_state_and_is_unreplied()
    {
        var session = new SessionView
        {
            Id = 1048577,
            Protocol = "icmpv6",
            ProtocolNumber = 58,
            Original = new FlowView(58, "fd00:77::2", 33, "2001:db8:100::2", 33),
            Translated = new FlowView(58, "2001:db8::10", 1033, "2001:db8:100::2", 1033),
            InternalSourceAddress = "fd00:77::2",
            InternalDestinationAddress = "2001:db8:100::2",
            ExternalSourceAddress = "2001:db8::10",
            ExternalDestinationAddress = "2001:db8:100::2",
            Expires = Now.AddSeconds(-3),
            State = "Active",
            Rule = 0,
            PacketsOut = 1,
            BytesOut = 104,
        };
        Assert.Equal(
            "ipv6     10 icmpv6   58 0 src=fd00:77::2 dst=2001:db8:100::2 id=33 packets=1 bytes=104 [UNREPLIED] "
            + "src=2001:db8:100::2 dst=2001:db8::10 id=1033 packets=0 bytes=0 id=1048577 rule=0",
            SessionCommands.ExtendedLine(session, Now));
    }
}
