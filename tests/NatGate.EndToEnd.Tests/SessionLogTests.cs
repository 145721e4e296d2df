using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NatGate.Control;
using NatGate.Tests.SessionLog;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The session log and the live event stream on a running gateway, with real traffic: the JSON
/// lines file and syslog (read by an RFC 5424 listener here), IPFIX decoded by tshark, and
/// `natgate sessions --watch` seeing the events as they happen.
/// </summary>
public sealed class SessionLogTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static string Natgate => Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    [Fact]
    public void The_file_and_syslog_record_a_real_connection_and_its_end_when_the_daemon_stops()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab();
        (_, string url) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "logged\n");
        string file = Path.Combine(lab.WorkDirectory, "log", "sessions.jsonl");
        string socketPath = Path.Combine(lab.WorkDirectory, "syslog.sock");
        // A syslog listener as rsyslog's on /dev/log: a Unix datagram socket (reachable from the
        // gateway's network namespace, since a path is the file system's, not the network's).
        using var listener = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        listener.ReceiveTimeout = 10_000;
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
            "--outside-interface", GatewayLab.OutsideInterface, "--session-log", file, "--session-syslog", "unix:" + socketPath);

        Assert.Equal("logged\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", url));
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(30)));

        JsonElement[] lines = [.. File.ReadAllLines(file).Select(line => JsonDocument.Parse(line).RootElement.Clone())];
        JsonElement created = lines.Single(line => Is(line, "created", "tcp"));
        Assert.Equal(GatewayLab.Inside1, created.GetProperty("insideAddress").GetString());
        Assert.Equal(GatewayLab.External, created.GetProperty("externalAddress").GetString());
        Assert.Equal(GatewayLab.Outside, created.GetProperty("remoteAddress").GetString());
        Assert.Equal(80, created.GetProperty("remotePort").GetInt32());
        JsonElement deleted = lines.Single(line => Is(line, "deleted", "tcp"));
        Assert.Equal(created.GetProperty("session").GetInt32(), deleted.GetProperty("session").GetInt32());
        Assert.Equal(created.GetProperty("externalPort").GetInt32(), deleted.GetProperty("externalPort").GetInt32());
        // Alive (closing) when the daemon stopped: its end says so, with what went through it,
        // the page included (the kernel fast path's share is counted in).
        Assert.Equal("Stopped", deleted.GetProperty("reason").GetString());
        Assert.True(deleted.GetProperty("packetsOut").GetInt64() >= 4, deleted.ToString());
        Assert.True(deleted.GetProperty("bytesIn").GetInt64() > "logged\n".Length, deleted.ToString());
        Assert.True(DateTimeOffset.Parse(deleted.GetProperty("time").GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            >= DateTimeOffset.Parse(created.GetProperty("time").GetString()!, System.Globalization.CultureInfo.InvariantCulture));

        // Every datagram is a whole RFC 5424 message; the facts are in natgate@32473's structured data.
        var messages = new List<Rfc5424>();
        byte[] buffer = new byte[8192];
        while (!messages.Any(message => message.MessageId == "deleted" && Facts(message).GetValueOrDefault("protocol") == "tcp"))
        {
            int length = listener.Receive(buffer);
            messages.Add(Rfc5424.Parse(Encoding.UTF8.GetString(buffer, 0, length)));
        }
        Rfc5424 syslogCreated = messages.Single(message => message.MessageId == "created" && Facts(message).GetValueOrDefault("protocol") == "tcp");
        Assert.Equal(134, syslogCreated.Priority);
        Assert.Equal("natgate", syslogCreated.AppName);
        Assert.Equal(daemon.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), syslogCreated.ProcessId);
        Assert.Equal(GatewayLab.Inside1, Facts(syslogCreated)["insideAddress"]);
        Assert.Equal(GatewayLab.Outside, Facts(syslogCreated)["remoteAddress"]);
        Assert.Equal(created.GetProperty("externalPort").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), Facts(syslogCreated)["externalPort"]);
        Assert.Equal("Stopped", Facts(messages[^1])["reason"]);
        Assert.True((messages[^1].Time - syslogCreated.Time) >= TimeSpan.Zero);
    }

    private static IReadOnlyDictionary<string, string> Facts(Rfc5424 message) => message.StructuredData["natgate@32473"];

    private static bool Is(JsonElement line, string kind, string protocol)
        => line.GetProperty("event").GetString() == kind && line.TryGetProperty("protocol", out JsonElement named) && named.GetString() == protocol;

    [Fact]
    public void A_map_block_rule_logs_each_host_s_port_block_instead_of_its_sessions()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab();
        (_, string url) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "blocked\n");
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map-block {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32 ports 200\n");
        string file = Path.Combine(lab.WorkDirectory, "sessions.jsonl");
        lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface, "--session-log", file);
        for (int connection = 0; connection < 3; connection++)
        {
            Assert.Equal("blocked\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", url));
        }
        int[] ports = [.. lab.SessionsJson().Where(session => session.GetProperty("internalSourceAddress").GetString() == GatewayLab.Inside1)
            .Select(session => (int)session.GetProperty("externalSourcePort").GetUInt16())];
        Assert.Equal(3, ports.Length);
        lab.Cli("ipnat", "-F");

        // Inside host 10.77.0.2 is host 2 of the /24: its block is ports 1424-1623, whichever ports its connections took.
        var clock = Stopwatch.StartNew();
        while (!File.Exists(file) || !File.ReadAllText(file).Contains("port-block-released", StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < Short, File.Exists(file) ? File.ReadAllText(file) : "no file");
            Thread.Sleep(100);
        }
        SessionEventView[] lines = [.. File.ReadAllLines(file).Select(ControlClient.ParseSessionEvent)];
        Assert.Equal(["port-block-allocated", "port-block-released"], lines.Select(line => line.Event));
        Assert.All(lines, line => Assert.Equal((GatewayLab.Inside1, GatewayLab.External, 1424, 1623), (line.InsideAddress, line.ExternalAddress, line.PortFirst, line.PortLast)));
        Assert.All(ports, port => Assert.InRange(port, 1424, 1623));
    }

    [Fact]
    public void Ipfix_export_decodes_in_tshark_as_rfc_8158_nat_events()
    {
        Host.RequireRootAndTools("ip", "curl", "python3", "tcpdump", "tshark");
        using var lab = new GatewayLab();
        (_, string url) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "exported\n");
        string capture = Path.Combine(lab.WorkDirectory, "ipfix.pcap");
        BackgroundProcess tcpdump = lab.Start(lab.Out, "tcpdump", "-i", "any", "-n", "-U", "-s", "0", "-w", capture, "udp", "port", "4739");
        tcpdump.WaitFor("listening on", Short);
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
            "--outside-interface", GatewayLab.OutsideInterface, "--session-ipfix", $"{GatewayLab.Outside}:4739");
        Assert.Equal("exported\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", url));
        // Removed by hand, so the delete comes from a running daemon (the stop's come too).
        lab.Cli("ipnat", "-F");
        Thread.Sleep(500);
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(30)));
        Thread.Sleep(300);
        tcpdump.Stop(TimeSpan.FromSeconds(10));

        // tshark's own IPFIX dissector (cflow) reads the templates and the records.
        (int exit, string output, string error) = Host.Run("tshark", ["-r", capture, "-d", "udp.port==4739,cflow", "-T", "fields", "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,",
            "-e", "cflow.version", "-e", "cflow.nat_event", "-e", "cflow.srcaddr", "-e", "cflow.post_natsource_ipv4_address", "-e", "cflow.srcport",
            "-e", "cflow.post_naptsource_transport_port", "-e", "cflow.dstaddr", "-e", "cflow.dstport", "-e", "cflow.protocol"]);
        Assert.True(exit == 0, error);
        string[] rows = [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
        Assert.NotEmpty(rows);
        Assert.All(rows, row => Assert.StartsWith("10|", row, StringComparison.Ordinal));
        // Per data record: natEvent, inside address, external address, inside port, external port, remote.
        var records = new List<(string Event, string Inside, string External, string InsidePort, string ExternalPort, string Remote, string RemotePort, string Protocol)>();
        foreach (string row in rows)
        {
            string[] columns = row.Split('|');
            string[][] values = [.. columns.Select(column => column.Split(','))];
            for (int i = 0; i < values[1].Length && values[1][i].Length > 0; i++)
            {
                records.Add((values[1][i], At(values[2], i), At(values[3], i), At(values[4], i), At(values[5], i), At(values[6], i), At(values[7], i), At(values[8], i)));
            }
        }
        var tcp = records.Where(record => record.Protocol == "6" && record.Remote == GatewayLab.Outside && record.RemotePort == "80").ToList();
        Assert.True(tcp.Count >= 2, string.Join('\n', rows));
        // natEvent 4 and 5: NAT44 session create and delete (RFC 8158's registry).
        var create = tcp.Single(record => record.Event == "4");
        var delete = tcp.First(record => record.Event == "5");
        Assert.Equal(GatewayLab.Inside1, create.Inside);
        Assert.Equal(GatewayLab.External, create.External);
        Assert.Equal((create.InsidePort, create.ExternalPort), (delete.InsidePort, delete.ExternalPort));
    }

    private static string At(string[] values, int index) => index < values.Length ? values[index] : "";

    [Fact]
    public void Sessions_watch_streams_the_events_of_real_traffic_as_it_happens()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab();
        (_, string url) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "watched\n");
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);
        BackgroundProcess json = lab.Start(lab.Gateway, Dotnet, Natgate, "sessions", "--watch", "--json", "--address", GatewayLab.Inside1, "--control", lab.ControlDirectory);
        BackgroundProcess human = lab.Start(lab.Gateway, Dotnet, Natgate, "sessions", "--watch", "--protocol", "tcp", "--event", "created", "--event", "deleted",
            "--control", lab.ControlDirectory);
        BackgroundProcess other = lab.Start(lab.Gateway, Dotnet, Natgate, "sessions", "--watch", "--json", "--address", GatewayLab.Inside2, "--control", lab.ControlDirectory);

        // The watchers connect in their own time: traffic until both have seen a connection made.
        var clock = Stopwatch.StartNew();
        while (!(json.Output.Contains("\"event\":\"created\"", StringComparison.Ordinal) && human.Output.Contains("created ", StringComparison.Ordinal)))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(40), $"no created event seen:\n{json.Output}\n{human.Output}");
            Assert.Equal("watched\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", url));
            Thread.Sleep(300);
        }
        lab.Cli("ipnat", "-F");
        json.WaitFor("\"reason\":\"Flushed\"", Short);
        human.WaitFor("Flushed", Short);

        SessionEventView[] events = [.. json.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(line => line.StartsWith('{')).Select(ControlClient.ParseSessionEvent)];
        Assert.All(events, view => Assert.Equal(GatewayLab.Inside1, view.InsideAddress));
        SessionEventView created = events.First(view => view.Event == "created" && view.Protocol == "tcp");
        Assert.Equal((GatewayLab.Outside, 80), (created.RemoteAddress, created.RemotePort));
        Assert.Equal(GatewayLab.External, created.ExternalAddress);
        // The handshake's progress as the engine sees it (its last ACK goes by the kernel's fast
        // path, which the engine learns at the session's next expiry check), then its end with the reason.
        Assert.Contains(events, view => view.Event == "updated" && view.Session == created.Session && view.State == "SynReceived");
        SessionEventView deleted = events.Single(view => view.Event == "deleted" && view.Session == created.Session && view.Reason == "Flushed");
        Assert.True(deleted.PacketsOut > 0 && deleted.BytesIn > 0, $"{deleted}");

        string[] lines = human.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, line => line.Contains($"created  tcp {GatewayLab.Inside1}:", StringComparison.Ordinal) && line.Contains($"-> {GatewayLab.Outside}:80 as {GatewayLab.External}:", StringComparison.Ordinal));
        Assert.Contains(lines, line => line.Contains("deleted  tcp", StringComparison.Ordinal) && line.Contains("Flushed packets", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains("updated", StringComparison.Ordinal) || line.Contains(" udp ", StringComparison.Ordinal));
        // The third watcher asked for another host, which made no traffic.
        Assert.DoesNotContain("\"event\"", other.Output, StringComparison.Ordinal);
    }
}
