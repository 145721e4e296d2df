using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace NatGate.Linux.Routing;

/// <summary>What <see cref="GatewayPlumbing"/> needs from the system; tests replace it.</summary>
internal interface IPlumbingHost
{
    /// <summary>Runs <c>ip</c> with <paramref name="arguments"/>.</summary>
    CommandResult RunIp(IReadOnlyList<string> arguments);

    /// <summary>Reads a file under /proc/sys, trimmed; null when it does not exist.</summary>
    string? ReadSysctl(string path);

    /// <summary>Writes a file under /proc/sys; throws <see cref="IOException"/> when it cannot.</summary>
    void WriteSysctl(string path, string value);
}

internal readonly record struct CommandResult(int ExitCode, string Output, string Error);

/// <summary>
/// The real system, as seen from the calling thread: child processes and /proc/sys both
/// follow the network namespace of the thread that calls, not of the process.
/// </summary>
internal sealed class SystemPlumbingHost : IPlumbingHost
{
    public static readonly SystemPlumbingHost Instance = new();

    private const string ProcSys = "/proc/sys/";

    public CommandResult RunIp(IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        try
        {
            using Process process = Process.Start(start) ?? throw new PlumbingException("could not start ip");
            Task<string> error = process.StandardError.ReadToEndAsync();
            string output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return new CommandResult(process.ExitCode, output, error.Result.Trim());
        }
        catch (Win32Exception exception)
        {
            throw new PlumbingException("ip " + string.Join(' ', arguments), "the ip command is missing: install iproute2", exception);
        }
    }

    public string? ReadSysctl(string path)
    {
        try
        {
            return File.ReadAllText(ProcSys + path).Trim();
        }
        catch (Exception exception) when (exception is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public void WriteSysctl(string path, string value)
    {
        // No O_TRUNC or O_CREAT: /proc/sys files exist or not, and take one write.
        using var stream = new FileStream(ProcSys + path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
        stream.Write(Encoding.ASCII.GetBytes(value + "\n"));
    }
}
