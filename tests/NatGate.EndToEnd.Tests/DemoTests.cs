using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace NatGate.EndToEnd.Tests;

/// <summary>The README's first command, as a user runs it, and as a user interrupts it.</summary>
public sealed partial class DemoTests
{
    private static readonly string[] Tools = ["ip", "curl", "ping", "traceroute", "python3"];

    [Fact]
    public void The_demo_sends_every_kind_of_traffic_through_the_gateway_and_leaves_nothing_behind()
    {
        Host.RequireRootAndTools(Tools);
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        (int exitCode, string output, string error) = Host.Run(dotnet, [Path.Combine(AppContext.BaseDirectory, "natgate.dll"), "demo"], TimeSpan.FromMinutes(2));
        Assert.True(exitCode == 0, output + error);
        foreach (string step in new[] { "HTTP download", "ping", "traceroute", "UDP both ways", "static mapping", "hairpinning" })
        {
            Assert.Contains(output.Split('\n'), line => line.StartsWith("ok", StringComparison.Ordinal) && line.Contains(step, StringComparison.Ordinal));
        }
        Assert.DoesNotContain("FAIL", output, StringComparison.Ordinal);
        Assert.Contains("Every namespace the demo made is gone.", output, StringComparison.Ordinal);
        // Its namespaces are named "ngdemo" and six hex digits; other labs may come and go meanwhile.
        Match prefix = LabPrefix().Match(output);
        Assert.True(prefix.Success, "no namespace name in the output:\n" + output);
        Assert.DoesNotContain(prefix.Groups[1].Value, Host.Check("ip", "netns", "list"), StringComparison.Ordinal);
    }

    [Fact]
    public void Ctrl_C_during_the_set_up_removes_what_was_made_and_exits_130()
        => Interrupt("INT", after: "creating namespace", exitCode: 130);

    [Fact]
    public void SIGHUP_during_the_set_up_removes_what_was_made_and_exits_129()
        => Interrupt("HUP", after: "creating the veth pair", exitCode: 129);

    [Fact]
    public void SIGTERM_during_the_traffic_stops_it_removes_the_lab_and_exits_143()
    {
        string output = Interrupt("TERM", after: "ok   HTTP download", exitCode: 143);
        Assert.DoesNotContain("ok   hairpinning", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Closing_the_terminal_during_the_set_up_removes_what_was_made()
    {
        // A real terminal, closed: the kernel sends SIGHUP, and every later write to the
        // terminal fails (EIO); the demo must still remove its lab before it exits.
        Host.RequireRootAndTools(Tools);
        string script = """
            import os, pty, sys
            pid, terminal = pty.fork()
            if pid == 0:
                os.execvp(sys.argv[1], sys.argv[1:])
            seen = b""
            while b"creating the veth pair" not in seen:
                try:
                    chunk = os.read(terminal, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            os.close(terminal)
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(seen.decode(errors="replace") + "\nexit " + str(os.waitstatus_to_exitcode(status)) + "\n")
            """;
        using var run = new DemoRun();
        (int _, string output, string error) = run.Host("python3", ["-c", script, Dotnet, NatGateDll, "demo"]);
        Assert.Contains("creating the veth pair", output, StringComparison.Ordinal);
        Assert.EndsWith("exit 129", output.TrimEnd(), StringComparison.Ordinal);
        run.AssertNothingLeft(output + error);
    }

    /// <summary>Runs natgate demo, sends SIG<paramref name="signal"/> once a line holding <paramref name="after"/> appears, checks it cleaned up; returns its output.</summary>
    private static string Interrupt(string signal, string after, int exitCode)
    {
        Host.RequireRootAndTools(Tools);
        using var run = new DemoRun();
        (int code, string output, string error, TimeSpan afterSignal) = run.SignalWhenSeen(signal, after);
        string all = output + error;
        Assert.True(code == exitCode, $"exit {code}, expected {exitCode}:\n{all}");
        Assert.Contains($"Interrupted by SIG{signal}: every namespace, server and file the demo made is gone.", output, StringComparison.Ordinal);
        Assert.True(afterSignal < TimeSpan.FromSeconds(15), $"took {afterSignal.TotalSeconds:F1} s to stop:\n{all}");
        run.AssertNothingLeft(all);
        return output;
    }

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static string NatGateDll => Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    [GeneratedRegex(@"creating namespace (ngdemo[0-9a-f]{6})")]
    private static partial Regex LabPrefix();

    /// <summary>
    /// One run of the demo with a temporary directory of its own (TMPDIR) and a marker in its
    /// environment that every process it starts inherits, so what it leaves behind can be found.
    /// </summary>
    private sealed class DemoRun : IDisposable
    {
        private readonly string marker = "NATGATE_DEMO_TEST_RUN=" + Guid.NewGuid().ToString("N");
        private readonly string temporary = Directory.CreateTempSubdirectory("natgate-demotest-").FullName;

        public (int ExitCode, string Output, string Error) Host(string program, string[] arguments)
        {
            using Process process = Process.Start(Start(program, arguments)) ?? throw new InvalidOperationException($"could not start {program}");
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(90)))
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{program} did not finish in 90 s");
            }
            return (process.ExitCode, output.Result, error.Result);
        }

