using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;

// Not NatGate.Core.Tests.Rules: that namespace would shadow NatGate.Core.Rules in tests that write Rules.NatRule.
namespace NatGate.Core.Tests.Ipnat;

/// <summary>Each ipnat.conf construct parses to the exact NatRule fields the engine reads.</summary>
public sealed class IpnatParserTests
{
    private static NatRule One(string line) => Assert.Single(IpnatParser.Parse(line, "nat.conf").Rules);

    private static Ipv4Address Address(string dotted) => Ipv4Address.Parse(dotted);

    [Fact]
    public void Map_to_a_prefix_translates_to_every_address_of_it()
    {
        NatRule rule = One("map natgate0 10.0.0.0/8 -> 209.1.2.0/24");
        Assert.Equal(NatRuleKind.Map, rule.Kind);
        Assert.Equal("natgate0", rule.Interface);
        Assert.Null(rule.InsideInterface);
        Assert.Equal(Ipv4Prefix.Parse("10.0.0.0/8"), rule.Source);
        Assert.Equal(Ipv4Prefix.Any, rule.Destination);
        Assert.Equal(Address("209.1.2.0"), rule.TranslatedFirst);
        Assert.Equal(Address("209.1.2.255"), rule.TranslatedLast);
        Assert.Equal(RuleProtocols.Any, rule.Protocols);
        Assert.Equal("nat.conf:1", rule.Label);
    }

    [Fact]
    public void Bare_address_is_a_host_and_netmask_forms_equal_the_prefix_form()
    {
        Assert.Equal(Ipv4Prefix.Parse("10.1.2.3/32"), One("map e0 10.1.2.3 -> 192.0.2.1/32").Source);
        Assert.Equal(Ipv4Prefix.Parse("10.1.2.0/24"), One("map e0 10.1.2.0/255.255.255.0 -> 192.0.2.1/32").Source);
        Assert.Equal(Ipv4Prefix.Parse("10.1.0.0/16"), One("map e0 10.1.0.0 netmask 255.255.0.0 -> 192.0.2.1").Source);
        NatRule host = One("map e0 10.1.2.3 -> 192.0.2.1");
        Assert.Equal(Address("192.0.2.1"), host.TranslatedFirst);
        Assert.Equal(Address("192.0.2.1"), host.TranslatedLast);
    }

    [Fact]
    public void In_out_interface_pair_names_both()
    {
        NatRule rule = One("map in0,out0 10.0.0.0/24 -> 192.0.2.1/32");
        Assert.Equal("in0", rule.InsideInterface);
        Assert.Equal("out0", rule.Interface);
        Assert.Null(One("map * 10.0.0.0/24 -> 192.0.2.1/32").Interface);
    }

    [Fact]
    public void Range_target_gives_first_and_last()
    {
        NatRule rule = One("map e0 10.0.0.0/24 -> range 192.0.2.10-192.0.2.20");
        Assert.Equal(Address("192.0.2.10"), rule.TranslatedFirst);
        Assert.Equal(Address("192.0.2.20"), rule.TranslatedLast);
    }

    [Fact]
    public void Portmap_sets_ports_and_limits_the_protocols()
    {
        NatRule rule = One("map ppp0 10.0.0.0/8 -> 209.1.2.0/24 portmap tcp/udp 1025:65000");
        Assert.Equal(new PortRange(1025, 65000), rule.TranslatedPorts);
        Assert.Equal(RuleProtocols.TcpUdp, rule.Protocols);
        Assert.Equal(RuleProtocols.Tcp, One("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap tcp 2000:3000").Protocols);
        Assert.Equal(RuleProtocols.Udp, One("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap udp 2000:3000").Protocols);
        Assert.Equal(RuleProtocols.TcpUdp, One("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap tcpudp 2000:3000").Protocols);
    }

    [Fact]
    public void Portmap_auto_sets_PortmapAuto()
    {
        NatRule rule = One("map ppp0 172.192.0.0/16 -> 209.1.2.0/24 portmap tcp/udp auto");
        Assert.True(rule.PortmapAuto);
        Assert.Null(rule.TranslatedPorts);
        Assert.Equal(RuleProtocols.TcpUdp, rule.Protocols);
    }

