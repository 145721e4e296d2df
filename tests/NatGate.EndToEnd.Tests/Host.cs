using System.Diagnostics;
using System.Text;

namespace NatGate.EndToEnd.Tests;

/// <summary>Runs programs, inside a namespace or not, with a time limit; failures carry their output.</summary>
internal static class Host
{
    public static (int ExitCode, string Output, string Error) Run(string program, IEnumerable<string> arguments, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish in {(timeout ?? TimeSpan.FromSeconds(60)).TotalSeconds} s");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    public static string Check(string program, params string[] arguments)
    {
        (int exitCode, string output, string error) = Run(program, arguments);
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {exitCode}: {error.Trim()} {output.Trim()}");
        }
        return output;
    }

    public static bool IsRoot => Environment.UserName == "root" || Environment.GetEnvironmentVariable("USER") == "root" || GetEuid() == 0;

    private static uint GetEuid()
    {
        try
        {
            return uint.Parse(File.ReadAllLines("/proc/self/status").First(line => line.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return uint.MaxValue;
        }
    }

    /// <summary>
    /// End-to-end tests need root and network namespaces. Outside CI they skip with a loud
    /// message; in CI (CI=true) a missing prerequisite is a failure, never a silent skip.
    /// </summary>
    public static void RequireRootAndTools(params string[] tools)
    {
        var missing = new StringBuilder();
        if (!IsRoot)
        {
            missing.Append("root (network namespaces and TUN devices)");
        }
        foreach (string tool in tools)
        {
            if (!OnPath(tool))
            {
                missing.Append(missing.Length > 0 ? ", " : "").Append(tool);
            }
        }
        if (missing.Length == 0)
        {
            return;
        }
        string message = $"END-TO-END TEST NOT RUN: needs {missing}. Run ./test.sh as root to install and run it.";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(message + " (CI=true: this must run in CI)");
        }
        Assert.Skip(message);
    }

    public static bool OnPath(string tool)
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(directory => File.Exists(Path.Combine(directory, tool)));
}
