using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The commands operators know (issue 14) against a running gateway, run as a user would (the
/// natgate CLI in the gateway's namespace, real clients in the lab's): ipnat -f -, -h, -v, -r -p;
/// natgate sessions with filters, --count, -o extended and delete (the kernel fast path's map
/// follows); ipfs -W -d, -l, -R, -u; natgate nat with NetNat's words, seen in the filtering;
/// put's refusal of an address its rule does not own; the port class and parity; natgate top.
/// </summary>
public sealed class OperatorCommandsEndToEndTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);
    private static readonly string Dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
    private static readonly string Natgate = Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    private static string[] CommandLineNat => ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface];

    /// <summary>
    /// Binds ADDRESS:PORT, sends "probe" to DESTINATION:PORT, then prints "got FROM:PORT TEXT" for
    /// every datagram that arrives within SECONDS, then "done" (argv: address port destination port seconds).
    /// </summary>
    private const string UdpProbe = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], int(sys.argv[2])))
        s.sendto(b"probe", (sys.argv[3], int(sys.argv[4])))
        s.settimeout(float(sys.argv[5]))
        try:
            while True:
                data, peer = s.recvfrom(2048)
                print("got %s:%d %s" % (peer[0], peer[1], data.decode()), flush=True)
        except socket.timeout:
            print("done", flush=True)
        """;

    /// <summary>Sends COUNT datagrams of SIZE bytes at RATE a second from ADDRESS:PORT to DESTINATION:PORT, then prints "sent" (a bounded stream).</summary>
    private const string UdpStream = """
        import socket, sys, time
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], int(sys.argv[2])))
        count, size, rate = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
        payload = b"x" * size
        start = time.monotonic()
        for i in range(count):
            s.sendto(payload, (sys.argv[3], int(sys.argv[4])))
            delay = start + (i + 1) / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        print("sent", flush=True)
        """;

    /// <summary>One datagram "hello" from ADDRESS (any port) to DESTINATION:PORT.</summary>
    private const string UdpOnce = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], 0))
        s.sendto(b"hello", (sys.argv[2], int(sys.argv[3])))
        """;

    private static BackgroundProcess StartEcho(GatewayLab lab, int port)
    {
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Outside, port.ToString(CultureInfo.InvariantCulture));
        echo.WaitFor("ready", Short);
        return echo;
    }

    /// <summary>One UDP exchange from an inside host's ADDRESS:PORT with the outside echo; returns once the answer came.</summary>
    private static void Exchange(GatewayLab lab, string space, string address, int port, int echoPort)
    {
        BackgroundProcess probe = lab.Start(space, "python3", "-c", UdpProbe, address, port.ToString(CultureInfo.InvariantCulture),
            GatewayLab.Outside, echoPort.ToString(CultureInfo.InvariantCulture), "1");
        probe.WaitFor($"got {GatewayLab.Outside}:{echoPort}", Short);
    }

    private static JsonElement Json(string text)
    {
        using JsonDocument document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    private static (int ExitCode, string Output, string Error) Cli(GatewayLab lab, params string[] arguments)
        => GatewayLab.Exec(lab.Gateway, Short, [Dotnet, Natgate, .. arguments, "--control", lab.ControlDirectory]);

    [Fact]
    public void Ipnat_loads_from_standard_input_shows_hits_and_purges_a_removed_rules_sessions()
    {
        Host.RequireRootAndTools("ip", "curl", "python3", "sh");
        using var lab = new GatewayLab();
        lab.StartNatGate(CommandLineNat);
        (_, string url) = lab.ServePage(lab.In2, GatewayLab.Inside2, 80, "in2's page\n");
        string rule = $"rdr {GatewayLab.OutsideInterface} {GatewayLab.External}/32 port 8080 -> {GatewayLab.Inside2} port 80 tcp";
        string file = Path.Combine(lab.WorkDirectory, "rdr.conf");
        File.WriteAllText(file, rule + "\n");

        // ipnat -f -: the rules come from a pipe.
        string loaded = GatewayLab.ExecChecked(lab.Gateway, "sh", "-c", $"cat '{file}' | '{Dotnet}' '{Natgate}' ipnat -f - --control '{lab.ControlDirectory}'");
        Assert.Contains("Loaded 1 rule from -", loaded, StringComparison.Ordinal);

        string published = url.Replace($"{GatewayLab.Inside2}:80", $"{GatewayLab.External}:8080", StringComparison.Ordinal);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal("in2's page\n", GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "--max-time", "10", published));
        }
        StartEcho(lab, 7000);
        Exchange(lab, lab.In1, GatewayLab.Inside1, 40000, 7000);

        // -h: each rule after its hits; the redirect made two sessions, the map one.
        string hits = lab.Cli("ipnat", "-l", "-h");
        // (ipnat prints the rule in its canonical form, where "port 8080" already says tcp)
        Assert.True(Regex.IsMatch(hits, $"^2 rdr {GatewayLab.OutsideInterface} {Regex.Escape(GatewayLab.External)}/32 port 8080 -> {Regex.Escape(GatewayLab.Inside2)} port 80", RegexOptions.Multiline), hits);
        Assert.True(Regex.IsMatch(hits, "^1 map ", RegexOptions.Multiline), hits);
        Assert.Contains("List of active sessions:", hits, StringComparison.Ordinal);
        string verbose = lab.Cli("ipnat", "-l", "-v");
        Assert.Matches(@"# rule \d+, 2 sessions, 2 hits, -:1", verbose);
        Assert.Contains("src=198.51.100.2 dst=198.51.100.10 sport=", verbose, StringComparison.Ordinal);

        // -r -f FILE -p: the rule goes, and its sessions with it; the map's session stays.
        string removed = lab.Cli("ipnat", "-r", "-f", file, "-p");
        Assert.Contains("Removed 1 rule", removed, StringComparison.Ordinal);
        Assert.Contains("2 entries purged from NAT table", removed, StringComparison.Ordinal);
        Assert.Equal("0", lab.Cli("sessions", "--count", "--port", "8080").Trim());
        Assert.Equal("1", lab.Cli("sessions", "--count").Trim());
        Assert.Equal(0, Cli(lab, "fastpath", "--check").ExitCode);
    }

    [Fact]
    public void Sessions_are_filtered_counted_printed_as_conntrack_does_and_deleted_with_the_fast_paths_map()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        lab.StartNatGate(CommandLineNat);
        StartEcho(lab, 7000);
        StartEcho(lab, 7001);
        Exchange(lab, lab.In1, GatewayLab.Inside1, 40000, 7000);
        Exchange(lab, lab.In2, GatewayLab.Inside2, 40001, 7001);

        Assert.Equal("2", lab.Cli("sessions", "--count").Trim());
        Assert.Equal("2", lab.Cli("sessions", "--count", "--state", "active", "-p", "udp").Trim());
        Assert.Equal("0", lab.Cli("sessions", "--count", "--state", "Established").Trim());
        JsonElement byPort = Json(lab.Cli("sessions", "--port", "7001", "--json"));
        JsonElement session = Assert.Single(byPort.EnumerateArray());
        Assert.Equal(GatewayLab.Inside2, session.GetProperty("internalSourceAddress").GetString());
        int rule = session.GetProperty("rule").GetInt32();
        Assert.Equal("2", lab.Cli("sessions", "--count", "--rule", rule.ToString(CultureInfo.InvariantCulture)).Trim());

        string extended = lab.Cli("sessions", "-o", "extended", "--address", GatewayLab.Inside1);
        Assert.Matches($@"^ipv4 +2 +udp +17 +\d+ src={Regex.Escape(GatewayLab.Inside1)} dst={Regex.Escape(GatewayLab.Outside)} sport=40000 dport=7000 packets=1 bytes=\d+ src={Regex.Escape(GatewayLab.Outside)} dst={Regex.Escape(GatewayLab.External)} sport=7000 dport=\d+ packets=1 bytes=\d+ \[ASSURED\] id=\d+ rule={rule}", extended);

        // Both sessions are in the kernel's map; deleting one takes it out of the map too.
        Assert.Equal(2, Json(lab.Cli("fastpath", "--json")).GetProperty("sessions").GetInt64());
        Assert.Contains("Deleted 1 session.", lab.Cli("sessions", "delete", "--port", "7001"), StringComparison.Ordinal);
        Assert.Equal(1, Json(lab.Cli("fastpath", "--json")).GetProperty("sessions").GetInt64());
        Assert.Equal(0, Cli(lab, "fastpath", "--check").ExitCode);

        int id = Assert.Single(lab.SessionsJson()).GetProperty("id").GetInt32();
        Assert.Contains($"Deleted session {id}.", lab.Cli("sessions", "delete", id.ToString(CultureInfo.InvariantCulture)), StringComparison.Ordinal);
        Assert.Empty(lab.SessionsJson());
        Assert.Equal(0, Json(lab.Cli("fastpath", "--json")).GetProperty("sessions").GetInt64());

        // A deleted session's reply finds nothing, and the host's next datagram makes a new one.
        Exchange(lab, lab.In2, GatewayLab.Inside2, 40001, 7001);
        Assert.Equal("1", lab.Cli("sessions", "--count").Trim());

        (int exitCode, _, string error) = Cli(lab, "sessions", "delete");
        Assert.Equal(2, exitCode);
        Assert.Contains("at least one filter", error, StringComparison.Ordinal);
        Assert.Equal("1", lab.Cli("sessions", "--count").Trim());
    }

    [Fact]
    public void Ipfs_saves_into_a_directory_it_creates_lists_the_file_restores_it_and_unlocks()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        string directory = Path.Combine(lab.WorkDirectory, "state");
        lab.StartNatGate([.. CommandLineNat, "--state-directory", directory]);
        StartEcho(lab, 7000);
        Exchange(lab, lab.In1, GatewayLab.Inside1, 40000, 7000);
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true); // made at start; -W makes it again
        }

        Assert.Contains("Saved 1 session", lab.Cli("ipfs", "-W", "-d", directory), StringComparison.Ordinal);
        string file = Path.Combine(directory, "ipnat.ipf");
        Assert.True(File.Exists(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));

        string listing = lab.Cli("ipfs", "-l", "-d", directory);
        Assert.Contains($"{file}: 1 session, saved ", listing, StringComparison.Ordinal);
        Assert.Matches($@"MAP {Regex.Escape(GatewayLab.Inside1)} +40000 <- -> {Regex.Escape(GatewayLab.External)} +\d+ +\[{Regex.Escape(GatewayLab.Outside)} 7000\] udp", listing);

        lab.Cli("ipnat", "-F");
        Assert.Empty(lab.SessionsJson());
        lab.Cli("lock", "on");
        Assert.Contains("Restored 1 session", lab.Cli("ipfs", "-R", "-d", directory), StringComparison.Ordinal);
        Assert.True(Json(lab.Cli("stats", "--json")).GetProperty("locked").GetBoolean());
        Assert.Contains("unlocked (it was locked)", lab.Cli("ipfs", "-u"), StringComparison.Ordinal);
        Assert.False(Json(lab.Cli("stats", "--json")).GetProperty("locked").GetBoolean());
        // The restored session carries the flow on.
        Exchange(lab, lab.In1, GatewayLab.Inside1, 40000, 7000);
        Assert.Equal("1", lab.Cli("sessions", "--count").Trim());
    }

    [Fact]
    public void Nat_takes_netnats_words_and_the_filtering_follows_them()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        lab.StartNatGate(CommandLineNat);
        lab.Cli("rules", "flush");
        lab.Cli("nat", "add", "--name", "lan", "--internal-prefix", GatewayLab.InsidePrefix, "--external-address", GatewayLab.External,
            "--udp-filtering", "EndpointIndependentFiltering");
        Assert.Equal("EndpointIndependent", Json(lab.Cli("nat", "list", "--json"))[0].GetProperty("udpFilteringBehavior").GetString());
        StartEcho(lab, 7000);

        // Endpoint-independent filtering: another outside address reaches in1's mapping.
        Assert.True(Reached(lab, 40000), "with EndpointIndependentFiltering another remote reaches the mapping");

        // Address-dependent: it does not (a new mapping, under the changed instance's rule).
        lab.Cli("nat", "set", "--name", "lan", "--udp-filtering", "AddressDependentFiltering");
        Assert.Equal("AddressDependent", Json(lab.Cli("nat", "list", "--json"))[0].GetProperty("udpFilteringBehavior").GetString());
        Assert.False(Reached(lab, 40002), "with AddressDependentFiltering another remote is filtered");

        (int exitCode, _, string error) = Cli(lab, "nat", "set", "--name", "lan", "--udp-filtering", "FullCone");
        Assert.Equal(2, exitCode);
        Assert.Contains("'FullCone' is not one of", error, StringComparison.Ordinal);
    }

    /// <summary>in1 talks to the echo from PORT; then OutsideSecond, which in1 never wrote to, sends to in1's external port: did it arrive?</summary>
    private static bool Reached(GatewayLab lab, int port)
    {
        BackgroundProcess probe = lab.Start(lab.In1, "python3", "-c", UdpProbe, GatewayLab.Inside1, port.ToString(CultureInfo.InvariantCulture),
            GatewayLab.Outside, "7000", "3");
        probe.WaitFor($"got {GatewayLab.Outside}:7000", Short);
        JsonElement session = lab.SessionsJson().Single(found => found.GetProperty("internalSourcePort").GetInt32() == port);
        int external = session.GetProperty("externalSourcePort").GetInt32();
        GatewayLab.ExecChecked(lab.Out, "python3", "-c", UdpOnce, GatewayLab.OutsideSecond, GatewayLab.External, external.ToString(CultureInfo.InvariantCulture));
        probe.WaitFor("done", Short);
        return probe.Output.Contains($"got {GatewayLab.OutsideSecond}:", StringComparison.Ordinal);
    }

    [Fact]
    public void Put_refuses_a_session_on_an_address_its_rule_does_not_own()
    {
        Host.RequireRootAndTools("ip");
        using var lab = new GatewayLab();
        lab.StartNatGate(CommandLineNat);
        string rule = Json(lab.Cli("rules", "list", "--json"))[0].GetProperty("text").GetString()!;
        string Record(string external) => $$"""
            {
              "rule": "{{rule}}",
              "original": { "protocol": "udp", "source": "{{GatewayLab.Inside1}}", "sourcePort": 5000, "destination": "{{GatewayLab.Outside}}", "destinationPort": 53 },
              "translated": { "protocol": "udp", "source": "{{external}}", "sourcePort": 5000, "destination": "{{GatewayLab.Outside}}", "destinationPort": 53 }
            }
            """;
        string foreign = Path.Combine(lab.WorkDirectory, "foreign.json");
        File.WriteAllText(foreign, Record("198.51.100.99"));
        string own = Path.Combine(lab.WorkDirectory, "own.json");
        File.WriteAllText(own, Record(GatewayLab.External));
        lab.Cli("lock", "on");

        (int exitCode, _, string error) = Cli(lab, "put", foreign);
        Assert.Equal(2, exitCode);
        Assert.Contains("EINVAL", error, StringComparison.Ordinal);
        Assert.Contains("198.51.100.99", error, StringComparison.Ordinal);
        Assert.Contains($"({rule})", error, StringComparison.Ordinal);
        Assert.Empty(lab.SessionsJson());

        Assert.Contains("Inserted session", lab.Cli("put", own), StringComparison.Ordinal);
        Assert.Single(lab.SessionsJson());
    }

    [Fact]
    public void A_port_below_1024_keeps_its_class_and_parity_when_the_rule_asks()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32 portmap tcp/udp 1:65535 parity\n");
        lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);
        StartEcho(lab, 7000);
        Exchange(lab, lab.In1, GatewayLab.Inside1, 701, 7000);
        Exchange(lab, lab.In2, GatewayLab.Inside2, 701, 7000);

        int[] ports = [.. lab.SessionsJson().Select(session => session.GetProperty("externalSourcePort").GetInt32())];
        Assert.Equal(2, ports.Length);
        Assert.Contains(701, ports); // the first keeps its port (RFC 4787 REQ-3)
        Assert.All(ports, port => Assert.InRange(port, 1, 1023)); // the class is kept
        Assert.All(ports, port => Assert.Equal(1, port % 2)); // and, asked for, the parity (REQ-4)
        Assert.NotEqual(ports[0], ports[1]);
    }

    [Fact]
    public void Top_shows_the_busiest_session_with_its_rate()
    {
        Host.RequireRootAndTools("ip", "python3", "script", "stty");
        using var lab = new GatewayLab();
        lab.StartNatGate(CommandLineNat);
        StartEcho(lab, 7000);
        Exchange(lab, lab.In2, GatewayLab.Inside2, 40001, 7000);
        // 300 datagrams of 1000 bytes a second for 6 s (bounded), echoed back.
        BackgroundProcess stream = lab.Start(lab.In1, "python3", "-c", UdpStream, GatewayLab.Inside1, "40000", GatewayLab.Outside, "7000", "1800", "1000", "300");
        Thread.Sleep(1000);

        string output = lab.Cli("top", "--once", "--interval", "2", "--json");
        JsonElement snapshot = Json(output.Trim());
        Assert.Equal(2, snapshot.GetProperty("sessions").GetInt32());
        JsonElement busiest = snapshot.GetProperty("busiest")[0];
        Assert.Equal($"{GatewayLab.Inside1}:40000", busiest.GetProperty("inside").GetString());
        Assert.InRange(busiest.GetProperty("bytesOutPerSecond").GetDouble(), 150_000, 450_000);
        Assert.InRange(busiest.GetProperty("packetsPerSecond").GetDouble(), 300, 900);
        Assert.True(snapshot.GetProperty("bytesOutPerSecond").GetDouble() >= busiest.GetProperty("bytesOutPerSecond").GetDouble());

        // On a terminal (script(1) gives it one) it is Spectre.Console's live display, redrawn in place until stopped.
        BackgroundProcess live = lab.Start(lab.Gateway, "env", "TERM=xterm", "script", "-qfec",
            $"stty cols 200 rows 50; '{Dotnet}' '{Natgate}' top --interval 0.5 --control '{lab.ControlDirectory}'", "/dev/null");
        live.WaitFor($"{GatewayLab.Inside1}:40000", Short);
        Thread.Sleep(1500);
        live.Kill();
        Assert.Contains("natgate top ", live.Output, StringComparison.Ordinal);
        Assert.Contains("\u001b[", live.Output, StringComparison.Ordinal); // cursor movement: redrawn, not appended
        stream.WaitFor("sent", Short);

        // The table form, as a script reading a pipe gets it.
        string table = lab.Cli("top", "-n", "1", "--interval", "1");
        Assert.Contains("natgate top ", table, StringComparison.Ordinal);
        Assert.Contains($"{GatewayLab.Inside1}:40000", table, StringComparison.Ordinal);
    }
}
