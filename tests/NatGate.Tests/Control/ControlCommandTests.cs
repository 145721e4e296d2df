using System.Text.Json;
using NatGate.Cli;
using NatGate.Core.Packets;
using NatGate.Core.Translation;

namespace NatGate.Tests.Control;

/// <summary>The natgate commands run in-process against a real daemon's control server.</summary>
public sealed class ControlCommandTests
{
    [Fact]
    public async Task Sessions_json_is_the_API_reply_and_parses()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);

        CliRun run = await lab.CliAsync("sessions", "--json");
        Assert.Equal(ExitCodes.Success, run.ExitCode);
        using JsonDocument document = JsonDocument.Parse(run.Output);
        JsonElement session = Assert.Single(document.RootElement.EnumerateArray());
        Assert.Equal("udp", session.GetProperty("protocol").GetString());
        Assert.Equal("10.0.0.2", session.GetProperty("internalSourceAddress").GetString());
        Assert.Equal("203.0.113.5", session.GetProperty("original").GetProperty("destination").GetString());
        Assert.Equal(17, session.GetProperty("original").GetProperty("protocol").GetInt32());

        CliRun table = await lab.CliAsync("sessions", "--protocol", "udp");
        Assert.Equal(ExitCodes.Success, table.ExitCode);
        Assert.Contains("10.0.0.2:40000 -> 203.0.113.5:53", table.Output, StringComparison.Ordinal);
        Assert.Contains("198.51.100.10:40000 -> 203.0.113.5:53", table.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ipnat_C_f_with_a_bad_file_keeps_every_rule_and_with_a_good_one_replaces_them()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        string good = Path.Combine(lab.Directory, "good.conf");
        string bad = Path.Combine(lab.Directory, "bad.conf");
        string reversed = Path.Combine(lab.Directory, "reversed-range.conf");
        await File.WriteAllTextAsync(good, $"{ControlLab.MapRule}\n{ControlLab.WebRedirect}\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(bad, $"{ControlLab.MapRule}\nmap * 10.0.0.0/24 -> nonsense\n", TestContext.Current.CancellationToken);
        // Parses, but the engine refuses it (a port range the wrong way round).
        await File.WriteAllTextAsync(reversed, "map * 10.0.1.0/24 -> 198.51.100.11/32 portmap tcp/udp 2000:1000\n", TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("rules", "load", good)).ExitCode);

        foreach (string refused in (string[])[bad, reversed])
        {
            CliRun run = await lab.CliAsync("ipnat", "-C", "-f", refused);
            Assert.NotEqual(ExitCodes.Success, run.ExitCode);
            Assert.Equal(2, lab.Controller.Rules().Count(rule => rule.Active));
        }
        CliRun rulesRefused = await lab.CliAsync("rules", "load", "--replace", bad);
        Assert.NotEqual(ExitCodes.Success, rulesRefused.ExitCode);
        Assert.Equal(2, lab.Controller.Rules().Count(rule => rule.Active));

        string other = Path.Combine(lab.Directory, "other.conf");
        await File.WriteAllTextAsync(other, "map * 10.0.1.0/24 -> 198.51.100.11/32\n", TestContext.Current.CancellationToken);
        CliRun replaced = await lab.CliAsync("ipnat", "-C", "-f", other);
        Assert.Equal(ExitCodes.Success, replaced.ExitCode);
        Assert.Contains("Replaced every rule with 1 rule", replaced.Output, StringComparison.Ordinal);
        Assert.Equal("10.0.1.0/24", Assert.Single(lab.Controller.Rules(), rule => rule.Active).Rule.Source.ToString());
    }

    [Fact]
    public async Task Rules_check_and_ipnat_n_check_a_file_with_no_daemon()
    {
        string directory = Directory.CreateTempSubdirectory("natgate-check-").FullName;
        try
        {
            string good = Path.Combine(directory, "good.conf");
            string bad = Path.Combine(directory, "bad.conf");
            string refused = Path.Combine(directory, "refused.conf");
            await File.WriteAllTextAsync(good, $"{ControlLab.MapRule}\n{ControlLab.WebRedirect}\n", TestContext.Current.CancellationToken);
            await File.WriteAllTextAsync(bad, $"{ControlLab.MapRule}\nrdr * 198.51.100.10/32 port htp -> 10.0.0.3 port 80 tcp\n", TestContext.Current.CancellationToken);
            await File.WriteAllTextAsync(refused, "map * 10.0.1.0/24 -> 198.51.100.11/32 portmap tcp/udp 2000:1000\n", TestContext.Current.CancellationToken);
            string nowhere = Path.Combine(directory, "no-daemon-here");

            CliRun ok = await ControlLab.RunCliAsync("rules", "check", good);
            Assert.Equal(ExitCodes.Success, ok.ExitCode);
            Assert.Contains("2 rules, all accepted", ok.Output, StringComparison.Ordinal);

            CliRun syntax = await ControlLab.RunCliAsync("rules", "check", bad);
            Assert.Equal(ExitCodes.BadInput, syntax.ExitCode);
            Assert.Matches(@"bad\.conf:2:\d+: ", syntax.Error);

            CliRun engine = await ControlLab.RunCliAsync("ipnat", "-n", "-f", refused, "--control", nowhere);
            Assert.Equal(ExitCodes.BadInput, engine.ExitCode);
            Assert.Contains("refused.conf", engine.Error, StringComparison.Ordinal);

            CliRun dry = await ControlLab.RunCliAsync("ipnat", "-n", "-f", good, "--control", nowhere);
            Assert.Equal(ExitCodes.Success, dry.ExitCode);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Rules_load_then_ipnat_l_lists_rules_in_ipnat_form_then_sessions()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        string file = Path.Combine(lab.Directory, "ipnat.conf");
        await File.WriteAllTextAsync(file, $"{ControlLab.MapRule}\n{ControlLab.WebRedirect}\n", TestContext.Current.CancellationToken);

        CliRun load = await lab.CliAsync("rules", "load", file);
        Assert.Equal(ExitCodes.Success, load.ExitCode);
        Assert.Contains("Loaded 2 rules", load.Output, StringComparison.Ordinal);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(ControlLab.InsideA, 40000, ControlLab.Remote, 53)).Verdict);

        CliRun list = await lab.CliAsync("ipnat", "-l");
        Assert.Equal(ExitCodes.Success, list.ExitCode);
        string[] lines = list.Output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("List of active MAP/Redirect filters:", lines[0]);
        Assert.StartsWith("map * 10.0.0.0/24 -> 198.51.100.10/32", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("rdr * 198.51.100.10/32 port 8080 -> 10.0.0.3 port 80", lines[2], StringComparison.Ordinal);
        Assert.Equal("List of active sessions:", lines[3]);
        Assert.Matches(@"^MAP 10\.0\.0\.2 +40000 <- -> 198\.51\.100\.10 +40000 \[203\.0\.113\.5 53\] udp", lines[4]);

        CliRun rules = await lab.CliAsync("rules", "list");
        Assert.Contains("map * 10.0.0.0/24 -> 198.51.100.10/32", rules.Output, StringComparison.Ordinal);

        CliRun json = await lab.CliAsync("ipnat", "-l", "-s", "--json");
        using JsonDocument document = JsonDocument.Parse(json.Output);
        Assert.Equal(2, document.RootElement.GetProperty("rules").GetArrayLength());
        Assert.Equal(1, document.RootElement.GetProperty("sessions").GetArrayLength());
        Assert.Equal(1, document.RootElement.GetProperty("stats").GetProperty("inUse").GetInt32());

        CliRun remove = await lab.CliAsync("ipnat", "-r", "-f", file);
        Assert.Equal(ExitCodes.Success, remove.ExitCode);
        Assert.Contains("Removed 2 rules", remove.Output, StringComparison.Ordinal);
        CliRun flush = await lab.CliAsync("ipnat", "-C", "-F");
        Assert.Equal(ExitCodes.Success, flush.ExitCode);
        Assert.Contains("1 entry flushed from NAT table", flush.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_file_with_a_syntax_error_exits_2_naming_file_line_and_column()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        string file = Path.Combine(lab.Directory, "bad.conf");
        await File.WriteAllTextAsync(file, $"{ControlLab.MapRule}\nrdr * 198.51.100.10 port -> 10.0.0.3\n", TestContext.Current.CancellationToken);

        CliRun run = await lab.CliAsync("ipnat", "-f", file);
        Assert.Equal(ExitCodes.BadInput, run.ExitCode);
        Assert.Matches($@"natgate: EINVAL: {System.Text.RegularExpressions.Regex.Escape(file)}:2:\d+: ", run.Error);

        CliRun missing = await lab.CliAsync("rules", "load", Path.Combine(lab.Directory, "absent.conf"));
        Assert.Equal(ExitCodes.BadInput, missing.ExitCode);
    }

    [Fact]
    public async Task Changes_through_the_read_only_socket_exit_3_and_reads_succeed()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        using (lab.HideReadWriteSocket())
        {
            CliRun locking = await lab.CliAsync("lock", "on");
            Assert.Equal(ExitCodes.NotPermitted, locking.ExitCode);
            Assert.Contains("EPERM", locking.Error, StringComparison.Ordinal);
            Assert.Contains("use control.sock as root", locking.Error, StringComparison.Ordinal);

            CliRun flush = await lab.CliAsync("rules", "flush", "--json");
            Assert.Equal(ExitCodes.NotPermitted, flush.ExitCode);
            using JsonDocument error = JsonDocument.Parse(flush.Output);
            Assert.Equal("EPERM", error.RootElement.GetProperty("error").GetString());

            Assert.Equal(ExitCodes.NotPermitted, (await lab.CliAsync("nat", "add", "--name", "lan", "--internal-prefix", "10.1.0.0/24", "--external-address", "198.51.100.20")).ExitCode);
            Assert.Equal(ExitCodes.Success, (await lab.CliAsync("stats")).ExitCode);
            Assert.Equal(ExitCodes.Success, (await lab.CliAsync("hairpinning")).ExitCode);
        }
    }

    [Fact]
    public async Task An_unreachable_daemon_exits_1_with_a_sentence()
    {
        string directory = Path.Combine(Path.GetTempPath(), "ngc-none-" + Guid.NewGuid().ToString("N")[..8]);
        CliRun run = await ControlLab.RunCliAsync("stats", "--control", directory);
        Assert.Equal(ExitCodes.Failure, run.ExitCode);
        Assert.Equal($"natgate: cannot reach the daemon at {directory}/control.sock: is `natgate run` running?", run.Error.Trim());
    }

    [Fact]
    public async Task Put_exits_3_while_unlocked_and_inserts_once_locked()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(ControlLab.MapRule, "lab.conf", TestContext.Current.CancellationToken);
        string file = Path.Combine(lab.Directory, "session.json");
        await File.WriteAllTextAsync(file, """
            {
              "rule": "map * 10.0.0.0/24 -> 198.51.100.10/32",
              "original": { "protocol": "udp", "source": "10.0.0.3", "sourcePort": 5000, "destination": "203.0.113.5", "destinationPort": 53 },
              "translated": { "protocol": 17, "source": "198.51.100.10", "sourcePort": 5000, "destination": "203.0.113.5", "destinationPort": 53 }
            }
            """, TestContext.Current.CancellationToken);

        CliRun unlocked = await lab.CliAsync("put", file);
        Assert.Equal(ExitCodes.NotPermitted, unlocked.ExitCode);
        Assert.Contains("EACCES", unlocked.Error, StringComparison.Ordinal);

        CliRun locking = await lab.CliAsync("lock", "on");
        Assert.Equal(ExitCodes.Success, locking.ExitCode);
        Assert.Contains("locked (it was unlocked)", locking.Output, StringComparison.Ordinal);
        CliRun put = await lab.CliAsync("put", file);
        Assert.Equal(ExitCodes.Success, put.ExitCode);
        Assert.Contains("Inserted session", put.Output, StringComparison.Ordinal);
        Assert.Single(await lab.Client.SessionsAsync(token: TestContext.Current.CancellationToken));

        CliRun duplicate = await lab.CliAsync("put", file);
        Assert.Equal(ExitCodes.Failure, duplicate.ExitCode);
        Assert.Contains("EEXIST", duplicate.Error, StringComparison.Ordinal);

        await File.WriteAllTextAsync(file, "{ not json", TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("put", file)).ExitCode);
    }

    [Fact]
    public async Task Lookup_exits_1_without_a_session_and_prints_the_real_destination_with_one()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(ControlLab.WebRedirect, "rdr.conf", TestContext.Current.CancellationToken);
        string[] lookup = ["lookup", "--protocol", "tcp", "--inside", "10.0.0.3:80", "--outside", "203.0.113.5:33000", "--find-forward"];

        CliRun missing = await lab.CliAsync(lookup);
        Assert.Equal(ExitCodes.Failure, missing.ExitCode);
        Assert.Contains("ESRCH", missing.Error, StringComparison.Ordinal);

        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Tcp(ControlLab.Remote, 33000, ControlLab.External, 8080, TcpFlags.Syn)).Verdict);
        CliRun found = await lab.CliAsync(lookup);
        Assert.Equal(ExitCodes.Success, found.ExitCode);
        Assert.Contains("real destination 198.51.100.10:8080", found.Output, StringComparison.Ordinal);
        Assert.Contains("forward possible: yes", found.Output, StringComparison.Ordinal);

        CliRun json = await lab.CliAsync([.. lookup, "--json"]);
        using JsonDocument document = JsonDocument.Parse(json.Output);
        Assert.Equal(8080, document.RootElement.GetProperty("realPort").GetInt32());

        Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("lookup", "--inside", "10.0.0.3", "--outside", "203.0.113.5:33000")).ExitCode);
    }

    [Fact]
    public async Task Ipfs_W_and_R_round_trip_the_sessions_through_a_file()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        await lab.MakeUdpSessionAsync(40001);
        string file = Path.Combine(lab.Directory, "ipnat.ipf");

        CliRun save = await lab.CliAsync("ipfs", "-W", "-f", file);
        Assert.Equal(ExitCodes.Success, save.ExitCode);
        Assert.Contains("Saved 2 sessions", save.Output, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("ipnat", "-F")).ExitCode);
        Assert.Empty(await lab.Client.SessionsAsync(token: TestContext.Current.CancellationToken));

        CliRun restore = await lab.CliAsync("state", "restore", file, "--json");
        Assert.Equal(ExitCodes.Success, restore.ExitCode);
        using JsonDocument document = JsonDocument.Parse(restore.Output);
        Assert.Equal(2, document.RootElement.GetProperty("restored").GetInt32());
        Assert.Equal(2, (await lab.Client.SessionsAsync(token: TestContext.Current.CancellationToken)).Count);

        CliRun again = await lab.CliAsync("ipfs", "-R", "-f", file);
        Assert.Equal(ExitCodes.Failure, again.ExitCode);
        Assert.Contains("2 refusals", again.Output, StringComparison.Ordinal);
        Assert.Contains("EEXIST", again.Output, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("ipfs", "-W", "-R")).ExitCode);
    }

    [Fact]
    public async Task Nat_and_mapping_commands_add_set_and_remove_with_EEXIST_and_ESRCH()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        string[] add = ["nat", "add", "--name", "lan", "--internal-prefix", "10.1.0.0/24", "--external-address", "198.51.100.20:2000-3000", "--external-address", "198.51.100.21"];
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync(add)).ExitCode);
        CliRun twice = await lab.CliAsync(add);
        Assert.Equal(ExitCodes.Failure, twice.ExitCode);
        Assert.Contains("EEXIST", twice.Error, StringComparison.Ordinal);

        CliRun set = await lab.CliAsync("nat", "set", "--name", "lan", "--udp-idle-timeout", "600", "--tcp-filtering", "EndpointIndependent");
        Assert.Equal(ExitCodes.Success, set.ExitCode);
        CliRun list = await lab.CliAsync("nat", "list", "--json");
        using (JsonDocument document = JsonDocument.Parse(list.Output))
        {
            JsonElement instance = Assert.Single(document.RootElement.EnumerateArray());
            Assert.Equal(600, instance.GetProperty("udpIdleSessionTimeout").GetInt32());
            Assert.Equal("EndpointIndependent", instance.GetProperty("tcpFilteringBehavior").GetString());
            Assert.Equal(2, instance.GetProperty("externalAddresses").GetArrayLength());
        }
        Assert.Contains("lan", (await lab.CliAsync("nat", "list")).Output, StringComparison.Ordinal);

        CliRun invalid = await lab.CliAsync("nat", "set", "--name", "lan", "--udp-idle-timeout", "10");
        Assert.Equal(ExitCodes.BadInput, invalid.ExitCode);
        CliRun absent = await lab.CliAsync("nat", "set", "--name", "wan", "--udp-idle-timeout", "600");
        Assert.Equal(ExitCodes.Failure, absent.ExitCode);
        Assert.Contains("ESRCH", absent.Error, StringComparison.Ordinal);

        CliRun mapping = await lab.CliAsync("mapping", "add", "--nat-name", "lan", "--protocol", "UDP", "--external-port", "5353", "--internal-address", "10.1.0.5");
        Assert.Equal(ExitCodes.Success, mapping.ExitCode);
        Assert.Contains("Added static mapping 1", mapping.Output, StringComparison.Ordinal);
        Assert.Contains("10.1.0.5:5353", (await lab.CliAsync("mapping", "list")).Output, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("mapping", "remove", "--nat-name", "lan", "--id", "1")).ExitCode);
        Assert.Equal(ExitCodes.Failure, (await lab.CliAsync("mapping", "remove", "--nat-name", "lan", "--id", "1")).ExitCode);

        CliRun hairpinning = await lab.CliAsync("hairpinning", "disabled");
        Assert.Equal(ExitCodes.Success, hairpinning.ExitCode);
        Assert.Contains("Hairpinning: Disabled", hairpinning.Output, StringComparison.Ordinal);

        Assert.Equal(ExitCodes.Success, (await lab.CliAsync("nat", "remove", "--name", "lan")).ExitCode);
        CliRun removedTwice = await lab.CliAsync("nat", "remove", "--name", "lan");
        Assert.Equal(ExitCodes.Failure, removedTwice.ExitCode);
        Assert.Contains("ESRCH", removedTwice.Error, StringComparison.Ordinal);
        Assert.Equal(ExitCodes.BadInput, (await lab.CliAsync("nat", "add", "--name", "x", "--internal-prefix", "10.2.0.0/24", "--external-address", "198.51.100.30:9-")).ExitCode);
    }

    [Fact]
    public async Task Stats_show_a_table_for_people()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync();
        CliRun run = await lab.CliAsync("stats");
        Assert.Equal(ExitCodes.Success, run.ExitCode);
        Assert.Matches(@"in use\s*│\s*1\s*│", run.Output);
    }
}
