using System.CommandLine;
using System.Globalization;
using System.Text;
using NatGate.Control;
using Spectre.Console;
using static NatGate.Cli.ControlInvocation;

namespace NatGate.Cli;

/// <summary>
/// natgate sessions: the session table as Get-NetNatSession lists it and as conntrack's users
/// read it (-o extended), chosen by address, protocol, port, state and rule; counted (--count,
/// conntrack -C); and removed one by one or by filter (natgate sessions delete, conntrack -D),
/// through the engine's session store, so the kernel fast path's map follows.
/// </summary>
internal static class SessionCommands
{
    public static Command Create()
    {
        var filters = new SessionFilterOptions();
        var count = new Option<bool>("--count") { Description = "Print only how many sessions the filters take (conntrack -C)." };
        var output = new Option<string>("--output", "-o")
        {
            Description = "table (the default), or extended: one line a session as conntrack -L -o extended writes it.",
            HelpName = "table|extended",
            DefaultValueFactory = _ => "table",
        };
        output.AcceptOnlyFromAmong("table", "extended");
        var invocation = new ControlInvocation();
        var watch = new SessionWatch();
        Command command = invocation.AddTo(filters.AddTo(new Command("sessions",
            "List the translation sessions (Get-NetNatSession, conntrack -L); every filter given must hold.") { count, output, watch.Watch, watch.Events, Delete(invocation) }));
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            SessionQuery query = filters.Read(parseResult);
            if (parseResult.GetValue(watch.Watch))
            {
                return await watch.RunAsync(client, parseResult, query, parseResult.GetValue(invocation.Json), token).ConfigureAwait(false);
            }
            if (parseResult.GetValue(count))
            {
                int found = await client.CountSessionsAsync(query, token).ConfigureAwait(false);
                return Say(found.ToString(CultureInfo.InvariantCulture));
            }
            IReadOnlyList<SessionView> sessions = await client.SessionsAsync(query, token).ConfigureAwait(false);
            return parseResult.GetValue(output) == "extended"
                ? new ControlReply(console => RenderExtended(console, sessions, DateTimeOffset.UtcNow))
                : new ControlReply(console => ControlCommands.RenderSessions(console, sessions));
        });
        return command;
    }

    /// <summary>natgate sessions delete [ID] [filters]: one session by id, or every session the filters take.</summary>
    private static Command Delete(ControlInvocation invocation)
    {
        var filters = new SessionFilterOptions();
        var id = new Argument<int?>("id") { Description = "The session's id, as natgate sessions lists it.", Arity = ArgumentArity.ZeroOrOne };
        Command command = filters.AddTo(new Command("delete",
            "Delete one session by id, or every session the filters take (conntrack -D); its mapping's port is freed and the kernel fast path forgets it. Refused (EACCES) while the table is locked.") { id });
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            SessionQuery query = filters.Read(parseResult);
            if (parseResult.GetValue(id) is { } one)
            {
                if (!query.IsEmpty)
                {
                    throw new InputException("Give a session id or filters, not both.");
                }
                await client.RemoveSessionAsync(one, token).ConfigureAwait(false);
                return Say($"Deleted session {one.ToString(CultureInfo.InvariantCulture)}.");
            }
            if (query.IsEmpty)
            {
                throw new InputException("Give a session id or at least one filter (--address, --protocol, --port, --state, --rule); natgate ipnat -F deletes every session.");
            }
            int removed = await client.RemoveSessionsAsync(query, token).ConfigureAwait(false);
            return Say($"Deleted {Plural(removed, "session")}.");
        });
        return command;
    }

    /// <summary>
    /// One line a session as conntrack -L -o extended writes it: the network and transport
    /// protocols by name and number, the seconds left, the TCP state in conntrack's words, the
    /// original tuple and the reply tuple (the translated one reversed, as the reply arrives), each
    /// with its counters, then NatGate's id and rule.
    /// </summary>
    public static string ExtendedLine(SessionView session, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(session);
        FlowView original = session.Original;
        FlowView translated = session.Translated;
        bool ipv6 = original.Source.Contains(':', StringComparison.Ordinal);
        long secondsLeft = Math.Max(0, (long)Math.Floor((session.Expires - now).TotalSeconds));
        (long originalPackets, long originalBytes, long replyPackets, long replyBytes) = session.InitiatedOutside
            ? (session.PacketsIn, session.BytesIn, session.PacketsOut, session.BytesOut)
            : (session.PacketsOut, session.BytesOut, session.PacketsIn, session.BytesIn);
        var line = new StringBuilder();
        line.Append(CultureInfo.InvariantCulture, $"{(ipv6 ? "ipv6" : "ipv4"),-8} {(ipv6 ? 10 : 2),-2} {session.Protocol,-8} {session.ProtocolNumber,-2} {secondsLeft} ");
        if (ConntrackState(session.State) is string state)
        {
            line.Append(state).Append(' ');
        }
        AppendTuple(line, original.Source, original.Destination, original.SourcePort, original.DestinationPort, session.ProtocolNumber);
        line.Append(CultureInfo.InvariantCulture, $"packets={originalPackets} bytes={originalBytes} ");
        if (replyPackets == 0)
        {
            line.Append("[UNREPLIED] ");
        }
        AppendTuple(line, translated.Destination, translated.Source, translated.DestinationPort, translated.SourcePort, session.ProtocolNumber);
        line.Append(CultureInfo.InvariantCulture, $"packets={replyPackets} bytes={replyBytes} ");
        if (replyPackets > 0 && session.State is "Established" or "Active")
        {
            line.Append("[ASSURED] ");
        }
        line.Append(CultureInfo.InvariantCulture, $"id={session.Id} rule={session.Rule}");
        return line.ToString();
    }

    public static void RenderExtended(IAnsiConsole console, IReadOnlyList<SessionView> sessions, DateTimeOffset now)
    {
        foreach (SessionView session in sessions)
        {
            console.Profile.Out.Writer.WriteLine(ExtendedLine(session, now));
        }
    }

    /// <summary>conntrack's TCP state names; other protocols have none.</summary>
    private static string? ConntrackState(string state) => state switch
    {
        "SynSent" => "SYN_SENT",
        "SynReceived" => "SYN_RECV",
        "Established" => "ESTABLISHED",
        "Closing" => "FIN_WAIT",
        "TimeWait" => "TIME_WAIT",
        "Reset" => "CLOSE",
        _ => null,
    };

    /// <summary>src= dst= and, for ports, sport= dport=; for ICMP the identifier as conntrack writes it (id=).</summary>
    private static void AppendTuple(StringBuilder line, string source, string destination, ushort sourcePort, ushort destinationPort, byte protocol)
    {
        line.Append(CultureInfo.InvariantCulture, $"src={source} dst={destination} ");
        if (protocol is 6 or 17)
        {
            line.Append(CultureInfo.InvariantCulture, $"sport={sourcePort} dport={destinationPort} ");
        }
        else if (protocol is 1 or 58)
        {
            line.Append(CultureInfo.InvariantCulture, $"id={sourcePort} ");
        }
    }
}

