using System.Diagnostics.CodeAnalysis;

namespace NatGate.Core.Devices;

/// <summary>
/// One queue of an <see cref="IPacketDevice"/>, for one worker thread: reads and writes whole
/// batches (one call each, no allocation), and waits for packets in a way another thread can
/// interrupt. Only <see cref="Interrupt"/> and <see cref="Statistics"/> may be called from
/// other threads. What a device needs around each packet (a TUN's virtio header) it fills on
/// read and writes from the packet's <see cref="PacketBatch.ChecksumPartial"/> flag: the
/// worker sees packets and that flag, nothing else.
/// </summary>
[SuppressMessage("Naming", "CA1711", Justification = "A device queue is the kernel's name (IFF_MULTI_QUEUE), not a collection.")]
public interface IPacketQueue
{
    /// <summary>This queue's position in its device, from 0.</summary>
    int Index { get; }

    /// <summary>A snapshot of this queue's counters.</summary>
    PacketQueueStatistics Statistics { get; }

    /// <summary>A batch whose slots fit this queue: its largest packet and its device header.</summary>
    PacketBatch CreateBatch(int capacity = PacketBatch.DefaultCapacity);

    /// <summary>
    /// Reads the packets waiting, until there are none or the batch is full, and returns how
    /// many (also in <see cref="PacketBatch.Count"/>), with each one's length and "checksum
    /// partial" flag. Never blocks; pair it with <see cref="WaitReadable"/>.
    /// </summary>
    int ReadBatch(PacketBatch batch);

    /// <summary>
    /// Writes the first <see cref="PacketBatch.Count"/> packets (skipping those of length 0),
    /// each described by its "checksum partial" flag, and returns how many the device took. A
    /// packet refused for lack of room or as malformed is dropped and counted, never thrown.
    /// </summary>
    int WriteBatch(PacketBatch batch);

    /// <summary>
    /// Waits until a packet can be read, <paramref name="timeoutMilliseconds"/> pass (-1: no
    /// limit), or <see cref="Interrupt"/> is called. An interrupt that came before the call is
    /// not lost: the call returns <see cref="PacketWaitResult.Interrupted"/> at once and consumes it.
    /// </summary>
    PacketWaitResult WaitReadable(int timeoutMilliseconds);

    /// <summary>Wakes the thread in <see cref="WaitReadable"/>, or the next call to it. Safe from any thread.</summary>
    void Interrupt();
}
