using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// A lab in network namespaces of its own: two inside hosts on a bridge in the gateway, the
/// gateway, and an outside server with two addresses. Names carry a random per-lab prefix so
/// parallel runs cannot collide; Dispose stops every process and deletes every namespace,
/// also when a test fails. Nothing is added to the root namespace.
///
///   in1 10.77.0.2 ─┐
///                  br (10.77.0.1) gw (198.51.100.1) ── out 198.51.100.2, 198.51.100.3
///   in2 10.77.0.3 ─┘         natgate0: external 198.51.100.10 (proxy neighbour on the outside link)
/// </summary>
internal sealed class GatewayLab : IDisposable
{
    public const string InsidePrefix = "10.77.0.0/24";
    public const string GatewayInside = "10.77.0.1";
    public const string Inside1 = "10.77.0.2";
    public const string Inside2 = "10.77.0.3";
    public const string GatewayOutside = "198.51.100.1";
    public const string Outside = "198.51.100.2";
    public const string OutsideSecond = "198.51.100.3";
    public const string External = "198.51.100.10";

    private readonly List<string> namespaces = [];
    private readonly List<Process> processes = [];

    public GatewayLab()
    {
        Prefix = "ngt" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        try
        {
            Build();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Prefix { get; }

    public string In1 => Prefix + "in1";
    public string In2 => Prefix + "in2";
    public string Gateway => Prefix + "gw";
    public string Out => Prefix + "out";

    /// <summary>The gateway's outside interface (in the gateway namespace).</summary>
    public const string OutsideInterface = "wan0";

    public string ControlDirectory { get; } = Directory.CreateTempSubdirectory("natgate-e2e-").FullName;

    /// <summary>A scratch directory for the test's files (served pages, downloads, logs, state); deleted on Dispose.</summary>
    public string WorkDirectory { get; } = Directory.CreateTempSubdirectory("natgate-e2e-work-").FullName;

    private void Build()
    {
        foreach (string name in new[] { In1, In2, Gateway, Out })
        {
            Host.Check("ip", "netns", "add", name);
            namespaces.Add(name);
            Ip(name, "link", "set", "lo", "up");
        }
        Ip(Gateway, "link", "add", "br0", "type", "bridge");
        Ip(Gateway, "addr", "add", GatewayInside + "/24", "dev", "br0");
        Ip(Gateway, "link", "set", "br0", "up");
        Connect(In1, "eth0", Inside1 + "/24", Gateway, "lan1", null);
        Connect(In2, "eth0", Inside2 + "/24", Gateway, "lan2", null);
        Ip(Gateway, "link", "set", "lan1", "master", "br0");
        Ip(Gateway, "link", "set", "lan2", "master", "br0");
        Connect(Out, "eth0", Outside + "/24", Gateway, OutsideInterface, GatewayOutside + "/24");
        Ip(Out, "addr", "add", OutsideSecond + "/24", "dev", "eth0");
        Ip(In1, "route", "add", "default", "via", GatewayInside);
        Ip(In2, "route", "add", "default", "via", GatewayInside);
        // The outside knows nothing of the inside: it reaches only the gateway's link.
    }

    private void Connect(string left, string leftName, string leftAddress, string right, string rightName, string? rightAddress)
    {
        string temporary = Prefix + "t" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
        Host.Check("ip", "-n", left, "link", "add", leftName, "type", "veth", "peer", "name", temporary, "netns", right);
        Ip(right, "link", "set", temporary, "name", rightName);
        Ip(left, "addr", "add", leftAddress, "dev", leftName);
        if (rightAddress is not null)
        {
            Ip(right, "addr", "add", rightAddress, "dev", rightName);
        }
        Ip(left, "link", "set", leftName, "up");
        Ip(right, "link", "set", rightName, "up");
    }

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

    /// <summary>Waits until a socket listens (TCP) or is bound (UDP) on ADDRESS:PORT in a namespace.</summary>
    public static void WaitListening(string space, string protocol, string address, int port, TimeSpan timeout)
    {
        string kind = protocol switch
        {
            "tcp" => "-Hltn",
            "udp" => "-Hlun",
            _ => throw new ArgumentException($"protocol {protocol}: use tcp or udp", nameof(protocol)),
        };
        var clock = Stopwatch.StartNew();
        while (Exec(space, TimeSpan.FromSeconds(10), "ss", kind, "src", $"{address}:{port}").Output.Trim().Length == 0)
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
        BackgroundProcess server = Start(space, "python3", "-c", WebServerScript, address, port.ToString(System.Globalization.CultureInfo.InvariantCulture), directory);
        server.WaitFor("ready", TimeSpan.FromSeconds(20));
        return server;
    }

    private const string WebServerScript = """
        import functools, http.server, socketserver, sys
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, format, *args):
                print(f"client {self.client_address[0]}:{self.client_address[1]} {self.path}", flush=True)
        class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
            allow_reuse_address = True
            daemon_threads = True
        with Server((sys.argv[1], int(sys.argv[2])), functools.partial(Handler, directory=sys.argv[3])) as server:
            print("ready", flush=True)
            server.serve_forever()
        """;

    /// <summary>Starts natgate in the gateway namespace and waits until it is translating.</summary>
    public BackgroundProcess StartNatGate(params string[] arguments)
    {
        string natgate = Path.Combine(AppContext.BaseDirectory, "natgate.dll");
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        BackgroundProcess daemon = Start(Gateway, [dotnet, natgate, "run", "--control", ControlDirectory, .. arguments]);
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
        foreach (string name in namespaces)
        {
            Host.Run("ip", ["netns", "delete", name]);
        }
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