/// <summary>
/// The session filters natgate sessions, natgate sessions delete and natgate top take: each
/// becomes a query parameter the daemon checks (an unknown state or a bad address is its EINVAL).
/// </summary>
internal sealed class SessionFilterOptions
{
    public Option<string> Address { get; } = new("--address") { Description = "Only sessions with this address on either side (inside host, external address or remote)." };

    public Option<string> Protocol { get; } = new("--protocol", "-p") { Description = "Only sessions of this protocol: tcp, udp, icmp or a number." };

    public Option<ushort?> Port { get; } = new("--port") { Description = "Only sessions with this port (or ICMP identifier) on either side." };

    public Option<string> State { get; } = new("--state") { Description = "Only sessions in this state: SynSent, SynReceived, Established, Closing, TimeWait, Reset, or Active (every protocol but TCP)." };

    public Option<int?> Rule { get; } = new("--rule") { Description = "Only sessions of this rule, by the number natgate rules list shows." };

    public T AddTo<T>(T command)
        where T : Command
    {
        command.Options.Add(Address);
        command.Options.Add(Protocol);
        command.Options.Add(Port);
        command.Options.Add(State);
        command.Options.Add(Rule);
        return command;
    }

    public SessionQuery Read(ParseResult parseResult) => new()
    {
        Address = parseResult.GetValue(Address),
        Protocol = parseResult.GetValue(Protocol),
        Port = parseResult.GetValue(Port),
        State = parseResult.GetValue(State),
        Rule = parseResult.GetValue(Rule),
    };
}
