using System.Runtime.InteropServices;
using NatGate.Cli;

namespace NatGate.Demo;

/// <summary>
/// Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed) for the demo: none of them ends the
/// process on the spot. Each cancels <see cref="Token"/>, the step in hand stops at its next
/// check, and the demo removes what it made before it exits with 128 + the signal's number.
/// </summary>
internal sealed class DemoInterruption : IDisposable
{
    private readonly CancellationTokenSource cancellation = new();
    private readonly PosixSignalRegistration[] registrations;
    private int signal;

    public DemoInterruption()
    {
        registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal),
        ];
    }

    public CancellationToken Token => cancellation.Token;

    public bool IsRequested => cancellation.IsCancellationRequested;

    /// <summary>The first signal's name, as a person would type it to kill(1).</summary>
    public string SignalName => Volatile.Read(ref signal) switch
    {
        Hangup => "SIGHUP",
        Interrupt => "SIGINT",
        _ => "SIGTERM",
    };

    /// <summary>The shell's convention, 128 + the signal's number: 129 SIGHUP, 130 SIGINT, 143 SIGTERM.</summary>
    public int ExitCode => Volatile.Read(ref signal) switch
    {
        Hangup => ExitCodes.Hangup,
        Interrupt => ExitCodes.Interrupted,
        _ => ExitCodes.Terminated,
    };

    private const int Hangup = 1;
    private const int Interrupt = 2;
    private const int Terminate = 15;

    private void OnSignal(PosixSignalContext context)
    {
        // Never the default action (the runtime would end the process with the lab standing);
        // a second signal changes nothing: the removal already under way finishes.
        context.Cancel = true;
        int number = context.Signal switch
        {
            PosixSignal.SIGHUP => Hangup,
            PosixSignal.SIGINT => Interrupt,
            _ => Terminate,
        };
        if (Interlocked.CompareExchange(ref signal, number, 0) == 0)
        {
            cancellation.Cancel();
        }
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in registrations)
        {
            registration.Dispose();
        }
        cancellation.Dispose();
    }
}
