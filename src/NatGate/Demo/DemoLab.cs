using System.Diagnostics;
using NatGate.Lab;
using NatGate.Linux.Namespaces;

namespace NatGate.Demo;

/// <summary>
/// The demo's lab (<see cref="LabNetwork"/>, namespaces named "ngdemo...") and the servers it
/// runs; Dispose stops them and deletes the namespaces. Every wait stops when the demo is
/// interrupted (<see cref="DemoInterruption"/>), so a signal never waits out a time limit.
/// </summary>
internal sealed class DemoLab : IDisposable
{
    /// <summary>The start of every namespace name the demo makes.</summary>
    public const string NamePrefix = "ngdemo";

    private readonly LabNetwork network;
    private readonly List<Process> processes = [];
    private readonly CancellationToken cancellation;

    /// <summary>Builds the lab, reporting each step as it starts; an interrupted set-up removes what it made, then throws.</summary>
    public DemoLab(Action<string> progress, CancellationToken cancellation)
    {
        network = new LabNetwork(NamePrefix, progress, cancellation: cancellation);
        this.cancellation = cancellation;
    }

    public NetworkNamespace In1 => network.In1;
    public NetworkNamespace In2 => network.In2;
    public NetworkNamespace Gateway => network.Gateway;
    public NetworkNamespace Out => network.Out;

    /// <summary>Starts a server (one of <see cref="LabPrograms"/>) in a namespace and waits for its "ready"; it is stopped on Dispose.</summary>
    public void StartServer(NetworkNamespace space, params string[] command)
    {
        cancellation.ThrowIfCancellationRequested();
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
        if (!ready.Wait(TimeSpan.FromSeconds(20), cancellation))
        {
            throw new InvalidOperationException($"{command[0]} did not start in {space.Name}");
        }
    }

    /// <summary>Runs a client in a namespace with a time limit; returns its exit code and output. Interrupted, it kills the client and throws.</summary>
    public (int ExitCode, string Output) Run(NetworkNamespace space, TimeSpan timeout, params string[] command)
    {
        cancellation.ThrowIfCancellationRequested();
        using Process process = Process.Start(Exec(space, command)) ?? throw new InvalidOperationException($"could not start {command[0]}");
        Task<string> output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        limit.CancelAfter(timeout);
        try
        {
            process.WaitForExitAsync(limit.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(3000);
            cancellation.ThrowIfCancellationRequested();
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
