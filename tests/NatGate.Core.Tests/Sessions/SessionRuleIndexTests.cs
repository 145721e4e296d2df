using System.Runtime.CompilerServices;
using NatGate.Core.Sessions;

namespace NatGate.Core.Tests.Sessions;

/// <summary>The rule number shares a byte with the TCP flags so that the session stays 80 bytes.</summary>
public sealed class SessionRuleIndexTests
{
    private const TcpTracking EveryFlag = TcpTracking.ForwardSyn | TcpTracking.ReplySyn | TcpTracking.Established
        | TcpTracking.ForwardFin | TcpTracking.ReplyFin | TcpTracking.Reset;

    [Theory]
    [InlineData(0)]
    [InlineData(65_535)]
    [InlineData(65_536)]
    [InlineData(99_999)]
    [InlineData(Session.MaximumRuleIndex)]
    public void The_rule_number_and_the_tcp_flags_keep_each_other(int ruleIndex)
    {
        var session = new Session { Tcp = EveryFlag, RuleIndex = ruleIndex };
        Assert.Equal((ruleIndex, EveryFlag), (session.RuleIndex, session.Tcp));
        session.Tcp = TcpTracking.None;
        Assert.Equal((ruleIndex, TcpTracking.None), (session.RuleIndex, session.Tcp));
        session.Tcp = TcpTracking.Reset;
        session.RuleIndex = Session.MaximumRuleIndex - ruleIndex;
        Assert.Equal((Session.MaximumRuleIndex - ruleIndex, TcpTracking.Reset), (session.RuleIndex, session.Tcp));
        Assert.Equal(80, Unsafe.SizeOf<Session>());
    }

    [Fact]
    public void The_tcp_flags_fit_the_six_bits_a_session_gives_them()
    {
        foreach (TcpTracking flag in Enum.GetValues<TcpTracking>())
        {
            Assert.True((int)flag < 64, $"{flag} needs a seventh bit");
        }
    }
}
