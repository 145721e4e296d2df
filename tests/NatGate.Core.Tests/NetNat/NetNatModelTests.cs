using NatGate.Core.Addressing;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Control;
using NatGate.Core.Tests.Translation;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.NetNat;

public sealed class NetNatModelTests
{
    private static NatInstance Containers => new()
    {
        Name = "containers",
        InternalIPInterfaceAddressPrefix = Lab.InsidePrefix,
        ExternalAddresses = [new NatExternalAddress(Lab.External, 1024, 65535)],
    };

    private static NatStaticMapping Web => new()
    {
        NatName = "containers",
        StaticMappingID = 1,
        ExternalIPAddress = Lab.External,
        ExternalPort = 8080,
        InternalIPAddress = Lab.InsideB,
        InternalPort = 80,
    };

    [Fact]
    public void A_name_too_long_or_with_control_characters_is_refused_when_the_instance_is_made()
    {
        NetNatModel tooLong = new() { Instances = [Containers with { Name = new string('n', 100_000) }] };
        string problem = Assert.Single(tooLong.Validate());
        Assert.Contains("100000 characters", problem, StringComparison.Ordinal);
        Assert.True(problem.Length < 300, "the message quotes a short excerpt, not the whole name");
        NetNatModel control = new() { Instances = [Containers with { Name = "bad\nname" }] };
        Assert.Contains("bad?name", Assert.Single(control.Validate()), StringComparison.Ordinal);
        Assert.Empty(new NetNatModel { Instances = [Containers with { Name = new string('n', NetNatModel.MaximumNameLength) }] }.Validate());
    }

