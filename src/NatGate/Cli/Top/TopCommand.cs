using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using NatGate.Control;
using Spectre.Console;
using Spectre.Console.Rendering;
using static NatGate.Cli.ControlInvocation;

namespace NatGate.Cli.Top;

/// <summary>
/// natgate top: the busiest sessions and the gateway's rates, from the control API's listing and
/// statistics polled every interval (rates are the counters' differences, <see cref="TopRates"/>).
/// On a terminal it is a live table (Spectre.Console's live display) until Ctrl-C; --once or
/// --iterations N print N snapshots and stop, for scripts and tests (--json: one JSON object a line).
/// </summary>
internal static class TopCommand
{
    public static Command Create()
    {
        var filters = new SessionFilterOptions();
        var rows = new Option<int>("--rows") { Description = "How many of the busiest sessions to show.", DefaultValueFactory = _ => 20 };
        var interval = new Option<double>("--interval") { Description = "Seconds between polls.", DefaultValueFactory = _ => 1.0 };
        var once = new Option<bool>("--once") { Description = "Poll twice, an interval apart, print one snapshot and stop." };
        var iterations = new Option<int?>("--iterations", "-n") { Description = "Print this many snapshots, an interval apart, and stop (as top -n)." };
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(filters.AddTo(new Command("top",
            "A live table of the busiest sessions and the rates (new sessions, packets and bytes a second), polled from the daemon every interval; Ctrl-C ends it.")
            { rows, interval, once, iterations }));
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            double seconds = parseResult.GetValue(interval);
            if (!(seconds >= 0.1 && seconds <= 3600))
            {
                throw new InputException($"--interval {seconds.ToString(CultureInfo.InvariantCulture)}: give seconds from 0.1 to 3600.");
            }
            int? count = parseResult.GetValue(once) ? 1 : parseResult.GetValue(iterations);
            if (count is < 1)
            {
                throw new InputException("--iterations must be 1 or more.");
            }
            int shown = Math.Max(1, parseResult.GetValue(rows));
            var poll = new Poller(client, filters.Read(parseResult), shown, TimeSpan.FromSeconds(seconds));
            TextWriter output = parseResult.InvocationConfiguration.Output;
            bool json = parseResult.GetValue(invocation.Json);
            bool live = count is null && !json && ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
            try
            {
                if (live)
                {
                    await RunLiveAsync(ConsoleFor(output), poll, token).ConfigureAwait(false);
                }
                else
                {
                    await RunPlainAsync(output, json, poll, count, token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Ctrl-C: the end of a live view, not a failure.
            }
            // Everything was written as it came; nothing is left to print.
            return new ControlReply(_ => { }, Json: "");
        });
        return command;
    }

    private static async Task RunLiveAsync(IAnsiConsole console, Poller poll, CancellationToken token)
    {
        await poll.NextAsync(first: true, token).ConfigureAwait(false);
        await console.Live(new Text("natgate top: measuring..."))
            .AutoClear(false)
            .StartAsync(async context =>
            {
                while (!token.IsCancellationRequested)
                {
                    TopSnapshot? snapshot = await poll.NextAsync(first: false, token).ConfigureAwait(false);
                    if (snapshot is not null)
                    {
                        context.UpdateTarget(Render(snapshot));
                    }
                }
            }).ConfigureAwait(false);
    }

    private static async Task RunPlainAsync(TextWriter output, bool json, Poller poll, int? count, CancellationToken token)
    {
        IAnsiConsole console = ConsoleFor(output);
        await poll.NextAsync(first: true, token).ConfigureAwait(false);
        for (int printed = 0; count is null || printed < count;)
        {
            TopSnapshot? snapshot = await poll.NextAsync(first: false, token).ConfigureAwait(false);
            if (snapshot is null)
            {
                continue;
            }
            if (json)
            {
                await output.WriteLineAsync(Json(snapshot)).ConfigureAwait(false);
            }
            else
            {
                console.Write(Render(snapshot));
                console.WriteLine();
            }
            printed++;
        }
    }

    /// <summary>Waits an interval (but not before the first poll) and polls the listing and the statistics.</summary>
    private sealed class Poller(ControlClient client, SessionQuery query, int rows, TimeSpan interval)
    {
        private readonly TopRates rates = new();

