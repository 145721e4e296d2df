namespace NatGate.Core.Devices;

/// <summary>
/// Where the data path's packets come from and go to: a device of one or more queues, each
/// served by one worker (wireguard-go's <c>tun.Device</c>, with its batches, per queue). The
/// Linux TUN is one implementation, with its offload handling in its own files;
/// <see cref="InMemoryPacketDevice"/> is another, so the worker loop runs in tests without root
/// (DESIGN.md, "A device interface and an in-memory device"). Dispose only after every worker
/// has left its queue: stop them with <see cref="IPacketQueue.Interrupt"/> and join them first.
/// </summary>
public interface IPacketDevice : IDisposable
{
    /// <summary>How many queues the device has; a multi-queue device spreads flows over them by hash.</summary>
    int QueueCount { get; }

    /// <summary>Queue <paramref name="index"/>, from 0 to <see cref="QueueCount"/> - 1.</summary>
    IPacketQueue Queue(int index);
}
