using System.Text.Json;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The control plane with NAT66 sessions on a running gateway, in namespaces of the test's own:
/// listings, the transparent-proxy lookup, ipfs -W/-R across a restart with an established
/// connection, ipnat -F, and IPv6 in --inside/--external.
/// </summary>
public sealed class Ipv6ControlEndToEndTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    /// <summary>On-link outside: the gateway answers neighbour solicitations for it (proxy NDP).</summary>
    private const string External = "2001:db8:100::10";

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static string Natgate => Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    /// <summary>Echoes each line back as "echo LINE", one connection at a time, on argv[1] of either family; prints each client.</summary>
    internal const string LineEcho = """
        import socket, sys
        server = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((sys.argv[1], int(sys.argv[2])))
        server.listen()
        print("ready", flush=True)
        while True:
            connection, peer = server.accept()
            print("client", peer[0], peer[1], flush=True)
            stream = connection.makefile("rwb")
            for line in stream:
                stream.write(b"echo " + line)
                stream.flush()
        """;

    /// <summary>
    /// One TCP connection kept open: a first exchange at once, a second when the file argv[3]
    /// appears, a third (with a 3 s limit) when argv[4] appears. Prints its local port first.
    /// </summary>
    internal const string LongConnection = """
        import os, socket, sys, time
        host, port, second, third = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        connection = socket.create_connection((host, port), timeout=10)
        print("local port", connection.getsockname()[1], flush=True)
        def exchange(word):
            connection.sendall(word.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = connection.recv(100)
                if not chunk:
                    raise EOFError("closed")
                data += chunk
            return data.decode().strip()
        def wait_for(path):
            while not os.path.exists(path):
                time.sleep(0.05)
        print("first:", exchange("one"), flush=True)
        wait_for(second)
        try:
            print("second:", exchange("two"), flush=True)
        except Exception as error:
            print("second failed:", type(error).__name__, flush=True)
        wait_for(third)
        connection.settimeout(3)
        try:
            print("third:", exchange("three"), flush=True)
        except Exception as error:
            print("third failed:", type(error).__name__, flush=True)
        """;

    [Fact]
    public void Nat66_sessions_are_listed_looked_up_carried_over_a_restart_by_ipfs_and_flushed()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab(ipv6: true);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {External}/128 portmap tcp/udp auto
            rdr wan0 {External}/128 port 8081 -> {GatewayLab.Inside2v6} port 8081 tcp

            """);
        string[] arguments = ["--rules", rules, "--outside-interface", GatewayLab.OutsideInterface, "--state-directory", lab.WorkDirectory];
        (BackgroundProcess web, _) = lab.ServePage(lab.Out, GatewayLab.Outside6, 8080, "outside");
        BackgroundProcess first = lab.StartNatGate(arguments);

        // A NAT66 session made by curl is listed with its IPv6 endpoints.
        (int curlExit, string page, string curlError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "--retry", "3", "--retry-connrefused",
            $"http://[{GatewayLab.Outside6}]:8080/index.html");
        Assert.True(curlExit == 0, $"curl failed: {curlError}\n{first.Output}");
        Assert.Equal("outside", page);
        web.WaitFor($"client {External}:", Short);
        JsonElement curlSession = Assert.Single(lab.SessionsJson(), session => session.GetProperty("internalSourceAddress").GetString() == GatewayLab.Inside1v6);
        Assert.Equal(("tcp", External, GatewayLab.Outside6, 8080), (curlSession.GetProperty("protocol").GetString(), curlSession.GetProperty("externalSourceAddress").GetString(),
            curlSession.GetProperty("externalDestinationAddress").GetString(), curlSession.GetProperty("externalDestinationPort").GetInt32()));
        Assert.Contains($"[{GatewayLab.Inside1v6}]:", lab.Cli("sessions"), StringComparison.Ordinal);

        // A redirected connection from outside to an inside server, kept open.
        BackgroundProcess echo = lab.Start(lab.In2, "python3", "-c", LineEcho, GatewayLab.Inside2v6, "8081");
        echo.WaitFor("ready", Short);
        string goSecond = Path.Combine(lab.WorkDirectory, "second");
        string goThird = Path.Combine(lab.WorkDirectory, "third");
        BackgroundProcess client = lab.Start(lab.Out, "python3", "-c", LongConnection, External, "8081", goSecond, goThird);
        client.WaitFor("first: echo one", Short);
        string clientPort = client.Output.Split('\n').First(line => line.StartsWith("local port ", StringComparison.Ordinal))["local port ".Length..].Trim();
        echo.WaitFor($"client {GatewayLab.Outside6} {clientPort}", Short); // the server sees the real client

        // natgate lookup (SIOCGNATL, nl_v = 6): from the server's end and the client's, the real destination.
        string lookup = lab.Cli("lookup", "--protocol", "tcp", "--inside", $"[{GatewayLab.Inside2v6}]:8081", "--outside", $"[{GatewayLab.Outside6}]:{clientPort}", "--find-forward");
        Assert.Contains($"real destination [{External}]:8081", lookup, StringComparison.Ordinal);

        // ipfs -W with the table locked, a restart, ipfs -R: the established connection goes on.
        string state = Path.Combine(lab.WorkDirectory, "nat66.state");
        lab.Cli("lock", "on");
        int saved = lab.SessionsJson().Length;
        Assert.True(saved >= 2, $"{saved} sessions: the curl one and the redirected one were expected");
        Assert.Contains($"Saved {saved} sessions", lab.Cli("ipfs", "-W", "-f", state), StringComparison.Ordinal);
        Assert.Contains("\"version\":2", File.ReadLines(state).First(), StringComparison.Ordinal);
        Assert.Equal(0, first.Stop(Short));
        BackgroundProcess second = lab.StartNatGate(arguments);
        Assert.Empty(lab.SessionsJson());
        Assert.Contains($"Restored {saved} sessions from {state}; 0 refusals", lab.Cli("ipfs", "-R", "-f", state), StringComparison.Ordinal);
        File.WriteAllText(goSecond, "");
        client.WaitFor("second: echo two", Short);
        Assert.Contains(lab.SessionsJson(), session => session.GetProperty("externalDestinationPort").GetInt32() == int.Parse(clientPort, System.Globalization.CultureInfo.InvariantCulture)
            && session.GetProperty("state").GetString() == "Established");

        // ipnat -F removes the IPv6 sessions: the connection's next segment finds none, and is dropped.
        lab.Cli("ipnat", "-F");
        Assert.Empty(lab.SessionsJson());
        using (JsonDocument stats = JsonDocument.Parse(lab.Cli("stats", "--json")))
        {
            Assert.Equal(0, stats.RootElement.GetProperty("inUseIpv6").GetInt32());
        }
        File.WriteAllText(goThird, "");
        client.WaitFor("third failed", Short);
        Assert.False(second.HasExited);
    }

    [Fact]
    public void A_transparent_proxy_on_the_gateway_finds_the_original_ipv6_destination_and_relays()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab(ipv6: true);
        (BackgroundProcess web, _) = lab.ServePage(lab.Out, GatewayLab.Outside6, 80, "the real page over IPv6");
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        // Inside clients' web traffic goes to the proxy on the gateway's inside address.
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {External}/128 portmap tcp/udp auto
            rdr natgate0 any port 80 -> {GatewayLab.GatewayInside6} port 3128 tcp

            """);
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);
        BackgroundProcess proxy = lab.Start(lab.Gateway, Dotnet, Path.Combine(AppContext.BaseDirectory, "natgate-sample-proxy.dll"),
            $"[{GatewayLab.GatewayInside6}]:3128", lab.ControlDirectory);
        proxy.WaitFor("proxy listening", Short);

        (int exit, string page, string error) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "-m", "10", $"http://[{GatewayLab.Outside6}]/index.html");
        Assert.True(exit == 0, $"curl through the proxy failed: {error}\nproxy:\n{proxy.Output}\ndaemon:\n{daemon.Output}");
        Assert.Equal("the real page over IPv6", page);
        // The proxy saw the real client, learned the real destination from NatGate (TransparentProxyLookup, nl_v = 6), and relayed from the gateway.
        proxy.WaitFor($"-> [{GatewayLab.Outside6}]:80", Short);
        Assert.Contains($"[{GatewayLab.Inside1v6}]:", proxy.Output, StringComparison.Ordinal);
        web.WaitFor($"client {LabNetwork.GatewayOutside6}:", Short);
        Assert.Contains($"from {GatewayLab.GatewayInside6} iif lo ipproto tcp sport 3128 lookup 100", GatewayLab.Ip(lab.Gateway, "-6", "rule", "list"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_daemon_given_ipv6_inside_and_external_translates_curl_beside_ipv4()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab(ipv6: true);
        (BackgroundProcess web6, _) = lab.ServePage(lab.Out, GatewayLab.Outside6, 8080, "outside over IPv6");
        (BackgroundProcess web4, _) = lab.ServePage(lab.Out, GatewayLab.Outside, 8082, "outside over IPv4"); // another port: another site directory
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix6, "--external", External,
            "--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);

        (int exit6, string page6, string error6) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "--retry", "3", "--retry-connrefused",
            $"http://[{GatewayLab.Outside6}]:8080/index.html");
        Assert.True(exit6 == 0, $"curl over IPv6 failed: {error6}\n{daemon.Output}");
        Assert.Equal("outside over IPv6", page6);
        web6.WaitFor($"client {External}:", Short);
        Assert.DoesNotContain(GatewayLab.Inside1v6, web6.Output, StringComparison.Ordinal);

        string page4 = GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "--retry", "3", "--retry-connrefused", $"http://{GatewayLab.Outside}:8082/index.html");
        Assert.Equal("outside over IPv4", page4);
        web4.WaitFor($"client {GatewayLab.External}:", Short);

        string rules = lab.Cli("ipnat", "-l");
        Assert.Contains($"{GatewayLab.InsidePrefix6} -> {External}/128", rules, StringComparison.Ordinal);
        JsonElement[] sessions = lab.SessionsJson();
        Assert.Contains(sessions, session => session.GetProperty("internalSourceAddress").GetString() == GatewayLab.Inside1v6);
        Assert.Contains(sessions, session => session.GetProperty("internalSourceAddress").GetString() == GatewayLab.Inside1);

        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
        Assert.DoesNotContain("lookup 100", GatewayLab.Ip(lab.Gateway, "-6", "rule", "list"), StringComparison.Ordinal);
    }
}
