using System.Text.Json;
using NatGate.Cli;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Tests.Control;

/// <summary>NAT64 sessions through the control API and the commands: listings, statistics, flush, put, lookup, save and restore.</summary>
public sealed class Nat64ControlCommandTests
{
    // NAT64 takes its ports on the lab's external address, beside IPv4's map rule.
    private const string Nat64Rule = "map * fd00:77::/64 -> 198.51.100.10/32 portmap tcp/udp auto";

    private static readonly Ipv6Address Inside = Ipv6Address.Parse("fd00:77::2", null);
    private static readonly Ipv6Address RemoteInPrefix = Nat64Prefix.WellKnown.Embed(ControlLab.Remote);

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static async Task<ControlLab> Nat64LabAsync()
    {
        ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(ControlLab.MapRule + "\n" + Nat64Rule, "nat64.conf", Token);
        return lab;
    }

    /// <summary>A NAT64 UDP session from [fd00:77::2]:40000 to 203.0.113.5:53; returns its external port.</summary>
    private static ushort Nat64Session(ControlLab lab)
    {
        Assert.Equal(Verdict.Forward, lab.Send(Ipv6ControlCommandTests.Packet(IpProtocol.Udp, Inside, 40000, RemoteInPrefix, 53)).Verdict);
        return Assert.Single(lab.Controller.Run(engine => engine.ListSessions())).ExternalSourcePort;
    }