    [Fact]
    public void Icmpidmap_sets_identifiers_and_limits_to_icmp()
    {
        NatRule rule = One("map e0 10.0.0.0/8 -> 192.0.2.1/32 icmpidmap icmp 1000:2000");
        Assert.Equal(new PortRange(1000, 2000), rule.TranslatedIcmpIdentifiers);
        Assert.Equal(RuleProtocols.Icmp, rule.Protocols);
        NatRule both = One("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap tcp/udp 1024:65535 icmpidmap icmp 1024:65535");
        Assert.Equal(RuleProtocols.TcpUdp | RuleProtocols.Icmp, both.Protocols);
    }

    [Theory]
    [InlineData("tcp", RuleProtocols.Tcp)]
    [InlineData("udp", RuleProtocols.Udp)]
    [InlineData("tcp/udp", RuleProtocols.TcpUdp)]
    [InlineData("tcpudp", RuleProtocols.TcpUdp)]
    [InlineData("icmp", RuleProtocols.Icmp)]
    [InlineData("ip", RuleProtocols.Any)]
    [InlineData("proto 6", RuleProtocols.Tcp)]
    [InlineData("proto 17", RuleProtocols.Udp)]
    [InlineData("proto 1", RuleProtocols.Icmp)]
    [InlineData("proto 0", RuleProtocols.Any)]
    [InlineData("proto udp", RuleProtocols.Udp)]
    public void Trailing_protocol_restricts_a_map(string protocol, RuleProtocols expected)
    {
        Assert.Equal(expected, One($"map e0 10.0.0.0/8 -> 192.0.2.1/32 {protocol}").Protocols);
    }

    [Fact]
    public void From_to_form_with_negation_and_port_conditions()
    {
        NatRule rule = One("map e0 from 10.0.0.0/24 port > 1023 to !192.168.0.0/16 port = 80 -> 192.0.2.1/32");
        Assert.Equal(Ipv4Prefix.Parse("10.0.0.0/24"), rule.Source);
        Assert.False(rule.SourceNegated);
        Assert.Equal(new PortMatch(1024, 65535), rule.SourcePorts);
        Assert.Equal(Ipv4Prefix.Parse("192.168.0.0/16"), rule.Destination);
        Assert.True(rule.DestinationNegated);
        Assert.Equal(PortMatch.Exactly(80), rule.DestinationPorts);
        NatRule negatedSource = One("map e0 from !10.0.0.5 to any -> 192.0.2.1/32");
        Assert.True(negatedSource.SourceNegated);
        Assert.Equal(Ipv4Prefix.Host(Address("10.0.0.5")), negatedSource.Source);
        Assert.Equal(Ipv4Prefix.Any, negatedSource.Destination);
    }

    [Theory]
    [InlineData("port = 80", 80, 80, false)]
    [InlineData("port != 80", 80, 80, true)]
    [InlineData("port < 1024", 0, 1023, false)]
    [InlineData("port > 1023", 1024, 65535, false)]
    [InlineData("port <= 1024", 0, 1024, false)]
    [InlineData("port >= 1024", 1024, 65535, false)]
    [InlineData("port 1000 <> 2000", 1000, 2000, true)]
    [InlineData("port 1000 >< 2000", 1001, 1999, false)]
    [InlineData("port 1000:2000", 1000, 2000, false)]
    [InlineData("port 80", 80, 80, false)]
    [InlineData("port = http", 80, 80, false)]
    [InlineData("port=https", 443, 443, false)]
    [InlineData("port 1000<>2000", 1000, 2000, true)]
    public void Port_conditions(string condition, int first, int last, bool excluding)
    {
        NatRule rule = One($"map e0 from 10.0.0.0/8 to any {condition} -> 192.0.2.1/32");
        Assert.Equal(new PortMatch((ushort)first, (ushort)last, excluding), rule.DestinationPorts);
    }

    [Theory]
    [InlineData("ftp", 21)]
    [InlineData("ssh", 22)]
    [InlineData("telnet", 23)]
    [InlineData("smtp", 25)]
    [InlineData("domain", 53)]
    [InlineData("http", 80)]
    [InlineData("pop3", 110)]
    [InlineData("ntp", 123)]
    [InlineData("imap", 143)]
    [InlineData("https", 443)]
    public void Service_names_are_ports(string name, int port)
    {
        Assert.Equal(PortMatch.Exactly((ushort)port), One($"rdr e0 192.0.2.1 port {name} -> 10.0.0.5").DestinationPorts);
    }

