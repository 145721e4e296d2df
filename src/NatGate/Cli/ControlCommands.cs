using NatGate.Core.Addressing;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NatGate.Control;
using NatGate.Core.Control;
using Spectre.Console;
using static NatGate.Cli.ControlInvocation;

namespace NatGate.Cli;

/// <summary>
/// The commands that talk to a running daemon over its control socket: sessions, stats, rules,
/// lookup, put, lock and state (DESIGN.md "Control semantics"). Each takes --control DIR and --json.
/// </summary>
internal static class ControlCommands
{
    public static IEnumerable<Command> Create() =>
    [
        SessionCommands.Create(), Top.TopCommand.Create(), Stats(), FastPath(), HandOver(), Rules(), Lookup(), Put(), LockCommand(), State(),
        .. NetNatCommands.Create(), .. IpnatCommands.Create(),
    ];

    public static void RenderSessions(IAnsiConsole console, IReadOnlyList<SessionView> sessions)
    {
        if (sessions.Count == 0)
        {
            console.WriteLine("No sessions.");
            return;
        }
        var table = Table("Id", "Protocol", "Internal", "External", "State", "Rule", "Packets out/in", "Bytes out/in", "Expires");
        foreach (SessionView session in sessions)
        {
            Row(table,
                session.Id.ToString(CultureInfo.InvariantCulture),
                session.Protocol,
                $"{ControlText.EndpointText(session.InternalSourceAddress, session.InternalSourcePort)} -> {ControlText.EndpointText(session.InternalDestinationAddress, session.InternalDestinationPort)}",
                $"{ControlText.EndpointText(session.ExternalSourceAddress, session.ExternalSourcePort)} -> {ControlText.EndpointText(session.ExternalDestinationAddress, session.ExternalDestinationPort)}",
                session.State,
                session.RuleLabel is null ? $"#{session.Rule}" : $"#{session.Rule} {session.RuleLabel}",
                string.Create(CultureInfo.InvariantCulture, $"{session.PacketsOut}/{session.PacketsIn}"),
                string.Create(CultureInfo.InvariantCulture, $"{session.BytesOut}/{session.BytesIn}"),
                session.Expires.ToString("u", CultureInfo.InvariantCulture));
        }
        console.Write(table);
    }

