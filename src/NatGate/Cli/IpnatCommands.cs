using System.CommandLine;
using NatGate.Control;
using NatGate.Core.Control;
using Spectre.Console;
using static NatGate.Cli.ControlInvocation;

namespace NatGate.Cli;

/// <summary>The IP Filter front: natgate ipnat and natgate ipfs take ipnat(8)'s and ipfs(8)'s flags.</summary>
internal static class IpnatCommands
{
    /// <summary>Where ipfs -W and -R keep sessions when no -f is given (IP Filter's /var/db/ipf/ipnat.ipf).</summary>
    public const string DefaultStateFile = "/var/lib/natgate/ipnat.ipf";

    public static IEnumerable<Command> Create() => [Ipnat(), Ipfs()];

    private static Command Ipnat()
    {
        var list = new Option<bool>("-l") { Description = "List the rules in ipnat form, then the sessions." };
        var stats = new Option<bool>("-s") { Description = "Show the statistics." };
        var file = new Option<string>("-f") { HelpName = "FILE", Description = "Load the rules of this ipnat.conf file (with -r, remove them)." };
        var remove = new Option<bool>("-r") { Description = "With -f: remove the file's rules instead of loading them." };
        var flushRules = new Option<bool>("-C") { Description = "Remove every rule; with -f FILE, replace them with the file's at once (a refused file changes nothing)." };
        var flushSessions = new Option<bool>("-F") { Description = "Remove every session." };
        var dryRun = new Option<bool>("-n") { Description = "With -f: check the file as a load would, with no daemon, changing nothing." };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("ipnat", "ipnat(8): -C and -F first, then -f (or -r -f), then -l and -s; -n -f checks a file.") { list, stats, file, remove, flushRules, flushSessions, dryRun });
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
            if (parseResult.GetValue(list))
            {
                IReadOnlyList<RuleView> rules = await client.RulesAsync(token).ConfigureAwait(false);
                json.Add(("rules", client.LastReplyJson));
                IReadOnlyList<SessionView> sessions = await client.SessionsAsync(token: token).ConfigureAwait(false);
                json.Add(("sessions", client.LastReplyJson));
                renders.Add(console => RenderList(console, rules, sessions));
            }
            if (parseResult.GetValue(stats))
            {
                StatisticsView statistics = await client.StatisticsAsync(token).ConfigureAwait(false);
                json.Add(("stats", client.LastReplyJson));
                renders.Add(console => ControlCommands.RenderStatistics(console, statistics));
            }
            if (renders.Count == 0)
            {
                throw new InputException("ipnat needs one of -l, -s, -f FILE, -r -f FILE, -C, -F (see natgate ipnat --help).");
            }
            return new ControlReply(console => renders.ForEach(render => render(console)), Combine(json));
        };
        // ipnat -n -f FILE: a dry run needs no daemon, so it does not go through the control client.
        Func<ParseResult, CancellationToken, Task<int>> live = (parseResult, token) => invocation.RunAsync(parseResult, work, token);
        command.SetAction((parseResult, token) => parseResult.GetValue(dryRun)
            ? DryRun(parseResult, parseResult.GetValue(file))
            : live(parseResult, token));
        return command;
    }

    private static Task<int> DryRun(ParseResult parseResult, string? path)
    {
        if (path is null)
        {
            parseResult.InvocationConfiguration.Error.WriteLine("natgate: -n needs -f FILE: the rules to check.");
            return Task.FromResult(ExitCodes.BadInput);
        }
        return RuleCheck.RunAsync(path, parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error);
    }

    /// <summary>ipnat -l: the rules as ipnat.conf lines, then each session as "MAP inside port &lt;- -&gt; external port [remote port]".</summary>
    public static void RenderList(IAnsiConsole console, IReadOnlyList<RuleView> rules, IReadOnlyList<SessionView> sessions)
    {
        console.WriteLine("List of active MAP/Redirect filters:");
        foreach (RuleView rule in rules)
        {
            console.WriteLine(rule.Label is null ? rule.Text : $"{rule.Text}    # {rule.Label}{(rule.Active ? "" : " (inactive)")}");
        }
        console.WriteLine();
        console.WriteLine("List of active sessions:");
        foreach (SessionView session in sessions)
        {
            console.WriteLine($"{(session.InitiatedOutside ? "RDR" : "MAP")} {session.InternalSourceAddress,-15} {session.InternalSourcePort,-5} <- -> {session.ExternalSourceAddress,-15} {session.ExternalSourcePort,-5} [{session.InternalDestinationAddress} {session.InternalDestinationPort}] {session.Protocol} {session.State}");
        }
    }

    private static Command Ipfs()
    {
        var write = new Option<bool>("-W") { Description = "Write every session to the file." };
        var read = new Option<bool>("-R") { Description = "Read the sessions in the file back into the table." };
        var file = new Option<string>("-f")
        {
            HelpName = "FILE",
            Description = $"The state file (default {DefaultStateFile}).",
            DefaultValueFactory = _ => DefaultStateFile,
        };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("ipfs", $"ipfs(8): save (-W) or restore (-R) the NAT sessions; the file defaults to {DefaultStateFile}.") { write, read, file });
        invocation.SetAction(command, (parseResult, client, token) =>
        {
            bool saving = parseResult.GetValue(write);
            if (saving == parseResult.GetValue(read))
            {
                throw new InputException("ipfs needs exactly one of -W (save) and -R (restore).");
            }
            string path = parseResult.GetValue(file)!;
            return saving ? ControlCommands.SaveAsync(client, path, token) : ControlCommands.RestoreAsync(client, path, token);
        });
        return command;
    }

    private static string Counted(int count, string one, string many) => $"{count} {(count == 1 ? one : many)}";
}
