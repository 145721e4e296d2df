namespace NatGate.Core.Devices;

/// <summary>
/// A packet device in memory, as wireguard-go's <c>tuntest.ChannelTUN</c>: a test hands each
/// queue packets to read (<see cref="InMemoryPacketQueue.Inject"/>) and finds what the worker
/// wrote (<see cref="InMemoryPacketQueue.Written"/>), so the real worker loop and engine run
/// without root or a TUN. It copies every packet: it is for testing the loop, not for measuring it.
/// </summary>
public sealed class InMemoryPacketDevice : IPacketDevice
{
    private readonly InMemoryPacketQueue[] queues;

    /// <summary>Creates <paramref name="queueCount"/> queues, each for packets of up to <paramref name="largestPacket"/> bytes.</summary>
    public InMemoryPacketDevice(int queueCount = 1, int largestPacket = 1500)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(largestPacket, 1);
        queues = new InMemoryPacketQueue[queueCount];
        for (int index = 0; index < queueCount; index++)
        {
            queues[index] = new InMemoryPacketQueue(index, largestPacket);
        }
    }

    public int QueueCount => queues.Length;

    /// <summary>Queue <paramref name="index"/>, from 0 to <see cref="QueueCount"/> - 1.</summary>
    public InMemoryPacketQueue Queue(int index) => queues[index];

    IPacketQueue IPacketDevice.Queue(int index) => queues[index];

    /// <summary>Nothing to release: the queues hold only managed memory.</summary>
    public void Dispose()
    {
    }
}
