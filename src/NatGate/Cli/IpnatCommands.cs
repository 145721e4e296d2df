using System.CommandLine;
using System.Globalization;
using NatGate.Control;
using NatGate.Core.Control;
using NatGate.Core.Rules.Ipnat;
using Spectre.Console;
using static NatGate.Cli.ControlInvocation;

namespace NatGate.Cli;

/// <summary>The IP Filter front: natgate ipnat and natgate ipfs take ipnat(8)'s and ipfs(8)'s flags.</summary>
internal static class IpnatCommands
{
    /// <summary>Where ipfs -W and -R keep sessions when neither -f nor -d is given (IP Filter's /var/db/ipf).</summary>
    public const string DefaultStateDirectory = StateFilePolicy.DefaultDirectory;

    /// <summary>The file's name in that directory (IP Filter's ipnat.ipf).</summary>
    public const string StateFileName = "ipnat.ipf";

    public const string DefaultStateFile = DefaultStateDirectory + "/" + StateFileName;

    public static IEnumerable<Command> Create() => [Ipnat(), IpfsCommand.Create()];

    private static Command Ipnat()
    {
        var list = new Option<bool>("-l") { Description = "List the rules in ipnat form, then the sessions." };
        var hits = new Option<bool>("-h") { Description = "Show each rule's hits (the sessions it has made since it was loaded) before it; alone, the rules with their hits. --help is help." };
        var stats = new Option<bool>("-s") { Description = "Show the statistics." };
        var file = new Option<string>("-f") { HelpName = "FILE", Description = "Load the rules of this ipnat.conf file, - for standard input (with -r, remove them)." };
        var remove = new Option<bool>("-r") { Description = "With -f: remove the file's rules instead of loading them." };
        var purge = new Option<bool>("-p") { Description = "Purge: remove the sessions of removed rules (after -r -f, that file's rules' sessions)." };
        var flushRules = new Option<bool>("-C") { Description = "Remove every rule; with -f FILE, replace them with the file's at once (a refused file changes nothing)." };
        var flushSessions = new Option<bool>("-F") { Description = "Remove every session." };
        var dryRun = new Option<bool>("-n") { Description = "With -f: check the file as a load would, with no daemon, changing nothing." };
        var verbose = new Option<bool>("-v") { Description = "Verbose: -l lists each rule's number, sessions, hits and origin, and each session as conntrack -o extended does; -n -f prints each rule as it would be loaded." };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("ipnat",
            "ipnat(8): -C and -F first, then -f (or -r -f), then -p, then -l or -h, then -s; -n -f checks a file.")
            { list, hits, stats, file, remove, purge, flushRules, flushSessions, dryRun, verbose });
        Func<ParseResult, ControlClient, CancellationToken, Task<ControlReply>> work = async (parseResult, client, token) =>
        {
            string? path = parseResult.GetValue(file);
            bool removing = parseResult.GetValue(remove);
            if (removing && path is null)
            {
                throw new InputException("-r needs -f FILE: the rules to remove.");
            }
            var renders = new List<Action<IAnsiConsole>>();
            var json = new List<(string Name, string? Json)>();
            bool replacing = parseResult.GetValue(flushRules) && path is not null && !removing;
            if (parseResult.GetValue(flushRules) && !replacing)
            {
                int removed = await client.FlushRulesAsync(token).ConfigureAwait(false);
                renders.Add(console => console.WriteLine($"{Plural(removed, "rule")} flushed"));
                json.Add(("flushRules", client.LastReplyJson));
            }
            if (parseResult.GetValue(flushSessions))
            {
                int removed = await client.FlushSessionsAsync(token).ConfigureAwait(false);
                renders.Add(console => console.WriteLine($"{Counted(removed, "entry", "entries")} flushed from NAT table"));
                json.Add(("flushSessions", client.LastReplyJson));
            }
            if (path is not null)
            {
                ControlReply reply = removing
                    ? await ControlCommands.RemoveAsync(client, path, token).ConfigureAwait(false)
                    : await ControlCommands.LoadAsync(client, path, token, replace: replacing).ConfigureAwait(false);
                renders.Add(reply.Render);
                json.Add((removing ? "remove" : replacing ? "replace" : "load", client.LastReplyJson));
            }
            if (parseResult.GetValue(purge))
            {
                int purged = await client.PurgeAsync(token).ConfigureAwait(false);
                renders.Add(console => console.WriteLine($"{Counted(purged, "entry", "entries")} purged from NAT table"));
                json.Add(("purge", client.LastReplyJson));
            }
            bool listing = parseResult.GetValue(list);
            bool withHits = parseResult.GetValue(hits);
            if (listing || withHits)
            {
                IReadOnlyList<RuleView> rules = await client.RulesAsync(token).ConfigureAwait(false);
                json.Add(("rules", client.LastReplyJson));
                IReadOnlyList<SessionView>? sessions = null;
                if (listing)
                {
                    sessions = await client.SessionsAsync(token: token).ConfigureAwait(false);
                    json.Add(("sessions", client.LastReplyJson));
                }
                bool detailed = parseResult.GetValue(verbose);
                DateTimeOffset now = DateTimeOffset.UtcNow;
                renders.Add(console => RenderList(console, rules, sessions, withHits, detailed, now));
            }
            if (parseResult.GetValue(stats))
            {
                StatisticsView statistics = await client.StatisticsAsync(token).ConfigureAwait(false);
                json.Add(("stats", client.LastReplyJson));
                renders.Add(console => ControlCommands.RenderStatistics(console, statistics));
            }
            if (renders.Count == 0)
            {
                throw new InputException("ipnat needs one of -l, -h, -s, -f FILE, -r -f FILE, -p, -C, -F (see natgate ipnat --help).");
            }
            return new ControlReply(console => renders.ForEach(render => render(console)), Combine(json));
        };
        // ipnat -n -f FILE: a dry run needs no daemon, so it does not go through the control client.
        Func<ParseResult, CancellationToken, Task<int>> live = (parseResult, token) => invocation.RunAsync(parseResult, work, token);
        command.SetAction((parseResult, token) => parseResult.GetValue(dryRun)
            ? DryRun(parseResult, parseResult.GetValue(file), parseResult.GetValue(verbose))
            : live(parseResult, token));
        return command;
    }

    private static async Task<int> DryRun(ParseResult parseResult, string? path, bool verbose)
    {
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        if (path is null)
        {
            await error.WriteLineAsync("natgate: -n needs -f FILE: the rules to check.").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        if (path == "-")
        {
            // Read once here: the check and the verbose listing both need the text.
            string text = await Console.In.ReadToEndAsync().ConfigureAwait(false);
            int checkedCode = await RuleCheck.RunAsync(path, output, error, new StringReader(text)).ConfigureAwait(false);
            if (checkedCode == ExitCodes.Success && verbose)
            {
                await PrintCanonicalAsync(output, IpnatParser.Parse(text, "-")).ConfigureAwait(false);
            }
            return checkedCode;
        }
        int code = await RuleCheck.RunAsync(path, output, error).ConfigureAwait(false);
        if (code == ExitCodes.Success && verbose)
        {
            await PrintCanonicalAsync(output, IpnatParser.ParseFile(path)).ConfigureAwait(false);
        }
        return code;
    }

    /// <summary>ipnat -nv: each rule as it would be loaded, in canonical form, with where it came from.</summary>
    private static async Task PrintCanonicalAsync(TextWriter output, IpnatRules rules)
    {
        foreach (Core.Rules.NatRule rule in rules.Rules)
        {
            await output.WriteLineAsync($"{ControlConversions.RuleText(rule)}    # {rule.Label}").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// ipnat -l: the rules as ipnat.conf lines (with -h each after its hit count, as ipnat prints
    /// in_hits), then, when listed, each session as "MAP inside port &lt;- -&gt; external port
    /// [remote port]". With -v each rule also gets its number, sessions, hits and origin, and each
    /// session its conntrack -o extended line.
    /// </summary>
    public static void RenderList(IAnsiConsole console, IReadOnlyList<RuleView> rules, IReadOnlyList<SessionView>? sessions, bool hits, bool verbose, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(console);
        ArgumentNullException.ThrowIfNull(rules);
        TextWriter writer = console.Profile.Out.Writer;
        writer.WriteLine("List of active MAP/Redirect filters:");
        foreach (RuleView rule in rules)
        {
            string prefix = hits ? rule.Hits.ToString(CultureInfo.InvariantCulture) + " " : "";
            string comment = verbose
                ? $"    # rule {rule.Index}, {Plural(rule.Sessions, "session")}, {Plural(rule.Hits, "hit")}{(rule.Label is null ? "" : $", {rule.Label}")}{(rule.Active ? "" : " (inactive)")}"
                : rule.Label is null ? "" : $"    # {rule.Label}{(rule.Active ? "" : " (inactive)")}";
            writer.WriteLine($"{prefix}{rule.Text}{comment}");
        }
        if (sessions is null)
        {
            return;
        }
        writer.WriteLine();
        writer.WriteLine("List of active sessions:");
        foreach (SessionView session in sessions)
        {
            writer.WriteLine($"{(session.InitiatedOutside ? "RDR" : "MAP")} {session.InternalSourceAddress,-15} {session.InternalSourcePort,-5} <- -> {session.ExternalSourceAddress,-15} {session.ExternalSourcePort,-5} [{session.InternalDestinationAddress} {session.InternalDestinationPort}] {session.Protocol} {session.State}");
            if (verbose)
            {
                writer.WriteLine($"    {SessionCommands.ExtendedLine(session, now)}");
            }
        }
    }

    private static string Plural(long count, string noun) => $"{count.ToString(CultureInfo.InvariantCulture)} {noun}{(count == 1 ? "" : "s")}";

    private static string Counted(int count, string one, string many) => $"{count} {(count == 1 ? one : many)}";
}
