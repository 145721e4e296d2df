using System.Diagnostics;
using System.Text;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The end-to-end tests' lab: the demo's <see cref="LabNetwork"/> (two inside hosts, the
/// gateway, an outside server with two addresses, in namespaces named "ngt" plus random hex),
/// and the programs a test starts in it. Dispose stops every process and deletes every
/// namespace, also when a test fails.
/// </summary>
internal sealed class GatewayLab : IDisposable
{
    public const string InsidePrefix = LabNetwork.InsidePrefix;
    public const string GatewayInside = LabNetwork.GatewayInside;
    public const string Inside1 = LabNetwork.Inside1;
    public const string Inside2 = LabNetwork.Inside2;
    public const string GatewayOutside = LabNetwork.GatewayOutside;
    public const string Outside = LabNetwork.Outside;
    public const string OutsideSecond = LabNetwork.OutsideSecond;
    public const string External = LabNetwork.External;

    /// <summary>The gateway's outside interface (in the gateway namespace).</summary>
    public const string OutsideInterface = LabNetwork.OutsideInterface;

    public const string InsidePrefix6 = LabNetwork.InsidePrefix6;
    public const string GatewayInside6 = LabNetwork.GatewayInside6;
    public const string Inside1v6 = LabNetwork.Inside1v6;
    public const string Inside2v6 = LabNetwork.Inside2v6;
    public const string Outside6 = LabNetwork.Outside6;
    public const string OutsideSecond6 = LabNetwork.OutsideSecond6;
    public const string ExternalPrefix6 = LabNetwork.ExternalPrefix6;
    public const string Far = LabNetwork.Far;
    public const string Far6 = LabNetwork.Far6;
    public const string RouterFar6 = LabNetwork.RouterFar6;
    public const int FarMtu = LabNetwork.FarMtu;

    private readonly LabNetwork network;
    private readonly List<Process> processes = [];

    /// <param name="ipv6">Also give the lab its IPv6 half (see <see cref="LabNetwork"/>).</param>
    /// <param name="farNetwork">Make "out" a router to a server beyond it (<see cref="FarHost"/>), whose path MTU is <see cref="FarMtu"/>.</param>
    public GatewayLab(bool ipv6 = false, bool farNetwork = false) => network = new LabNetwork("ngt", ipv6: ipv6, farNetwork: farNetwork);

    public string Prefix => network.Prefix;

    public string In1 => network.In1.Name;
    public string In2 => network.In2.Name;
    public string Gateway => network.Gateway.Name;
    public string Out => network.Out.Name;

    /// <summary>Runs <paramref name="work"/> on a thread inside inside host 1's namespace: sockets it makes are that host's.</summary>
    public T InInside1<T>(Func<T> work) => network.In1.Invoke(work);

    /// <summary>The far server's namespace (a lab made with a far network only).</summary>
    public string FarHost => network.FarHost?.Name ?? throw new InvalidOperationException("This lab has no far network.");

    public string ControlDirectory { get; } = Directory.CreateTempSubdirectory("natgate-e2e-").FullName;

    /// <summary>A scratch directory for the test's files (served pages, downloads, logs, state); deleted on Dispose.</summary>
    public string WorkDirectory { get; } = Directory.CreateTempSubdirectory("natgate-e2e-work-").FullName;

    public static string Ip(string space, params string[] arguments) => Host.Check("ip", ["-n", space, .. arguments]);

    public static (int ExitCode, string Output, string Error) Exec(string space, TimeSpan timeout, params string[] command)
        => Host.Run("ip", ["netns", "exec", space, .. command], timeout);

    public static string ExecChecked(string space, params string[] command)
    {
        (int exitCode, string output, string error) = Exec(space, TimeSpan.FromSeconds(60), command);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"[{space}] {string.Join(' ', command)} exited {exitCode}: {error.Trim()} {output.Trim()}");
        }
        return output;
    }

    /// <summary>Starts a long-running program in a namespace; it is killed on Dispose. Output is collected.</summary>
    public BackgroundProcess Start(string space, params string[] command)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in (string[])["netns", "exec", space, .. command])
        {
            start.ArgumentList.Add(argument);
        }
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        processes.Add(process);
        return new BackgroundProcess(process);
    }

    /// <summary>Waits until a socket listens (TCP) or is bound (UDP) on ADDRESS:PORT in a namespace (either family).</summary>
    public static void WaitListening(string space, string protocol, string address, int port, TimeSpan timeout)
    {
        string kind = protocol switch
        {
            "tcp" => "-Hltn",
            "udp" => "-Hlun",
            _ => throw new ArgumentException($"protocol {protocol}: use tcp or udp", nameof(protocol)),
        };
        // ss writes an IPv6 endpoint in brackets, as a URL does.
        string endpoint = address.Contains(':', StringComparison.Ordinal) ? $"[{address}]:{port}" : $"{address}:{port}";
        var clock = Stopwatch.StartNew();
        while (Exec(space, TimeSpan.FromSeconds(10), "ss", kind, "src", endpoint).Output.Trim().Length == 0)
        {
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"[{space}] nothing listens on {protocol} {address}:{port} after {timeout.TotalSeconds} s");
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>
    /// Serves DIRECTORY over HTTP on ADDRESS:PORT and logs each request as "client IP:PORT PATH".
    /// Not `python3 -m http.server`: that one looks up its own name in DNS before it listens,
    /// which from an inside host sends a query through the gateway and stalls for seconds.
    /// </summary>
    public BackgroundProcess StartWebServer(string space, string address, int port, string directory)
    {
        BackgroundProcess server = Start(space, "python3", "-c", LabPrograms.WebServer, address, port.ToString(System.Globalization.CultureInfo.InvariantCulture), directory);
        server.WaitFor("ready", TimeSpan.FromSeconds(20));
        return server;
    }

    /// <summary>
    /// Serves a site whose index.html holds <paramref name="text"/> from <paramref name="space"/>
    /// on ADDRESS:PORT; returns the server (whose output logs each client) and the page's URL.
    /// </summary>
    public (BackgroundProcess Server, string Url) ServePage(string space, string address, int port, string text)
    {
        string site = Directory.CreateDirectory(Path.Combine(WorkDirectory, $"site-{space}-{port}")).FullName;
        File.WriteAllText(Path.Combine(site, "index.html"), text);
        return (StartWebServer(space, address, port, site), $"http://{address}:{port}/index.html");
    }

    /// <summary>
    /// Starts a hash sink (LabPrograms.HashSink) on port 9000 outside and on inside host 2, and
    /// writes an ipnat.conf that publishes inside host 2's sink on the external address: the
    /// two ends of the "out through the source translation, in through the static mapping"
    /// transfers. Returns the two sinks, ready, and the rules file to pass with --rules.
    /// </summary>
    public (BackgroundProcess Outside, BackgroundProcess Inside, string Rules) StartHashSinksBehindRdr()
    {
        BackgroundProcess outside = Start(Out, "python3", "-c", LabPrograms.HashSink, Outside, "9000");
        BackgroundProcess inside = Start(In2, "python3", "-c", LabPrograms.HashSink, Inside2, "9000");
        outside.WaitFor("ready", TimeSpan.FromSeconds(60));
        inside.WaitFor("ready", TimeSpan.FromSeconds(60));
        string rules = Path.Combine(WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"rdr wan0 {External}/32 port 9000 -> {Inside2} port 9000 tcp\n");
        return (outside, inside, rules);
    }

    /// <summary>Runs a natgate command against this lab's daemon (in the gateway namespace, with its control directory) and returns what it printed; throws when it fails.</summary>
    public string Cli(params string[] arguments)
        => ExecChecked(Gateway, [Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", Path.Combine(AppContext.BaseDirectory, "natgate.dll"), .. arguments, "--control", ControlDirectory]);

    /// <summary>The daemon's sessions as `natgate sessions --json` lists them.</summary>
    public System.Text.Json.JsonElement[] SessionsJson()
    {
        using var document = System.Text.Json.JsonDocument.Parse(Cli("sessions", "--json"));
        return [.. document.RootElement.EnumerateArray().Select(session => session.Clone())];
    }

    /// <summary>Starts natgate in the gateway namespace and waits until it is translating.</summary>
    public BackgroundProcess StartNatGate(params string[] arguments) => StartNatGateWith([], arguments);

    /// <summary>
    /// Starts natgate with extra environment variables (NAME=VALUE) and waits until it is translating.
    /// Unless the test says otherwise, with --fast-path on: every end-to-end test runs with the
    /// kernel fast path (issue 13), and a machine where it cannot load fails the test rather than
    /// quietly testing the TUN path alone.
    /// </summary>
    public BackgroundProcess StartNatGateWith(string[] environment, params string[] arguments)
    {
        string natgate = Path.Combine(AppContext.BaseDirectory, "natgate.dll");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        string[] fastPath = arguments.Contains("--fast-path") ? [] : ["--fast-path", "on"];
        BackgroundProcess daemon = Start(Gateway, ["env", .. environment, dotnet, natgate, "run", "--control", ControlDirectory, .. arguments, .. fastPath]);
        daemon.WaitFor("natgate running", TimeSpan.FromSeconds(30));
        return daemon;
    }

    public void Dispose()
    {
        foreach (Process process in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
        network.Dispose();
        foreach (string directory in new[] { ControlDirectory, WorkDirectory })
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>A program running in the background, with its output gathered as it comes.</summary>
internal sealed class BackgroundProcess
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly Lock gate = new();

    public BackgroundProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, line) => Append(line.Data);
        process.ErrorDataReceived += (_, line) => Append(line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (gate)
        {
            output.AppendLine(line);
        }
    }

    public string Output
    {
        get
        {
            lock (gate)
            {
                return output.ToString();
            }
        }
    }

    public bool HasExited => process.HasExited;

    /// <summary>The program's process id (`ip netns exec` and `env` exec it, so it is the program's own).</summary>
    public int Id => process.Id;

    public void WaitFor(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the process exited ({process.ExitCode}) before printing '{text}':\n{Output}");
            }
            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"'{text}' did not appear within {timeout.TotalSeconds} s:\n{Output}");
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>SIGKILL, as a crash or an OOM kill would: the program gets no chance to clean up.</summary>
    public void Kill()
    {
        if (!process.HasExited)
        {
            Host.Run("kill", ["-KILL", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }
        process.WaitForExit();
    }

    /// <summary>Waits for the program to end by itself and returns its exit code.</summary>
    public int WaitForExit(TimeSpan timeout)
    {
        if (!process.WaitForExit(timeout))
        {
            throw new TimeoutException($"the process did not end within {timeout.TotalSeconds} s:\n{Output}");
        }
        process.WaitForExit();
        return process.ExitCode;
    }

    /// <summary>Sends SIGTERM (through the `ip netns exec` wrapper, which passes it on) and waits.</summary>
    public int Stop(TimeSpan timeout)
    {
        if (!process.HasExited)
        {
            Host.Run("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"the process did not stop within {timeout.TotalSeconds} s:\n{Output}");
            }
        }
        process.WaitForExit();
        return process.ExitCode;
    }
}
