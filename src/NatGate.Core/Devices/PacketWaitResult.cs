namespace NatGate.Core.Devices;

/// <summary>Why <see cref="IPacketQueue.WaitReadable"/> returned.</summary>
public enum PacketWaitResult
{
    /// <summary>At least one packet is waiting (or the device reported an error a read will raise).</summary>
    Readable,

    /// <summary>The timeout passed with nothing to read.</summary>
    TimedOut,

    /// <summary><see cref="IPacketQueue.Interrupt"/> was called; the caller should check why (for example, stopping).</summary>
    Interrupted,
}
