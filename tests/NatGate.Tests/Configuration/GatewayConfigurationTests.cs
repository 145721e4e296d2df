using NatGate.Core.Addressing;
using NatGate.Configuration;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules;

namespace NatGate.Tests.Configuration;

public sealed class GatewayConfigurationTests
{
    private static string ExampleFile()
    {
        // The documented example is the test's input, so the docs cannot drift from the reader.
        string? directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "docs", "natgate.example.toml")))
        {
            directory = Path.GetDirectoryName(directory);
        }
        Assert.NotNull(directory);
        return Path.Combine(directory, "docs", "natgate.example.toml");
    }

    [Fact]
    public void The_documented_example_loads_into_the_netnat_model()
    {
        GatewayConfiguration configuration = GatewayConfigurationFile.Load(ExampleFile());
        NatInstance instance = Assert.Single(configuration.NetNat.Instances);
        Assert.Equal("containers", instance.Name);
        Assert.Equal("10.77.0.0/24", instance.InternalIPInterfaceAddressPrefix.ToString());
        Assert.Equal(Ipv4Address.Parse("198.51.100.10"), Assert.Single(instance.ExternalAddresses).IPAddress);
        Assert.Equal(TimeSpan.FromSeconds(300), instance.UdpIdleSessionTimeout);
        Assert.Equal(FilteringBehavior.AddressDependent, instance.UdpFilteringBehavior);
        NatStaticMapping mapping = Assert.Single(configuration.NetNat.StaticMappings);
        Assert.Equal(((ushort)8080, (ushort?)80, StaticMappingProtocol.TCP), (mapping.ExternalPort, mapping.InternalPort, mapping.Protocol));
        Assert.Null(configuration.RulesPath);
        Assert.Equal(2, configuration.NetNat.Compile().Count);
    }

    [Fact]
    public void An_ipv6_instance_and_its_static_mapping_read_from_the_file_compile_to_nat66_rules()
    {
        GatewayConfiguration configuration = GatewayConfigurationFile.Parse("""
            [[Nat]]
            Name = "six"
            InternalIPInterfaceAddressPrefix = "fd00:77::/64"
            [[Nat.ExternalAddress]]
            IPAddress = "2001:db8::10"
            PortStart = 20000
            PortEnd = 29999
            [[StaticMapping]]
            ExternalPort = 8080
            InternalIPAddress = "fd00:77::3"
            InternalPort = 80
            """, "/etc/natgate/natgate.toml");
        NatInstance instance = Assert.Single(configuration.NetNat.Instances);
        Assert.True(instance.IsIpv6);
        Assert.Equal(IpAddress.Parse("2001:db8::10"), Assert.Single(instance.ExternalAddresses).IPAddress);
        IReadOnlyList<NatRule> rules = configuration.NetNat.Compile();
        Assert.Equal(2, rules.Count);
        Assert.All(rules, rule => Assert.True(rule.IsIpv6));
        Assert.Equal(new Core.Ports.PortRange(20000, 29999), rules[0].TranslatedPorts);
        Assert.Equal([IpAddress.Parse("fd00:77::3")], rules[1].RedirectTargets);
    }

    [Fact]
    public void Values_and_defaults()
    {
        GatewayConfiguration configuration = GatewayConfigurationFile.Parse("""
            InterRoutingDomainHairpinningMode = "Disabled"
            [[Nat]]
            Name = "lab"
            InternalIPInterfaceAddressPrefix = "10.1.0.0/255.255.0.0"
            UdpFilteringBehavior = "EndpointIndependentFiltering"
            MappingBehavior = "AddressAndPortDependent"
            UdpInboundRefresh = true
            [[Nat.ExternalAddress]]
            IPAddress = "203.0.113.1"
            [[StaticMapping]]
            Protocol = "UDP"
            ExternalPort = 53
            InternalIPAddress = "10.1.0.53"
            """, "/etc/natgate/natgate.toml");
        Assert.Null(configuration.RulesPath);
        Assert.Equal(HairpinningMode.Disabled, configuration.NetNat.InterRoutingDomainHairpinningMode);
        NatInstance instance = Assert.Single(configuration.NetNat.Instances);
        Assert.Equal((FilteringBehavior.EndpointIndependent, FilteringBehavior.AddressDependent, MappingBehavior.AddressAndPortDependent, true),
            (instance.UdpFilteringBehavior, instance.TcpFilteringBehavior, instance.MappingBehavior, instance.UdpInboundRefresh));
        Assert.Equal(((ushort)1024, (ushort)65535), (instance.ExternalAddresses[0].PortStart, instance.ExternalAddresses[0].PortEnd));
        NatStaticMapping mapping = Assert.Single(configuration.NetNat.StaticMappings);
        Assert.Equal(("lab", 1, Ipv4Address.Any, (ushort?)null), (mapping.NatName, mapping.StaticMappingID, mapping.ExternalIPAddress, mapping.InternalPort));
    }

    [Fact]
    public void Every_mistake_is_reported_with_its_line_and_nothing_is_returned()
    {
        var error = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Parse("""
            [[Nat]]
            Name = "lab"
            InternalIPInterfaceAddressPrefix = "10.1.0/24"
            UdpIdleSessionTimeout = "long"
            udpFilteringBehavior = "AddressDependentFiltering"
            [[Nat.ExternalAddress]]
            IPAddress = "203.0.113.1"
            PortEnd = 70000
            """, "gw.toml"));
        Assert.Equal(4, error.Problems.Count);
        Assert.Contains("gw.toml:3:1: InternalIPInterfaceAddressPrefix '10.1.0/24' is not a prefix (a.b.c.d/n, or IPv6 such as fd00:77::/64).", error.Problems);
        Assert.Contains("gw.toml:4:1: UdpIdleSessionTimeout must be a whole number from 1 to 2147483647, not \"long\".", error.Problems);
        Assert.Contains(error.Problems, problem => problem.StartsWith("gw.toml:5:1: [[Nat]]: udpFilteringBehavior is not a known key; keys are case-sensitive: did you mean UdpFilteringBehavior?", StringComparison.Ordinal));
        Assert.Contains(error.Problems, problem => problem.StartsWith("gw.toml:8:1: PortEnd must be a whole number from 1 to 65535", StringComparison.Ordinal));
    }

    [Fact]
    public void The_daemon_table_holds_the_run_settings_with_paths_resolved_against_the_file()
    {
        GatewayConfiguration configuration = GatewayConfigurationFile.Parse("""
            [Daemon]
            Inside = ["10.77.0.0/24", "10.78.0.0/24"]
            External = "eth0:61000-65535"
            ControlDirectory = "run"
            StateFile = "/var/lib/natgate/sessions.state"
            Checkpoint = 0
            LogLevel = "debug"
            Offload = false
            """, "/etc/natgate/natgate.toml");
        DaemonSettings daemon = configuration.Daemon;
        Assert.Equal(["10.77.0.0/24", "10.78.0.0/24"], daemon.Inside);
        Assert.Equal(["eth0:61000-65535"], daemon.External);
        Assert.Equal("/etc/natgate/run", daemon.ControlDirectory);
        Assert.Equal(("/var/lib/natgate/sessions.state", 0, "debug", false), (daemon.StateFile, daemon.Checkpoint, daemon.LogLevel, daemon.Offload));
        Assert.Null(daemon.Queues);
        Assert.Equal("/etc/natgate/natgate.toml:3:1", daemon.Where("External"));
    }

    [Fact]
    public void A_bad_daemon_setting_names_the_file_line_and_key()
    {
        var error = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Parse("""
            [Daemon]
            Queues = 0
            LogFormat = "xml"
            Inside = [1, 2]
            Insid = "10.0.0.0/8"
            """, "gw.toml"));
        Assert.Equal(4, error.Problems.Count);
        Assert.Contains("gw.toml:2:1: Queues must be a whole number from 1 to 2147483647, not 0.", error.Problems);
        Assert.Contains("gw.toml:3:1: [Daemon]: LogFormat 'xml' is not one of auto, systemd, simple, json.", error.Problems);
        Assert.Contains(error.Problems, problem => problem.StartsWith("gw.toml:4:1: Inside must be a string or a list of strings", StringComparison.Ordinal));
        Assert.Contains(error.Problems, problem => problem.StartsWith("gw.toml:5:1: [Daemon]: Insid is not a known key", StringComparison.Ordinal));
    }

    [Fact]
    public void Toml_syntax_errors_carry_file_line_and_column()
    {
        var error = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Parse("[[Nat]]\nName = \"lab\nx = 1\n", "gw.toml"));
        Assert.StartsWith("gw.toml:2:", Assert.Single(error.Problems), StringComparison.Ordinal);
    }

    [Fact]
    public void Model_conflicts_name_both_sides()
    {
        var error = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Parse("""
            [[Nat]]
            Name = "a"
            InternalIPInterfaceAddressPrefix = "10.0.0.0/16"
            [[Nat.ExternalAddress]]
            IPAddress = "203.0.113.1"
            [[Nat]]
            Name = "b"
            InternalIPInterfaceAddressPrefix = "10.0.5.0/24"
            [[Nat.ExternalAddress]]
            IPAddress = "203.0.113.2"
            """, "gw.toml"));
        Assert.Equal("gw.toml: NAT 'a' internal prefix 10.0.0.0/16 overlaps NAT 'b' internal prefix 10.0.5.0/24.", Assert.Single(error.Problems));
    }
}

public sealed class GatewayConfigurationRulesFileTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("natgate-config-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void The_rules_file_is_parsed_with_the_configuration()
    {
        File.WriteAllText(Path.Combine(directory, "ipnat.conf"), "map eth0 10.9.0.0/24 -> 203.0.113.9/32\n");
        string config = Path.Combine(directory, "natgate.toml");
        File.WriteAllText(config, "Rules = \"ipnat.conf\"\n");
        GatewayConfiguration configuration = GatewayConfigurationFile.Load(config);
        Assert.Equal(Path.Combine(directory, "ipnat.conf"), configuration.RulesPath);
        Assert.Equal(NatRuleKind.Map, Assert.Single(configuration.Rules.Rules).Kind);
    }

    [Fact]
    public void A_bad_rules_file_refuses_the_configuration_with_its_own_position()
    {
        string rules = Path.Combine(directory, "ipnat.conf");
        File.WriteAllText(rules, "map eth0 10.9.0.0/24 -> 203.0.113.9/32\nrdr eth0 203.0.113.9 port http -> 10.9.0.2 port htp\n");
        string config = Path.Combine(directory, "natgate.toml");
        File.WriteAllText(config, "Rules = \"ipnat.conf\"\n");
        var error = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Load(config));
        Assert.StartsWith($"{rules}:2:", Assert.Single(error.Problems), StringComparison.Ordinal);
    }
}
