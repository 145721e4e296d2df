using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class RedirectAndHairpinTests
{
    private static NatRule WebRedirect(Ipv4Prefix? from = null) => new()
    {
        Kind = NatRuleKind.Redirect,
        Protocols = RuleProtocols.Tcp,
        Destination = Ipv4Prefix.Host(Lab.External),
        DestinationPorts = PortMatch.Exactly(8080),
        RedirectTargets = [Lab.InsideB],
        RedirectPort = 80,
        Source = from ?? Ipv4Prefix.Any,
        Label = "web",
    };

    [Fact]
    public void A_static_mapping_is_reached_from_outside_and_answers_from_the_external_port()
    {
        var lab = new Lab();
        lab.Engine.AddRule(WebRedirect());
        byte[] syn = lab.Forward(Lab.Tcp(Lab.Remote, 33000, Lab.External, 8080, TcpFlags.Syn));
        Assert.Equal(Convert.ToHexString(Lab.Tcp(Lab.Remote, 33000, Lab.InsideB, 80, TcpFlags.Syn)), Convert.ToHexString(syn));
        byte[] synAck = lab.Forward(Lab.Tcp(Lab.InsideB, 80, Lab.Remote, 33000, TcpFlags.Syn | TcpFlags.Ack));
        Assert.Equal(Convert.ToHexString(Lab.Tcp(Lab.External, 8080, Lab.Remote, 33000, TcpFlags.Syn | TcpFlags.Ack)), Convert.ToHexString(synAck));
        SessionInfo session = Assert.Single(lab.Engine.ListSessions());
        Assert.True(session.InitiatedOutside);
        Assert.Equal("web", session.RuleLabel);
    }

    [Fact]
    public void A_static_mapping_limited_to_a_remote_prefix_refuses_others()
    {
        var lab = new Lab();
        lab.Engine.AddRule(WebRedirect(Ipv4Prefix.Parse("203.0.113.5/32")));
        lab.Forward(Lab.Tcp(Lab.Remote, 33000, Lab.External, 8080, TcpFlags.Syn));
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Tcp(Lab.OtherRemote, 33000, Lab.External, 8080, TcpFlags.Syn)));
    }

    [Fact]
    public void An_unmapped_external_port_gets_nothing_and_no_session()
    {
        var lab = new Lab();
        lab.Engine.AddRule(WebRedirect());
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Udp(Lab.Remote, 1000, Lab.External, 8081)));
        Assert.Equal(0, lab.Engine.SessionCount);
    }

    [Fact]
    public void A_statically_mapped_external_port_is_never_given_to_a_dynamic_mapping()
    {
        var lab = new Lab();
        lab.Engine.AddRule(WebRedirect());
        ushort port = Lab.Tuple(lab.Forward(Lab.Tcp(Lab.InsideA, 8080, Lab.Remote, 80, TcpFlags.Syn))).SourcePort;
        Assert.NotEqual(8080, port);
    }

    [Fact]
    public void Round_robin_redirect_spreads_sessions_over_its_targets()
    {
        var lab = new Lab();
        lab.Engine.AddRule(WebRedirect() with { RedirectTargets = [Lab.InsideA, Lab.InsideB], RoundRobin = true });
        Ipv4Address first = Lab.Tuple(lab.Forward(Lab.Tcp(Lab.Remote, 1, Lab.External, 8080, TcpFlags.Syn))).Destination;
        Ipv4Address second = Lab.Tuple(lab.Forward(Lab.Tcp(Lab.Remote, 2, Lab.External, 8080, TcpFlags.Syn))).Destination;
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Bimap_translates_one_address_to_another_both_ways_keeping_ports()
    {
        var lab = new Lab(addMapRule: false);
        Ipv4Address publicAddress = Ipv4Address.Parse("198.51.100.20");
        lab.Engine.AddRule(new NatRule
        {
            Kind = NatRuleKind.Bidirectional,
            Source = Ipv4Prefix.Host(Lab.InsideA),
            TranslatedFirst = publicAddress,
            TranslatedLast = publicAddress,
        });
        Assert.Equal((publicAddress, (ushort)5000, Lab.Remote, (ushort)53), Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53))));
        byte[] inbound = lab.Forward(Lab.Tcp(Lab.Remote, 4444, publicAddress, 22, TcpFlags.Syn));
        Assert.Equal((Lab.Remote, (ushort)4444, Lab.InsideA, (ushort)22), Lab.Tuple(inbound));
        byte[] ping = lab.Forward(Lab.Echo(Lab.Remote, publicAddress, 9));
        Assert.Equal(Lab.InsideA, Lab.Tuple(ping).Destination);
    }

    [Fact]
    public void Hairpinning_shows_the_target_the_senders_external_endpoint()
    {
        var lab = new Lab(new NatPolicy { UdpFiltering = FilteringBehavior.EndpointIndependent });
        // B opens a mapping (say a game client talking to a server); A then reaches B through it.
        ushort portB = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 6000, Lab.Remote, 3478))).SourcePort;
        byte[] toB = lab.Forward(Lab.Udp(Lab.InsideA, 7000, Lab.External, portB, "hairpin"));
        var (source, sourcePort, destination, destinationPort) = Lab.Tuple(toB);
        Assert.Equal((Lab.External, Lab.InsideB, (ushort)6000), (source, destination, destinationPort));
        // A's external port is the one A's mapping has for everyone (RFC 4787 REQ-9).
        ushort portA = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 7000, Lab.Remote, 3478))).SourcePort;
        Assert.Equal(portA, sourcePort);
        byte[] back = lab.Forward(Lab.Udp(Lab.InsideB, 6000, Lab.External, portA, "back"));
        Assert.Equal((Lab.External, portB, Lab.InsideA, (ushort)7000), Lab.Tuple(back));
    }

    [Fact]
    public void Hairpinning_to_a_static_mapping_works_and_can_be_turned_off()
    {
        var lab = new Lab();
        lab.Engine.AddRule(WebRedirect());
        byte[] syn = lab.Forward(Lab.Tcp(Lab.InsideA, 45000, Lab.External, 8080, TcpFlags.Syn));
        Assert.Equal((Lab.External, Lab.InsideB, (ushort)80), (Lab.Tuple(syn).Source, Lab.Tuple(syn).Destination, Lab.Tuple(syn).DestinationPort));
        lab.Engine.Hairpinning = HairpinningMode.Disabled;
        Assert.Equal(DropReason.HairpinDisabled, lab.Dropped(Lab.Tcp(Lab.InsideA, 45001, Lab.External, 8080, TcpFlags.Syn)));
    }

    [Fact]
    public void The_gateways_own_packets_to_a_published_port_come_from_the_external_address()
    {
        var lab = new Lab();
        lab.Engine.AddRule(WebRedirect());
        Ipv4Address gateway = Ipv4Address.Parse("198.51.100.1");
        lab.Engine.SetLocalAddresses([gateway]);
        byte[] syn = lab.Forward(Lab.Tcp(gateway, 50000, Lab.External, 8080, TcpFlags.Syn));
        var tuple = Lab.Tuple(syn);
        Assert.Equal((Lab.External, Lab.InsideB, (ushort)80), (tuple.Source, tuple.Destination, tuple.DestinationPort));
        byte[] reply = lab.Forward(Lab.Tcp(Lab.InsideB, 80, Lab.External, tuple.SourcePort, TcpFlags.Syn | TcpFlags.Ack));
        Assert.Equal((Lab.External, (ushort)8080, gateway, (ushort)50000), Lab.Tuple(reply));
    }

    [Fact]
    public void Hairpinned_packets_are_not_filtered_as_if_they_came_from_outside()
    {
        // B's mapping filters address-dependently; A is inside, so its hairpinned packet is admitted.
        var lab = new Lab(new NatPolicy { UdpFiltering = FilteringBehavior.AddressDependent });
        ushort portB = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 6000, Lab.Remote, 3478))).SourcePort;
        byte[] toB = lab.Forward(Lab.Udp(Lab.InsideA, 7000, Lab.External, portB, "hairpin"));
        Assert.Equal(Lab.InsideB, Lab.Tuple(toB).Destination);
        // An outside host that B never wrote to is still refused.
        Assert.Equal(DropReason.Filtered, lab.Dropped(Lab.Udp(Lab.OtherRemote, 1, Lab.External, portB)));
    }
}
