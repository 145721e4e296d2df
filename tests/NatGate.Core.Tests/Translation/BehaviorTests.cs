using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class BehaviorTests
{
    private static NatPolicy Policy(MappingBehavior mapping, FilteringBehavior filtering)
        => new() { Mapping = mapping, UdpFiltering = filtering, TcpFiltering = filtering };

    private static ushort ExternalPortFor(Lab lab, Ipv4Address remote, ushort remotePort)
        => Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, remote, remotePort))).SourcePort;

    [Theory]
    [InlineData(MappingBehavior.EndpointIndependent, true, true)]
    [InlineData(MappingBehavior.AddressDependent, true, false)]
    [InlineData(MappingBehavior.AddressAndPortDependent, false, false)]
    public void Mapping_behaviour_decides_when_the_external_port_is_reused(MappingBehavior mapping, bool sameForOtherPort, bool sameForOtherAddress)
    {
        var lab = new Lab(Policy(mapping, FilteringBehavior.EndpointIndependent));
        ushort first = ExternalPortFor(lab, Lab.Remote, 3478);
        Assert.Equal(sameForOtherPort, ExternalPortFor(lab, Lab.Remote, 3479) == first);
        Assert.Equal(sameForOtherAddress, ExternalPortFor(lab, Lab.OtherRemote, 3478) == first);
    }

    [Theory]
    [InlineData(FilteringBehavior.EndpointIndependent, true, true)]
    [InlineData(FilteringBehavior.AddressDependent, true, false)]
    [InlineData(FilteringBehavior.AddressAndPortDependent, false, false)]
    public void Filtering_behaviour_decides_which_remotes_may_send_in(FilteringBehavior filtering, bool otherPortAdmitted, bool otherAddressAdmitted)
    {
        var lab = new Lab(Policy(MappingBehavior.EndpointIndependent, filtering));
        ushort external = ExternalPortFor(lab, Lab.Remote, 3478);
        (TranslationResult otherPort, byte[] fromOtherPort) = lab.Send(Lab.Udp(Lab.Remote, 3479, Lab.External, external));
        Assert.Equal(otherPortAdmitted ? Verdict.Forward : Verdict.Drop, otherPort.Verdict);
        if (otherPortAdmitted)
        {
            Assert.Equal((Lab.Remote, (ushort)3479, Lab.InsideA, (ushort)5000), Lab.Tuple(fromOtherPort));
        }
        else
        {
            Assert.Equal(DropReason.Filtered, otherPort.Reason);
        }
        (TranslationResult otherAddress, _) = lab.Send(Lab.Udp(Lab.OtherRemote, 3478, Lab.External, external));
        Assert.Equal(otherAddressAdmitted ? Verdict.Forward : Verdict.Drop, otherAddress.Verdict);
    }

    [Fact]
    public void Inbound_tcp_through_an_endpoint_independent_filter_needs_a_syn()
    {
        var lab = new Lab(Policy(MappingBehavior.EndpointIndependent, FilteringBehavior.EndpointIndependent));
        ushort external = Lab.Tuple(lab.Forward(Lab.Tcp(Lab.InsideA, 6000, Lab.Remote, 80, TcpFlags.Syn))).SourcePort;
        Assert.Equal(DropReason.NotSyn, lab.Dropped(Lab.Tcp(Lab.OtherRemote, 81, Lab.External, external, TcpFlags.Ack)));
        byte[] syn = lab.Forward(Lab.Tcp(Lab.OtherRemote, 81, Lab.External, external, TcpFlags.Syn));
        Assert.Equal((Lab.OtherRemote, (ushort)81, Lab.InsideA, (ushort)6000), Lab.Tuple(syn));
    }

    [Fact]
    public void Udp_expires_after_its_idle_timeout_and_not_before()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Advance(TimeSpan.FromSeconds(299));
        Assert.Equal(0, lab.Engine.ExpireSessions(lab.Now));
        lab.Advance(TimeSpan.FromSeconds(2.5));
        Assert.Equal(1, lab.Engine.ExpireSessions(lab.Now));
        Assert.Equal(0, lab.Engine.SessionCount);
        Assert.Equal(1, lab.Engine.Statistics().Expired);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Inbound_udp_refreshes_the_session_only_when_configured(bool inboundRefresh)
    {
        var lab = new Lab(new NatPolicy { UdpInboundRefresh = inboundRefresh });
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        for (int minute = 0; minute < 6; minute++)
        {
            lab.Advance(TimeSpan.FromSeconds(60));
            lab.Engine.ExpireSessions(lab.Now);
            if (lab.Engine.SessionCount == 0)
            {
                break;
            }
            lab.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, 5000));
        }
        Assert.Equal(inboundRefresh ? 1 : 0, lab.Engine.SessionCount);
    }

    [Fact]
    public void Established_tcp_lives_past_the_transitory_timeout_and_closes_to_it()
    {
        var lab = new Lab();
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn));
        lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, 40000, TcpFlags.Syn | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Ack));
        lab.Advance(TimeSpan.FromHours(2));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(1, lab.Engine.SessionCount);
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Fin | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, 40000, TcpFlags.Fin | TcpFlags.Ack));
        Assert.Equal("TimeWait", Assert.Single(lab.Engine.ListSessions()).State);
        lab.Advance(TimeSpan.FromSeconds(239));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(1, lab.Engine.SessionCount);
        lab.Advance(TimeSpan.FromSeconds(3));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.SessionCount);
    }

    [Fact]
    public void A_reset_keeps_the_session_for_the_transitory_timeout()
    {
        var lab = new Lab();
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn));
        lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, 40000, TcpFlags.Syn | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, 40000, TcpFlags.Rst));
        Assert.Equal("Reset", Assert.Single(lab.Engine.ListSessions()).State);
        lab.Advance(TimeSpan.FromSeconds(200));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(1, lab.Engine.SessionCount);
        lab.Advance(TimeSpan.FromSeconds(50));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.SessionCount);
    }

    [Fact]
    public void A_half_open_connection_uses_the_transitory_timeout()
    {
        var lab = new Lab();
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn));
        lab.Advance(TimeSpan.FromSeconds(242));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.SessionCount);
    }

    [Fact]
    public void Simultaneous_open_works()
    {
        // Both ends send a SYN (RFC 5382 REQ-2, RFC 7857 section 2.2): the remote's SYN meets the inside's mapping.
        var lab = new Lab(Policy(MappingBehavior.EndpointIndependent, FilteringBehavior.AddressDependent));
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 50000, TcpFlags.Syn));
        byte[] remoteSyn = lab.Forward(Lab.Tcp(Lab.Remote, 50000, Lab.External, 40000, TcpFlags.Syn));
        Assert.Equal(Lab.InsideA, Lab.Tuple(remoteSyn).Destination);
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 50000, TcpFlags.Syn | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.Remote, 50000, Lab.External, 40000, TcpFlags.Syn | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 50000, TcpFlags.Ack));
        Assert.Equal("Established", Assert.Single(lab.Engine.ListSessions()).State);
    }

    [Fact]
    public void A_released_udp_port_does_not_go_to_another_host_for_120_seconds()
    {
        var lab = new Lab(Policy(MappingBehavior.EndpointIndependent, FilteringBehavior.AddressDependent),
            new NatEngineOptions { RandomSeed = 1 });
        lab.Forward(Lab.Udp(Lab.InsideA, 7000, Lab.Remote, 53));
        lab.Advance(TimeSpan.FromSeconds(302));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.SessionCount);
        ushort portForB = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 7000, Lab.Remote, 53))).SourcePort;
        Assert.NotEqual(7000, portForB);
        ushort portForA = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 7000, Lab.OtherRemote, 53))).SourcePort;
        Assert.Equal(7000, portForA);
    }
}
