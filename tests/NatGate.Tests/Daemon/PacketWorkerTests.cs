using System.Diagnostics;
using NatGate.Core.Addressing;
using NatGate.Core.Devices;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using NatGate.Daemon;

namespace NatGate.Tests.Daemon;

/// <summary>
/// The real worker loop and a real engine over an in-memory device: packets in, packets out,
/// no root and no TUN.
/// </summary>
public sealed class PacketWorkerTests
{
    private static readonly Ipv4Address InsideHost = Ipv4Address.Parse("10.0.0.2");
    private static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");
    private static readonly Ipv4Address Server = Ipv4Address.Parse("192.0.2.9");
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static readonly NatInstance Lab = new()
    {
        Name = "lab",
        InternalIPInterfaceAddressPrefix = Ipv4Prefix.Parse("10.0.0.0/24"),
        ExternalAddresses = [new NatExternalAddress(External)],
    };

    /// <summary>A device, an engine with one NAT (10.0.0.0/24 behind 198.51.100.10), and a worker thread per queue.</summary>
    private sealed class WorkerLab : IDisposable
    {
        public WorkerLab(int queues = 1, int sessionsPerHost = 64)
        {
            Device = new InMemoryPacketDevice(queues);
            var engine = new NatEngine(new NatEngineOptions
            {
                RandomSeed = 1,
                Limits = new FlowTableLimits { MaximumSessions = 1024, MaximumSessionsPerHost = sessionsPerHost },
            }, TimeProvider.System.GetUtcNow().UtcTicks);
            Controller = new GatewayController(engine, TimeProvider.System);
            Controller.ApplyNetNat(new NetNatModel { Instances = [Lab] });
            Workers = new PacketWorker[queues];
            Threads = new Thread[queues];
            for (int queue = 0; queue < queues; queue++)
            {
                PacketWorker worker = new(Device.Queue(queue), Controller) { OwnsEngine = queues == 1 };
                Workers[queue] = worker;
                var thread = new Thread(worker.Run) { IsBackground = true, Name = $"test-queue{queue}" };
                Threads[queue] = thread;
                long created = worker.LastBeat;
                thread.Start();
                // Into its loop (having taken the engine, when it owns it) before a test talks to it.
                var started = Stopwatch.StartNew();
                while (worker.LastBeat == created && started.Elapsed < Patience)
                {
                    Thread.Sleep(1);
                }
            }
        }

        public InMemoryPacketDevice Device { get; }

        public GatewayController Controller { get; }

        public PacketWorker[] Workers { get; }

        public Thread[] Threads { get; }

        public void Dispose()
        {
            foreach (PacketWorker worker in Workers)
            {
                worker.Stop();
            }
            foreach (Thread thread in Threads)
            {
                Assert.True(thread.Join(Patience), $"{thread.Name} did not stop");
            }
            Device.Dispose();
        }
    }

    private static byte[] Udp(Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort, byte timeToLive = 64)
    {
        byte[] payload = [1, 2, 3, 4];
        byte[] packet = new byte[Ipv4Packet.MinimumHeaderLength + UdpDatagram.HeaderLength + payload.Length];
        Ipv4PacketWriter.WriteUdp(packet, source, sourcePort, destination, destinationPort, payload, timeToLive);
        return packet;
    }

    /// <summary>What a test reads of a datagram written, once its checksums are found right.</summary>
    private readonly record struct Datagram(Ipv4Address Source, ushort SourcePort, Ipv4Address Destination, ushort DestinationPort, byte TimeToLive);

