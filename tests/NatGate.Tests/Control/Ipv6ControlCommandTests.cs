using System.Buffers.Binary;
using System.Net;
using System.Text.Json;
using NatGate.Cli;
using NatGate.Configuration;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;
using NatGate.Daemon;

namespace NatGate.Tests.Control;

/// <summary>NAT66 sessions through the control API and the commands: listings, statistics, lookup, put, flush, save and restore; IPv6 in --inside/--external and NetNat instances.</summary>
public sealed class Ipv6ControlCommandTests
{
    private const string Ipv6Rules = """
        map * fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
        rdr * 2001:db8::10/128 port 8080 -> fd00:77::3 port 80 tcp
        """;

    private static readonly Ipv6Address Inside = Ipv6Address.Parse("fd00:77::2", null);
    private static readonly Ipv6Address Server = Ipv6Address.Parse("fd00:77::3", null);
    private static readonly Ipv6Address External = Ipv6Address.Parse("2001:db8::10", null);
    private static readonly Ipv6Address Remote = Ipv6Address.Parse("2001:db8:ff::5", null);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>An IPv6 packet with a valid transport checksum: UDP, or TCP with the flags given.</summary>
    internal static byte[] Packet(IpProtocol protocol, Ipv6Address source, ushort sourcePort, Ipv6Address destination, ushort destinationPort, TcpFlags flags = 0)
    {
        int transportLength = protocol == IpProtocol.Tcp ? 20 : 8 + 5;
        var packet = new byte[Ipv6Packet.HeaderLength + transportLength];
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)transportLength);
        packet[6] = (byte)protocol;
        packet[7] = 64;
        source.Write(packet.AsSpan(8));
        destination.Write(packet.AsSpan(24));
        Span<byte> transport = packet.AsSpan(Ipv6Packet.HeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(transport, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(transport[2..], destinationPort);
        int checksumAt;
        if (protocol == IpProtocol.Tcp)
        {
            BinaryPrimitives.WriteUInt32BigEndian(transport[4..], 1000);
            transport[12] = 5 << 4;
            transport[13] = (byte)flags;
            BinaryPrimitives.WriteUInt16BigEndian(transport[14..], 65535);
            checksumAt = 16;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(transport[4..], (ushort)transportLength);
            "hello"u8.CopyTo(transport[8..]);
            checksumAt = 6;
        }
        BinaryPrimitives.WriteUInt16BigEndian(transport[checksumAt..],
            TransportChecksum.ComputeIpv6(packet.AsSpan(8, 16), packet.AsSpan(24, 16), protocol, transport));
        return packet;
    }

    private static async Task<ControlLab> Nat66LabAsync()
    {
        ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(Ipv6Rules, "nat66.conf", Token);
        return lab;
    }

    [Fact]
    public async Task Sessions_list_an_ipv6_session_with_its_endpoints_in_brackets_and_in_json()
    {
        await using ControlLab lab = await Nat66LabAsync();
        Assert.Equal(Verdict.Forward, lab.Send(Packet(IpProtocol.Udp, Inside, 40000, Remote, 53)).Verdict);

        CliRun table = await lab.CliAsync("sessions");
        Assert.Equal(ExitCodes.Success, table.ExitCode);
        Assert.Contains("[fd00:77::2]:40000 -> [2001:db8:ff::5]:53", table.Output, StringComparison.Ordinal);
        Assert.Contains("[2001:db8::10]:", table.Output, StringComparison.Ordinal);

        CliRun json = await lab.CliAsync("sessions", "--json", "--address", "2001:db8::10");
        using JsonDocument document = JsonDocument.Parse(json.Output);
        JsonElement session = Assert.Single(document.RootElement.EnumerateArray());
        Assert.Equal("fd00:77::2", session.GetProperty("internalSourceAddress").GetString());
        Assert.Equal("2001:db8::10", session.GetProperty("externalSourceAddress").GetString());
        Assert.Equal("2001:db8:ff::5", session.GetProperty("original").GetProperty("destination").GetString());

        CliRun stats = await lab.CliAsync("stats", "--json");
        using JsonDocument figures = JsonDocument.Parse(stats.Output);
        Assert.Equal(1, figures.RootElement.GetProperty("inUse").GetInt32());
        Assert.Equal(1, figures.RootElement.GetProperty("inUseIpv6").GetInt32());
    }

    [Fact]
    public async Task Lookup_of_a_redirected_ipv6_connection_gives_the_real_destination_to_the_command_and_the_proxy_client()
    {
        await using ControlLab lab = await Nat66LabAsync();
        string[] lookup = ["lookup", "--protocol", "tcp", "--inside", "[fd00:77::3]:80", "--outside", "[2001:db8:ff::5]:33000", "--find-forward"];
        CliRun missing = await lab.CliAsync(lookup);
        Assert.Equal(ExitCodes.Failure, missing.ExitCode);
        Assert.Contains("ESRCH", missing.Error, StringComparison.Ordinal);

        Assert.Equal(Verdict.Forward, lab.Send(Packet(IpProtocol.Tcp, Remote, 33000, External, 8080, TcpFlags.Syn)).Verdict);
        CliRun found = await lab.CliAsync(lookup);
        Assert.Equal(ExitCodes.Success, found.ExitCode);
        Assert.Contains("real destination [2001:db8::10]:8080", found.Output, StringComparison.Ordinal);
        Assert.Contains("forward possible: yes", found.Output, StringComparison.Ordinal);

        using var proxy = new TransparentProxyLookup(lab.Directory);
        IPEndPoint real = await proxy.OriginalDestinationAsync(new IPEndPoint(IPAddress.Parse("fd00:77::3"), 80), new IPEndPoint(IPAddress.Parse("2001:db8:ff::5"), 33000), Token);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::10"), 8080), real);

        CliRun mixed = await lab.CliAsync("lookup", "--inside", "[fd00:77::3]:80", "--outside", "203.0.113.5:33000");
        Assert.Equal(ExitCodes.BadInput, mixed.ExitCode);
        Assert.Contains("EINVAL", mixed.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("lookup", "--inside", "fd00:77::3:80", "--outside", "[2001:db8:ff::5]:33000")).ExitCode);
    }

    [Fact]
    public async Task Put_inserts_an_ipv6_session_and_refuses_one_whose_tuples_mix_families()
    {
        await using ControlLab lab = await Nat66LabAsync();
        string file = Path.Combine(lab.Directory, "session.json");
        string Record(string translatedDestination) => $$"""
            {
              "rule": "map * fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto",
              "original": { "protocol": "udp", "source": "fd00:77::2", "sourcePort": 5000, "destination": "2001:db8:ff::5", "destinationPort": 53 },
              "translated": { "protocol": 17, "source": "2001:db8::10", "sourcePort": 5000, "destination": "{{translatedDestination}}", "destinationPort": 53 }
            }
            """;
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("lock", "on")).ExitCode);

        await File.WriteAllTextAsync(file, Record("203.0.113.5"), Token);
        CliRun mixed = await lab.CliAsync("put", file);
        Assert.Equal(ExitCodes.BadInput, mixed.ExitCode);
        Assert.Contains("EINVAL", mixed.Error, StringComparison.Ordinal);

        await File.WriteAllTextAsync(file, Record("2001:db8:ff::5"), Token);
        CliRun put = await lab.CliAsync("put", file);
        Assert.Equal(ExitCodes.Success, put.ExitCode);
        SessionView session = Assert.Single(await lab.Client.SessionsAsync(token: Token));
        Assert.Equal(("fd00:77::2", "2001:db8::10"), (session.InternalSourceAddress, session.ExternalSourceAddress));
        Assert.Equal(1, lab.Controller.Statistics().InUseIpv6);
    }

    [Fact]
    public async Task Ipfs_W_F_and_R_carry_ipv6_sessions_through_a_file()
    {
        await using ControlLab lab = await Nat66LabAsync();
        await lab.Client.LoadRulesAsync(ControlLab.MapRule, "lab.conf", Token);
        Assert.Equal(Verdict.Forward, lab.Send(Packet(IpProtocol.Udp, Inside, 40000, Remote, 53)).Verdict);
        Assert.Equal(Verdict.Forward, lab.Send(Packet(IpProtocol.Tcp, Remote, 33000, External, 8080, TcpFlags.Syn)).Verdict);
        await lab.MakeUdpSessionAsync(40000);
        string file = Path.Combine(lab.Directory, "ipnat.ipf");

        CliRun save = await lab.CliAsync("ipfs", "-W", "-f", file);
        Assert.Contains("Saved 3 sessions", save.Output, StringComparison.Ordinal);
        Assert.Contains("\"version\":2", File.ReadLines(file).First(), StringComparison.Ordinal);
        CliRun flush = await lab.CliAsync("ipnat", "-F");
        Assert.Equal(ExitCodes.Success, flush.ExitCode);
        Assert.Empty(await lab.Client.SessionsAsync(token: Token));
        Assert.Equal(0, lab.Controller.Run(engine => engine.Ipv6SessionCount));

        CliRun restore = await lab.CliAsync("ipfs", "-R", "-f", file);
        Assert.Equal(ExitCodes.Success, restore.ExitCode);
        IReadOnlyList<SessionView> sessions = await lab.Client.SessionsAsync(token: Token);
        Assert.Equal(3, sessions.Count);
        Assert.Equal(2, sessions.Count(view => view.InternalSourceAddress.Contains(':', StringComparison.Ordinal) || view.InternalDestinationAddress.Contains(':', StringComparison.Ordinal)));
        // The redirected connection's reply from the inside server still goes out as the external address.
        byte[] reply = Packet(IpProtocol.Tcp, Server, 80, Remote, 33000, TcpFlags.Syn | TcpFlags.Ack);
        var buffer = new byte[4096];
        reply.CopyTo(buffer, 0);
        Assert.Equal(Verdict.Forward, lab.Controller.Run(engine => engine.Translate(buffer, reply.Length, ControlLab.Start)).Verdict);
        Assert.Equal(External, Ipv6Address.Read(buffer.AsSpan(8)));
    }

    [Theory]
    [InlineData("2001:db8::10", "2001:db8::10", 1024, 65535, false)]
    [InlineData("[2001:db8::10]:20000-29999", "2001:db8::10", 20000, 29999, true)]
    [InlineData("[2001:db8::10]", "2001:db8::10", 1024, 65535, false)]
    [InlineData("198.51.100.10:2000-3000", "198.51.100.10", 2000, 3000, true)]
    public void External_reads_ipv6_bare_or_in_brackets_with_a_range(string text, string address, int low, int high, bool given)
    {
        ExternalEndpointRange external = RunCommand.ParseExternal(text);
        Assert.Equal((IpAddress.Parse(address), (ushort)low, (ushort)high, given), (external.Address, external.PortStart, external.PortEnd, external.PortsGiven));
    }

    [Theory]
    [InlineData("[2001:db8::10")]
    [InlineData("[2001:db8::10]1024-2000")]
    [InlineData("2001:db8::10:1024-2000")]
    [InlineData("[2001:db8::10]:0-10")]
    public void A_malformed_ipv6_external_is_refused(string text)
        => Assert.Throws<ConfigurationException>(() => RunCommand.ParseExternal(text));

    private static GatewayRunOptions CommandLine(string[] inside, string[] external) => new()
    {
        Inside = [.. inside.Select(prefix => IpPrefix.Parse(prefix, null))],
        External = [.. external.Select(RunCommand.ParseExternal)],
    };

    [Fact]
    public void Ipv6_inside_and_external_make_the_nat66_rule_an_ipnat_conf_would()
    {
        (_, IReadOnlyList<NatRule> rules) = GatewayDaemon.LoadModel(CommandLine(["fd00:77::/64", "10.77.0.0/24"], ["2001:db8::10", "198.51.100.10:1024-65535"]));

        Assert.Equal(2, rules.Count);
        NatRule nat66 = Assert.Single(rules, rule => rule.IsIpv6);
        NatRule expected = IpnatParser.Parse("map * fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp 1024:65535 icmpidmap icmp 1024:65535", "ipnat.conf").Rules[0];
        Assert.True(RuleComparer.SameTranslation(expected, nat66), $"{IpnatPrinter.Print(nat66)} differs from {IpnatPrinter.Print(expected)}");
        Assert.Equal(Ipv4Prefix.Parse("10.77.0.0/24"), Assert.Single(rules, rule => !rule.IsIpv6).Source.AsIpv4);
    }

    [Fact]
    public void An_inside_prefix_without_an_external_address_of_its_family_is_refused()
    {
        ConfigurationException noIpv6External = Assert.Throws<ConfigurationException>(() => GatewayDaemon.LoadModel(CommandLine(["fd00:77::/64"], ["198.51.100.10"])));
        Assert.Contains("--inside fd00:77::/64 is IPv6, but no --external address is", noIpv6External.Message, StringComparison.Ordinal);
        ConfigurationException strayExternal = Assert.Throws<ConfigurationException>(() => GatewayDaemon.LoadModel(CommandLine(["10.77.0.0/24"], ["198.51.100.10", "2001:db8::10"])));
        Assert.Contains("2001:db8::10 is IPv6, but no --inside prefix is", strayExternal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_netnat_instance_takes_ipv6_prefixes_and_addresses_and_refuses_mixed_families_with_einval()
    {
        NatInstance instance = ControlConversions.NewInstance(new NatInstanceView
        {
            Name = "six",
            InternalIPInterfaceAddressPrefix = "fd00:77::/64",
            ExternalAddresses = [new ExternalAddressView("2001:db8::10")],
        });
        Assert.True(instance.IsIpv6);
        NatStaticMapping mapping = ControlConversions.ToMapping(new StaticMappingView { NatName = "six", ExternalIPAddress = "2001:db8::10", ExternalPort = 8080, InternalIPAddress = "fd00:77::3", InternalPort = 80 }, 1);
        var engine = new NatEngine(new NatEngineOptions(), 0);
        var controller = new GatewayController(engine, TimeProvider.System);
        controller.ApplyNetNat(new NetNatModel { Instances = [instance], StaticMappings = [mapping] });
        Assert.Equal(2, controller.Rules().Count(rule => rule.Rule.IsIpv6));

        NatInstance mixed = instance with { ExternalAddresses = [new NatExternalAddress(Ipv4Address.Parse("198.51.100.10"))] };
        NatControlException refused = Assert.Throws<NatControlException>(() => controller.ApplyNetNat(new NetNatModel { Instances = [mixed] }));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Contains("mixes families", refused.Message, StringComparison.Ordinal);
        Assert.Equal(2, controller.Rules().Count(rule => rule.Rule.IsIpv6 && rule.Active)); // the previous model stays
    }

    [Fact]
    public void The_nat_command_reads_an_ipv6_external_address_with_its_range()
    {
        Assert.Equal(new ExternalAddressView("2001:db8::10", 2000, 3000), NetNatCommands.ExternalAddress("[2001:db8::10]:2000-3000"));
        Assert.Equal(new ExternalAddressView("2001:db8::10"), NetNatCommands.ExternalAddress("2001:db8::10"));
        Assert.Throws<InputException>(() => NetNatCommands.ExternalAddress("[2001:db8::10:2000-3000"));
    }
}
