using NatGate.Core.Devices;

namespace NatGate.Core.Tests.Devices;

/// <summary>The in-memory device keeps the promises a TUN queue makes, so a worker cannot tell them apart.</summary>
public sealed class InMemoryPacketDeviceTests
{
    [Fact]
    public void A_read_takes_the_injected_packets_in_order_with_their_flags()
    {
        using var device = new InMemoryPacketDevice(largestPacket: 100);
        InMemoryPacketQueue queue = device.Queue(0);
        PacketBatch batch = queue.CreateBatch(4);
        queue.Inject([1, 2, 3]);
        queue.Inject(new byte[101]);
        queue.Inject([4, 5], checksumPartial: true);

        Assert.Equal(PacketWaitResult.Readable, queue.WaitReadable(0));
        Assert.Equal(2, queue.ReadBatch(batch));

        Assert.Equal(new byte[] { 1, 2, 3 }, batch.Packet(0).ToArray());
        Assert.Equal(new byte[] { 4, 5 }, batch.Packet(1).ToArray());
        Assert.Equal(new[] { false, true }, batch.ChecksumPartial.ToArray());
        Assert.Equal(new PacketQueueStatistics { PacketsRead = 2, BytesRead = 5, ReadsDropped = 1 }, queue.Statistics);
        Assert.Equal(0, queue.ReadBatch(batch));
    }

    [Fact]
    public void A_write_keeps_each_packet_and_skips_dropped_slots()
    {
        using var device = new InMemoryPacketDevice(queueCount: 2);
        InMemoryPacketQueue queue = device.Queue(1);
        PacketBatch batch = queue.CreateBatch(4);
        Assert.True(batch.TryAdd([9, 9]));
        Assert.True(batch.TryAdd([7], checksumPartial: true));
        Assert.True(batch.TryAdd([8]));
        batch.Drop(0);

        Assert.Equal(2, queue.WriteBatch(batch));

        IReadOnlyList<WrittenPacket> written = queue.Written;
        Assert.Equal(2, written.Count);
        Assert.Equal(new byte[] { 7 }, written[0].Bytes);
        Assert.True(written[0].ChecksumPartial);
        Assert.Equal(new byte[] { 8 }, written[1].Bytes);
        Assert.False(written[1].ChecksumPartial);
        Assert.Empty(device.Queue(0).Written);
    }

    [Fact]
    public void A_wait_times_out_and_an_interrupt_before_it_is_kept_and_consumed()
    {
        using var device = new InMemoryPacketDevice();
        InMemoryPacketQueue queue = device.Queue(0);

        Assert.Equal(PacketWaitResult.TimedOut, queue.WaitReadable(20));
        queue.Interrupt();
        queue.Inject([1]);
        Assert.Equal(PacketWaitResult.Interrupted, queue.WaitReadable(10_000));
        Assert.Equal(PacketWaitResult.Readable, queue.WaitReadable(10_000));
    }

    [Fact]
    public void An_interrupt_wakes_a_waiting_thread()
    {
        using var device = new InMemoryPacketDevice();
        InMemoryPacketQueue queue = device.Queue(0);
        using var timer = new Timer(_ => queue.Interrupt(), null, 50, Timeout.Infinite);

        Assert.Equal(PacketWaitResult.Interrupted, queue.WaitReadable(10_000));
    }
}