    private static Command Stats()
    {
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("stats", "Show the translation statistics (ipnat -s)."));
        invocation.SetAction(command, async (_, client, token) =>
        {
            StatisticsView statistics = await client.StatisticsAsync(token).ConfigureAwait(false);
            return new ControlReply(console => RenderStatistics(console, statistics));
        });
        return command;
    }

    private static Command FastPath()
    {
        var check = new Option<bool>("--check") { Description = "Compare the kernel's map with the session table; exit 1 when they differ." };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("fastpath", "Show the kernel fast path: where it is attached and what it carried.") { check });
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            bool checking = parseResult.GetValue(check);
            FastPathView view = await client.FastPathAsync(checking, token).ConfigureAwait(false);
            int exitCode = checking && view.Check is { Equal: false } ? ExitCodes.Failure : ExitCodes.Success;
            return new ControlReply(console => RenderFastPath(console, view), ExitCode: exitCode);
        });
        return command;
    }

    private static Command HandOver()
    {
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("handover",
            "Stop the daemon for a restart (an upgrade) that never interrupts traffic: the state is saved, the kernel fast path keeps carrying the established flows and the routing stays; the next natgate run takes them over."));
        invocation.SetAction(command, async (_, client, token) =>
        {
            await client.HandOverAsync(token).ConfigureAwait(false);
            return new ControlReply(console => console.WriteLine("Handed over: the kernel carries the established flows until natgate runs again."));
        });
        return command;
    }

    public static void RenderFastPath(IAnsiConsole console, FastPathView view)
    {
        var table = Table("Figure", "Value");
        Row(table, "enabled", view.Enabled ? "yes" : $"no: {view.Reason}");
        if (view.Enabled)
        {
            Row(table, "attached to", string.Join(", ", view.Interfaces));
            Row(table, "maps pinned in", view.PinDirectory ?? "");
        }
        void Add(string name, ulong value) => Row(table, name, value.ToString(CultureInfo.InvariantCulture));
        Add("sessions", (ulong)view.Sessions);
        Add("refused (map full)", (ulong)view.Refused);
        Add("packets rewritten", view.Rewritten);
        Add("bytes rewritten", view.RewrittenBytes);
        Add("of which sent to their egress device", view.Forwarded);
        Add("left to the TUN: no entry", view.Missed);
        Add("left to the TUN: SYN, FIN, RST", view.TcpControl);
        Add("left to the TUN: fragments", view.Fragments);
        Add("left to the TUN: not handled", view.NotHandled);
        Add("dropped: rewrite failed", view.RewriteFailed);
        Add("NPTv6 packets rewritten", view.PrefixRewritten);
        Add("NPTv6 bytes rewritten", view.PrefixRewrittenBytes);
        Add("NPTv6 left to the TUN", view.PrefixToEngine);
        if (view.Check is { } result)
        {
            Row(table, "map against table", result.Equal
                ? $"equal ({result.Found} entries)"
                : $"DIFFERENT: {result.Missing} missing, {result.Stale} stale, {result.Differing} differing of {result.Expected} expected");
            foreach (string example in result.Examples)
            {
                Row(table, "", example);
            }
        }
        console.Write(table);
    }

    public static void RenderStatistics(IAnsiConsole console, StatisticsView statistics)
    {
        var table = Table("Figure", "Value");
        void Add(string name, long value) => Row(table, name, value.ToString(CultureInfo.InvariantCulture));
        Add("mapped in", statistics.MappedIn);
        Add("mapped out", statistics.MappedOut);
        Add("added", statistics.Added);
        Add("expired", statistics.Expired);
        Add("removed", statistics.Removed);
        Add("no memory", statistics.NoMemory);
        Add("bad", statistics.Bad);
        Add("passed", statistics.Passed);
        Add("in use", statistics.InUse);
        Add("in use, IPv6", statistics.InUseIpv6);
        Add("in use, NAT64", statistics.InUseNat64);
        Add("mappings", statistics.Mappings);
        Add("orphans", statistics.Orphans);
        Add("rules", statistics.Rules);
        Add("ICMP errors translated", statistics.IcmpErrorsTranslated);
        Add("refusals not answered (rate)", statistics.RefusalRepliesSuppressed);
        Add("fragments translated", statistics.FragmentsTranslated);
        Row(table, "locked", statistics.Locked ? "yes" : "no");
        foreach ((string reason, long count) in statistics.Drops.OrderBy(drop => drop.Key, StringComparer.Ordinal))
        {
            Add($"dropped: {reason}", count);
        }
        console.Write(table);
    }

    private static Command Rules()
    {
        var invocation = new ControlInvocation();

        var list = new Command("list", "List the loaded rules in ipnat form (ipnat -l).");
        invocation.SetAction(list, async (_, client, token) =>
        {
            IReadOnlyList<RuleView> rules = await client.RulesAsync(token).ConfigureAwait(false);
            return new ControlReply(console => RenderRules(console, rules));
        });

        var loadFile = new Argument<string>("file") { Description = "An ipnat.conf file." };
        var replace = new Option<bool>("--replace") { Description = "Replace every loaded rule with the file's, at once; a file that is refused changes nothing (ipnat -C -f)." };
        var load = new Command("load", "Load the rules of an ipnat.conf file (ipnat -f FILE).") { loadFile, replace };
        invocation.SetAction(load, (parseResult, client, token) => LoadAsync(client, parseResult.GetValue(loadFile)!, token, parseResult.GetValue(replace)));

        var removeFile = new Argument<string>("file") { Description = "An ipnat.conf file whose rules are removed." };
        var remove = new Command("remove", "Remove the loaded rules equal to those in a file (ipnat -r -f FILE).") { removeFile };
        invocation.SetAction(remove, (parseResult, client, token) => RemoveAsync(client, parseResult.GetValue(removeFile)!, token));

        var flush = new Command("flush", "Remove every rule; their sessions stay until purged or expired (ipnat -C).");
        invocation.SetAction(flush, async (_, client, token) =>
        {
            int removed = await client.FlushRulesAsync(token).ConfigureAwait(false);
            return Say($"Removed {Plural(removed, "rule")}.");
        });

        var purge = new Command("purge", "Remove the sessions whose rule is gone (ipnat -p).");
        invocation.SetAction(purge, async (_, client, token) =>
        {
            int removed = await client.PurgeAsync(token).ConfigureAwait(false);
            return Say($"Purged {Plural(removed, "session")}.");
        });

        var checkFile = new Argument<string>("file") { Description = "An ipnat.conf file, or - for standard input." };
        var check = new Command("check", "Check a rule file as a load would, with no daemon and without loading it (ipnat -n -f FILE).") { checkFile };
        check.SetAction((parseResult, _) => RuleCheck.RunAsync(parseResult.GetValue(checkFile)!,
            parseResult.InvocationConfiguration.Output, parseResult.InvocationConfiguration.Error));

        return invocation.AddTo(new Command("rules", "List, load, check, remove, flush and purge ipnat rules.") { list, load, check, remove, flush, purge });
    }

    public static void RenderRules(IAnsiConsole console, IReadOnlyList<RuleView> rules)
    {
        if (rules.Count == 0)
        {
            console.WriteLine("No rules.");
            return;
        }
        var table = Table("Index", "Rule", "Label", "Active", "Sessions", "Hits");
        foreach (RuleView rule in rules)
        {
            Row(table,
                rule.Index.ToString(CultureInfo.InvariantCulture),
                rule.Text,
                rule.Label ?? "",
                rule.Active ? (rule.OnThisGateway ? "yes" : "yes (other interface)") : "no",
                rule.Sessions.ToString(CultureInfo.InvariantCulture),
                rule.Hits.ToString(CultureInfo.InvariantCulture));
        }
        console.Write(table);
    }

    public static async Task<ControlReply> LoadAsync(ControlClient client, string file, CancellationToken token, bool replace = false)
    {
        string text = ReadFile(file);
        LoadRulesResult result = replace
            ? await client.ReplaceRulesAsync(text, file, token).ConfigureAwait(false)
            : await client.LoadRulesAsync(text, file, token).ConfigureAwait(false);
        return new ControlReply(console =>
        {
            console.WriteLine($"{(replace ? "Replaced every rule with" : "Loaded")} {Plural(result.Indexes.Count, "rule")} from {file}{(result.Indexes.Count == 0 ? "" : $" as {string.Join(", ", result.Indexes.Select(index => $"#{index}"))}")}.");
            foreach (string warning in result.Warnings)
            {
                console.WriteLine($"warning: {warning}");
            }
        });
    }

    public static async Task<ControlReply> RemoveAsync(ControlClient client, string file, CancellationToken token)
    {
        int removed = await client.RemoveRulesAsync(ReadFile(file), file, token).ConfigureAwait(false);
        return Say($"Removed {Plural(removed, "rule")} named in {file}.");
    }

    private static Command Lookup()
    {
        var protocol = new Option<string>("--protocol") { Description = "tcp or udp.", DefaultValueFactory = _ => "tcp" };
        var inside = new Option<string>("--inside") { Description = "The accepted connection's local end, A:P or [IPv6]:P (the proxy's address and port).", Required = true };
        var outside = new Option<string>("--outside") { Description = "The accepted connection's peer, A:P or [IPv6]:P (the client).", Required = true };
        var findForward = new Option<bool>("--find-forward") { Description = "Also say whether an outgoing connection from the local address to the real destination could be made (IPN_FINDFORWARD)." };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("lookup", "Find the real destination of a redirected connection (SIOCGNATL).") { protocol, inside, outside, findForward });
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            (IpAddress insideAddress, ushort insidePort) = Endpoint(parseResult.GetValue(inside)!, "--inside");
            (IpAddress outsideAddress, ushort outsidePort) = Endpoint(parseResult.GetValue(outside)!, "--outside");
            var request = new LookupRequest(parseResult.GetValue(protocol)!,
                insideAddress.ToString(), insidePort,
                outsideAddress.ToString(), outsidePort,
                parseResult.GetValue(findForward));
            LookupAnswer answer = await client.LookupAsync(request, token).ConfigureAwait(false);
            return new ControlReply(console =>
            {
                console.WriteLine($"real destination {ControlText.EndpointText(answer.RealAddress, answer.RealPort)}");
                if (request.FindForward)
                {
                    console.WriteLine($"forward possible: {(answer.ForwardPossible ? "yes" : "no")}");
                }
            });
        });
        return command;
    }

    private static (IpAddress Address, ushort Port) Endpoint(string text, string option)
    {
        try
        {
            return ControlText.Endpoint(text, option);
        }
        catch (NatControlException bad)
        {
            throw new InputException(bad.Message);
        }
    }

    private static Command Put()
    {
        var file = new Argument<string>("file") { Description = "A JSON session record (as natgate state files hold them, with \"rule\" as one ipnat line)." };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("put", "Insert a session (SIOCSTPUT); lock the table first with natgate lock on.") { file });
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            string path = parseResult.GetValue(file)!;
            SessionRecordView record;
            try
            {
                record = JsonSerializer.Deserialize(ReadFile(path), ControlJson.Default.SessionRecordView)
                    ?? throw new InputException($"{path} holds null, not a session record.");
            }
            catch (JsonException bad)
            {
                throw new InputException($"{path} is not a session record: {bad.Message}");
            }
            int id = await client.PutAsync(record, token).ConfigureAwait(false);
            return Say($"Inserted session {id}.");
        });
        return command;
    }

    private static Command LockCommand()
    {
        var state = new Argument<string>("state") { Description = "on or off." };
        state.AcceptOnlyFromAmong("on", "off");
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("lock", "Lock or unlock the session table (SIOCSTLCK): while locked, traffic neither creates nor removes sessions.") { state });
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            bool locked = parseResult.GetValue(state) == "on";
            bool previous = await client.LockAsync(locked, token).ConfigureAwait(false);
            return Say($"The table is {(locked ? "locked" : "unlocked")} (it was {(previous ? "locked" : "unlocked")}).");
        });
        return command;
    }

    private static Command State()
    {
        var invocation = new ControlInvocation();
        var saveFile = new Argument<string>("file") { Description = "Where the daemon writes the sessions." };
        var save = new Command("save", "Save every session to a file (ipfs -W).") { saveFile };
        invocation.SetAction(save, (parseResult, client, token) => SaveAsync(client, parseResult.GetValue(saveFile)!, token));
        var restoreFile = new Argument<string>("file") { Description = "A file written by natgate state save." };
        var restore = new Command("restore", "Restore sessions from a file (ipfs -R); each goes through the checks of put.") { restoreFile };
        invocation.SetAction(restore, (parseResult, client, token) => RestoreAsync(client, parseResult.GetValue(restoreFile)!, token));
        return invocation.AddTo(new Command("state", "Save and restore the session table.") { save, restore });
    }

    public static async Task<ControlReply> SaveAsync(ControlClient client, string file, CancellationToken token)
    {
        int sessions = await client.SaveStateAsync(file, token).ConfigureAwait(false);
        return Say($"Saved {Plural(sessions, "session")} to {Path.GetFullPath(file)}.");
    }

    public static async Task<ControlReply> RestoreAsync(ControlClient client, string file, CancellationToken token)
    {
        RestoreAnswer answer = await client.RestoreStateAsync(file, token).ConfigureAwait(false);
        return new ControlReply(console =>
        {
            console.WriteLine($"Restored {Plural(answer.Restored, "session")} from {Path.GetFullPath(file)}; {Plural(answer.Failures.Count, "refusal")}.");
            if (answer.Failures.Count > 0)
            {
                var table = Table("Entry", "Error", "Message");
                foreach (RestoreFailureView failure in answer.Failures)
                {
                    Row(table, failure.Entry.ToString(CultureInfo.InvariantCulture), failure.Error, failure.Message);
                }
                console.Write(table);
            }
        }, ExitCode: answer.Failures.Count == 0 ? ExitCodes.Success : ExitCodes.Failure);
    }
}
