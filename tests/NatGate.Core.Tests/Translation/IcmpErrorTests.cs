using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class IcmpErrorTests
{
    private static byte[] Error(Ipv4Address from, Ipv4Address to, byte type, byte code, byte[] quoted)
    {
        var buffer = new byte[1024];
        int length = Ipv4PacketWriter.WriteIcmpError(buffer, from, to, type, code, quoted);
        return buffer[..length];
    }

    [Fact]
    public void A_port_unreachable_from_outside_reaches_the_inside_host_quoting_its_own_packet()
    {
        var lab = new Lab();
        byte[] original = Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53);
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        byte[] sent = lab.Forward(original);
        byte[] error = Error(Lab.Remote, Lab.External, IcmpType.DestinationUnreachable, 3, sent);
        byte[] translated = lab.Forward(error);
        // Exactly what B would get had there been no NAT: the remote's error quoting B's datagram.
        Assert.Equal(Convert.ToHexString(Error(Lab.Remote, Lab.InsideB, IcmpType.DestinationUnreachable, 3, original)), Convert.ToHexString(translated));
        Assert.Equal(1, lab.Engine.Statistics().IcmpErrorsTranslated);
    }

    [Fact]
    public void A_time_exceeded_from_a_router_keeps_the_routers_address()
    {
        var lab = new Lab();
        byte[] original = Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn);
        byte[] sent = lab.Forward(original);
        byte[] translated = lab.Forward(Error(Lab.Router, Lab.External, IcmpType.TimeExceeded, 0, sent));
        Assert.Equal(Convert.ToHexString(Error(Lab.Router, Lab.InsideA, IcmpType.TimeExceeded, 0, original)), Convert.ToHexString(translated));
    }

    [Fact]
    public void An_error_about_an_echo_restores_the_identifier()
    {
        var lab = new Lab();
        lab.Forward(Lab.Echo(Lab.InsideA, Lab.Remote, 300));
        byte[] original = Lab.Echo(Lab.InsideB, Lab.Remote, 300);
        byte[] sent = lab.Forward(original);
        Assert.NotEqual(300, Lab.Tuple(sent).SourcePort);
        byte[] translated = lab.Forward(Error(Lab.Router, Lab.External, IcmpType.DestinationUnreachable, 1, sent));
        Assert.Equal(Convert.ToHexString(Error(Lab.Router, Lab.InsideB, IcmpType.DestinationUnreachable, 1, original)), Convert.ToHexString(translated));
    }

    [Fact]
    public void An_error_from_inside_about_a_redirected_packet_goes_out_from_the_external_address()
    {
        var lab = new Lab();
        lab.Engine.AddRule(new Rules.NatRule
        {
            Kind = Rules.NatRuleKind.Redirect,
            Destination = Addressing.Ipv4Prefix.Host(Lab.External),
            DestinationPorts = Rules.PortMatch.Exactly(5353),
            RedirectTargets = [Lab.InsideB],
        });
        byte[] original = Lab.Udp(Lab.Remote, 1111, Lab.External, 5353);
        byte[] delivered = lab.Forward(original);
        byte[] translated = lab.Forward(Error(Lab.InsideB, Lab.Remote, IcmpType.DestinationUnreachable, 3, delivered));
        Assert.Equal(Convert.ToHexString(Error(Lab.External, Lab.Remote, IcmpType.DestinationUnreachable, 3, original)), Convert.ToHexString(translated));
    }

    [Fact]
    public void An_error_never_refreshes_or_creates_a_session()
    {
        var lab = new Lab();
        byte[] sent = lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        DateTimeOffset lastSeen = Assert.Single(lab.Engine.ListSessions()).LastSeen;
        lab.Advance(TimeSpan.FromSeconds(200));
        lab.Forward(Error(Lab.Router, Lab.External, IcmpType.DestinationUnreachable, 1, sent));
        Assert.Equal(lastSeen, Assert.Single(lab.Engine.ListSessions()).LastSeen);
        lab.Advance(TimeSpan.FromSeconds(102));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.SessionCount);
        Assert.Equal(DropReason.IcmpErrorNoSession, lab.Dropped(Error(Lab.Router, Lab.External, IcmpType.DestinationUnreachable, 1, sent)));
        Assert.Equal(0, lab.Engine.SessionCount);
    }

    [Fact]
    public void An_error_with_a_bad_checksum_is_dropped_as_malformed()
    {
        var lab = new Lab();
        byte[] sent = lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        byte[] error = Error(Lab.Router, Lab.External, IcmpType.DestinationUnreachable, 1, sent);
        error[^1] ^= 0x55;
        Assert.Equal(DropReason.Malformed, lab.Dropped(error));
    }
}
