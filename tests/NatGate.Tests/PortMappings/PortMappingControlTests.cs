using System.Buffers.Binary;
using NatGate.Configuration;
using NatGate.Control;
using NatGate.Core.PortMappings;
using NatGate.Tests.Control;

namespace NatGate.Tests.PortMappings;

/// <summary>The port mappings PCP and NAT-PMP make, as the control API, the CLI, the state file and the configuration see them.</summary>
public sealed class PortMappingControlTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    /// <summary>A NAT-PMP UDP mapping request of inside host A (RFC 6886 3.3), answered on the engine's thread.</summary>
    private static ushort MapWithNatPmp(ControlLab lab, ushort internalPort)
    {
        byte[] request = new byte[12];
        request[1] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), internalPort);
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(8), 3600);
        byte[] response = new byte[PortMappingServer.MaximumResponseLength];
        PortMappingReply reply = lab.Controller.Run(engine => PortMappingServer.Answer(engine, request, ControlLab.InsideA, response, ControlLab.Start));
        Assert.Equal(16, reply.Length);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(2)));
        return BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(10));
    }

    [Fact]
    public async Task Port_mappings_are_listed_by_the_api_and_by_mapping_list()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(ControlLab.MapRule, "lab.conf", Token);
        ushort port = MapWithNatPmp(lab, 5000);

        PortMappingView listed = Assert.Single(await lab.Client.PortMappingsAsync(Token));
        Assert.Equal(new PortMappingView("udp", "10.0.0.2", 5000, "198.51.100.10", port, 3600, "nat-pmp"), listed);
        CliRun table = await lab.CliAsync("mapping", "list");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("nat-pmp", table.Output, StringComparison.Ordinal);
        Assert.Contains("10.0.0.2:5000", table.Output, StringComparison.Ordinal);
        Assert.Contains($"198.51.100.10:{port}", table.Output, StringComparison.Ordinal);
        // --json keeps printing the static mappings, as scripts read it.
        CliRun json = await lab.CliAsync("mapping", "list", "--json");
        Assert.Equal("[]", json.Output.Trim());
        // The redirect is a rule like any other, named for who asked.
        Assert.Contains(await lab.Client.RulesAsync(Token), rule => rule.Label == "nat-pmp 10.0.0.2:5000/udp");
    }

    [Fact]
    public async Task A_saved_state_brings_the_mappings_back()
    {
        string file;
        ushort port;
        await using (ControlLab first = await ControlLab.StartAsync())
        {
            await first.Client.LoadRulesAsync(ControlLab.MapRule, "lab.conf", Token);
            port = MapWithNatPmp(first, 5000);
            file = Path.Combine(Path.GetTempPath(), $"ngpm-{Guid.NewGuid():N}.state");
            first.Controller.SaveState(file);
        }
        try
        {
            await using ControlLab second = await ControlLab.StartAsync();
            await second.Client.LoadRulesAsync(ControlLab.MapRule, "lab.conf", Token);
            second.Controller.RestoreState(file);
            PortMappingView back = Assert.Single(await second.Client.PortMappingsAsync(Token));
            Assert.Equal((5000, port), (back.InternalPort, back.ExternalPort));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void The_configuration_file_turns_the_server_on_with_its_limit()
    {
        DaemonSettings daemon = GatewayConfigurationFile.Parse("""
            [Daemon]
            Pcp = true
            PcpMappingsPerHost = 4
            """, "/etc/natgate/natgate.toml").Daemon;
        Assert.Equal((true, 4), (daemon.Pcp, daemon.PcpMappingsPerHost));
        var error = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Parse("""
            [Daemon]
            PcpMappingsPerHost = -1
            """, "gw.toml"));
        Assert.Contains(error.Problems, problem => problem.StartsWith("gw.toml:2:1: PcpMappingsPerHost", StringComparison.Ordinal));
    }
}
