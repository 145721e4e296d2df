using System.CommandLine;
using System.Globalization;
using System.Text;
using NatGate.Control;

namespace NatGate.Cli;

/// <summary>
/// `natgate sessions --watch`: the daemon's session events as they happen, as `conntrack -E`
/// shows them; one line a event for people, or the API's JSON lines with --json. Runs until
/// Ctrl-C or until the daemon stops.
/// </summary>
internal sealed class SessionWatch
{
    public Option<bool> Watch { get; } = new("--watch")
    {
        Description = "Stream the session events as they happen (created, updated, deleted, port blocks), as conntrack -E does; Ctrl-C ends it.",
    };

    public Option<string[]> Events { get; } = new("--event")
    {
        Description = "With --watch: only these events (repeatable): created, updated, deleted, port-block-allocated, port-block-released.",
        AllowMultipleArgumentsPerToken = true,
    };

    /// <summary>Streams the events the query's filters (address, protocol, port, state, rule) and --event take, as they come.</summary>
    public async Task<ControlReply> RunAsync(ControlClient client, ParseResult parseResult, SessionQuery query, bool json, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(parseResult);
        ArgumentNullException.ThrowIfNull(query);
        TextWriter output = parseResult.InvocationConfiguration.Output;
        string[] events = parseResult.GetValue(Events) ?? [];
        var filters = new List<KeyValuePair<string, string>>
        {
            new("protocol", query.Protocol ?? ""),
            new("address", query.Address ?? ""),
            new("port", query.Port?.ToString(CultureInfo.InvariantCulture) ?? ""),
            new("state", query.State ?? ""),
            new("rule", query.Rule?.ToString(CultureInfo.InvariantCulture) ?? ""),
            new("event", string.Join(',', events.SelectMany(item => item.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))),
        };
        await foreach (string line in client.WatchSessionEventsAsync(filters, token).ConfigureAwait(false))
        {
            await output.WriteLineAsync(json ? line : Describe(ControlClient.ParseSessionEvent(line))).ConfigureAwait(false);
            await output.FlushAsync(token).ConfigureAwait(false);
        }
        // Everything was printed as it came: nothing more to show, no JSON to repeat.
        return new ControlReply(_ => { }, Json: "");
    }

    /// <summary>
    /// One event for a person: time, event, then the session as the inside sees it and the
    /// external endpoint it has ("as"), its state, and for a deletion why and how much went through.
    /// </summary>
    public static string Describe(SessionEventView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        var line = new StringBuilder();
        CultureInfo invariant = CultureInfo.InvariantCulture;
        line.Append(view.Time.UtcDateTime.ToString("HH:mm:ss.fff", invariant)).Append(' ').Append(view.Event.PadRight(8));
        switch (view.Event)
        {
            case "lost":
                line.Append(invariant, $" {view.Count} events (this watch fell behind)");
                return line.ToString();
            case "port-block-allocated" or "port-block-released":
                string external = view.ExternalAddress ?? "?";
                line.Append(invariant, $" {view.InsideAddress} ports {(external.Contains(':', StringComparison.Ordinal) ? $"[{external}]" : external)}:{view.PortFirst}-{view.PortLast}");
                break;
            default:
                line.Append(invariant, $" {view.Protocol} {Endpoint(view.InsideAddress, view.InsidePort)} -> {Endpoint(view.RemoteAddress, view.RemotePort)}")
                    .Append(invariant, $" as {Endpoint(view.ExternalAddress, view.ExternalPort)} {view.State}");
                break;
        }
        if (view.Reason is not null)
        {
            line.Append(invariant, $" {view.Reason} packets {view.PacketsOut}/{view.PacketsIn} bytes {view.BytesOut}/{view.BytesIn}");
        }
        line.Append(invariant, $" rule {view.Rule}");
        if (view.RuleOrigin is not null)
        {
            line.Append(" (").Append(view.RuleOrigin).Append(')');
        }
        return line.ToString();
    }

    private static string Endpoint(string? address, int port) => ControlText.EndpointText(address ?? "?", (ushort)port);
}
