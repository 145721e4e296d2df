using NatGate.Core.Rules.Ipnat;

// Not NatGate.Core.Tests.Rules: that namespace would shadow NatGate.Core.Rules in tests that write Rules.NatRule.
namespace NatGate.Core.Tests.Ipnat;

/// <summary>Every refusal names file, line and column of the offending token, what is wrong, and what was expected.</summary>
public sealed class IpnatErrorTests
{
    private static RuleSyntaxException Refused(string text) => Assert.Throws<RuleSyntaxException>(() => IpnatParser.Parse(text, "nat.conf"));

    [Theory]
    // Rule words and interfaces.
    [InlineData("mapp e0 10.0.0.0/8 -> 192.0.2.1/32", "1:1: expected a rule: map, bimap, rdr or map-block, found 'mapp'")]
    [InlineData("map 10.0.0.0/8 -> 192.0.2.1/32", "1:5: expected an interface name after 'map' (such as natgate0, or in0,out0), found '10.0.0.0/8'")]
    [InlineData("map", "1:4: expected an interface name after 'map', found the end of the line")]
    // Addresses and the arrow.
    [InlineData("map e0 10.0.0.0/8 192.0.2.1/32", "1:19: expected '->' after the source, found '192.0.2.1/32'")]
    [InlineData("map e0 10.0.0.0/8", "1:18: expected '->' after the source, found the end of the line")]
    [InlineData("map e0 10.0.0.256/8 -> 192.0.2.1/32", "1:8: expected an address such as 10.0.0.0/24 or 'any' as the source, found '10.0.0.256/8'")]
    [InlineData("map e0 10.0.0.0/33 -> 192.0.2.1/32", "1:17: expected a prefix length 0 to 32 or a contiguous netmask such as 255.255.255.0, found '33'")]
    [InlineData("map e0 from 10.0.0.0/8 at any -> 192.0.2.1/32", "1:24: expected 'to' and the destination after the source, found 'at'")]
    // Targets.
    [InlineData("bimap e0 10.0.0.1/32 -> 0/32", "1:25: '-> 0/32' means the interface's own address: only a map or map-block rule naming an interface may use it")]
    [InlineData("map e0 10.0.0.0/8 -> any", "1:22: expected the external addresses after '->', such as 192.0.2.1/32 or 'range 192.0.2.1-192.0.2.9', found 'any'")]
    [InlineData("map e0 10.0.0.0/8 -> range 192.0.2.9-192.0.2.1", "1:28: address range 192.0.2.9-192.0.2.1 is reversed; expected the lower address first")]
    [InlineData("bimap e0 10.0.0.0/24 -> 192.0.2.0/25", "1:25: bimap maps addresses one to one: the source 10.0.0.0/24 has 256 addresses but the external side has 128; expected equal sizes")]
    [InlineData("map-block e0 10.0.0.0/8 -> 192.0.2.0/24", "1:14: map-block needs an internal prefix of /16 or longer, found /8; expected a smaller network such as 10.0.0.0/24")]
    [InlineData("map-block e0 from 10.0.0.0/15 to any -> 192.0.2.0/24", "1:19: map-block needs an internal prefix of /16 or longer, found /15; expected a smaller network such as 10.0.0.0/24")]
    [InlineData("rdr e0 192.0.2.1 port 80 -> port 8080", "1:29: expected an internal address such as 10.0.0.5 or fd00:77::5 after '->', found 'port'")]
    [InlineData("rdr e0 192.0.2.1 port 80 ->", "1:28: expected an internal address after '->', found the end of the line")]
    [InlineData("rdr e0 192.0.2.1 port 80 -> 10.0.0.5, port 80", "1:39: expected an internal address such as 10.0.0.5 or fd00:77::5 after ',', found 'port'")]
    // Ports.
    [InlineData("rdr e0 192.0.2.1 port 80 -> 10.0.0.5 port htp", "1:43: expected a port number or service name after 'port', found 'htp'")]
    [InlineData("map e0 from any to any port = 70000 -> 192.0.2.1/32", "1:31: port 70000 is out of range; expected a port number 0 to 65535")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap tcp 2000:1000", "1:47: port range 2000:1000 is reversed; expected the lower port first")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap tcp 1024:70000", "1:52: port 70000 is out of range; expected a port number 0 to 65535")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap icmp 1:2", "1:43: expected tcp, udp or tcp/udp after 'portmap', found 'icmp'")]
    [InlineData("rdr e0 192.0.2.1 port 90-80 -> 10.0.0.5", "1:23: port range 90-80 is reversed; expected the lower port first")]
    [InlineData("map e0 from any port 2000:1000 to any -> 192.0.2.1/32", "1:22: port range 2000:1000 is reversed; expected the lower port first")]
    [InlineData("map e0 from any to any port 10 >< 11 -> 192.0.2.1/32", "1:35: no port lies strictly between 10 and 11; expected the second port at least 2 above the first")]
    [InlineData("map e0 from any to any port < 0 -> 192.0.2.1/32", "1:31: no port lies below 0; expected a port above 0 after '<'")]
    // Options.
    [InlineData("rdr e0 192.0.2.1 port 80 -> 10.0.0.5 port 80 proto 47", "1:52: expected tcp (6), udp (17), icmp (1) or ip (0, every protocol) after 'proto', found '47'")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 fragments", "1:35: expected an option (portmap, icmpidmap, parity, tcp, udp, tcp/udp, icmp, ip, proto, frag, age, mssclamp or proxy), found 'fragments'")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 round-robin", "1:35: 'round-robin' applies to rdr rules only; expected it left out of this map rule")]
    [InlineData("bimap e0 10.0.0.0/24 -> 192.0.2.0/24 portmap tcp 1:2", "1:38: 'portmap' applies to map rules only; expected it left out of this bimap rule")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 frag frag", "1:40: 'frag' is given twice; expected it once")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 tcp udp", "1:39: a second protocol 'udp'; expected one protocol per rule (tcp/udp covers both)")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 portmap tcp 1024:65535 udp", "1:58: protocol 'udp' contradicts portmap or icmpidmap, which limit the rule to tcp; expected it left out")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 proxy port ftp ftp", "1:50: expected a proxy NAME/PROTOCOL such as ftp/tcp after 'proxy port 21', found 'ftp'")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 proxy port ftp ftp/udp", "1:50: the ftp helper follows FTP's control connection, which is TCP: write 'ftp/tcp', not 'ftp/udp'")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 age soon", "1:39: expected seconds 1 to 2147483647 after 'age', such as 'age 30' or 'age 30/10', found 'soon'")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 mssclamp 0", "1:44: expected a segment size 1 to 65535 after 'mssclamp', found '0'")]
    [InlineData("map-block e0 10.0.0.0/24 -> 192.0.2.0/24 ports 0", "1:48: expected a number of ports 1 to 65535 or 'auto' after 'ports', found '0'")]
    public void Refusals_say_where_and_what_was_expected(string line, string expected)
    {
        Assert.Equal($"nat.conf:{expected}", Refused(line).Message);
    }

    [Fact]
    public void The_error_names_the_bad_line_and_refuses_the_whole_file()
    {
        const string Text = "# lab\nmap e0 10.0.0.0/8 -> 192.0.2.1/32\nrdr e0 192.0.2.10/32 port htp -> 10.0.0.5\nmap e0 10.1.0.0/16 -> 192.0.2.2/32\n";
        RuleSyntaxException error = Refused(Text);
        Assert.Equal("nat.conf:3:27: expected a port number or service name after 'port', found 'htp'", error.Message);
        Assert.Equal("nat.conf", error.FileName);
        Assert.Equal(3, error.Line);
        Assert.Equal(27, error.Column);
    }
}
