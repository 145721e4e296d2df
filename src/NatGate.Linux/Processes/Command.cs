using System.ComponentModel;
using System.Diagnostics;

namespace NatGate.Linux.Processes;

/// <summary>What a command printed and how it ended; the error text is trimmed.</summary>
public readonly record struct CommandResult(int ExitCode, string Output, string Error);

/// <summary>
/// Runs the system's own tools (ip, nft, nsenter) with a time limit. They are children of the
/// calling thread, so they run in its network namespace.
/// </summary>
public static class Command
{
    /// <summary>Runs <paramref name="program"/>; null when it is not installed. A program that overstays <paramref name="timeout"/> is killed and reported as exit -1.</summary>
    public static CommandResult? Run(string program, IReadOnlyList<string> arguments, string? input, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        try
        {
            using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
            Task<string> error = process.StandardError.ReadToEndAsync();
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            if (input is not null)
            {
                process.StandardInput.Write(input);
                process.StandardInput.Close();
            }
            if (!process.WaitForExit(timeout))
            {
                process.Kill();
                return new CommandResult(-1, "", $"{program} did not finish within {timeout.TotalSeconds} s");
            }
            return new CommandResult(process.ExitCode, output.Result, error.Result.Trim());
        }
        catch (Win32Exception)
        {
            return null;
        }
    }
}