    [Fact]
    public void Rdr_to_one_host_defaults_to_tcp()
    {
        NatRule rule = One("rdr natgate0 192.0.2.1/32 port 80 -> 10.0.0.5 port 8080");
        Assert.Equal(NatRuleKind.Redirect, rule.Kind);
        Assert.Equal("natgate0", rule.Interface);
        Assert.Equal(Ipv4Prefix.Host(Address("192.0.2.1")), rule.Destination);
        Assert.Equal(PortMatch.Exactly(80), rule.DestinationPorts);
        Assert.Equal([Address("10.0.0.5")], rule.RedirectTargets);
        Assert.Equal(8080, rule.RedirectPort);
        Assert.Equal(RuleProtocols.Tcp, rule.Protocols);
        Assert.Equal(Ipv4Prefix.Any, rule.Source);
        Assert.False(rule.RoundRobin);
    }

    [Fact]
    public void Rdr_port_range_several_targets_round_robin_sticky_and_protocol()
    {
        NatRule rule = One("rdr e0 192.0.2.0/24 port 8000-8010 -> 10.0.0.5, 10.0.0.6,10.0.0.7 port 9000 tcp/udp round-robin sticky");
        Assert.Equal(Ipv4Prefix.Parse("192.0.2.0/24"), rule.Destination);
        Assert.Equal(new PortMatch(8000, 8010), rule.DestinationPorts);
        Assert.Equal([Address("10.0.0.5"), Address("10.0.0.6"), Address("10.0.0.7")], rule.RedirectTargets);
        Assert.Equal(9000, rule.RedirectPort);
        Assert.Equal(RuleProtocols.TcpUdp, rule.Protocols);
        Assert.True(rule.RoundRobin);
        Assert.True(rule.Sticky);
        Assert.Equal(RuleProtocols.Udp, One("rdr e0 192.0.2.1 port 53 -> 10.0.0.5 port 53 udp").Protocols);
        Assert.Equal(RuleProtocols.Icmp, One("rdr e0 192.0.2.1 -> 10.0.0.5 icmp").Protocols);
        Assert.Equal(RuleProtocols.TcpUdp, One("rdr e0 192.0.2.1 port 53 -> 10.0.0.5 port 53 tcpudp").Protocols);
    }

    [Fact]
    public void Rdr_without_ports_keeps_every_port()
    {
        NatRule rule = One("rdr e0 192.0.2.1 -> 10.0.0.5 ip");
        Assert.True(rule.DestinationPorts.IsAny);
        Assert.Equal(0, rule.RedirectPort);
        Assert.Equal(RuleProtocols.Any, rule.Protocols);
    }

    [Fact]
    public void Rdr_from_to_form_restricts_the_remote()
    {
        NatRule rule = One("rdr e0 from 198.51.100.0/24 to 192.0.2.1 port = 22 -> 10.0.0.5 port 22");
        Assert.Equal(Ipv4Prefix.Parse("198.51.100.0/24"), rule.Source);
        Assert.Equal(Ipv4Prefix.Host(Address("192.0.2.1")), rule.Destination);
        Assert.Equal(PortMatch.Exactly(22), rule.DestinationPorts);
        Assert.Equal(22, rule.RedirectPort);
        NatRule anyRemote = One("rdr e0 from any to 192.0.2.1 port = ssh -> 10.0.0.5");
        Assert.Equal(Ipv4Prefix.Any, anyRemote.Source);
    }

    [Fact]
    public void Bimap_maps_prefix_to_prefix()
    {
        NatRule rule = One("bimap e0 10.0.0.0/24 -> 192.0.2.0/24");
        Assert.Equal(NatRuleKind.Bidirectional, rule.Kind);
        Assert.Equal(Ipv4Prefix.Parse("10.0.0.0/24"), rule.Source);
        Assert.Equal(Address("192.0.2.0"), rule.TranslatedFirst);
        Assert.Equal(Address("192.0.2.255"), rule.TranslatedLast);
        NatRule host = One("bimap e0 10.0.0.5/32 -> 192.0.2.5/32");
        Assert.Equal(Address("192.0.2.5"), host.TranslatedFirst);
        Assert.Equal(Address("192.0.2.5"), host.TranslatedLast);
    }

