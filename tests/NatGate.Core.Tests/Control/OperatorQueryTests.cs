using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Tests.Translation;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Control;

/// <summary>
/// What the operators' commands ask of the engine (issue 14): rule hits (ipnat -h), sessions
/// chosen by port, state and rule (natgate sessions, conntrack -L, -C, -D), put's ownership
/// check, and the port class and parity of new mappings (RFC 4787 REQ-3 and REQ-4).
/// </summary>
public sealed class OperatorQueryTests
{
    private static List<SessionInfo> List(NatEngine engine, SessionFilter filter)
    {
        var found = new List<SessionInfo>();
        for (int slot = 0; slot < engine.SessionSlots;)
        {
            slot = engine.ListSessions(slot, 1000, found, filter);
        }
        return found;
    }

    private static int Count(NatEngine engine, SessionFilter filter)
    {
        int count = 0;
        for (int slot = 0; slot < engine.SessionSlots;)
        {
            slot = engine.CountSessions(slot, 1000, filter, ref count);
        }
        return count;
    }

    private static int Remove(Lab lab, SessionFilter filter)
    {
        int total = 0;
        for (int slot = 0; slot < lab.Engine.SessionSlots;)
        {
            slot = lab.Engine.RemoveSessions(filter, slot, 1000, lab.Now, out int removed);
            total += removed;
        }
        return total;
    }

    [Fact]
    public void A_rule_counts_the_sessions_it_makes_not_their_packets_nor_puts()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Forward(Lab.Udp(Lab.InsideB, 5001, Lab.Remote, 53));
        Assert.Equal(2, Assert.Single(lab.Engine.ListRules()).Hits);

