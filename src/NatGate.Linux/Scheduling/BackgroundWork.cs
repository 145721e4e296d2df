using NatGate.Linux.Interop;

namespace NatGate.Linux.Scheduling;

/// <summary>
/// Lowers the calling thread's scheduling priority (its nice value) until disposed, on the same
/// thread: bulk control-plane work, such as writing a listing of a large table, then yields the
/// core to the packet thread whenever both want it, instead of sharing it evenly (on two cores
/// 200 listings otherwise made the packet thread wait, and the round trip grew 60-fold).
/// </summary>
public readonly struct BackgroundWork : IDisposable
{
    /// <summary>The nice value while lowered: CFS gives such a thread about a tenth of a normal one's share.</summary>
    public const int Nice = 10;

    private readonly int thread;
    private readonly int before;
    private readonly bool lowered;

    private BackgroundWork(int thread, int before, bool lowered)
    {
        this.thread = thread;
        this.before = before;
        this.lowered = lowered;
    }

    /// <summary>Lowers the calling thread; a no-op where the platform or the call refuses.</summary>
    public static BackgroundWork Begin()
    {
        if (!OperatingSystem.IsLinux())
        {
            return default;
        }
        int thread = Libc.GetThreadId();
        int before = Libc.GetPriority(Libc.PriorityProcess, thread);
        bool lowered = before < Nice && Libc.SetPriority(Libc.PriorityProcess, thread, Nice) == 0;
        return new BackgroundWork(thread, before, lowered);
    }

    /// <summary>Puts the thread's priority back; call on the thread that began.</summary>
    public void Dispose()
    {
        if (lowered)
        {
            // Raising it back needs CAP_SYS_NICE, which the daemon has as root; a failure leaves
            // a pool thread lowered, which only slows control work.
            Libc.SetPriority(Libc.PriorityProcess, thread, before);
        }
    }
}
