using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;

// Not NatGate.Core.Tests.Rules: that namespace would shadow NatGate.Core.Rules in tests that write Rules.NatRule.
namespace NatGate.Core.Tests.Ipnat;

/// <summary>The canonical form: what it looks like, and that parsing it gives back the same rule.</summary>
public sealed class IpnatPrinterTests
{
    private static NatRule One(string line) => Assert.Single(IpnatParser.Parse(line, "nat.conf").Rules);

    [Theory]
    [InlineData("map natgate0 10.0.0.0/8 -> 209.1.2.0/24 portmap tcp/udp 1025:65000", "map natgate0 10.0.0.0/8 -> 209.1.2.0/24 portmap tcp/udp 1025:65000")]
    [InlineData("map e0 10.1.2.0/255.255.255.0 -> 192.0.2.1", "map e0 10.1.2.0/24 -> 192.0.2.1/32")]
    [InlineData("map e0 10.1.2.0 netmask 255.255.255.0 -> range 192.0.2.4-192.0.2.7 tcpudp", "map e0 10.1.2.0/24 -> 192.0.2.4/30 tcp/udp")]
    [InlineData("map e0 10.1.2.0/24 -> range 192.0.2.4-192.0.2.9 proto 17", "map e0 10.1.2.0/24 -> range 192.0.2.4-192.0.2.9 udp")]
    [InlineData("map in0,out0 from 10.0.0.0/24 port>1023 to !any port =http -> 192.0.2.1/32", "map in0,out0 from 10.0.0.0/24 port >= 1024 to !any port = 80 -> 192.0.2.1/32")]
    [InlineData("map e0 from any port < 1024 to any port 10 >< 20 -> 192.0.2.1/32", "map e0 from any port <= 1023 to any port 11:19 -> 192.0.2.1/32")]
    [InlineData("map e0 from any port != 53 to any port 1 <> 1023 -> 192.0.2.1/32", "map e0 from any port != 53 to any port 1 <> 1023 -> 192.0.2.1/32")]
    [InlineData("map e0 10.0.0.0/8 -> 192.0.2.1/32 mssclamp 1400 age 30/10 frag proxy port ftp ftp/tcp icmpidmap icmp 1:2", "map e0 10.0.0.0/8 -> 192.0.2.1/32 icmpidmap icmp 1:2 frag age 30/10 mssclamp 1400 proxy port 21 ftp/tcp")]
    [InlineData("rdr le0 203.1.2.3 port ssh -> 10.0.0.5 port 22 tcp", "rdr le0 203.1.2.3/32 port 22 -> 10.0.0.5 port 22")]
    [InlineData("rdr le0 203.1.2.3/32 port 8000-8010 -> 10.0.0.5 , 10.0.0.6 port 9000 udp sticky round-robin", "rdr le0 203.1.2.3/32 port 8000-8010 -> 10.0.0.5,10.0.0.6 port 9000 udp round-robin sticky")]
    [InlineData("rdr le0 from 198.51.100.0/24 to 203.1.2.3 port = 22 -> 10.0.0.5", "rdr le0 from 198.51.100.0/24 to 203.1.2.3/32 port = 22 -> 10.0.0.5")]
    [InlineData("rdr * 203.1.2.3 -> 10.0.0.5 proto 0", "rdr * 203.1.2.3/32 -> 10.0.0.5 ip")]
    [InlineData("bimap qfe0 10.1.1.1/32 -> 203.1.2.10/32", "bimap qfe0 10.1.1.1/32 -> 203.1.2.10/32")]
    [InlineData("map-block ppp0 10.0.0.0/24 -> 209.1.2.0/30 ports 256", "map-block ppp0 10.0.0.0/24 -> 209.1.2.0/30 ports 256")]
    [InlineData("map-block ppp0 10.0.0.0/24 -> 209.1.2.0/30 ports auto", "map-block ppp0 10.0.0.0/24 -> 209.1.2.0/30")]
    [InlineData("map ppp0 172.192.0.0/16 -> 209.1.2.0/24 portmap tcp/udp auto", "map ppp0 172.192.0.0/16 -> 209.1.2.0/24 portmap tcp/udp auto")]
    [InlineData("map ppp0 192.168.1.0/24 -> 0/32 portmap tcp/udp 40000:60000", "map ppp0 192.168.1.0/24 -> 0/32 portmap tcp/udp 40000:60000")]
    [InlineData("map ppp0 192.168.1.0/24 -> 0.0.0.0/32", "map ppp0 192.168.1.0/24 -> 0/32")]
    public void Canonical_form(string written, string canonical)
    {
        Assert.Equal(canonical, IpnatPrinter.Print(One(written)));
    }

