using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NatGate.Cli;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Daemon;
using NatGate.Lab;
using NatGate.Linux.Namespaces;
using Spectre.Console;

namespace NatGate.Demo;

/// <summary>
/// natgate demo: builds a lab in fresh network namespaces, runs the gateway on it, sends real
/// traffic through it (HTTP, ping, traceroute, UDP, a static mapping from outside, hairpinning),
/// shows the session table and statistics as it goes, and removes everything it made.
/// </summary>
internal static class DemoCommand
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);

    public static Command Create()
    {
        var command = new Command("demo", "Build a lab in network namespaces, run the gateway on it, and send real traffic through it (needs root).");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        string[] tools = ["ip", "curl", "ping", "traceroute", "python3"];
        string[] missing = [.. tools.Where(tool => !OnPath(tool))];
        if (Environment.UserName != "root" || missing.Length > 0)
        {
            AnsiConsole.MarkupLine($"[red]The demo needs root and {string.Join(", ", tools)}.[/] Missing: {Markup.Escape(missing.Length == 0 ? "root" : string.Join(", ", missing))}. Run ./demo.sh, which installs them.");
            return ExitCodes.Failure;
        }
        // Ctrl-C, SIGTERM or SIGHUP at any moment: the step in hand stops, the finally below
        // removes what exists, and one line says so. A closed terminal must not stop that
        // removal half-way, so output goes through a writer that falls silent instead of throwing.
        using var interruption = new DemoInterruption();
        Console.SetOut(new TerminalWriter(Console.Out));
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });
        AnsiConsole.Write(new Rule("[bold]NatGate demo[/]"));
        AnsiConsole.MarkupLine($"Inside hosts [green]{LabNetwork.Inside1}[/] and [green]{LabNetwork.Inside2}[/] (standing in for containers) reach an outside server [blue]{LabNetwork.Outside}[/] through the gateway, which shows them as [yellow]{LabNetwork.External}[/].");
        DemoLab? lab = null;
        GatewayDaemon? daemon = null;
        string? site = null;
        try
        {
            AnsiConsole.MarkupLine("Building the lab in network namespaces:");
            lab = new DemoLab(Progress, interruption.Token);
            site = Directory.CreateTempSubdirectory("natgate-demo-").FullName;
            Progress($"writing the web servers' files to {site}");
            File.WriteAllBytes(Path.Combine(site, "file.bin"), new byte[1_000_000]);
            File.WriteAllText(Path.Combine(site, "index.html"), "<h1>Hello from 10.77.0.3, published on 198.51.100.10:8080</h1>\n");
            Progress($"starting a web server on {LabNetwork.Outside}:80 (outside)");
            lab.StartServer(lab.Out, "python3", "-c", LabPrograms.WebServer, LabNetwork.Outside, "80", site);
            Progress($"starting a web server on {LabNetwork.Inside2}:80 (inside)");
            lab.StartServer(lab.In2, "python3", "-c", LabPrograms.WebServer, LabNetwork.Inside2, "80", site);
            Progress($"starting a UDP echo server on {LabNetwork.Outside}:7 (outside)");
            lab.StartServer(lab.Out, "python3", "-c", LabPrograms.UdpEcho, LabNetwork.Outside, "7");
            string rules = Path.Combine(site, "ipnat.conf");
            File.WriteAllText(rules, $"# publish the web server on the second inside host\nrdr {LabNetwork.OutsideInterface} {LabNetwork.External}/32 port 8080 -> {LabNetwork.Inside2} port 80 tcp\n");

            var options = new GatewayRunOptions
            {
                Inside = [Ipv4Prefix.Parse(LabNetwork.InsidePrefix)],
                External = [new ExternalEndpointRange(Ipv4Address.Parse(LabNetwork.External), 1024, 65535)],
                RulesFile = rules,
                OutsideInterface = LabNetwork.OutsideInterface,
            };
            // The gateway runs in this process, on a thread inside the gateway's namespace.
            Progress($"starting the gateway in {lab.Gateway.Name}");
            interruption.Token.ThrowIfCancellationRequested();
            daemon = lab.Gateway.Invoke(() => GatewayDaemon.Start(options, NullLoggerFactory.Instance));
            AnsiConsole.MarkupLine($"[green]Gateway running[/] in namespace {lab.Gateway.Name}: map {LabNetwork.InsidePrefix} -> {LabNetwork.External}, rdr {LabNetwork.External}:8080 -> {LabNetwork.Inside2}:80");

            (string Title, NetworkNamespace From, string[] Command, Func<string, string> Summary)[] steps =
            [
                ("HTTP download, inside to outside", lab.In1, ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} bytes in %{time_total} s", $"http://{LabNetwork.Outside}/file.bin"], output => output),
                ("ping", lab.In1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", LabNetwork.Outside], output => output.Split('\n').FirstOrDefault(line => line.Contains("received", StringComparison.Ordinal)) ?? output),
                ("traceroute: the gateway is one hop", lab.In1, ["traceroute", "-n", "-q", "1", "-w", "2", "-m", "5", LabNetwork.Outside], output => string.Join(" | ", output.Split('\n').Skip(1).Where(line => line.Trim().Length > 0).Select(line => line.Trim()))),
                ("UDP both ways", lab.In2, ["python3", "-c", LabPrograms.UdpClient, LabNetwork.Outside, "7", "hello over UDP"], output => output.Trim()),
                ("static mapping, reached from outside", lab.Out, ["curl", "-sS", $"http://{LabNetwork.External}:8080/index.html"], output => output.Trim()),
                ("hairpinning: inside to inside through the external address", lab.In1, ["curl", "-sS", $"http://{LabNetwork.External}:8080/index.html"], output => output.Trim()),
            ];
            int failures = 0;
            foreach ((string title, NetworkNamespace from, string[] command, Func<string, string> summary) in steps)
            {
                (int exitCode, string output) = (0, "");
                AnsiConsole.Status().Start($"{title}...", _ => (exitCode, output) = lab.Run(from, StepTimeout, command));
                bool ok = exitCode == 0 && output.Trim() != "timeout";
                failures += ok ? 0 : 1;
                AnsiConsole.MarkupLine($"{(ok ? "[green]ok[/]  " : "[red]FAIL[/]")} [bold]{Markup.Escape(title)}[/] [grey](from {Markup.Escape(Role(lab, from))})[/]: {Markup.Escape(summary(output))}");
                ShowSessions(daemon.Controller);
            }
            ShowStatistics(daemon.Controller);
            return failures == 0 ? ExitCodes.Success : ExitCodes.Failure;
        }
#pragma warning disable CA1031 // interrupted, whatever a step threw (an `ip` killed by the same Ctrl-C, say) is the interruption's doing
        catch (Exception) when (interruption.IsRequested)
#pragma warning restore CA1031
        {
            return interruption.ExitCode;
        }
        catch (InvalidOperationException error)
        {
            AnsiConsole.MarkupLine($"[red]The demo failed:[/] {Markup.Escape(error.Message)}");
            return ExitCodes.Failure;
        }
        finally
        {
            if (!interruption.IsRequested)
            {
                AnsiConsole.MarkupLine("[grey]Removing the lab...[/]");
            }
            RemoveLab(lab, daemon, site);
            // Interrupted, this is the one line the demo has to say.
            AnsiConsole.MarkupLine(interruption.IsRequested
                ? $"Interrupted by {interruption.SignalName}: every namespace, server and file the demo made is gone."
                : "[grey]Every namespace the demo made is gone.[/]");
        }
    }

    /// <summary>One line per set-up step, as it starts.</summary>
    private static void Progress(string step) => AnsiConsole.MarkupLine($"  [grey]{Markup.Escape(step)}[/]");

    /// <summary>Stops the gateway, the servers and the namespaces, and deletes the files; each part runs even if one before it failed.</summary>
    private static void RemoveLab(DemoLab? lab, GatewayDaemon? daemon, string? site)
    {
        try
        {
            if (daemon is not null && lab is not null)
            {
                lab.Gateway.Invoke(() =>
                {
                    daemon.StopAsync().AsTask().GetAwaiter().GetResult();
                    return 0;
                });
            }
        }
        finally
        {
            try
            {
                lab?.Dispose();
            }
            finally
            {
                if (site is not null)
                {
                    Directory.Delete(site, recursive: true);
                }
            }
        }
    }

    private static string Role(DemoLab lab, NetworkNamespace space)
        => space == lab.In1 ? $"inside {LabNetwork.Inside1}" : space == lab.In2 ? $"inside {LabNetwork.Inside2}" : $"outside {LabNetwork.Outside}";

    private static void ShowSessions(GatewayController controller)
    {
        IReadOnlyList<SessionInfo> sessions = controller.Sessions(null, null);
        var table = new Table().Border(TableBorder.Rounded).Title($"[grey]{sessions.Count} session(s)[/]");
        foreach (string column in new[] { "proto", "internal source", "external source", "destination", "state", "out", "in" })
        {
            table.AddColumn(column);
        }
        foreach (SessionInfo session in sessions.OrderBy(session => session.CreationTime).TakeLast(8))
        {
            table.AddRow(session.Protocol, $"{session.InternalSourceAddress}:{session.InternalSourcePort}",
                $"{session.ExternalSourceAddress}:{session.ExternalSourcePort}", $"{session.ExternalDestinationAddress}:{session.ExternalDestinationPort}",
                session.State, $"{session.PacketsOut}", $"{session.PacketsIn}");
        }
        AnsiConsole.Write(table);
    }

    private static void ShowStatistics(GatewayController controller)
    {
        NatStatistics statistics = controller.Statistics();
        var grid = new Table().Border(TableBorder.Simple).AddColumn("statistic").AddColumn(new TableColumn("value").RightAligned());
        grid.AddRow("mapped out", $"{statistics.MappedOut}").AddRow("mapped in", $"{statistics.MappedIn}")
            .AddRow("sessions added", $"{statistics.Added}").AddRow("sessions in use", $"{statistics.InUse}")
            .AddRow("ICMP errors translated", $"{statistics.IcmpErrorsTranslated}").AddRow("dropped (no session)", $"{statistics.Drops.GetValueOrDefault("NoSession")}");
        AnsiConsole.Write(grid);
    }

    private static bool OnPath(string tool)
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(directory => File.Exists(Path.Combine(directory, tool)));
}
