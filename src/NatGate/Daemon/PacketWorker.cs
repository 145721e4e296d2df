using System.Diagnostics;
using NatGate.Core.Devices;
using NatGate.Core.Translation;

namespace NatGate.Daemon;

/// <summary>
/// The data path of one device queue, on one thread: read a batch, translate it in place, give
/// forwarded packets back the hop the "router on a stick" path costs them, write the batch, then
/// write the packets the engine released (held fragments). It does packet work only (DESIGN.md,
/// "The packet thread does packet work"): other threads' calls reach the engine between two
/// batches when this worker owns it, or under <see cref="GatewayController.EngineLock"/>. Nothing
/// in the loop allocates; each batch costs one read call and one write call on the device.
/// </summary>
public sealed class PacketWorker
{
    /// <summary>Released packets written at once after a batch; more follow in writes of as many.</summary>
    private const int ReleasedCapacity = 16;

    /// <summary>The longest sleep while idle, so the heartbeat moves at least once a second.</summary>
    private const int IdleWaitMilliseconds = 1000;

    private readonly IPacketQueue queue;
    private readonly GatewayController controller;
    private volatile bool stopping;
    private long lastBeat = Stopwatch.GetTimestamp();
    private long faults;

    public PacketWorker(IPacketQueue queue, GatewayController controller)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(controller);
        this.queue = queue;
        this.controller = controller;
    }

    /// <summary>
    /// True for the only queue's worker: it owns the engine (<see cref="EngineOwner"/>) and
    /// translates without a lock. False when queues share the engine: each batch takes
    /// <see cref="GatewayController.EngineLock"/> once, since a session's two directions may
    /// arrive on different queues.
    /// </summary>
    public bool OwnsEngine { get; init; }

    /// <summary>For how long after traffic to keep reading instead of sleeping (--busy-poll); zero for never.</summary>
    public TimeSpan BusyPoll { get; init; }

    /// <summary>The time handed to the engine with each batch.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Told of an exception the engine threw on a batch (a bug); the batch is dropped and the loop goes on.</summary>
    public Action<Exception>? Fault { get; init; }

    /// <summary>The queue this worker serves.</summary>
    public IPacketQueue Queue => queue;

    /// <summary>
    /// When the loop last went round (<see cref="Stopwatch"/> ticks): at least once a second while
    /// it runs, even idle. What the systemd watchdog's liveness check reads.
    /// </summary>
    public long LastBeat => Volatile.Read(ref lastBeat);

    /// <summary>Batches the engine threw on, and that were dropped.</summary>
    public long Faults => Interlocked.Read(ref faults);

    /// <summary>Asks the loop to end and wakes it; safe from any thread. <see cref="Run"/> returns after the batch in hand.</summary>
    public void Stop()
    {
        stopping = true;
        queue.Interrupt();
    }

    /// <summary>Serves the queue on the calling thread until <see cref="Stop"/>.</summary>
    public void Run()
    {
        PacketBatch batch = queue.CreateBatch();
        PacketBatch released = queue.CreateBatch(ReleasedCapacity);
        var results = new TranslationResult[batch.Capacity];
        Span<byte> scratch = stackalloc byte[2048];
        NatEngine engine = controller.Engine;
        long busyPollTicks = BusyPoll.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond;
        long pollUntil = 0;
        // One queue: this worker owns the engine and translates without a lock; everything else
        // is handed to it between batches. Several queues share the engine under EngineLock
        // (its cost is measured by QueueLockBenchmarks).
        EngineOwner? owned = OwnsEngine ? controller.TakeOwnership(queue.Interrupt) : null;
        try
        {
            while (!stopping)
            {
                Volatile.Write(ref lastBeat, Stopwatch.GetTimestamp());
                if (owned is not null && owned.HasPending)
                {
                    owned.RunPending(engine);
                }
                int count = queue.ReadBatch(batch);
                if (count == 0)
                {
                    // Busy polling: for a short while after traffic, read again rather than sleep in
                    // poll(2), so the next packet (a reply, say) is not delayed by a thread wake-up.
                    if (busyPollTicks > 0 && Stopwatch.GetTimestamp() < pollUntil)
                    {
                        // Yield rather than spin: on a machine whose cores also run the hosts the
                        // traffic comes from, whatever else is runnable here gets the core at once
                        // instead of waiting for the scheduler to preempt a spinning worker, and an
                        // idle core comes straight back. In A/B runs on the 2-core lab: connections
                        // per second +5-8 %, UDP round-trip p99 136-146 µs instead of 201-237.
                        Thread.Yield();
                        continue;
                    }
                    // Interrupted: stopping, or a call posted to the owner; the loop's top sees to both.
                    if (queue.WaitReadable(IdleWaitMilliseconds) != PacketWaitResult.Readable)
                    {
                        continue;
                    }
                    count = queue.ReadBatch(batch);
                    if (count == 0)
                    {
                        continue;
                    }
                }
                if (busyPollTicks > 0)
                {
                    pollUntil = Stopwatch.GetTimestamp() + busyPollTicks;
                }
                long now = Clock.GetUtcNow().UtcTicks;
                if (owned is not null)
                {
                    Translate(engine, batch, released, results, scratch, count, now);
                }
                else
                {
                    lock (controller.EngineLock)
                    {
                        Translate(engine, batch, released, results, scratch, count, now);
                    }
                }
                queue.WriteBatch(batch);
                while (released.Count > 0)
                {
                    queue.WriteBatch(released);
                    released.Clear();
                    // More than a batch of them (a NAT64 packet split to the minimum IPv6 MTU makes up
                    // to 54): the rest go now, not after the next read, which may be a second away.
                    if (engine.HasReleasedPackets)
                    {
                        if (owned is not null)
                        {
                            TakeReleased(engine, released, scratch);
                        }
                        else
                        {
                            lock (controller.EngineLock)
                            {
                                TakeReleased(engine, released, scratch);
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            if (owned is not null)
            {
                controller.ReleaseOwnership(owned);
            }
        }
    }

    /// <summary>
    /// Translates a batch in place and collects the packets the engine released (held
    /// fragments, say); the caller owns the engine or holds its lock.
    /// </summary>
    private void Translate(NatEngine engine, PacketBatch batch, PacketBatch released,
        TranslationResult[] results, Span<byte> scratch, int count, long now)
    {
        Span<int> lengths = batch.Lengths;
        Span<bool> checksumPartial = batch.ChecksumPartial;
        try
        {
            engine.TranslateBatch(batch.Slots, batch.SlotSize, batch.DeviceHeaderLength, lengths, checksumPartial, results, now);
        }
#pragma warning disable CA1031 // a worker must never die of one batch: count it, drop it, go on
        catch (Exception error)
#pragma warning restore CA1031
        {
            Interlocked.Increment(ref faults);
            Fault?.Invoke(error);
            lengths.Clear();
            return;
        }
        for (int i = 0; i < count; i++)
        {
            TranslationResult result = results[i];
            switch (result.Verdict)
            {
                case Verdict.Forward:
                    // NAT64 may have made the packet longer than it came (IPv4 to IPv6): the slot's growth room holds it.
                    lengths[i] = result.Length;
                    HopLimit.RestoreOne(batch.Packet(i));
                    break;
                case Verdict.Reply:
                    // An ICMP error of NatGate's own: whole and checksummed, so the device writes
                    // it as a plain packet whatever offload the packet it replaces came with.
                    checksumPartial[i] = false;
                    lengths[i] = result.Length;
                    break;
                default:
                    lengths[i] = 0;
                    break;
            }
        }
        TakeReleased(engine, released, scratch);
    }

    /// <summary>Collects what the engine let out since (held fragments, pieces of a split packet), up to the batch's capacity.</summary>
    private static void TakeReleased(NatEngine engine, PacketBatch released, Span<byte> scratch)
    {
        while (released.Count < released.Capacity && engine.TryTakeReleasedPacket(scratch, out int length))
        {
            HopLimit.RestoreOne(scratch[..length]);
            released.TryAdd(scratch[..length]);
        }
    }
}
