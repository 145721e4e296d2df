using System.Text.RegularExpressions;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// A static mapping (ipnat.conf `rdr`): in2 publishes a web server on the external address,
/// reached from outside and, through hairpinning, from in1.
/// </summary>
public sealed partial class StaticMappingTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);
    private const int PublishedPort = 8080;
    private const int ServerPort = 80;

    [Fact]
    public void An_outside_client_reaches_the_published_port_and_an_unmapped_port_stays_closed()
    {
        Host.RequireRootAndTools("ip", "ss", "curl", "python3");
        using var lab = new GatewayLab();
        (BackgroundProcess server, BackgroundProcess daemon, string page) = Publish(lab);

        (int exitCode, string body, string error) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "--max-time", "10", $"http://{GatewayLab.External}:{PublishedPort}/index.html");
        Assert.True(exitCode == 0, $"curl exited {exitCode}: {error}\n{daemon.Output}");
        Assert.Equal(page, body);
        // The server behind the mapping sees the outside client's real address.
        server.WaitFor("client ", Short);
        Assert.Contains($"client {GatewayLab.Outside}:", server.Output, StringComparison.Ordinal);

        // An unmapped port: the SYN is dropped without an answer (RFC 5382 REQ-4: no RST or
        // ICMP for an unsolicited SYN), so curl times out rather than being refused.
        int sessionsBefore = SessionsCreated(daemon);
        (int closedExit, _, string closedError) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "--connect-timeout", "3", $"http://{GatewayLab.External}:{PublishedPort + 1}/");
        Assert.True(closedExit == 28, $"curl to the unmapped port should time out (28), exited {closedExit}: {closedError}");
        Thread.Sleep(300);
        // No session came of it (read from --log-sessions; there is no control CLI yet to count
        // sessions with), and the daemon still runs and still serves the mapping.
        Assert.False(daemon.HasExited, daemon.Output);
        Assert.Equal(sessionsBefore, SessionsCreated(daemon));
        Assert.DoesNotContain($"{GatewayLab.External}:{PublishedPort + 1}", daemon.Output, StringComparison.Ordinal);
        Assert.Equal(page, GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "--max-time", "10", $"http://{GatewayLab.External}:{PublishedPort}/index.html"));
    }

    [Fact]
    public void An_inside_client_reaches_the_published_port_through_the_external_address_and_is_seen_as_it()
    {
        Host.RequireRootAndTools("ip", "ss", "curl", "python3");
        using var lab = new GatewayLab();
        (BackgroundProcess server, BackgroundProcess daemon, string page) = Publish(lab);

        const int clientPort = 41234;
        (int exitCode, string body, string error) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "--max-time", "10", "--local-port", clientPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"http://{GatewayLab.External}:{PublishedPort}/index.html");
        Assert.True(exitCode == 0, $"curl exited {exitCode}: {error}\n{daemon.Output}");
        Assert.Equal(page, body);

        // RFC 4787 REQ-9: hairpinned traffic comes from the client's external address and port
        // (the session log says which port in1's connection got), never from its inside address.
        daemon.WaitFor($"session Created tcp {GatewayLab.Inside1}:{clientPort} as ", Short);
        Match session = Regex.Match(daemon.Output, $@"session Created tcp {Regex.Escape(GatewayLab.Inside1)}:{clientPort} as (?<external>[0-9.]+:[0-9]+) ");
        Assert.True(session.Success, $"no session for in1's connection in the log:\n{daemon.Output}");
        Assert.StartsWith(GatewayLab.External + ":", session.Groups["external"].Value, StringComparison.Ordinal);
        server.WaitFor("client ", Short);
        Assert.Contains($"client {session.Groups["external"].Value} ", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(GatewayLab.Inside1, server.Output, StringComparison.Ordinal);
    }

    /// <summary>A web server on in2 port 80, published as external port 8080 by an rdr rule; natgate logs sessions.</summary>
    private static (BackgroundProcess Server, BackgroundProcess Daemon, string Page) Publish(GatewayLab lab)
    {
        string site = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "site")).FullName;
        string page = $"in2 page {Guid.NewGuid()}\n";
        File.WriteAllText(Path.Combine(site, "index.html"), page);
        BackgroundProcess server = lab.StartWebServer(lab.In2, GatewayLab.Inside2, ServerPort, site);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"rdr {GatewayLab.OutsideInterface} {GatewayLab.External}/32 port {PublishedPort} -> {GatewayLab.Inside2} port {ServerPort} tcp\n");
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
            "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules, "--log-sessions");
        return (server, daemon, page);
    }

    private static int SessionsCreated(BackgroundProcess daemon) => SessionCreated().Count(daemon.Output);

    [GeneratedRegex("session Created ")]
    private static partial Regex SessionCreated();
}
