using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Tests.Translation.Npt;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation;

/// <summary>IPv6 bimaps through the engine: NPTv6 (RFC 6296), stateless, both ways.</summary>
public sealed class PrefixTranslationTests
{
    // RFC 6296 section 3.6's example: fd01:203:405:1::1234 is 2001:db8:1:d550::1234 outside.
    private const string Rule = "bimap eth0 fd01:203:405::/48 -> 2001:db8:1::/48";
    private static readonly Ipv6Address InsideHost = Address("fd01:203:405:1::1234");
    private static readonly Ipv6Address OutsideName = Address("2001:db8:1:d550::1234");
    private static readonly Ipv6Address Server = Address("2001:db8:ff::5");

    private static NatEngine Engine(string rules = Rule)
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        engine.LoadRules(IpnatParser.Parse(rules, "ipnat.conf").Rules);
        return engine;
    }

    private static TranslationResult Send(NatEngine engine, byte[] packet) => engine.Translate(packet, packet.Length, 0);

    [Fact]
    public void Outbound_udp_tcp_and_echo_leave_with_the_external_prefix_and_valid_checksums()
    {
        NatEngine engine = Engine();
        foreach (byte[] packet in new[] { Udp(InsideHost, Server), Tcp(InsideHost, Server), EchoRequest(InsideHost, Server) })
        {
            TranslationResult result = Send(engine, packet);
            Assert.Equal(Verdict.Forward, result.Verdict);
            Assert.Equal(packet.Length, result.Length);
            Assert.Equal(OutsideName, Source(packet));
            Assert.Equal(Server, Destination(packet));
            Assert.True(ChecksumIsValid(packet));
        }
        Assert.Equal(3, engine.Statistics().MappedOut);
        Assert.Equal(0, engine.SessionCount); // stateless: no session is made
    }

    [Fact]
    public void Inbound_to_the_external_prefix_reaches_the_inside_host_unasked()
    {
        NatEngine engine = Engine();
        byte[] packet = Tcp(Server, OutsideName, RemotePort, InsidePort);
        Assert.Equal(Verdict.Forward, Send(engine, packet).Verdict);
        Assert.Equal(InsideHost, Destination(packet));
        Assert.Equal(Server, Source(packet));
        Assert.True(ChecksumIsValid(packet));
        Assert.Equal(1, engine.Statistics().MappedIn);
    }

    [Fact]
    public void An_icmpv6_error_about_an_outbound_packet_comes_back_quoting_the_inside_address()
    {
        NatEngine engine = Engine();
        byte[] outbound = Udp(InsideHost, Server);
        Send(engine, outbound);
        byte[] error = Error(Address("2001:db8:ff::1"), OutsideName, Icmpv6Type.PacketTooBig, 0, 1280, outbound);
        Assert.Equal(Verdict.Forward, Send(engine, error).Verdict);
        Assert.Equal(InsideHost, Destination(error));
        Assert.Equal(InsideHost, Source(Quote(error)));
        Assert.True(ChecksumIsValid(error));
    }

    [Fact]
    public void Two_inside_hosts_reach_each_other_through_their_external_names()
    {
        NatEngine engine = Engine();
        Ipv6Address other = Address("fd01:203:405:2::7");
        Assert.True(new NatGate.Core.Translation.Npt.Nptv6Mapping(IpPrefix.Parse("fd01:203:405::/48", null), IpPrefix.Parse("2001:db8:1::/48", null)).TryToExternal(other, out Ipv6Address otherOutside));
        byte[] packet = Udp(InsideHost, otherOutside);
        Assert.Equal(Verdict.Forward, Send(engine, packet).Verdict);
        Assert.Equal(OutsideName, Source(packet));
        Assert.Equal(other, Destination(packet));
        Assert.True(ChecksumIsValid(packet));

        engine.Hairpinning = HairpinningMode.Disabled;
        byte[] refused = Udp(InsideHost, otherOutside);
        Assert.Equal(DropReason.HairpinDisabled, Send(engine, refused).Reason);
    }

    [Fact]
    public void Neighbour_discovery_and_ipv6_no_rule_takes_are_dropped_never_passed()
    {
        NatEngine engine = Engine();
        byte[] solicitation = NeighbourSolicitation(Address("2001:db8:ff::1"), OutsideName);
        byte[] copy = (byte[])solicitation.Clone();
        Assert.Equal(DropReason.Unsupported, Send(engine, solicitation).Reason);
        Assert.Equal(copy, solicitation);
        byte[] stranger = Udp(Address("fd99::1"), Server);
        Assert.Equal(DropReason.Unsupported, Send(engine, stranger).Reason);
        Assert.Equal(Address("fd99::1"), Source(stranger));
    }

    [Fact]
    public void An_address_whose_adjustment_word_is_ffff_is_dropped_and_counted()
    {
        NatEngine engine = Engine();
        byte[] packet = Udp(Address("fd01:203:405:ffff::1"), Server);
        Assert.Equal(DropReason.UntranslatableAddress, Send(engine, packet).Reason);
        Assert.Equal(1, engine.Statistics().Drops[nameof(DropReason.UntranslatableAddress)]);
    }

    [Fact]
    public void Malformed_ipv6_is_counted_as_bad()
    {
        NatEngine engine = Engine();
        byte[] packet = Udp(InsideHost, Server)[..30];
        Assert.Equal(DropReason.Malformed, Send(engine, packet).Reason);
    }

    [Fact]
    public void Ipnat_reads_and_prints_an_ipv6_bimap()
    {
        NatRule rule = Assert.Single(IpnatParser.Parse(Rule, "ipnat.conf").Rules);
        Assert.True(rule.IsIpv6);
        Assert.Equal(IpPrefix.Parse("fd01:203:405::/48", null), rule.Source);
        Assert.Equal(IpAddress.Parse("2001:db8:1::"), rule.TranslatedFirst);
        Assert.Equal(IpAddress.Parse("2001:db8:1:ffff:ffff:ffff:ffff:ffff"), rule.TranslatedLast);
        Assert.Equal(Rule, IpnatPrinter.Print(rule).TrimEnd());
    }

    [Theory]
    [InlineData("bimap eth0 fd01::/120 -> 192.0.2.0/24", 1, 26, "mixes IPv4 and IPv6")]
    [InlineData("map eth0 10.0.0.0/8 -> 2001:db8::1/128", 1, 24, "mixes IPv4 and IPv6")]
    [InlineData("bimap eth0 fd01::/48 -> 2001:db8::/56", 1, 25, "one to one")]
    public void Ipnat_says_where_a_rule_mixes_families_or_sizes(string line, int lineNumber, int column, string what)
    {
        RuleSyntaxException error = Assert.Throws<RuleSyntaxException>(() => IpnatParser.Parse(line, "ipnat.conf"));
        Assert.StartsWith($"ipnat.conf:{lineNumber}:{column}:", error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("map-block eth0 fd00:77::/112 -> 2001:db8::10/128", "IPv6 map-block rules are not translated yet")]
    [InlineData("bimap eth0 fd00:77::/96 -> 2001:db8::/96", "/64 or shorter")]
    public void Ipv6_rules_the_engine_cannot_translate_yet_are_refused_with_a_sentence(string line, string what)
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        NatControlException refused = Assert.Throws<NatControlException>(() => engine.LoadRules(IpnatParser.Parse(line, "ipnat.conf").Rules));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Contains(what, refused.Message, StringComparison.Ordinal);
        Assert.Empty(engine.ListRules());
    }

    [Fact]
    public void The_hop_limit_is_given_back_as_the_ttl_is()
    {
        byte[] packet = Udp(InsideHost, Server);
        packet[Ipv6Packet.Field.HopLimit] = 63;
        HopLimit.RestoreOne(packet);
        Assert.Equal(64, packet[Ipv6Packet.Field.HopLimit]);
        packet[Ipv6Packet.Field.HopLimit] = 255;
        HopLimit.RestoreOne(packet);
        Assert.Equal(255, packet[Ipv6Packet.Field.HopLimit]);
    }
}