        public async Task<TopSnapshot?> NextAsync(bool first, CancellationToken token)
        {
            if (!first)
            {
                await Task.Delay(interval, token).ConfigureAwait(false);
            }
            IReadOnlyList<SessionView> sessions = await client.SessionsAsync(query, token).ConfigureAwait(false);
            StatisticsView statistics = await client.StatisticsAsync(token).ConfigureAwait(false);
            return rates.Update(sessions, statistics, DateTimeOffset.UtcNow, rows);
        }
    }

    /// <summary>The header line and the table of the busiest sessions.</summary>
    public static IRenderable Render(TopSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        string header = string.Create(CultureInfo.InvariantCulture,
            $"natgate top  {snapshot.Time:HH:mm:ss}  sessions {snapshot.Sessions}  new {snapshot.NewSessionsPerSecond:0.#}/s  packets {snapshot.PacketsPerSecond:0.#}/s  out {Bytes(snapshot.BytesOutPerSecond)}/s  in {Bytes(snapshot.BytesInPerSecond)}/s");
        var table = Table("Id", "Protocol", "Inside", "External", "Remote", "State", "Rule", "Packets/s", "Out/s", "In/s");
        foreach (SessionRate rate in snapshot.Busiest)
        {
            SessionView session = rate.Session;
            Row(table,
                session.Id.ToString(CultureInfo.InvariantCulture),
                session.Protocol,
                ControlText.EndpointText(session.InternalSourceAddress, session.InternalSourcePort),
                ControlText.EndpointText(session.ExternalSourceAddress, session.ExternalSourcePort),
                ControlText.EndpointText(session.ExternalDestinationAddress, session.ExternalDestinationPort),
                session.State,
                session.RuleLabel is null ? $"#{session.Rule}" : $"#{session.Rule} {session.RuleLabel}",
                rate.PacketsPerSecond.ToString("0.#", CultureInfo.InvariantCulture),
                Bytes(rate.BytesOutPerSecond),
                Bytes(rate.BytesInPerSecond));
        }
        return new Rows(new Text(header), table);
    }

    /// <summary>Bytes in SI units ("1.2 MB"), as rates are read.</summary>
    public static string Bytes(double bytes)
    {
        string[] units = ["B", "kB", "MB", "GB", "TB"];
        int unit = 0;
        while (bytes >= 1000 && unit < units.Length - 1)
        {
            bytes /= 1000;
            unit++;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{bytes:0.#} {units[unit]}");
    }

    /// <summary>A snapshot as one JSON object, for scripts (--json).</summary>
    public static string Json(TopSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("time", snapshot.Time);
            writer.WriteNumber("intervalSeconds", snapshot.Interval.TotalSeconds);
            writer.WriteNumber("sessions", snapshot.Sessions);
            writer.WriteNumber("newSessionsPerSecond", snapshot.NewSessionsPerSecond);
            writer.WriteNumber("packetsPerSecond", snapshot.PacketsPerSecond);
            writer.WriteNumber("bytesOutPerSecond", snapshot.BytesOutPerSecond);
            writer.WriteNumber("bytesInPerSecond", snapshot.BytesInPerSecond);
            writer.WriteStartArray("busiest");
            foreach (SessionRate rate in snapshot.Busiest)
            {
                writer.WriteStartObject();
                writer.WriteNumber("id", rate.Session.Id);
                writer.WriteString("protocol", rate.Session.Protocol);
                writer.WriteString("inside", ControlText.EndpointText(rate.Session.InternalSourceAddress, rate.Session.InternalSourcePort));
                writer.WriteString("external", ControlText.EndpointText(rate.Session.ExternalSourceAddress, rate.Session.ExternalSourcePort));
                writer.WriteString("remote", ControlText.EndpointText(rate.Session.ExternalDestinationAddress, rate.Session.ExternalDestinationPort));
                writer.WriteString("state", rate.Session.State);
                writer.WriteNumber("rule", rate.Session.Rule);
                writer.WriteNumber("packetsPerSecond", rate.PacketsPerSecond);
                writer.WriteNumber("bytesOutPerSecond", rate.BytesOutPerSecond);
                writer.WriteNumber("bytesInPerSecond", rate.BytesInPerSecond);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}