    [Fact]
    public async Task Sessions_list_a_nat64_session_with_its_ipv6_inside_and_ipv4_outside_in_the_table_and_in_json()
    {
        await using ControlLab lab = await Nat64LabAsync();
        ushort externalPort = Nat64Session(lab);

        CliRun table = await lab.CliAsync("sessions");
        Assert.Equal(ExitCodes.Success, table.ExitCode);
        Assert.Contains("[fd00:77::2]:40000 -> [64:ff9b::cb00:7105]:53", table.Output, StringComparison.Ordinal);
        Assert.Contains($"198.51.100.10:{externalPort} -> 203.0.113.5:53", table.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("::ffff:", table.Output, StringComparison.OrdinalIgnoreCase);

        CliRun json = await lab.CliAsync("sessions", "--json", "--address", "198.51.100.10");
        using JsonDocument document = JsonDocument.Parse(json.Output);
        JsonElement session = Assert.Single(document.RootElement.EnumerateArray());
        Assert.Equal("nat64", session.GetProperty("family").GetString());
        Assert.Equal(("fd00:77::2", "64:ff9b::cb00:7105"), (session.GetProperty("internalSourceAddress").GetString(), session.GetProperty("internalDestinationAddress").GetString()));
        Assert.Equal(("198.51.100.10", "203.0.113.5"), (session.GetProperty("externalSourceAddress").GetString(), session.GetProperty("externalDestinationAddress").GetString()));
        Assert.Equal("203.0.113.5", session.GetProperty("translated").GetProperty("destination").GetString());

        CliRun stats = await lab.CliAsync("stats", "--json");
        using JsonDocument figures = JsonDocument.Parse(stats.Output);
        Assert.Equal((1, 0, 1), (figures.RootElement.GetProperty("inUse").GetInt32(), figures.RootElement.GetProperty("inUseIpv6").GetInt32(), figures.RootElement.GetProperty("inUseNat64").GetInt32()));
    }

    [Fact]
    public async Task Ipnat_F_removes_nat64_sessions_and_rm_removes_one_by_its_id()
    {
        await using ControlLab lab = await Nat64LabAsync();
        Nat64Session(lab);
        await lab.MakeUdpSessionAsync(41000);

        CliRun flush = await lab.CliAsync("ipnat", "-F");
        Assert.Equal(ExitCodes.Success, flush.ExitCode);
        Assert.Empty(await lab.Client.SessionsAsync(token: Token));
        Assert.Equal(0, lab.Controller.Run(engine => engine.Nat64SessionCount));

        Nat64Session(lab);
        SessionView listed = Assert.Single(await lab.Client.SessionsAsync(token: Token));
        await lab.Client.RemoveSessionAsync(listed.Id, Token);
        Assert.Equal(0, lab.Controller.Run(engine => engine.Nat64SessionCount));
    }

    [Fact]
    public async Task Ipfs_W_F_and_R_carry_a_nat64_session_through_a_version_3_file_and_put_takes_one()
    {
        await using ControlLab lab = await Nat64LabAsync();
        ushort externalPort = Nat64Session(lab);
        string file = Path.Combine(lab.Directory, "ipnat.ipf");

        CliRun save = await lab.CliAsync("ipfs", "-W", "-f", file);
        Assert.Contains("Saved 1 session to", save.Output, StringComparison.Ordinal);
        Assert.Contains("\"version\":3", File.ReadLines(file).First(), StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("ipnat", "-F")).ExitCode);
        Assert.Equal(0, lab.Controller.Run(engine => engine.Nat64SessionCount));

        CliRun restore = await lab.CliAsync("ipfs", "-R", "-f", file);
        Assert.Equal(ExitCodes.Success, restore.ExitCode);
        SessionView restored = Assert.Single(await lab.Client.SessionsAsync(token: Token));
        Assert.Equal(("nat64", externalPort), (restored.Family, restored.ExternalSourcePort));
        // The server's answer reaches the inside host as IPv6 again.
        byte[] reply = ControlLab.Udp(ControlLab.Remote, 53, ControlLab.External, externalPort);
        var buffer = new byte[4096];
        reply.CopyTo(buffer, 0);
        TranslationResult result = lab.Controller.Run(engine => engine.Translate(buffer, reply.Length, ControlLab.Start));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal((6, Inside), (buffer[0] >> 4, Ipv6Address.Read(buffer.AsSpan(24))));

        // Put: the same session as a record, with its IPv4 side in plain IPv4.
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("ipnat", "-F")).ExitCode);
        string record = Path.Combine(lab.Directory, "session.json");
        await File.WriteAllTextAsync(record, $$"""
            {
              "rule": "{{Nat64Rule}}",
              "original": { "protocol": "udp", "source": "fd00:77::2", "sourcePort": 40000, "destination": "64:ff9b::cb00:7105", "destinationPort": 53 },
              "translated": { "protocol": "udp", "source": "198.51.100.10", "sourcePort": {{externalPort}}, "destination": "203.0.113.5", "destinationPort": 53 },
              "inMapping": true
            }
            """, Token);
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("lock", "on")).ExitCode);
        CliRun put = await lab.CliAsync("put", record);
        Assert.Equal(ExitCodes.Success, put.ExitCode);
        Assert.Equal(1, lab.Controller.Statistics().InUseNat64);
        // A second copy would take the same IPv4 port: EEXIST.
        CliRun again = await lab.CliAsync("put", record);
        Assert.NotEqual(ExitCodes.Success, again.ExitCode);
        Assert.Contains("EEXIST", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lookup_of_a_nat64_connection_is_einval_with_a_sentence()
    {
        await using ControlLab lab = await Nat64LabAsync();
        Assert.Equal(Verdict.Forward, lab.Send(Ipv6ControlCommandTests.Packet(IpProtocol.Tcp, Inside, 40000, RemoteInPrefix, 80, TcpFlags.Syn)).Verdict);

        CliRun lookup = await lab.CliAsync("lookup", "--protocol", "tcp", "--inside", "[64:ff9b::cb00:7105]:80", "--outside", "[fd00:77::2]:40000");

        Assert.Equal(ExitCodes.BadInput, lookup.ExitCode);
        Assert.Contains("EINVAL", lookup.Error, StringComparison.Ordinal);
        Assert.Contains("NAT64 session to IPv4 203.0.113.5:80", lookup.Error, StringComparison.Ordinal);
    }
}
