using System.Text.Json;
using NatGate.Cli;
using NatGate.Control;
using NatGate.Core.Packets;
using NatGate.Core.Translation;

namespace NatGate.Tests.Control;

/// <summary>
/// The commands operators know (issue 14), run in-process against a real engine behind a real
/// control server: ipnat -h, -v, -p and -f -; ipfs -l, -d, -i and -u; natgate sessions with its
/// filters, --count, delete and -o extended; natgate nat with NetNat's words; natgate top.
/// </summary>
[Collection(StandardInput.Collection)]
public sealed class OperatorCommandTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ipnat_h_shows_the_sessions_each_rule_made_and_help_stays_help()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync($"{ControlLab.MapRule}\n{ControlLab.WebRedirect}\n", "lab.conf", Token);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(ControlLab.InsideA, 40000, ControlLab.Remote, 53)).Verdict);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(ControlLab.InsideA, 40000, ControlLab.Remote, 53)).Verdict);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(ControlLab.InsideB, 40001, ControlLab.Remote, 53)).Verdict);

        CliRun hits = await lab.CliAsync("ipnat", "-h");
        Assert.Equal(ExitCodes.Success, hits.ExitCode);
        Assert.Contains("\n2 map * 10.0.0.0/24 -> 198.51.100.10/32", hits.Output, StringComparison.Ordinal);
        Assert.Contains("\n0 rdr * 198.51.100.10/32 port 8080 -> 10.0.0.3 port 80", hits.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("List of active sessions", hits.Output, StringComparison.Ordinal);

        CliRun both = await lab.CliAsync("ipnat", "-l", "-h");
        Assert.Contains("\n2 map * 10.0.0.0/24", both.Output, StringComparison.Ordinal);
        Assert.Contains("List of active sessions:", both.Output, StringComparison.Ordinal);

        CliRun json = await lab.CliAsync("ipnat", "-h", "--json");
        using JsonDocument document = JsonDocument.Parse(json.Output);
        Assert.Equal(2, document.RootElement.GetProperty("rules")[0].GetProperty("hits").GetInt64());

        CliRun help = await lab.CliAsync("ipnat", "--help");
        Assert.Equal(ExitCodes.Success, help.ExitCode);
        Assert.Contains("-h", help.Output, StringComparison.Ordinal);
        Assert.Contains("hits", help.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("List of active", help.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipnat_v_lists_each_rules_figures_and_each_session_in_conntracks_words()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        CliRun verbose = await lab.CliAsync("ipnat", "-l", "-v");
        Assert.Equal(ExitCodes.Success, verbose.ExitCode);
        Assert.Matches(@"map \* 10\.0\.0\.0/24 -> 198\.51\.100\.10/32 +# rule \d+, 1 session, 1 hit, lab\.conf:1", verbose.Output);
        Assert.Contains("src=10.0.0.2 dst=203.0.113.5 sport=40000 dport=53 packets=1 bytes=", verbose.Output, StringComparison.Ordinal);
        Assert.Contains("[UNREPLIED] src=203.0.113.5 dst=198.51.100.10 sport=53 dport=40000 packets=0 bytes=0", verbose.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipnat_p_purges_the_sessions_of_removed_rules_only()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        string file = Path.Combine(lab.Directory, "removed.conf");
        await File.WriteAllTextAsync(file, "map * 10.0.1.0/24 -> 198.51.100.11/32\n", Token);
        await lab.MakeUdpSessionAsync(40000);
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("ipnat", "-f", file)).ExitCode);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(Core.Addressing.Ipv4Address.Parse("10.0.1.5"), 41000, ControlLab.Remote, 53)).Verdict);

        // -r alone leaves the removed rule's session as an orphan; -p then takes it, and only it.
        CliRun removed = await lab.CliAsync("ipnat", "-r", "-f", file);
        Assert.Equal(ExitCodes.Success, removed.ExitCode);
        Assert.Equal(2, (await lab.Client.SessionsAsync(token: Token)).Count);
        CliRun purged = await lab.CliAsync("ipnat", "-p");
        Assert.Equal(ExitCodes.Success, purged.ExitCode);
        Assert.Contains("1 entry purged from NAT table", purged.Output, StringComparison.Ordinal);
        Assert.Equal("10.0.0.2", Assert.Single(await lab.Client.SessionsAsync(token: Token)).InternalSourceAddress);
    }

    [Fact]
    public async Task Ipnat_f_dash_reads_the_rules_from_standard_input()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        CliRun loaded;
        using (StandardInput.Holding($"{ControlLab.MapRule}\n{ControlLab.WebRedirect}\n"))
        {
            loaded = await lab.CliAsync("ipnat", "-f", "-");
        }
        Assert.Equal(ExitCodes.Success, loaded.ExitCode);
        Assert.Contains("Loaded 2 rules from -", loaded.Output, StringComparison.Ordinal);
        Assert.Equal(2, lab.Controller.Rules().Count);

        // -n -v -f -: checked with no daemon, each rule printed as it would be loaded.
        CliRun dry;
        using (StandardInput.Holding("map eth0 10.0.9.0/24 -> 198.51.100.12/32 parity\n"))
        {
            dry = await ControlLab.RunCliAsync("ipnat", "-n", "-v", "-f", "-", "--control", Path.Combine(lab.Directory, "none"));
        }
        Assert.Equal(ExitCodes.Success, dry.ExitCode);
        Assert.Contains("map eth0 10.0.9.0/24 -> 198.51.100.12/32 parity    # -:1", dry.Output, StringComparison.Ordinal);
        Assert.Equal(2, lab.Controller.Rules().Count);
    }

    [Fact]
    public async Task Ipfs_l_lists_a_saved_file_and_d_names_a_directory_the_save_creates()
    {
        string stateDirectory = Path.Combine(Path.GetTempPath(), "ngs-" + Guid.NewGuid().ToString("N")[..10]);
        await using ControlLab lab = await ControlLab.StartAsync(stateDirectory);
        try
        {
            await lab.MakeUdpSessionAsync(40000);
            await lab.MakeUdpSessionAsync(40001);
            Assert.False(Directory.Exists(stateDirectory));

            CliRun save = await lab.CliAsync("ipfs", "-W", "-d", stateDirectory);
            Assert.Equal(ExitCodes.Success, save.ExitCode);
            string file = Path.Combine(stateDirectory, "ipnat.ipf");
            Assert.True(File.Exists(file), save.Output + save.Error);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(stateDirectory));

            // -l reads the file here: no daemon is asked.
            CliRun list = await ControlLab.RunCliAsync("ipfs", "-l", "-d", stateDirectory, "--control", Path.Combine(lab.Directory, "none"));
            Assert.Equal(ExitCodes.Success, list.ExitCode);
            Assert.Contains($"{file}: 2 sessions, saved ", list.Output, StringComparison.Ordinal);
            Assert.Matches(@"MAP 10\.0\.0\.2 +40000 <- -> 198\.51\.100\.10 +40000 \[203\.0\.113\.5 53\] udp +# map \* 10\.0\.0\.0/24 -> 198\.51\.100\.10/32", list.Output);
            Assert.Contains("40001", list.Output, StringComparison.Ordinal);

            CliRun json = await ControlLab.RunCliAsync("ipfs", "-l", "-f", file, "--json");
            using JsonDocument document = JsonDocument.Parse(json.Output);
            Assert.Equal(2, document.RootElement.GetArrayLength());

            await File.WriteAllTextAsync(Path.Combine(stateDirectory, "broken.ipf"), "{\"format\":\"natgate-sessions\"", Token);
            CliRun broken = await ControlLab.RunCliAsync("ipfs", "-l", "-f", Path.Combine(stateDirectory, "broken.ipf"));
            Assert.Equal(ExitCodes.BadInput, broken.ExitCode);
            Assert.Contains("broken.ipf", broken.Error, StringComparison.Ordinal);

            Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("ipfs", "-l", "-W")).ExitCode);
            Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("ipfs")).ExitCode);
        }
        finally
        {
            if (Directory.Exists(stateDirectory))
            {
                Directory.Delete(stateDirectory, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Ipfs_i_renames_an_interface_so_a_file_restores_on_a_gateway_named_otherwise()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync("map eth0 10.0.0.0/24 -> 198.51.100.10/32\n", "old.conf", Token);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(ControlLab.InsideA, 40000, ControlLab.Remote, 53)).Verdict);
        string file = Path.Combine(lab.Directory, "ipnat.ipf");
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("ipfs", "-W", "-f", file)).ExitCode);
        // The new gateway's outside interface is wan0.
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("ipnat", "-F")).ExitCode);
        await lab.Client.ReplaceRulesAsync("map wan0 10.0.0.0/24 -> 198.51.100.10/32\n", "new.conf", Token);

        CliRun refused = await lab.CliAsync("ipfs", "-R", "-f", file);
        Assert.Equal(ExitCodes.Failure, refused.ExitCode);
        Assert.Contains("ESRCH", refused.Output, StringComparison.Ordinal);

        CliRun renamed = await lab.CliAsync("ipfs", "-i", "eth0,wan0", "-R", "-f", file);
        Assert.Equal(ExitCodes.Success, renamed.ExitCode);
        Assert.Contains("Renamed the interface in 1 session", renamed.Output, StringComparison.Ordinal);
        Assert.Contains("Restored 1 session", renamed.Output, StringComparison.Ordinal);
        Assert.Single(await lab.Client.SessionsAsync(token: Token));

        Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("ipfs", "-i", "eth0", "-f", file)).ExitCode);
    }

    [Fact]
    public async Task Ipfs_u_unlocks_the_table()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LockAsync(true, Token);
        CliRun unlock = await lab.CliAsync("ipfs", "-u");
        Assert.Equal(ExitCodes.Success, unlock.ExitCode);
        Assert.Contains("unlocked (it was locked)", unlock.Output, StringComparison.Ordinal);
        Assert.False(lab.Controller.Statistics().Locked);
    }

    [Fact]
    public async Task Sessions_filter_count_delete_and_print_as_conntrack_does()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Tcp(ControlLab.InsideB, 41000, ControlLab.Remote, 443, TcpFlags.Syn)).Verdict);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(ControlLab.InsideB, 42000, ControlLab.Remote, 123)).Verdict);
        int rule = Assert.Single(lab.Controller.Rules()).Index;

        CliRun byPort = await lab.CliAsync("sessions", "--port", "443");
        Assert.Contains("10.0.0.3:41000 -> 203.0.113.5:443", byPort.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("10.0.0.2:40000", byPort.Output, StringComparison.Ordinal);
        Assert.Equal("1", (await lab.CliAsync("sessions", "--count", "--state", "synsent")).Output.Trim());
        Assert.Equal("2", (await lab.CliAsync("sessions", "--count", "--state", "Active")).Output.Trim());
        Assert.Equal("3", (await lab.CliAsync("sessions", "--count", "--rule", rule.ToString(System.Globalization.CultureInfo.InvariantCulture))).Output.Trim());
        Assert.Equal("1", (await lab.CliAsync("sessions", "--count", "-p", "udp", "--address", "10.0.0.3")).Output.Trim());
        Assert.Equal("3", (await lab.CliAsync("sessions", "--count")).Output.Trim());

        CliRun badState = await lab.CliAsync("sessions", "--state", "ESTABLISHED_OR_NOT");
        Assert.Equal(ExitCodes.BadInput, badState.ExitCode);
        Assert.Contains("EINVAL", badState.Error, StringComparison.Ordinal);
        Assert.Contains("SynSent", badState.Error, StringComparison.Ordinal);

        CliRun extended = await lab.CliAsync("sessions", "-o", "extended", "--port", "443");
        Assert.Matches(@"^ipv4 +2 +tcp +6 +\d+ SYN_SENT src=10\.0\.0\.3 dst=203\.0\.113\.5 sport=41000 dport=443 packets=1 bytes=\d+ \[UNREPLIED\] src=203\.0\.113\.5 dst=198\.51\.100\.10 sport=443 dport=41000 packets=0 bytes=0 id=\d+ rule=\d+\s*$", extended.Output);

        // Delete by filter, then by id; neither flushes anything else.
        CliRun deleted = await lab.CliAsync("sessions", "delete", "--port", "123");
        Assert.Equal(ExitCodes.Success, deleted.ExitCode);
        Assert.Contains("Deleted 1 session.", deleted.Output, StringComparison.Ordinal);
        SessionView tcp = Assert.Single(await lab.Client.SessionsAsync(new SessionQuery { Protocol = "tcp" }, Token));
        CliRun byId = await lab.CliAsync("sessions", "delete", tcp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ExitCodes.Success, byId.ExitCode);
        Assert.Equal(40000, Assert.Single(await lab.Client.SessionsAsync(token: Token)).InternalSourcePort);
        Assert.Equal(2, lab.Controller.Statistics().Removed);

        CliRun nothing = await lab.CliAsync("sessions", "delete");
        Assert.Equal(ExitCodes.BadInput, nothing.ExitCode);
        Assert.Contains("ipnat -F", nothing.Error, StringComparison.Ordinal);
        CliRun gone = await lab.CliAsync("sessions", "delete", tcp.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(ExitCodes.Failure, gone.ExitCode);
        Assert.Contains("ESRCH", gone.Error, StringComparison.Ordinal);
        Assert.Single(await lab.Client.SessionsAsync(token: Token));
    }

    [Fact]
    public async Task A_delete_with_a_misspelt_filter_is_refused_and_removes_nothing()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        using HttpClient http = lab.RawHttpClient();
        using HttpResponseMessage response = await http.DeleteAsync("v1/sessions?prot=53", Token);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("EINVAL", await response.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
        Assert.Single(await lab.Client.SessionsAsync(token: Token));
    }

    [Fact]
    public async Task Nat_takes_netnats_own_words_as_the_configuration_file_does()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        CliRun added = await lab.CliAsync("nat", "add", "--name", "lan", "--internal-prefix", "10.1.0.0/24", "--external-address", "198.51.100.20",
            "--tcp-filtering", "EndpointIndependentFiltering", "--udp-filtering", "addressdependentfiltering", "--udp-inbound-refresh", "$true",
            "--mapping-behavior", "AddressDependent", "--preserve-port-parity", "true");
        Assert.True(added.ExitCode == ExitCodes.Success, added.Error + added.Output);
        NatInstanceView instance = Assert.Single(await lab.Client.NatInstancesAsync(Token));
        Assert.Equal(NatFilteringBehavior.EndpointIndependent, instance.TcpFilteringBehavior);
        Assert.Equal(NatFilteringBehavior.AddressDependent, instance.UdpFilteringBehavior);
        Assert.True(instance.UdpInboundRefresh);
        Assert.Equal(NatMappingBehavior.AddressDependent, instance.MappingBehavior);
        Assert.True(instance.PreservePortParity);
        // The compiled rule keeps parity, as ipnat writes it.
        Assert.Contains(await lab.Client.RulesAsync(Token), rule => rule.Text.StartsWith("map ", StringComparison.Ordinal) && rule.Text.Contains(" parity", StringComparison.Ordinal));

        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("nat", "set", "--name", "lan", "--udp-filtering", "AddressAndPortDependent")).ExitCode);
        Assert.Equal(NatFilteringBehavior.AddressAndPortDependent, Assert.Single(await lab.Client.NatInstancesAsync(Token)).UdpFilteringBehavior);

        CliRun refused = await lab.CliAsync("nat", "set", "--name", "lan", "--tcp-filtering", "PortRestricted");
        Assert.Equal(ExitCodes.BadInput, refused.ExitCode);
        Assert.Contains("'PortRestricted' is not one of EndpointIndependentFiltering", refused.Error, StringComparison.Ordinal);
        Assert.Equal(NatFilteringBehavior.EndpointIndependent, Assert.Single(await lab.Client.NatInstancesAsync(Token)).TcpFilteringBehavior);
    }

    [Fact]
    public async Task Top_once_prints_one_snapshot_of_the_sessions_and_rates()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        CliRun json = await lab.CliAsync("top", "--once", "--interval", "0.2", "--json");
        Assert.Equal(ExitCodes.Success, json.ExitCode);
        using JsonDocument document = JsonDocument.Parse(Assert.Single(json.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.Equal(1, document.RootElement.GetProperty("sessions").GetInt32());
        JsonElement busiest = Assert.Single(document.RootElement.GetProperty("busiest").EnumerateArray());
        Assert.Equal("10.0.0.2:40000", busiest.GetProperty("inside").GetString());
        Assert.Equal("203.0.113.5:53", busiest.GetProperty("remote").GetString());

        CliRun table = await lab.CliAsync("top", "-n", "2", "--interval", "0.2");
        Assert.Equal(ExitCodes.Success, table.ExitCode);
        Assert.Equal(2, table.Output.Split("natgate top ").Length - 1);
        Assert.Contains("10.0.0.2:40000", table.Output, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("top", "--once", "--interval", "0")).ExitCode);
    }
}

/// <summary>Tests that replace the process's standard input run one at a time.</summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class StandardInput
{
    public const string Collection = "standard input";

    /// <summary>Console.In reads <paramref name="text"/> until disposed.</summary>
    public static IDisposable Holding(string text)
    {
        TextReader previous = Console.In;
        Console.SetIn(new StringReader(text));
        return new Restore(() => Console.SetIn(previous));
    }

    private sealed class Restore(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