    [Fact]
    public void Zero_slash_32_stands_for_the_interfaces_address_at_the_time()
    {
        NatRule rule = One("map ppp0 192.168.1.0/24 -> 0/32");
        Assert.Equal(("ppp0", Ipv4Address.Any, Ipv4Address.Any), (rule.TranslatedInterface, rule.TranslatedFirst, rule.TranslatedLast));
    }

    [Fact]
    public void Printing_a_list_gives_one_rule_a_line()
    {
        IpnatRules parsed = IpnatParser.Parse("map e0 10.0.0.0/8 -> 192.0.2.1\n# x\nrdr e0 192.0.2.1 port 80 -> 10.0.0.5\n", "nat.conf");
        Assert.Equal("map e0 10.0.0.0/8 -> 192.0.2.1/32\nrdr e0 192.0.2.1/32 port 80 -> 10.0.0.5\n", IpnatPrinter.Print(parsed.Rules));
    }

    [Fact]
    public void Rules_ipnat_cannot_express_are_refused_rather_than_misprinted()
    {
        // A NetNat rule translates every protocol while keeping a port range: IP Filter's portmap would narrow it to TCP and UDP.
        NatRule netNat = NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), Ipv4Address.Parse("192.0.2.1"), new PortRange(1024, 65535), label: "lab");
        Assert.StartsWith("The rule lab has protocols", Assert.Throws<ArgumentException>(() => IpnatPrinter.Print(netNat)).Message, StringComparison.Ordinal);
        NatRule noTargets = new() { Kind = NatRuleKind.Redirect, Destination = Ipv4Prefix.Parse("192.0.2.1/32") };
        Assert.Throws<ArgumentException>(() => IpnatPrinter.Print(noTargets));
        NatRule tcpAndIcmp = new() { Kind = NatRuleKind.Map, TranslatedFirst = new Ipv4Address(1), TranslatedLast = new Ipv4Address(1), Protocols = RuleProtocols.Tcp | RuleProtocols.Icmp };
        Assert.Throws<ArgumentException>(() => IpnatPrinter.Print(tcpAndIcmp));
    }

    [Fact]
    public void Parse_of_print_gives_back_the_rule()
    {
        ExpressibleRule.Sample(rule =>
        {
            string printed = IpnatPrinter.Print(rule);
            NatRule back = Assert.Single(IpnatParser.Parse(printed, "printed.conf").Rules);
            Assert.True(RuleComparer.Equal(rule, back), $"'{printed}' read back as '{IpnatPrinter.Print(back)}'\n{rule}\n{back}");
            Assert.Equal(printed, IpnatPrinter.Print(back));
        }, iter: 20_000);
    }

    [Theory]
    [InlineData("outbound.conf", 5, 0)]
    [InlineData("redirect.conf", 6, 0)]
    [InlineData("bimap.conf", 3, 0)]
    [InlineData("mapblock.conf", 3, 0)]
    [InlineData("options.conf", 5, 0)]
    public void Example_files_parse_and_survive_print_and_parse(string name, int rules, int warnings)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Rules", "Ipnat", "Examples", name);
        IpnatRules parsed = IpnatParser.ParseFile(path);
        Assert.Equal(rules, parsed.Rules.Count);
        Assert.Equal(warnings, parsed.Warnings.Count);
        IpnatRules again = IpnatParser.Parse(IpnatPrinter.Print(parsed.Rules), name);
        Assert.Equal(parsed.Rules.Count, again.Rules.Count);
        for (int index = 0; index < parsed.Rules.Count; index++)
        {
            Assert.True(RuleComparer.Equal(parsed.Rules[index], again.Rules[index]), $"{parsed.Rules[index].Label}: {IpnatPrinter.Print(parsed.Rules[index])}");
        }
    }

    [Fact]
    public void Example_file_fields()
    {
        string directory = Path.Combine(AppContext.BaseDirectory, "Rules", "Ipnat", "Examples");
        IpnatRules options = IpnatParser.ParseFile(Path.Combine(directory, "options.conf"));
        NatRule web = options.Rules[0];
        Assert.Equal(("in0", "out0"), (web.InsideInterface, web.Interface));
        Assert.True(web.DestinationNegated);
        Assert.Equal(PortMatch.Exactly(80), web.DestinationPorts);
        Assert.Equal((600, 30), (web.AgeSeconds, web.AgeClosingSeconds));
        Assert.Equal(new PortMatch(0, 1023, Excluding: true), options.Rules[2].DestinationPorts);
        Assert.Equal(new ProxyReference(21, "ftp", "tcp"), options.Rules[3].Proxy);
        Assert.Empty(options.Warnings);
        IpnatRules redirect = IpnatParser.ParseFile(Path.Combine(directory, "redirect.conf"));
        Assert.Equal(3, redirect.Rules[0].RedirectTargets.Count);
        Assert.True(redirect.Rules[0].RoundRobin);
        Assert.Equal(new PortMatch(27000, 27015), redirect.Rules[5].DestinationPorts);
        Assert.Equal(RuleProtocols.Udp, redirect.Rules[5].Protocols);
    }

    private static readonly RuleProtocols[] SimpleProtocols = [RuleProtocols.Any, RuleProtocols.Tcp, RuleProtocols.Udp, RuleProtocols.TcpUdp, RuleProtocols.Icmp];

    private static readonly Gen<ushort> Port = Gen.OneOf(Gen.UShort, Gen.OneOf<ushort>(0, 1, 1023, 1024, 65534, 65535));

    private static readonly Gen<PortRange> Ports =
        from first in Port
        from last in Port
        select new PortRange(Math.Min(first, last), Math.Max(first, last));

    private static readonly Gen<PortMatch> PortCondition =
        from kind in Gen.Int[0, 4]
        from range in Ports
        select kind switch
        {
            0 => PortMatch.Any,
            1 => PortMatch.Exactly(range.First),
            2 => new PortMatch(range.First, range.Last, Excluding: true),
            3 => new PortMatch(range.First, range.First, Excluding: true),
            _ => new PortMatch(range.First, range.Last),
        };

    private static readonly Ipv4Address Broadcast = Ipv4Address.Parse("255.255.255.255");

    private static readonly Gen<Ipv4Address> AnyAddress = Gen.UInt.Select(v => new Ipv4Address(v));

    private static readonly Gen<Ipv4Prefix> Prefix =
        from address in AnyAddress
        from length in Gen.OneOf(Gen.Int[0, 32], Gen.OneOf(0, 32))
        select new Ipv4Prefix(address, length);

    private static readonly Gen<(Ipv4Address First, Ipv4Address Last)> Addresses =
        (from first in AnyAddress
         from span in Gen.OneOf(Gen.UInt[0, 0], Gen.UInt[0, 300], Gen.UInt)
         select (first, first + Math.Min(span, Broadcast - first)))
        .Where(addresses => addresses != (Ipv4Address.Any, Ipv4Address.Any));

    private static readonly Gen<string?> Interface = Gen.OneOf<string?>(null, "natgate0", "e0", "ppp0", "eth0.100", "br-lan");

    /// <summary>The rule fields every kind shares: match, interfaces, options.</summary>
    private static readonly Gen<NatRule> Common =
        from kind in Gen.OneOf(NatRuleKind.Map, NatRuleKind.Redirect, NatRuleKind.Bidirectional, NatRuleKind.MapBlock)
        from outside in Interface
        from inside in Interface
        from source in Prefix
        from sourceNegated in Gen.Bool
        from sourcePorts in PortCondition
        from destination in Prefix
        from destinationNegated in Gen.Bool
        from destinationPorts in PortCondition
        from protocols in Gen.OneOf(SimpleProtocols)
        from fragments in Gen.Bool
        from age in Gen.OneOf(Gen.Const(default(int?)), Gen.Int[1, int.MaxValue].Select(seconds => (int?)seconds))
        from closing in Gen.OneOf(Gen.Const(default(int?)), Gen.Int[1, 3600].Select(seconds => (int?)seconds))
        from mssClamp in Gen.OneOf(Gen.Const<ushort>(0), Gen.UShort[1, 65535])
        from proxy in Gen.OneOf(Gen.Const(default(ProxyReference?)),
            Gen.Select(Port, Gen.OneOf("ftp", "irc", "h323"), Gen.OneOf("tcp", "udp"),
                // ftp runs over TCP alone: "ftp/udp" is refused (IpnatErrorTests).
                (port, name, protocol) => (ProxyReference?)new ProxyReference(port, name, name == "ftp" ? "tcp" : protocol)))
        select new NatRule
        {
            Kind = kind,
            Interface = outside,
            InsideInterface = inside,
            Source = source,
            SourceNegated = sourceNegated,
            SourcePorts = sourcePorts,
            Destination = destination,
            DestinationNegated = destinationNegated,
            DestinationPorts = destinationPorts,
            Protocols = protocols,
            Fragments = fragments,
            AgeSeconds = age,
            AgeClosingSeconds = age is null ? null : closing,
            MssClamp = mssClamp,
            Proxy = proxy,
        };

    private static readonly Gen<NatRule> ExpressibleRule =
        from common in Common
        from addresses in Addresses
        from smallSource in Prefix.Select(prefix => new Ipv4Prefix(prefix.Network, Math.Max(prefix.Length, 16)))
        from portmap in Gen.Int[0, 3]
        from portmapProtocols in Gen.OneOf(RuleProtocols.Tcp, RuleProtocols.Udp, RuleProtocols.TcpUdp)
        from translatedPorts in Ports
        from identifiers in Gen.OneOf(Gen.Const(default(PortRange?)), Ports.Select(range => (PortRange?)range))
        from portsPerAddress in Gen.OneOf(Gen.Const(0), Gen.Int[1, 65535])
        from targets in AnyAddress.List[1, 4]
        from redirectPort in Gen.OneOf(Gen.Const<ushort>(0), Port)
        from roundRobin in Gen.Bool
        from sticky in Gen.Bool
        select common.Kind switch
        {
            NatRuleKind.Map => portmap switch
            {
                // No portmap: the written protocol stands.
                0 => common with { TranslatedFirst = addresses.First, TranslatedLast = addresses.Last },
                // portmap (a range or auto), perhaps with icmpidmap: the rule is limited to what they name.
                1 or 2 => common with
                {
                    TranslatedFirst = addresses.First,
                    TranslatedLast = addresses.Last,
                    TranslatedPorts = portmap == 1 ? translatedPorts : null,
                    PortmapAuto = portmap == 2,
                    TranslatedIcmpIdentifiers = identifiers,
                    Protocols = portmapProtocols | (identifiers is null ? RuleProtocols.None : RuleProtocols.Icmp),
                },
                _ => common with
                {
                    TranslatedFirst = addresses.First,
                    TranslatedLast = addresses.Last,
                    TranslatedIcmpIdentifiers = translatedPorts,
                    Protocols = RuleProtocols.Icmp,
                },
            },
            NatRuleKind.Bidirectional => BidirectionalOf(common with { Source = smallSource }, addresses.First),
            NatRuleKind.MapBlock => common with
            {
                Source = smallSource,
                TranslatedFirst = addresses.First,
                TranslatedLast = addresses.Last,
                PortsPerAddress = portsPerAddress,
            },
            _ => common with
            {
                RedirectTargets = [.. targets.Select(target => (IpAddress)target)],
                RedirectPort = redirectPort,
                RoundRobin = roundRobin,
                Sticky = sticky,
            },
        };

    private static NatRule BidirectionalOf(NatRule rule, Ipv4Address first)
    {
        ulong count = rule.Source.AsIpv4.Count;
        // The highest first address that leaves room for the whole block.
        Ipv4Address highestFirst = Broadcast - (uint)(count - 1);
        if (first > highestFirst)
        {
            first = highestFirst;
        }
        if (first == Ipv4Address.Any && count == 1)
        {
            first += 1;
        }
        return rule with { TranslatedFirst = first, TranslatedLast = first + (uint)(count - 1) };
    }
}
