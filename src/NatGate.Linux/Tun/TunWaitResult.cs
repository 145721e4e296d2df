namespace NatGate.Linux.Tun;

/// <summary>Why <see cref="TunQueue.WaitReadable"/> returned.</summary>
public enum TunWaitResult
{
    /// <summary>At least one packet is waiting (or the device reported an error a read will raise).</summary>
    Readable,

    /// <summary>The timeout passed with nothing to read.</summary>
    TimedOut,

    /// <summary><see cref="TunQueue.Interrupt"/> was called; the caller should check why (for example, stopping).</summary>
    Interrupted,
}
