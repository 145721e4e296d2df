using System.CommandLine;
using System.Globalization;
using NatGate.Control;
using NatGate.Core.Control;
using NatGate.Core.State;
using Spectre.Console;
using static NatGate.Cli.ControlInvocation;

namespace NatGate.Cli;

/// <summary>
/// natgate ipfs: ipfs(8)'s flags over NatGate's saved-sessions file. -W and -R save and restore
/// through the daemon; -l reads the file here, with no daemon; -i renames an interface in the
/// file here; -u unlocks the table; -d names the directory the file lives in.
/// </summary>
internal static class IpfsCommand
{
    public static Command Create()
    {
        var write = new Option<bool>("-W") { Description = "Save every session to the file (the daemon writes it; its directory is created 0700 when missing)." };
        var read = new Option<bool>("-R") { Description = "Restore the sessions in the file into the table; each goes through put's checks." };
        var listFile = new Option<bool>("-l") { Description = "List the sessions in the file, read here with no daemon (unlike ipfs(8), where -l locks: lock with natgate lock on)." };
        var unlock = new Option<bool>("-u") { Description = "Unlock the table (ipfs(8) -u; natgate lock off), after the rest." };
        var directory = new Option<string>("-d")
        {
            HelpName = "DIR",
            Description = $"The directory the file is in: DIR/{IpnatCommands.StateFileName} (default {IpnatCommands.DefaultStateDirectory}); the daemon saves only into its --state-directory.",
        };
        var file = new Option<string>("-f") { HelpName = "FILE", Description = $"The state file itself (default {IpnatCommands.DefaultStateFile})." };
        var rename = new Option<string>("-i")
        {
            HelpName = "OLD,NEW",
            Description = "Rename interface OLD to NEW in the file's sessions and rules, here, before -R (for a gateway whose interfaces are named otherwise); the file is rewritten whole, checksummed, mode 0600.",
        };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("ipfs",
            $"ipfs(8): save (-W) or restore (-R) the NAT sessions, list a saved file (-l), rename an interface in it (-i OLD,NEW), unlock the table (-u); the file is {IpnatCommands.DefaultStateFile} unless -f or -d says otherwise.")
            { write, read, listFile, unlock, directory, file, rename });
        Func<ParseResult, ControlClient, CancellationToken, Task<ControlReply>> work = async (parseResult, client, token) =>
        {
            string path = PathOf(parseResult.GetValue(file), parseResult.GetValue(directory));
            var renders = new List<Action<IAnsiConsole>>();
            var json = new List<(string Name, string? Json)>();
            if (parseResult.GetValue(rename) is string pair)
            {
                int renamed = RenameInterface(path, pair);
                renders.Add(console => console.WriteLine($"Renamed the interface in {Plural(renamed, "session")} of {path}."));
            }
            if (parseResult.GetValue(write))
            {
                ControlReply saved = await ControlCommands.SaveAsync(client, path, token).ConfigureAwait(false);
                renders.Add(saved.Render);
                json.Add(("save", client.LastReplyJson));
            }
            int exitCode = ExitCodes.Success;
            if (parseResult.GetValue(read))
            {
                ControlReply restored = await ControlCommands.RestoreAsync(client, path, token).ConfigureAwait(false);
                renders.Add(restored.Render);
                json.Add(("restore", client.LastReplyJson));
                exitCode = restored.ExitCode;
            }
            if (parseResult.GetValue(unlock))
            {
                bool previous = await client.LockAsync(false, token).ConfigureAwait(false);
                renders.Add(console => console.WriteLine($"The table is unlocked (it was {(previous ? "locked" : "unlocked")})."));
                json.Add(("unlock", client.LastReplyJson));
            }
            return new ControlReply(console => renders.ForEach(render => render(console)), Combine(json), exitCode);
        };
        command.SetAction(async (parseResult, token) =>
        {
            bool writing = parseResult.GetValue(write);
            bool reading = parseResult.GetValue(read);
            bool listing = parseResult.GetValue(listFile);
            bool renaming = parseResult.GetValue(rename) is not null;
            bool unlocking = parseResult.GetValue(unlock);
            TextWriter error = parseResult.InvocationConfiguration.Error;
            string? problem = writing && reading ? "-W and -R cannot go together: save or restore."
                : listing && (writing || reading || renaming || unlocking) ? "-l only lists; give it alone."
                : renaming && writing ? "-i renames in a saved file; with -W the daemon would write over it. Give -i alone, or with -R."
                : !(writing || reading || listing || renaming || unlocking) ? "ipfs needs one of -W (save), -R (restore), -l (list), -i OLD,NEW (rename) or -u (unlock)."
                : parseResult.GetValue(file) is not null && parseResult.GetValue(directory) is not null ? "Give -f FILE or -d DIR, not both."
                : null;
            if (problem is not null)
            {
                await error.WriteLineAsync($"natgate: {problem}").ConfigureAwait(false);
                return ExitCodes.BadInput;
            }
            if (listing)
            {
                return await ListAsync(parseResult, PathOf(parseResult.GetValue(file), parseResult.GetValue(directory)), parseResult.GetValue(invocation.Json)).ConfigureAwait(false);
            }
            if (renaming && !reading && !unlocking)
            {
                // A rename alone is the file's business; no daemon is needed.
                return await RenameAloneAsync(parseResult, PathOf(parseResult.GetValue(file), parseResult.GetValue(directory)), parseResult.GetValue(rename)!).ConfigureAwait(false);
            }
            return await invocation.RunAsync(parseResult, work, token).ConfigureAwait(false);
        });
        return command;
    }

    private static string PathOf(string? file, string? directory)
        => Path.GetFullPath(file ?? Path.Combine(directory ?? IpnatCommands.DefaultStateDirectory, IpnatCommands.StateFileName));

    /// <summary>ipfs -l: the file's sessions, as ipnat -l lists live ones, read here (a refused file is exit 2 with the reason).</summary>
    private static async Task<int> ListAsync(ParseResult parseResult, string path, bool json)
    {
        TextWriter output = parseResult.InvocationConfiguration.Output;
        TextWriter error = parseResult.InvocationConfiguration.Error;
        SavedSessions saved;
        try
        {
            saved = SessionStateFile.Load(path);
        }
        catch (Exception refused) when (refused is StateFileException or IOException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync($"natgate: {path}: {refused.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        if (json)
        {
            await output.WriteLineAsync(System.Text.Json.JsonSerializer.Serialize(
                (IReadOnlyList<SessionRecordView>)[.. saved.Sessions.Select(record => ControlConversions.ToView(record))], ControlJson.Default.IReadOnlyListSessionRecordView)).ConfigureAwait(false);
            return ExitCodes.Success;
        }
        await output.WriteLineAsync($"{path}: {Plural(saved.Sessions.Count, "session")}, saved {saved.SavedAt.ToString("u", CultureInfo.InvariantCulture)}").ConfigureAwait(false);
        foreach (SessionRecord record in saved.Sessions)
        {
            await output.WriteLineAsync(Line(record)).ConfigureAwait(false);
        }
        return ExitCodes.Success;
    }

    /// <summary>"MAP inside port &lt;- -&gt; external port [remote port] protocol    # rule", as ipnat -l writes a live session.</summary>
    public static string Line(SessionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        IpFlow inside = record.InitiatedOutside ? record.Translated.Reverse() : record.Original;
        IpFlow outside = record.InitiatedOutside ? record.Original.Reverse() : record.Translated;
        string protocol = Core.Packets.IpProtocolNames.Of(record.Original.Protocol);
        return $"{(record.InitiatedOutside ? "RDR" : "MAP")} {inside.Source,-15} {inside.SourcePort,-5} <- -> {outside.Source,-15} {outside.SourcePort,-5} [{outside.Destination} {outside.DestinationPort}] {protocol}    # {ControlConversions.RuleText(record.Rule)}";
    }

    private static async Task<int> RenameAloneAsync(ParseResult parseResult, string path, string pair)
    {
        try
        {
            int renamed = RenameInterface(path, pair);
            await parseResult.InvocationConfiguration.Output.WriteLineAsync($"Renamed the interface in {Plural(renamed, "session")} of {path}.").ConfigureAwait(false);
            return ExitCodes.Success;
        }
        catch (InputException input)
        {
            await parseResult.InvocationConfiguration.Error.WriteLineAsync($"natgate: {input.Message}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
    }

    /// <summary>
    /// ipfs -i OLD,NEW: every session of the file whose interface, or whose rule's interface, is
    /// OLD gets NEW; the file is written again whole (atomically, checksummed, 0600) with its
    /// time kept. Returns how many sessions changed.
    /// </summary>
    public static int RenameInterface(string path, string pair)
    {
        ArgumentNullException.ThrowIfNull(pair);
        string[] names = pair.Split(',');
        if (names.Length != 2 || names.Any(name => name.Length == 0 || name.Length > 15 || name.Any(character => char.IsWhiteSpace(character) || character is '/' or ',')))
        {
            throw new InputException($"-i \"{pair}\": give OLD,NEW, two interface names (at most 15 characters, no spaces or slashes).");
        }
        (string old, string renamed) = (names[0], names[1]);
        SavedSessions saved;
        try
        {
            saved = SessionStateFile.Load(path);
        }
        catch (Exception refused) when (refused is StateFileException or IOException or UnauthorizedAccessException)
        {
            throw new InputException($"{path}: {refused.Message}");
        }
        int changed = 0;
        List<SessionRecord> records = [.. saved.Sessions.Select(record =>
        {
            bool touched = record.Interface == old || record.Rule.Interface == old || record.Rule.InsideInterface == old;
            if (!touched)
            {
                return record;
            }
            changed++;
            return record with
            {
                Interface = record.Interface == old ? renamed : record.Interface,
                Rule = record.Rule with
                {
                    Interface = record.Rule.Interface == old ? renamed : record.Rule.Interface,
                    InsideInterface = record.Rule.InsideInterface == old ? renamed : record.Rule.InsideInterface,
                },
            };
        })];
        try
        {
            SessionStateFile.Save(path, records, saved.SavedAt);
        }
        catch (Exception refused) when (refused is IOException or UnauthorizedAccessException)
        {
            throw new InputException($"cannot write {path}: {refused.Message}");
        }
        return changed;
    }

    private static string Plural(int count, string noun) => $"{count.ToString(CultureInfo.InvariantCulture)} {noun}{(count == 1 ? "" : "s")}";
}