    [Fact]
    public void The_defaults_are_the_rfc_ones_not_winnats()
    {
        NatPolicy policy = Containers.Policy;
        Assert.Equal(TimeSpan.FromSeconds(300), policy.UdpIdleTimeout);
        Assert.Equal(TimeSpan.FromSeconds(7440), policy.TcpEstablishedTimeout);
        Assert.Equal(TimeSpan.FromSeconds(240), policy.TcpTransitoryTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), policy.IcmpQueryTimeout);
        Assert.Equal(FilteringBehavior.AddressDependent, policy.UdpFiltering);
        Assert.False(policy.UdpInboundRefresh);
    }

    [Fact]
    public void An_instance_and_a_static_mapping_compile_to_a_map_and_a_redirect()
    {
        var model = new NetNatModel { Instances = [Containers], StaticMappings = [Web] };
        IReadOnlyList<NatRule> rules = model.Compile();
        Assert.Equal(2, rules.Count);
        Assert.Equal((NatRuleKind.Map, Lab.InsidePrefix, Lab.External, new PortRange(1024, 65535)), (rules[0].Kind, rules[0].Source, rules[0].TranslatedFirst, rules[0].TranslatedPorts!.Value));
        Assert.Equal((NatRuleKind.Redirect, RuleProtocols.Tcp, (ushort)80), (rules[1].Kind, rules[1].Protocols, rules[1].RedirectPort));
        Assert.Equal("nat containers mapping 1", rules[1].Label);
    }

    [Fact]
    public void The_instance_and_its_equivalent_rules_translate_the_same_packets_identically()
    {
        var fromModel = new Lab(addMapRule: false);
        fromModel.Engine.LoadRules(new NetNatModel { Instances = [Containers], StaticMappings = [Web] }.Compile());
        var fromRules = new Lab(addMapRule: false);
        fromRules.Engine.LoadRules([
            NatEngine.MapRule(Lab.InsidePrefix, Lab.External, new PortRange(1024, 65535)),
            new NatRule
            {
                Kind = NatRuleKind.Redirect,
                Protocols = RuleProtocols.Tcp,
                Destination = Ipv4Prefix.Host(Lab.External),
                DestinationPorts = PortMatch.Exactly(8080),
                RedirectTargets = [Lab.InsideB],
                RedirectPort = 80,
            },
        ]);
        byte[][] traffic =
        [
            Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53),
            Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53),
            Lab.Udp(Lab.InsideA, 80, Lab.Remote, 53),
            Lab.Tcp(Lab.Remote, 33000, Lab.External, 8080, TcpFlags.Syn),
            Lab.Tcp(Lab.InsideB, 80, Lab.Remote, 33000, TcpFlags.Syn | TcpFlags.Ack),
            Lab.Echo(Lab.InsideA, Lab.Remote, 5),
            Lab.Tcp(Lab.Remote, 1, Lab.External, 22, TcpFlags.Syn),
            Lab.Tcp(Lab.InsideA, 45000, Lab.External, 8080, TcpFlags.Syn),
        ];
        foreach (byte[] packet in traffic)
        {
            (TranslationResult modelResult, byte[] modelBytes) = fromModel.Send(packet);
            (TranslationResult rulesResult, byte[] rulesBytes) = fromRules.Send(packet);
            Assert.Equal(rulesResult, modelResult);
            Assert.Equal(Convert.ToHexString(rulesBytes), Convert.ToHexString(modelBytes));
        }
    }

    [Fact]
    public void Overlapping_internal_prefixes_are_refused_naming_both()
    {
        var model = new NetNatModel
        {
            Instances = [Containers, Containers with { Name = "other", InternalIPInterfaceAddressPrefix = Ipv4Prefix.Parse("10.0.0.128/25"), ExternalAddresses = [new NatExternalAddress(Lab.Remote)] }],
        };
        string problem = Assert.Single(model.Validate());
        Assert.Equal("NAT 'containers' internal prefix 10.0.0.0/24 overlaps NAT 'other' internal prefix 10.0.0.128/25.", problem);
    }

    [Fact]
    public void An_internal_prefix_holding_another_instances_external_address_is_refused()
    {
        var model = new NetNatModel
        {
            Instances = [Containers, Containers with { Name = "other", InternalIPInterfaceAddressPrefix = Ipv4Prefix.Parse("198.51.100.0/24"), ExternalAddresses = [new NatExternalAddress(Lab.Remote)] }],
        };
        Assert.Contains(model.Validate(), problem => problem.Contains("NAT 'other' internal prefix 198.51.100.0/24 contains NAT 'containers' external address 198.51.100.10", StringComparison.Ordinal));
    }

    [Fact]
    public void One_external_port_claimed_twice_is_refused_naming_both_mappings()
    {
        var model = new NetNatModel { Instances = [Containers], StaticMappings = [Web, Web with { StaticMappingID = 2, InternalIPAddress = Lab.InsideA }] };
        string problem = Assert.Single(model.Validate());
        Assert.Contains("#1", problem, StringComparison.Ordinal);
        Assert.Contains("#2", problem, StringComparison.Ordinal);
        Assert.Contains("198.51.100.10:8080", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_instances_sharing_an_address_need_disjoint_port_ranges()
    {
        var model = new NetNatModel
        {
            Instances =
            [
                Containers with { ExternalAddresses = [new NatExternalAddress(Lab.External, 1024, 30000)] },
                Containers with { Name = "vms", InternalIPInterfaceAddressPrefix = Ipv4Prefix.Parse("10.1.0.0/24"), ExternalAddresses = [new NatExternalAddress(Lab.External, 30001, 65535)] },
            ],
        };
        Assert.Empty(model.Validate());
        NetNatModel clash = model with { Instances = [model.Instances[0], model.Instances[1] with { ExternalAddresses = [new NatExternalAddress(Lab.External, 29000, 65535)] }] };
        Assert.Contains("claim the same ports", Assert.Single(clash.Validate()), StringComparison.Ordinal);
    }

    [Fact]
    public void Other_mistakes_are_named()
    {
        var model = new NetNatModel
        {
            Instances = [Containers with { ExternalAddresses = [], UdpIdleSessionTimeout = TimeSpan.FromSeconds(30) }],
            StaticMappings = [Web with { NatName = "nope" }, Web with { InternalIPAddress = Lab.Remote }],
        };
        IReadOnlyList<string> problems = model.Validate();
        Assert.Contains(problems, problem => problem.Contains("has no external address", StringComparison.Ordinal));
        Assert.Contains(problems, problem => problem.Contains("RFC 4787 REQ-5", StringComparison.Ordinal));
        Assert.Contains(problems, problem => problem.Contains("names NAT 'nope', which does not exist", StringComparison.Ordinal));
        Assert.Contains(problems, problem => problem.Contains("is outside NAT 'containers' internal prefix", StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => model.Compile());
    }

    [Fact]
    public void An_external_interface_prefix_resolves_to_the_gateways_addresses()
    {
        var model = new NetNatModel { Instances = [Containers with { ExternalAddresses = [], ExternalIPInterfaceAddressPrefix = Ipv4Prefix.Parse("198.51.100.0/24") }] };
        NatRule rule = Assert.Single(model.Compile(_ => [Ipv4Address.Parse("192.0.2.1"), Lab.External]));
        Assert.Equal(Lab.External, rule.TranslatedFirst);
    }

    [Fact]
    public void A_static_mapping_on_every_address_with_a_remote_prefix()
    {
        var model = new NetNatModel
        {
            Instances = [Containers with { ExternalAddresses = [new NatExternalAddress(Lab.External), new NatExternalAddress(Lab.External + 1)] }],
            StaticMappings = [Web with { ExternalIPAddress = Ipv4Address.Any, Protocol = StaticMappingProtocol.UDP, RemoteExternalIPAddressPrefix = Ipv4Prefix.Parse("203.0.113.0/28") }],
        };
        var lab = new Lab(addMapRule: false);
        lab.Engine.LoadRules(model.Compile());
        Assert.Equal(Lab.InsideB, Lab.Tuple(lab.Forward(Lab.Udp(Lab.Remote, 1, Lab.External + 1, 8080))).Destination);
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Udp(Ipv4Address.Parse("203.0.113.99"), 1, Lab.External, 8080)));
    }

    [Fact]
    public void The_compiled_rules_print_as_ipnat_and_read_back_the_same()
    {
        IReadOnlyList<NatRule> rules = new NetNatModel { Instances = [Containers], StaticMappings = [Web] }.Compile();
        string text = IpnatPrinter.Print(rules);
        Assert.Equal(
            "map 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp 1024:65535 icmpidmap icmp 1024:65535\n" +
            "rdr 198.51.100.10/32 port 8080 -> 10.0.0.3 port 80\n",
            text.Replace("\r", "", StringComparison.Ordinal).Replace("map * ", "map ", StringComparison.Ordinal).Replace("rdr * ", "rdr ", StringComparison.Ordinal));
        IReadOnlyList<NatRule> back = IpnatParser.Parse(text, "netnat").Rules;
        Assert.Equal(rules.Count, back.Count);
        for (int i = 0; i < rules.Count; i++)
        {
            Assert.True(RuleComparer.Equal(rules[i] with { Policy = NatPolicy.Default }, back[i]), IpnatPrinter.Print(back[i]));
        }
    }

    [Fact]
    public void The_instance_and_the_equivalent_ipnat_conf_translate_identically()
    {
        var fromModel = new Lab(addMapRule: false);
        fromModel.Engine.LoadRules(new NetNatModel { Instances = [Containers], StaticMappings = [Web] }.Compile());
        var fromConf = new Lab(addMapRule: false);
        fromConf.Engine.LoadRules(IpnatParser.Parse("""
            # the same gateway, written for IP Filter
            map natgate0 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp 1024:65535 icmpidmap icmp 1024:65535
            rdr natgate0 198.51.100.10/32 port 8080 -> 10.0.0.3 port 80 tcp
            """, "ipnat.conf").Rules);
        foreach (byte[] packet in (byte[][])[
            Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53), Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53), Lab.Udp(Lab.InsideA, 80, Lab.Remote, 53),
            Lab.Tcp(Lab.Remote, 33000, Lab.External, 8080, TcpFlags.Syn), Lab.Tcp(Lab.InsideB, 80, Lab.Remote, 33000, TcpFlags.Syn | TcpFlags.Ack),
            Lab.Echo(Lab.InsideA, Lab.Remote, 5), Lab.Echo(Lab.InsideB, Lab.Remote, 5), Lab.Tcp(Lab.InsideA, 45000, Lab.External, 8080, TcpFlags.Syn)])
        {
            (TranslationResult modelResult, byte[] modelBytes) = fromModel.Send(packet);
            (TranslationResult confResult, byte[] confBytes) = fromConf.Send(packet);
            Assert.Equal(confResult, modelResult);
            Assert.Equal(Convert.ToHexString(confBytes), Convert.ToHexString(modelBytes));
        }
    }

    private static readonly Ipv6Address Inside6 = Ipv6Address.Parse("fd00:77::2", null);
    private static readonly Ipv6Address Server6 = Ipv6Address.Parse("fd00:77::3", null);
    private static readonly Ipv6Address External6 = Ipv6Address.Parse("2001:db8::10", null);
    private static readonly Ipv6Address Remote6 = Ipv6Address.Parse("2001:db8:ff::5", null);

    private static NatInstance Ipv6Instance => new()
    {
        Name = "six",
        InternalIPInterfaceAddressPrefix = IpPrefix.Parse("fd00:77::/64", null),
        ExternalAddresses = [new NatExternalAddress(External6)],
    };

    private static NatStaticMapping Ipv6Web => new()
    {
        NatName = "six",
        StaticMappingID = 1,
        ExternalIPAddress = External6,
        ExternalPort = 8080,
        InternalIPAddress = Server6,
        InternalPort = 80,
    };

    [Fact]
    public void An_ipv6_instance_and_static_mapping_translate_as_the_nat66_rules_an_ipnat_conf_would_make()
    {
        IReadOnlyList<NatRule> compiled = new NetNatModel { Instances = [Ipv6Instance], StaticMappings = [Ipv6Web] }.Compile();
        Assert.All(compiled, rule => Assert.True(rule.IsIpv6));
        var fromModel = new NatEngine(new NatEngineOptions { RandomSeed = 42 }, 0);
        fromModel.LoadRules(compiled);
        var fromRules = new NatEngine(new NatEngineOptions { RandomSeed = 42 }, 0);
        fromRules.LoadRules(IpnatParser.Parse("""
            map * fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp 1024:65535 icmpidmap icmp 1024:65535
            rdr * 2001:db8::10/128 port 8080 -> fd00:77::3 port 80 tcp
            """, "ipnat.conf").Rules);
        byte[] synIn = Translation.Npt.NptPackets.Tcp(Remote6, External6, 33000, 8080);
        synIn[Ipv6Packet.HeaderLength + 13] = (byte)TcpFlags.Syn;
        byte[] serverReply = Translation.Npt.NptPackets.Tcp(Server6, Remote6, 80, 33000);
        serverReply[Ipv6Packet.HeaderLength + 13] = (byte)(TcpFlags.Syn | TcpFlags.Ack);
        byte[][] traffic =
        [
            Translation.Npt.NptPackets.Udp(Inside6, Remote6, 5000, 53),
            Translation.Npt.NptPackets.Udp(Inside6, Remote6, 80, 53),
            Translation.Npt.NptPackets.EchoRequest(Inside6, Remote6),
            synIn,
            serverReply,
            Translation.Npt.NptPackets.Udp(Remote6, External6, 53, 6000),
        ];
        foreach (byte[] packet in traffic)
        {
            byte[] throughModel = (byte[])packet.Clone();
            byte[] throughRules = (byte[])packet.Clone();
            TranslationResult modelResult = fromModel.Translate(throughModel, throughModel.Length, 0);
            TranslationResult rulesResult = fromRules.Translate(throughRules, throughRules.Length, 0);
            Assert.Equal(rulesResult, modelResult);
            Assert.Equal(Convert.ToHexString(throughRules), Convert.ToHexString(throughModel));
        }
        Assert.Equal(4, fromModel.Ipv6SessionCount); // two UDP, the echo and the redirected connection; the last datagram had no mapping
        Assert.Equal(fromRules.Ipv6SessionCount, fromModel.Ipv6SessionCount);
    }

    [Fact]
    public void An_instance_mixing_families_is_refused_naming_the_addresses()
    {
        var externalOfTheOtherFamily = new NetNatModel { Instances = [Ipv6Instance with { ExternalAddresses = [new NatExternalAddress(Lab.External)] }] };
        Assert.Contains(externalOfTheOtherFamily.Validate(), problem => problem.Contains("NAT 'six' mixes families", StringComparison.Ordinal)
            && problem.Contains("fd00:77::/64", StringComparison.Ordinal) && problem.Contains(Lab.External.ToString(), StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => externalOfTheOtherFamily.Compile());

        var mappingOfTheOtherFamily = new NetNatModel { Instances = [Ipv6Instance], StaticMappings = [Ipv6Web with { InternalIPAddress = Lab.InsideB }] };
        Assert.Contains("mixes families", Assert.Single(mappingOfTheOtherFamily.Validate()), StringComparison.Ordinal);
        var remoteOfTheOtherFamily = new NetNatModel { Instances = [Ipv6Instance], StaticMappings = [Ipv6Web with { RemoteExternalIPAddressPrefix = Ipv4Prefix.Parse("203.0.113.0/24") }] };
        Assert.Contains("mixes families", Assert.Single(remoteOfTheOtherFamily.Validate()), StringComparison.Ordinal);
        var outsidePrefixOfTheOtherFamily = new NetNatModel { Instances = [Ipv6Instance with { ExternalIPInterfaceAddressPrefix = Ipv4Prefix.Parse("198.51.100.0/24") }] };
        Assert.Contains(outsidePrefixOfTheOtherFamily.Validate(), problem => problem.Contains("mixes families", StringComparison.Ordinal));

        // One instance per family, side by side, is fine.
        Assert.Empty(new NetNatModel { Instances = [Containers, Ipv6Instance], StaticMappings = [Web, Ipv6Web] }.Validate());
    }

    [Fact]
    public void An_ipv6_static_mapping_for_every_external_address_takes_the_instances_ipv6_addresses()
    {
        Ipv6Address second = Ipv6Address.Parse("2001:db8::11", null);
        var model = new NetNatModel
        {
            Instances = [Ipv6Instance with { ExternalAddresses = [new NatExternalAddress(External6), new NatExternalAddress(second)] }],
            StaticMappings = [Ipv6Web with { ExternalIPAddress = Ipv6Address.Unspecified }],
        };
        IpPrefix[] destinations = [.. model.Compile().Where(rule => rule.Kind == NatRuleKind.Redirect).Select(rule => rule.Destination)];
        Assert.Equal([IpPrefix.Host(External6), IpPrefix.Host(second)], destinations);
    }
}

