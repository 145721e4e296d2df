using System.Diagnostics;
using NatGate.Lab;
using NatGate.Linux.Namespaces;

namespace NatGate.Demo;

/// <summary>The demo's lab (<see cref="LabNetwork"/>) and the servers it runs; Dispose stops them and deletes the namespaces.</summary>
internal sealed class DemoLab : IDisposable
{
    private readonly LabNetwork network = new("ngdemo");
    private readonly List<Process> processes = [];

    public NetworkNamespace In1 => network.In1;
    public NetworkNamespace In2 => network.In2;
    public NetworkNamespace Gateway => network.Gateway;
    public NetworkNamespace Out => network.Out;

    /// <summary>Starts a server (one of <see cref="LabPrograms"/>) in a namespace and waits for its "ready"; it is stopped on Dispose.</summary>
    public void StartServer(NetworkNamespace space, params string[] command)
    {
        Process process = Process.Start(Exec(space, command)) ?? throw new InvalidOperationException($"could not start {command[0]}");
        processes.Add(process);
        var ready = new ManualResetEventSlim(); // not disposed: the output handler may still run after the wait
        process.OutputDataReceived += (_, line) =>
        {
            if (line.Data == "ready")
            {
                ready.Set();
            }
        };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!ready.Wait(TimeSpan.FromSeconds(20)))
        {
            throw new InvalidOperationException($"{command[0]} did not start in {space.Name}");
        }
    }

    /// <summary>Runs a client in a namespace with a time limit; returns its exit code and output.</summary>
    public static (int ExitCode, string Output) Run(NetworkNamespace space, TimeSpan timeout, params string[] command)
    {
        using Process process = Process.Start(Exec(space, command)) ?? throw new InvalidOperationException($"could not start {command[0]}");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{command[0]} timed out after {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, output.Result + error.Result);
    }

    private static ProcessStartInfo Exec(NetworkNamespace space, string[] command)
    {
        var start = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])["netns", "exec", space.Name, .. command])
        {
            start.ArgumentList.Add(argument);
        }
        return start;
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
                    process.WaitForExit(3000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
        network.Dispose();
    }
}