    [Fact]
    public void Map_block_with_ports_or_auto()
    {
        NatRule rule = One("map-block e0 10.0.0.0/24 -> 192.0.2.0/30 ports 256");
        Assert.Equal(NatRuleKind.MapBlock, rule.Kind);
        Assert.Equal(Ipv4Prefix.Parse("10.0.0.0/24"), rule.Source);
        Assert.Equal(Address("192.0.2.0"), rule.TranslatedFirst);
        Assert.Equal(Address("192.0.2.3"), rule.TranslatedLast);
        Assert.Equal(256, rule.PortsPerAddress);
        Assert.Equal(0, One("map-block e0 10.0.0.0/16 -> 192.0.2.0/24 ports auto").PortsPerAddress);
    }

    [Fact]
    public void Options_frag_age_mssclamp()
    {
        NatRule rule = One("map e0 10.0.0.0/8 -> 192.0.2.1/32 frag age 30/10 mssclamp 1400");
        Assert.True(rule.Fragments);
        Assert.Equal(30, rule.AgeSeconds);
        Assert.Equal(10, rule.AgeClosingSeconds);
        Assert.Equal(1400, rule.MssClamp);
        NatRule ageOnly = One("rdr e0 192.0.2.1 port 80 -> 10.0.0.5 port 80 age 600");
        Assert.Equal(600, ageOnly.AgeSeconds);
        Assert.Null(ageOnly.AgeClosingSeconds);
    }

    [Fact]
    public void Options_come_in_any_order_after_the_target()
    {
        NatRule ordered = One("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap tcp 1024:65535 frag age 30 mssclamp 1400");
        NatRule shuffled = One("map e0 10.0.0.0/8 -> 192.0.2.1/32 mssclamp 1400 age 30 frag portmap tcp 1024:65535");
        Assert.Equal(ordered, shuffled);
    }

    [Fact]
    public void The_ftp_proxy_is_stored_without_a_warning()
    {
        IpnatRules parsed = IpnatParser.Parse("\n\nmap e0 10.0.0.0/8 -> 192.0.2.1/32 proxy port ftp ftp/tcp\n", "nat.conf");
        NatRule rule = Assert.Single(parsed.Rules);
        Assert.Equal(new ProxyReference(21, "ftp", "tcp"), rule.Proxy);
        Assert.Empty(parsed.Warnings);
    }

    [Fact]
    public void A_proxy_natgate_does_not_have_is_stored_with_a_warning()
    {
        IpnatRules parsed = IpnatParser.Parse("map e0 10.0.0.0/8 -> 192.0.2.1/32 proxy port 6667 irc/tcp\n", "nat.conf");
        Assert.Equal(new ProxyReference(6667, "irc", "tcp"), Assert.Single(parsed.Rules).Proxy);
        Assert.Equal("nat.conf:1: proxy irc is not a helper NatGate has (it has ftp): the rule translates without one", Assert.Single(parsed.Warnings));
    }

    [Fact]
    public void Comments_blank_lines_and_whitespace_are_ignored_and_labels_count_lines()
    {
        const string Text = "# outbound NAT\n\n   map\te0   10.0.0.0/8 ->192.0.2.1/32   # the lab\r\n\t\n#rdr e0 1.2.3.4 -> 10.0.0.1\nrdr e0 192.0.2.1 port 80->10.0.0.5 port 80\n";
        IpnatRules parsed = IpnatParser.Parse(Text, "lab.conf");
        Assert.Equal(["lab.conf:3", "lab.conf:6"], parsed.Rules.Select(rule => rule.Label));
        Assert.Empty(parsed.Warnings);
        Assert.Equal(Ipv4Prefix.Parse("10.0.0.0/8"), parsed.Rules[0].Source);
    }

    [Fact]
    public void An_empty_file_has_no_rules()
    {
        IpnatRules parsed = IpnatParser.Parse("# nothing yet\n\n", "empty.conf");
        Assert.Empty(parsed.Rules);
        Assert.Empty(parsed.Warnings);
    }

    [Fact]
    public void ParseFile_labels_with_the_path()
    {
        string path = Path.Combine(Path.GetTempPath(), $"ipnat-{Guid.NewGuid():N}.conf");
        File.WriteAllText(path, "map e0 10.0.0.0/8 -> 192.0.2.1/32\n");
        try
        {
            Assert.Equal($"{path}:1", Assert.Single(IpnatParser.ParseFile(path).Rules).Label);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