    private static Datagram ParseUdp(byte[] bytes)
    {
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(bytes, out Ipv4Packet ip));
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        Assert.True(TransportChecksum.IsValid(ip), "the IP or UDP checksum is wrong");
        Assert.Equal(PacketError.None, UdpDatagram.TryParse(ip.Payload, out UdpDatagram udp));
        return new Datagram(ip.SourceAddress, udp.SourcePort, ip.DestinationAddress, udp.DestinationPort, ip.TimeToLive);
    }

    [Fact]
    public void An_outbound_datagram_leaves_translated_and_its_reply_comes_back()
    {
        using var lab = new WorkerLab();
        InMemoryPacketQueue queue = lab.Device.Queue(0);

        queue.Inject(Udp(InsideHost, 40000, Server, 53, timeToLive: 63));
        WrittenPacket outbound = Assert.Single(queue.WaitForWritten(1, Patience));
        Datagram translated = ParseUdp(outbound.Bytes);
        Assert.Equal(External, translated.Source);
        Assert.Equal(Server, translated.Destination);
        Assert.Equal(53, translated.DestinationPort);
        // The hop the kernel took twice on the way through the TUN is given back once.
        Assert.Equal(64, translated.TimeToLive);
        Assert.False(outbound.ChecksumPartial);
        ushort externalPort = translated.SourcePort;

        queue.Inject(Udp(Server, 53, External, externalPort));
        IReadOnlyList<WrittenPacket> written = queue.WaitForWritten(2, Patience);
        Assert.Equal(2, written.Count);
        Datagram reply = ParseUdp(written[1].Bytes);
        Assert.Equal(Server, reply.Source);
        Assert.Equal(InsideHost, reply.Destination);
        Assert.Equal(40000, reply.DestinationPort);
        Assert.Equal(new PacketQueueStatistics { PacketsRead = 2, BytesRead = 64, PacketsWritten = 2, BytesWritten = 64 }, queue.Statistics);
    }

    [Fact]
    public void An_inbound_datagram_without_a_session_is_dropped()
    {
        using var lab = new WorkerLab();
        InMemoryPacketQueue queue = lab.Device.Queue(0);

        queue.Inject(Udp(Server, 53, External, 5555));
        // Read in order: once the next packet is out, the first one has been dealt with.
        queue.Inject(Udp(InsideHost, 40000, Server, 53));
        queue.WaitForWritten(1, Patience);
        Thread.Sleep(50);

        WrittenPacket only = Assert.Single(queue.Written);
        Assert.Equal(External, ParseUdp(only.Bytes).Source);
        Assert.Equal(2, queue.Statistics.PacketsRead);
        Assert.Equal(1, lab.Controller.Statistics().Drops.Sum(drop => drop.Value));
    }

    [Fact]
    public void A_partial_checksum_stays_partial_and_a_refusal_is_written_whole()
    {
        using var lab = new WorkerLab(sessionsPerHost: 1);
        InMemoryPacketQueue queue = lab.Device.Queue(0);

        queue.Inject(Udp(InsideHost, 40000, Server, 53), checksumPartial: true);
        // A second session for the same host is over its limit: the engine answers with an
        // ICMP error written into the slot (RFC 6888 REQ-11: refused, never evicted).
        queue.Inject(Udp(InsideHost, 40001, Server, 53), checksumPartial: true);
        IReadOnlyList<WrittenPacket> written = queue.WaitForWritten(2, Patience);

        Assert.Equal(2, written.Count);
        Assert.True(written[0].ChecksumPartial);
        Assert.False(written[1].ChecksumPartial);
        Assert.Equal(PacketError.None, Ipv4Packet.TryParse(written[1].Bytes, out Ipv4Packet error));
        Assert.Equal(IpProtocol.Icmp, error.Protocol);
        Assert.Equal(InsideHost, error.DestinationAddress);
        Assert.Equal(3, error.Payload[IcmpMessage.Field.Type]);   // destination unreachable
        Assert.Equal(13, error.Payload[IcmpMessage.Field.Code]);  // administratively prohibited
        Assert.True(TransportChecksum.IsValid(error));
    }

    [Fact]
    public void A_packet_nat64_makes_longer_than_the_device_reads_is_written_whole()
    {
        using var lab = new WorkerLab();
        lab.Controller.LoadRules([.. IpnatParser.Parse("map * fd00:77::/64 -> 198.51.100.10/32 portmap udp auto", "ipnat.conf").Rules]);
        InMemoryPacketQueue queue = lab.Device.Queue(0);
        Ipv6Address inside = Ipv6Address.Parse("fd00:77::2", null);
        Ipv6Address server6 = Ipv6Address.Parse("64:ff9b::192.0.2.9", null);

        byte[] request = new byte[Ipv6Packet.HeaderLength + UdpDatagram.HeaderLength + 4];
        request[0] = 6 << 4;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), UdpDatagram.HeaderLength + 4);
        request[Ipv6Packet.Field.NextHeader] = (byte)IpProtocol.Udp;
        request[Ipv6Packet.Field.HopLimit] = 63;
        inside.Write(request.AsSpan(Ipv6Packet.Field.SourceAddress));
        server6.Write(request.AsSpan(Ipv6Packet.Field.DestinationAddress));
        Span<byte> udp = request.AsSpan(Ipv6Packet.HeaderLength);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 53);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp[4..], UdpDatagram.HeaderLength + 4);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(udp[6..],
            TransportChecksum.ComputeIpv6(request.AsSpan(Ipv6Packet.Field.SourceAddress, 16), request.AsSpan(Ipv6Packet.Field.DestinationAddress, 16), IpProtocol.Udp, udp));
        queue.Inject(request);
        Datagram outbound = ParseUdp(Assert.Single(queue.WaitForWritten(1, Patience)).Bytes);
        Assert.Equal(External, outbound.Source);

        // A reply as long as the device reads (1500 bytes) is 1520 as IPv6: the slot's growth room holds it.
        // (With DF: without it RFC 7915 4.1 splits it to 1280, which the next test shows.)
        byte[] reply = new byte[queue.LargestPacket];
        Ipv4PacketWriter.WriteUdp(reply, Server, 53, External, outbound.SourcePort, new byte[reply.Length - 28]);
        reply[Ipv4Packet.Field.FlagsAndFragmentOffset] |= 0x40;
        reply[Ipv4Packet.Field.HeaderChecksum] = 0;
        reply[Ipv4Packet.Field.HeaderChecksum + 1] = 0;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(Ipv4Packet.Field.HeaderChecksum),
            NatGate.Core.Checksums.InternetChecksum.Compute(reply.AsSpan(0, Ipv4Packet.MinimumHeaderLength)));
        queue.Inject(reply);
        IReadOnlyList<WrittenPacket> written = queue.WaitForWritten(2, Patience);
        Assert.Equal(2, written.Count);
        byte[] answer = written[1].Bytes;
        Assert.Equal(queue.LargestPacket + 20, answer.Length);
        Assert.Equal(6, answer[0] >> 4);
        Assert.Equal(inside, Ipv6Address.Read(answer.AsSpan(Ipv6Packet.Field.DestinationAddress)));
        Assert.True(TransportChecksum.IsValidIpv6(answer.AsSpan(Ipv6Packet.Field.SourceAddress, 16), answer.AsSpan(Ipv6Packet.Field.DestinationAddress, 16),
            IpProtocol.Udp, answer.AsSpan(Ipv6Packet.HeaderLength)));
        Assert.Equal(0, lab.Workers[0].Faults);
    }

    [Fact]
    public void Nat64_replies_split_to_the_minimum_ipv6_mtu_are_all_written_though_they_are_more_than_a_released_batch()
    {
        using var lab = new WorkerLab();
        lab.Controller.LoadRules([.. IpnatParser.Parse("map * fd00:77::/64 -> 198.51.100.10/32 portmap udp auto", "ipnat.conf").Rules]);
        InMemoryPacketQueue queue = lab.Device.Queue(0);
        Ipv6Address inside = Ipv6Address.Parse("fd00:77::2", null);
        Ipv6Address server6 = Ipv6Address.Parse("64:ff9b::192.0.2.9", null);
        byte[] request = new byte[Ipv6Packet.HeaderLength + UdpDatagram.HeaderLength + 4];
        Ipv6PacketWriter.WriteUdp(request, inside, 40000, server6, 53, [1, 2, 3, 4]);
        queue.Inject(request);
        Datagram outbound = ParseUdp(Assert.Single(queue.WaitForWritten(1, Patience)).Bytes);

        // 20 replies of 1500 bytes without DF, read in one batch (injected on the worker's own
        // thread between two batches): 40 pieces, 20 of them beyond the batch, more than the
        // 16 written at once after it. Before, the last 4 waited for the next read.
        const int replies = 20;
        lab.Controller.Run(_ =>
        {
            for (int i = 0; i < replies; i++)
            {
                byte[] reply = new byte[queue.LargestPacket];
                Ipv4PacketWriter.WriteUdp(reply, Server, 53, External, outbound.SourcePort, new byte[reply.Length - 28], identification: (ushort)(100 + i));
                queue.Inject(reply);
            }
            return 0;
        });
        IReadOnlyList<WrittenPacket> written = queue.WaitForWritten(1 + (2 * replies), Patience);
        Assert.Equal(1 + (2 * replies), written.Count);
        Assert.All(written.Skip(1), packet =>
        {
            Assert.Equal(6, packet.Bytes[0] >> 4);
            Assert.True(packet.Bytes.Length <= 1280, $"{packet.Bytes.Length} bytes");
            Assert.Equal((byte)IpProtocol.Fragment, packet.Bytes[Ipv6Packet.Field.NextHeader]);
        });
        Assert.Equal(0, lab.Workers[0].Faults);
    }

    [Fact]
    public void Queues_share_the_engine_so_a_reply_may_come_back_on_another_queue()
    {
        using var lab = new WorkerLab(queues: 2);
        InMemoryPacketQueue first = lab.Device.Queue(0);
        InMemoryPacketQueue second = lab.Device.Queue(1);

        first.Inject(Udp(InsideHost, 40000, Server, 53));
        ushort externalPort = ParseUdp(Assert.Single(first.WaitForWritten(1, Patience)).Bytes).SourcePort;
        second.Inject(Udp(Server, 53, External, externalPort));
        Datagram reply = ParseUdp(Assert.Single(second.WaitForWritten(1, Patience)).Bytes);

        Assert.Equal(InsideHost, reply.Destination);
        Assert.Equal(40000, reply.DestinationPort);
    }

    [Fact]
    public void The_only_worker_owns_the_engine_and_runs_other_threads_calls()
    {
        using var lab = new WorkerLab();

        // The worker sleeps in its wait; a call wakes it through the queue's interrupt.
        int threadId = lab.Controller.Run(_ => Environment.CurrentManagedThreadId);

        Assert.Equal(lab.Threads[0].ManagedThreadId, threadId);
    }

    [Fact]
    public void Stop_ends_an_idle_loop_at_once_and_gives_the_engine_back()
    {
        var lab = new WorkerLab();
        Thread.Sleep(50); // into its wait, which would last a second
        var clock = Stopwatch.StartNew();
        lab.Workers[0].Stop();
        Assert.True(lab.Threads[0].Join(Patience));
        // Well under the second the wait would otherwise have lasted.
        Assert.InRange(clock.ElapsedMilliseconds, 0, 800);

        // No owner any more: a call runs on the caller's thread, under the lock.
        Assert.Equal(Environment.CurrentManagedThreadId, lab.Controller.Run(_ => Environment.CurrentManagedThreadId));
        lab.Dispose();
    }

    [Fact]
    public void The_heartbeat_moves_with_traffic_and_at_least_once_a_second_when_idle()
    {
        using var lab = new WorkerLab();
        PacketWorker worker = lab.Workers[0];
        long before = worker.LastBeat;

        lab.Device.Queue(0).Inject(Udp(InsideHost, 40000, Server, 53));
        lab.Device.Queue(0).WaitForWritten(1, Patience);
        // The beat is at the loop's top: the round after the batch, well before the idle wait's second is out.
        var round = Stopwatch.StartNew();
        while (worker.LastBeat == before && round.Elapsed < TimeSpan.FromMilliseconds(500))
        {
            Thread.Sleep(1);
        }
        Assert.True(worker.LastBeat > before);

        // Idle now, in a wait of at most a second: the next beat comes without any traffic.
        Thread.Sleep(100);
        long idle = worker.LastBeat;
        var clock = Stopwatch.StartNew();
        while (worker.LastBeat == idle && clock.Elapsed < Patience)
        {
            Thread.Sleep(20);
        }
        Assert.True(worker.LastBeat > idle);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(3));
    }
}