        public (int ExitCode, string Output, string Error, TimeSpan AfterSignal) SignalWhenSeen(string signal, string after)
        {
            var output = new StringBuilder();
            var error = new StringBuilder();
            using var seen = new ManualResetEventSlim();
            using Process process = Process.Start(Start(Dotnet, [NatGateDll, "demo"])) ?? throw new InvalidOperationException("could not start natgate demo");
            process.OutputDataReceived += (_, line) =>
            {
                lock (output)
                {
                    output.AppendLine(line.Data);
                }
                if (line.Data?.Contains(after, StringComparison.Ordinal) == true)
                {
                    seen.Set();
                }
            };
            process.ErrorDataReceived += (_, line) =>
            {
                lock (error)
                {
                    error.AppendLine(line.Data);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!seen.Wait(TimeSpan.FromSeconds(90)))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                Assert.Fail($"no line with \"{after}\" in 90 s:\n{output}{error}");
            }
            NatGate.EndToEnd.Tests.Host.Check("kill", "-s", signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var clock = Stopwatch.StartNew();
            if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                Assert.Fail($"natgate demo still running 60 s after SIG{signal}:\n{output}{error}");
            }
            TimeSpan afterSignal = clock.Elapsed;
            process.WaitForExit(); // the last lines of output
            lock (output)
            {
                lock (error)
                {
                    return (process.ExitCode, output.ToString(), error.ToString(), afterSignal);
                }
            }
        }

        /// <summary>No stack trace, no namespace of the demo's, no process of this run's, no temporary directory.</summary>
        public void AssertNothingLeft(string output)
        {
            Assert.DoesNotContain("Exception", output, StringComparison.Ordinal);
            Assert.DoesNotContain(output.Split('\n'), line => line.StartsWith("   at ", StringComparison.Ordinal));
            string namespaces = NatGate.EndToEnd.Tests.Host.Check("ip", "netns", "list");
            Match prefix = LabPrefix().Match(output);
            Assert.True(prefix.Success, "no namespace name in the output:\n" + output);
            Assert.DoesNotContain(prefix.Groups[1].Value, namespaces, StringComparison.Ordinal);
            Assert.False(Directory.Exists("/etc/netns/" + prefix.Groups[1].Value + "in1"), "/etc/netns/" + prefix.Groups[1].Value + "in1 is left");
            Assert.Empty(ProcessesOfThisRun());
            Assert.Empty(Directory.EnumerateDirectories(temporary, "natgate-demo-*"));
        }

        /// <summary>
        /// Started as a terminal would start it: SIGINT, SIGHUP and SIGTERM at their defaults. A
        /// runner that started the tests in the background (or under nohup) passes them on
        /// ignored, and an ignored signal stays ignored across exec, so the demo would never hear
        /// them; a small python step puts them back before it execs the program.
        /// </summary>
        private ProcessStartInfo Start(string program, string[] arguments)
        {
            var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("import os, signal, sys\n"
                + "for number in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):\n    signal.signal(number, signal.SIG_DFL)\n"
                + "os.execvp(sys.argv[1], sys.argv[1:])");
            start.ArgumentList.Add(program);
            foreach (string argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }
            start.Environment["TMPDIR"] = temporary;
            start.Environment[marker.Split('=')[0]] = marker.Split('=')[1];
            return start;
        }

        /// <summary>Every live process whose environment carries this run's marker: the demo's servers, clients, the demo itself.</summary>
        private List<string> ProcessesOfThisRun()
        {
            var found = new List<string>();
            foreach (string directory in Directory.EnumerateDirectories("/proc"))
            {
                try
                {
                    string environment = File.ReadAllText(Path.Combine(directory, "environ"));
                    if (environment.Split('\0').Contains(marker))
                    {
                        found.Add($"{Path.GetFileName(directory)}: {File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ')}");
                    }
                }
                catch (IOException)
                {
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
            return found;
        }

        public void Dispose() => Directory.Delete(temporary, recursive: true);
    }
}
