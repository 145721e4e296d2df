using System.Diagnostics.CodeAnalysis;

namespace NatGate.Core.Devices;

/// <summary>
/// One queue of an <see cref="InMemoryPacketDevice"/>: packets injected wait to be read, packets
/// written are kept in order, and waits end on a packet, an interrupt or the timeout, as a TUN
/// queue's do (an interrupt before the wait is kept, and wins over a waiting packet).
/// </summary>
[SuppressMessage("Naming", "CA1711", Justification = "A device queue is the kernel's name (IFF_MULTI_QUEUE), not a collection.")]
public sealed class InMemoryPacketQueue : IPacketQueue
{
    // Monitor rather than Lock: waits for packets and for writes both need Wait and PulseAll.
    private readonly object gate = new();
    private readonly Queue<(byte[] Packet, bool ChecksumPartial)> incoming = new();
    private readonly List<WrittenPacket> written = [];
    private bool interrupted;
    private PacketQueueStatistics statistics;

    internal InMemoryPacketQueue(int index, int largestPacket)
    {
        Index = index;
        LargestPacket = largestPacket;
    }

    public int Index { get; }

    /// <summary>The largest packet a batch of <see cref="CreateBatch"/> holds; a longer one injected is dropped on read and counted.</summary>
    public int LargestPacket { get; }

    public PacketQueueStatistics Statistics
    {
        get
        {
            lock (gate)
            {
                return statistics;
            }
        }
    }

    /// <summary>Every packet written so far, in order.</summary>
    public IReadOnlyList<WrittenPacket> Written
    {
        get
        {
            lock (gate)
            {
                return [.. written];
            }
        }
    }

    public PacketBatch CreateBatch(int capacity = PacketBatch.DefaultCapacity) => new(capacity, LargestPacket);

    /// <summary>Hands the queue a packet to be read, as if it had arrived, and wakes a waiting reader.</summary>
    public void Inject(ReadOnlySpan<byte> packet, bool checksumPartial = false)
    {
        lock (gate)
        {
            incoming.Enqueue((packet.ToArray(), checksumPartial));
            Monitor.PulseAll(gate);
        }
    }

    public int ReadBatch(PacketBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int count = 0;
        lock (gate)
        {
            while (count < batch.Capacity && incoming.TryDequeue(out (byte[] Packet, bool ChecksumPartial) arrived))
            {
                if (arrived.Packet.Length == 0 || arrived.Packet.Length > batch.PacketCapacity)
                {
                    statistics = statistics with { ReadsDropped = statistics.ReadsDropped + 1 };
                    continue;
                }
                arrived.Packet.CopyTo(batch.PacketSpace(count));
                batch.SetLength(count, arrived.Packet.Length);
                batch.SetChecksumPartial(count, arrived.ChecksumPartial);
                statistics = statistics with { PacketsRead = statistics.PacketsRead + 1, BytesRead = statistics.BytesRead + arrived.Packet.Length };
                count++;
            }
        }
        batch.Count = count;
        return count;
    }

    public int WriteBatch(PacketBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int count = 0;
        lock (gate)
        {
            for (int index = 0; index < batch.Count; index++)
            {
                int length = batch.GetLength(index);
                if (length == 0)
                {
                    continue;
                }
                written.Add(new WrittenPacket(batch.Packet(index).ToArray(), batch.IsChecksumPartial(index)));
                statistics = statistics with { PacketsWritten = statistics.PacketsWritten + 1, BytesWritten = statistics.BytesWritten + length };
                count++;
            }
            Monitor.PulseAll(gate);
        }
        return count;
    }

    public PacketWaitResult WaitReadable(int timeoutMilliseconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(timeoutMilliseconds, -1);
        long deadline = timeoutMilliseconds < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMilliseconds;
        lock (gate)
        {
            while (true)
            {
                // As a TUN queue's poll: the interrupt is looked at first, and consumed.
                if (interrupted)
                {
                    interrupted = false;
                    return PacketWaitResult.Interrupted;
                }
                if (incoming.Count > 0)
                {
                    return PacketWaitResult.Readable;
                }
                int remaining = deadline == long.MaxValue ? Timeout.Infinite : (int)Math.Max(0, deadline - Environment.TickCount64);
                if (remaining == 0)
                {
                    return PacketWaitResult.TimedOut;
                }
                Monitor.Wait(gate, remaining);
            }
        }
    }

    public void Interrupt()
    {
        lock (gate)
        {
            interrupted = true;
            Monitor.PulseAll(gate);
        }
    }

    /// <summary>
    /// Waits until at least <paramref name="count"/> packets have been written or
    /// <paramref name="timeout"/> passes, and returns every packet written so far.
    /// </summary>
    public IReadOnlyList<WrittenPacket> WaitForWritten(int count, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        lock (gate)
        {
            while (written.Count < count)
            {
                long remaining = deadline - Environment.TickCount64;
                if (remaining <= 0)
                {
                    break;
                }
                Monitor.Wait(gate, (int)remaining);
            }
            return [.. written];
        }
    }
}

/// <summary>A packet an <see cref="InMemoryPacketQueue"/> was given to write, with its "checksum partial" flag.</summary>
[SuppressMessage("Performance", "CA1819", Justification = "A test's copy of the bytes written.")]
public readonly record struct WrittenPacket(byte[] Bytes, bool ChecksumPartial);