        // A session put back is no hit: its rule did not make it from a packet.
        SessionRecord record = lab.Engine.ExportSessions()[0];
        lab.Engine.FlushSessions(lab.Now);
        lab.Engine.Lock(true);
        lab.Engine.Put(record, lab.Now);
        lab.Engine.Lock(false);
        Assert.Equal(2, Assert.Single(lab.Engine.ListRules()).Hits);
    }

    [Fact]
    public void A_redirect_counts_its_hits_apart_from_the_map()
    {
        var lab = new Lab();
        int redirect = lab.Engine.AddRule(new NatRule
        {
            Kind = NatRuleKind.Redirect,
            Protocols = RuleProtocols.Tcp,
            Destination = Ipv4Prefix.Host(Lab.External),
            DestinationPorts = PortMatch.Exactly(8080),
            RedirectTargets = [Lab.InsideB],
            RedirectPort = 80,
        });
        lab.Forward(Lab.Tcp(Lab.Remote, 40000, Lab.External, 8080, TcpFlags.Syn));
        lab.Forward(Lab.Tcp(Lab.OtherRemote, 40000, Lab.External, 8080, TcpFlags.Syn));
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        IReadOnlyList<RuleInfo> rules = lab.Engine.ListRules();
        Assert.Equal(2, rules.Single(rule => rule.Index == redirect).Hits);
        Assert.Equal(1, rules.Single(rule => rule.Index == lab.MapRuleIndex).Hits);
    }

    [Fact]
    public void Sessions_are_chosen_by_port_state_and_rule()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Forward(Lab.Tcp(Lab.InsideA, 6000, Lab.Remote, 443, TcpFlags.Syn));
        // The second connection is answered and completes its handshake: Established.
        ushort external = Lab.Tuple(lab.Forward(Lab.Tcp(Lab.InsideB, 6001, Lab.Remote, 80, TcpFlags.Syn))).SourcePort;
        lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, external, TcpFlags.Syn | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.InsideB, 6001, Lab.Remote, 80, TcpFlags.Ack));

        Assert.Equal(53, Assert.Single(List(lab.Engine, new SessionFilter { Port = 53 })).InternalDestinationPort);
        Assert.Equal(6000, Assert.Single(List(lab.Engine, new SessionFilter { Port = 443 })).InternalSourcePort);
        Assert.Equal(6001, Assert.Single(List(lab.Engine, SessionFilter.All.WithState("established"))).InternalSourcePort);
        Assert.Equal(6000, Assert.Single(List(lab.Engine, SessionFilter.All.WithState("SynSent"))).InternalSourcePort);
        Assert.Equal(5000, Assert.Single(List(lab.Engine, SessionFilter.All.WithState("Active"))).InternalSourcePort);
        Assert.Equal(3, List(lab.Engine, new SessionFilter { Rule = lab.MapRuleIndex }).Count);
        Assert.Empty(List(lab.Engine, new SessionFilter { Rule = lab.MapRuleIndex + 1 }));
        // Conditions together: every one must hold.
        Assert.Empty(List(lab.Engine, new SessionFilter { Port = 53, Protocol = IpProtocol.Tcp }));
        Assert.Equal(2, Count(lab.Engine, new SessionFilter { Protocol = IpProtocol.Tcp, Address = Lab.Remote }));
        Assert.Equal(1, Count(lab.Engine, new SessionFilter { Address = Lab.InsideB }));
        Assert.Equal(3, Count(lab.Engine, SessionFilter.All));
    }

    [Fact]
    public void An_unknown_state_is_einval_naming_the_states_there_are()
    {
        NatControlException refused = Assert.Throws<NatControlException>(() => SessionFilter.All.WithState("TIME_WAIT"));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Contains("TimeWait", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Removing_by_filter_takes_only_those_sessions_and_frees_their_ports()
    {
        var lab = new Lab();
        ushort first = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53))).SourcePort;
        lab.Forward(Lab.Udp(Lab.InsideB, 5001, Lab.Remote, 123));

        Assert.Equal(1, Remove(lab, new SessionFilter { Port = 53 }));
        SessionInfo left = Assert.Single(lab.Engine.ListSessions());
        Assert.Equal(123, left.InternalDestinationPort);
        Assert.Equal(1, lab.Engine.Statistics().Removed);
        // The removed session's mapping is gone: a reply to its port finds nothing.
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Udp(Lab.Remote, 53, Lab.External, first)));
        // Its port went back to the allocator: the same inside endpoint gets it again.
        Assert.Equal(first, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53))).SourcePort);
    }

    [Fact]
    public void Removing_by_filter_is_refused_while_the_table_is_locked()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Engine.Lock(true);
        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => Remove(lab, new SessionFilter { Port = 53 })).Errno);
        Assert.Single(lab.Engine.ListSessions());
    }

    [Fact]
    public void A_put_session_of_the_gateway_must_leave_from_the_address_it_reached()
    {
        // The gateway reaching its own published port: CreateSession takes the source from the
        // address it reached. Before issue 14 put refused the real session (as one that "began
        // inside" with no map), and took a forged one that said it began outside from any
        // external address of any rule (here the second map's), an address the redirect does not own.
        var lab = new Lab();
        lab.Engine.AddRule(new NatRule
        {
            Kind = NatRuleKind.Redirect,
            Protocols = RuleProtocols.Tcp,
            Destination = Ipv4Prefix.Host(Lab.External),
            DestinationPorts = PortMatch.Exactly(8080),
            RedirectTargets = [Lab.InsideB],
            RedirectPort = 80,
        });
        Ipv4Address other = Ipv4Address.Parse("198.51.100.20");
        lab.Engine.AddRule(NatEngine.MapRule(Ipv4Prefix.Parse("10.0.1.0/24"), other));
        Ipv4Address gateway = Ipv4Address.Parse("198.51.100.1");
        lab.Engine.SetLocalAddresses([gateway]);
        lab.Forward(Lab.Tcp(gateway, 50000, Lab.External, 8080, TcpFlags.Syn));
        SessionRecord real = Assert.Single(lab.Engine.ExportSessions());
        lab.Engine.FlushSessions(lab.Now);
        lab.Engine.Lock(true);

        FlowKey translated = real.Translated.AsIpv4;
        SessionRecord moved = real with
        {
            Translated = new FlowKey(translated.Protocol, other, translated.SourcePort, translated.Destination, translated.DestinationPort),
            IpChecksumDelta = null,
            TransportChecksumDelta = null,
        };
        NatControlException refused = Assert.Throws<NatControlException>(() => lab.Engine.Put(moved, lab.Now));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Contains("198.51.100.20", refused.Message, StringComparison.Ordinal);
        Assert.True(refused.Message.Contains("(rdr ", StringComparison.Ordinal), refused.Message);
        NatControlException forged = Assert.Throws<NatControlException>(() => lab.Engine.Put(moved with { InitiatedOutside = true }, lab.Now));
        Assert.Equal(NatErrno.EINVAL, forged.Errno);
        Assert.Empty(lab.Engine.ListSessions());

        lab.Engine.Put(real, lab.Now);
        Assert.Single(lab.Engine.ListSessions());
    }

    [Fact]
    public void A_put_session_of_a_map_block_must_stay_in_its_hosts_block()
    {
        // map-block ties an external address and port to one inside host (RFC 7422). Before issue
        // 14 a put was checked against the rule's whole range, so a session of 10.0.0.2 could be
        // planted on a port of 10.0.0.3's block, and the logs would name the wrong host.
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(Assert.Single(IpnatParser.Parse("map-block * 10.0.0.0/24 -> 198.51.100.10/32 ports 256", "nat.conf").Rules));
        (Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort) = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53)));
        var translated = new FlowKey(IpProtocol.Udp, source, sourcePort, destination, destinationPort);
        Assert.InRange(translated.SourcePort, 1024 + (2 * 256), 1024 + (3 * 256) - 1); // host 2's block
        SessionRecord real = Assert.Single(lab.Engine.ExportSessions());
        lab.Engine.FlushSessions(lab.Now);
        lab.Engine.Lock(true);

        SessionRecord borrowed = real with
        {
            Translated = new FlowKey(IpProtocol.Udp, translated.Source, (ushort)(translated.SourcePort + 256), translated.Destination, translated.DestinationPort),
            IpChecksumDelta = null,
            TransportChecksumDelta = null,
        };
        NatControlException refused = Assert.Throws<NatControlException>(() => lab.Engine.Put(borrowed, lab.Now));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Contains("10.0.0.2's share of rule", refused.Message, StringComparison.Ordinal);
        Assert.Contains("198.51.100.10 ports 1536-1791", refused.Message, StringComparison.Ordinal);
        Assert.Empty(lab.Engine.ListSessions());

        lab.Engine.Put(real, lab.Now);
        Assert.Single(lab.Engine.ListSessions());
    }

    [Fact]
    public void A_port_below_1024_gets_a_port_below_1024_when_the_rule_allows_it()
    {
        // RFC 4787 REQ-3: the class of the inside port is kept. The first host keeps its port
        // (REQ-3's port preservation); the second, finding it taken, stays below 1024.
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External, new PortRange(1, 65535)));
        Assert.Equal(700, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 700, Lab.Remote, 123))).SourcePort);
        for (int host = 3; host < 40; host++)
        {
            ushort port = Lab.Tuple(lab.Forward(Lab.Udp(Ipv4Address.Parse($"10.0.0.{host}"), 700, Lab.Remote, 123))).SourcePort;
            Assert.InRange(port, 1, 1023);
        }
        // And an unprivileged port stays unprivileged.
        for (int host = 40; host < 80; host++)
        {
            ushort port = Lab.Tuple(lab.Forward(Lab.Udp(Ipv4Address.Parse($"10.0.0.{host}"), 5000, Lab.Remote, 123))).SourcePort;
            Assert.InRange(port, 1024, 65535);
        }
    }

    [Fact]
    public void A_port_below_1024_leaves_its_class_only_when_the_rule_has_no_such_port()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External, new PortRange(1024, 65535)));
        ushort port = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 700, Lab.Remote, 123))).SourcePort;
        Assert.InRange(port, 1024, 65535);
    }

    [Fact]
    public void Parity_is_kept_when_the_rule_asks_and_not_otherwise()
    {
        // RFC 4787 REQ-4. Forty hosts from odd port 5001: the first keeps it, the others get ports
        // of its parity. Without "parity" the ports fall where they may; among forty some are even.
        NatRule parity = Assert.Single(IpnatParser.Parse("map * 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp 1024:65535 parity", "nat.conf").Rules);
        var kept = new Lab(addMapRule: false);
        kept.Engine.AddRule(parity);
        var free = new Lab(addMapRule: false);
        free.Engine.AddRule(parity with { Policy = parity.Policy with { PreservePortParity = false } });
        int evenWithout = 0;
        for (int host = 2; host < 42; host++)
        {
            Ipv4Address inside = Ipv4Address.Parse($"10.0.0.{host}");
            Assert.Equal(1, Lab.Tuple(kept.Forward(Lab.Udp(inside, 5001, Lab.Remote, 3478))).SourcePort % 2);
            evenWithout += 1 - (Lab.Tuple(free.Forward(Lab.Udp(inside, 5001, Lab.Remote, 3478))).SourcePort % 2);
        }
        Assert.True(evenWithout > 0, "without parity, some of forty ports are even");
    }

    [Fact]
    public void Parity_is_an_ipnat_option_of_rules_that_allocate_ports()
    {
        NatRule map = Assert.Single(IpnatParser.Parse("map eth0 10.0.0.0/24 -> 198.51.100.10/32 parity", "nat.conf").Rules);
        Assert.True(map.Policy.PreservePortParity);
        Assert.Equal("map eth0 10.0.0.0/24 -> 198.51.100.10/32 parity", IpnatPrinter.Print(map));
        Assert.False(Assert.Single(IpnatParser.Parse("map eth0 10.0.0.0/24 -> 198.51.100.10/32", "nat.conf").Rules).Policy.PreservePortParity);
        RuleSyntaxException refused = Assert.Throws<RuleSyntaxException>(() => IpnatParser.Parse("rdr eth0 198.51.100.10/32 port 80 -> 10.0.0.5 port 80 tcp parity", "nat.conf"));
        Assert.StartsWith("nat.conf:1:", refused.Message, StringComparison.Ordinal);
        Assert.Contains("'parity' applies to map and map-block rules", refused.Message, StringComparison.Ordinal);
    }
}
