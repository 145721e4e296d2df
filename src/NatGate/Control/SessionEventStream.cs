using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using NatGate.Core.Control;
using NatGate.Core.SessionLog;
using NatGate.SessionLog;

namespace NatGate.Control;

/// <summary>
/// GET /v1/sessions/events: the session events as they happen, one JSON object a line
/// (application/x-ndjson, the shape of <see cref="SessionEventView"/>), until the client goes, as
/// conntrack -E streams them. Filters: protocol, address (any side), port (any side), state, rule,
/// event (a comma-separated list of created, updated, deleted, port-block-allocated, port-block-released).
/// A client that reads too slowly loses events and is told so by a "lost" line.
/// </summary>
internal static class SessionEventStream
{
    /// <summary>Watchers at once (any local user may watch through the read-only socket).</summary>
    public const int MaximumWatchers = 16;

    public static async Task WriteAsync(HttpContext context, SessionEventHub? hub)
    {
        if (hub is null)
        {
            throw new NatControlException(NatErrno.ESRCH, "This daemon keeps no session event stream.");
        }
        SessionEventFilter filter = FilterOf(context.Request.Query);
        if (hub.Count >= MaximumWatchers)
        {
            throw new NatControlException(NatErrno.ENOMEM, $"{MaximumWatchers} session event streams are open already; close one or try again later.");
        }
        using SessionEventWatcher watcher = hub.Watch(filter);
        CancellationToken token = context.RequestAborted;
        context.Response.ContentType = "application/x-ndjson; charset=utf-8";
        // The headers go at once, so that the client knows it is watching before the first event.
        await context.Response.StartAsync(token).ConfigureAwait(false);
        System.IO.Pipelines.PipeWriter body = context.Response.BodyWriter;
        using var writer = new Utf8JsonWriter(body);
        ChannelReader<SessionLogRecord> records = watcher.Records;
        try
        {
            while (await records.WaitToReadAsync(token).ConfigureAwait(false))
            {
                long lost = watcher.TakeLost();
                if (lost > 0)
                {
                    SessionEventJson.WriteLost(writer, lost, DateTime.UtcNow.Ticks);
                    EndLine(writer, body);
                }
                while (records.TryRead(out SessionLogRecord record))
                {
                    SessionEventJson.Write(writer, record);
                    EndLine(writer, body);
                }
                await body.FlushAsync(token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The watcher went away (Ctrl-C on natgate sessions --watch).
        }
    }

    private static void EndLine(Utf8JsonWriter writer, System.IO.Pipelines.PipeWriter body)
    {
        writer.Flush();
        // One value a line: the writer starts afresh for the next (it refuses a second root value).
        writer.Reset(body);
        body.Write("\n"u8);
    }

    private static readonly string[] States = ["SynSent", "SynReceived", "Established", "Closing", "TimeWait", "Reset", "Active"];

    private static SessionEventFilter FilterOf(IQueryCollection query)
    {
        string? protocol = query["protocol"];
        string? address = query["address"];
        string? port = query["port"];
        string? events = query["event"];
        string? state = query["state"];
        string? rule = query["rule"];
        HashSet<SessionEventKind>? kinds = null;
        if (!string.IsNullOrEmpty(events))
        {
            kinds = [];
            foreach (string name in events.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                kinds.Add(SessionEventFilter.TryParseKind(name, out SessionEventKind kind)
                    ? kind
                    : throw new NatControlException(NatErrno.EINVAL, $"event \"{name}\" is not an event: use created, updated, deleted, port-block-allocated or port-block-released."));
            }
        }
        return new SessionEventFilter
        {
            Protocol = string.IsNullOrEmpty(protocol) ? null : ControlText.RequireProtocol(protocol, "protocol"),
            Address = string.IsNullOrEmpty(address) ? null : ControlText.AnyAddress(address, "address"),
            Port = string.IsNullOrEmpty(port) ? null
                : ushort.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out ushort number) ? number
                : throw new NatControlException(NatErrno.EINVAL, $"port \"{port}\" is not a port (0 to 65535)."),
            Kinds = kinds,
            State = string.IsNullOrEmpty(state) ? null
                : States.Contains(state, StringComparer.OrdinalIgnoreCase) ? state
                : throw new NatControlException(NatErrno.EINVAL, $"state \"{state}\" is not a state: use {string.Join(", ", States)}."),
            Rule = string.IsNullOrEmpty(rule) ? null
                : int.TryParse(rule, NumberStyles.None, CultureInfo.InvariantCulture, out int ruleNumber) ? ruleNumber
                : throw new NatControlException(NatErrno.EINVAL, $"rule \"{rule}\" is not a rule number."),
        };
    }
}
