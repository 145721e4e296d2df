using NatGate.Core.Addressing;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NatGate.Core.Devices;
using NatGate.Core.Packets;
using NatGate.Linux.Tests.Namespaces;
using NatGate.Linux.Tun;

namespace NatGate.Linux.Tests.Tun;

/// <summary>End-to-end: a real TUN device inside a namespace of the test's own.</summary>
public sealed class TunDeviceTests
{
    private const string TunAddress = "10.77.0.1";
    private const string RoutedPeer = "10.77.0.2";

    [Fact]
    public void A_datagram_sent_to_a_routed_address_is_read_from_the_tun()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("read");
        network.Run(() =>
        {
            using TunDevice tun = OpenWithAddress(network, new TunOptions());
            TunQueue queue = tun.Queue(0);
            PacketBatch batch = queue.CreateBatch();
            byte[] payload = Encoding.ASCII.GetBytes("hello through the tun");

            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.SendTo(payload, new IPEndPoint(IPAddress.Parse(RoutedPeer), 5000));

            byte[] packet = ReadUntil(queue, batch, IsUdpTo(5000));
            Assert.Equal(PacketError.None, Ipv4Packet.TryParse(packet, out Ipv4Packet ip));
            Assert.Equal(IpProtocol.Udp, ip.Protocol);
            Assert.Equal(Ipv4Address.Parse(TunAddress), ip.SourceAddress);
            Assert.Equal(Ipv4Address.Parse(RoutedPeer), ip.DestinationAddress);
            Assert.True(ip.IsHeaderChecksumValid);
            Assert.Equal(PacketError.None, UdpDatagram.TryParse(ip.Payload, out UdpDatagram udp));
            Assert.Equal(5000, udp.DestinationPort);
            Assert.Equal(payload, udp.Payload.ToArray());
            Assert.True(queue.Statistics.PacketsRead >= 1);
        });
    }

    [Fact]
    public void One_read_batch_collects_every_waiting_packet()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("batch");
        network.Run(() =>
        {
            using TunDevice tun = OpenWithAddress(network, new TunOptions());
            TunQueue queue = tun.Queue(0);
            PacketBatch batch = queue.CreateBatch(16);
            DrainFor(queue, batch, TimeSpan.FromMilliseconds(200));

            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            for (int index = 0; index < 5; index++)
            {
                socket.SendTo(new byte[] { (byte)index }, new IPEndPoint(IPAddress.Parse(RoutedPeer), 5100));
            }
            Assert.Equal(PacketWaitResult.Readable, queue.WaitReadable(2000));
            int count = queue.ReadBatch(batch);
            int udp = 0;
            for (int index = 0; index < count; index++)
            {
                if (IsUdpTo(5100)(batch.Packet(index)))
                {
                    udp++;
                }
            }
            Assert.Equal(5, udp);
            Assert.Equal(count, batch.Count);
            Assert.Equal(0, queue.ReadBatch(batch));
        });
    }

    [Fact]
    public void A_packet_written_to_the_tun_reaches_a_socket()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("write");
        network.Run(() =>
        {
            using TunDevice tun = OpenWithAddress(network, new TunOptions());
            TunQueue queue = tun.Queue(0);
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(TunAddress), 5001));
            socket.ReceiveTimeout = 3000;

            PacketBatch batch = queue.CreateBatch(4);
            byte[] payload = Encoding.ASCII.GetBytes("from the daemon");
            int length = Ipv4PacketWriter.WriteUdp(batch.PacketSpace(0), Ipv4Address.Parse(RoutedPeer), 6000,
                Ipv4Address.Parse(TunAddress), 5001, payload);
            batch.SetLength(0, length);
            batch.Count = 1;
            Assert.Equal(1, queue.WriteBatch(batch));

            byte[] received = new byte[1500];
            EndPoint from = new IPEndPoint(IPAddress.Any, 0);
            int size = socket.ReceiveFrom(received, ref from);
            Assert.Equal(payload, received[..size]);
            Assert.Equal(new IPEndPoint(IPAddress.Parse(RoutedPeer), 6000), from);
            Assert.Equal(1, queue.Statistics.PacketsWritten);
        });
    }

    [Fact]
    public void A_dropped_slot_is_skipped_and_a_malformed_packet_is_counted_not_thrown()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("drop");
        network.Run(() =>
        {
            using TunDevice tun = OpenWithAddress(network, new TunOptions());
            TunQueue queue = tun.Queue(0);
            PacketBatch batch = queue.CreateBatch(4);
            // Slot 0: a packet marked dropped; slot 1: a lone 0x45 byte, which the kernel refuses.
            Assert.True(batch.TryAdd(new byte[40]));
            batch.Drop(0);
            Assert.True(batch.TryAdd(new byte[] { 0x45 }));
            int written = queue.WriteBatch(batch);
            PacketQueueStatistics statistics = queue.Statistics;
            Assert.Equal(written, (int)statistics.PacketsWritten);
            Assert.Equal(1, written + statistics.WritesRejected + statistics.WritesDroppedFull);
        });
    }

    [Fact]
    public void A_packet_larger_than_its_slot_is_dropped_and_counted()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("trunc");
        network.Run(() =>
        {
            using TunDevice tun = OpenWithAddress(network, new TunOptions());
            TunQueue queue = tun.Queue(0);
            var small = new PacketBatch(8, 200);
            DrainFor(queue, small, TimeSpan.FromMilliseconds(200));
            long droppedBefore = queue.Statistics.ReadsDropped;

            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.SendTo(new byte[1000], new IPEndPoint(IPAddress.Parse(RoutedPeer), 5200));
            socket.SendTo(new byte[10], new IPEndPoint(IPAddress.Parse(RoutedPeer), 5200));

            byte[] packet = ReadUntil(queue, small, IsUdpTo(5200));
            Assert.Equal(20 + 8 + 10, packet.Length);
            Assert.Equal(droppedBefore + 1, queue.Statistics.ReadsDropped);
        });
    }

    [Fact]
    public void Wait_times_out_when_idle_and_returns_early_on_interrupt()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("wait");
        network.Run(() =>
        {
            // Down, so no IPv6 chatter can make the queue readable.
            using TunDevice tun = TunDevice.Open(new TunOptions());
            TunQueue queue = tun.Queue(0);

            var clock = Stopwatch.StartNew();
            Assert.Equal(PacketWaitResult.TimedOut, queue.WaitReadable(150));
            Assert.InRange(clock.ElapsedMilliseconds, 140, 2000);

            clock.Restart();
            using var timer = new Timer(_ => queue.Interrupt(), null, 100, Timeout.Infinite);
            Assert.Equal(PacketWaitResult.Interrupted, queue.WaitReadable(10_000));
            Assert.InRange(clock.ElapsedMilliseconds, 50, 5000);

            // An interrupt before the wait is kept, and consumed by it.
            queue.Interrupt();
            Assert.Equal(PacketWaitResult.Interrupted, queue.WaitReadable(10_000));
            Assert.Equal(PacketWaitResult.TimedOut, queue.WaitReadable(0));
        });
    }

    [Fact]
    public void Multi_queue_opens_two_queues_on_one_interface()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("mq");
        network.Run(() =>
        {
            using TunDevice tun = TunDevice.Open(new TunOptions { Name = "natgate%d", Queues = 2, Mtu = 1400 });
            Assert.Equal("natgate0", tun.Name);
            Assert.Equal(2, tun.QueueCount);
            Assert.Equal(1, tun.Queue(1).Index);
            string link = network.Ip("-d", "link", "show", "dev", tun.Name);
            Assert.Contains("mtu 1400", link, StringComparison.Ordinal);
            Assert.Contains("multi_queue", link, StringComparison.Ordinal);
            Assert.Equal(PacketWaitResult.TimedOut, tun.Queue(1).WaitReadable(0));
        });
    }

    [Fact]
    public void Virtio_header_precedes_each_packet_read_and_written()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("vnet");
        network.Run(() =>
        {
            using TunDevice tun = OpenWithAddress(network, new TunOptions { VirtioHeader = true });
            TunQueue queue = tun.Queue(0);
            PacketBatch batch = queue.CreateBatch(8);
            Assert.Equal(VirtioNetHeader.Length, batch.DeviceHeaderLength);

            using var receiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            receiver.Bind(new IPEndPoint(IPAddress.Parse(TunAddress), 5301));
            receiver.ReceiveTimeout = 3000;
            using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            sender.SendTo(new byte[] { 1, 2, 3 }, new IPEndPoint(IPAddress.Parse(RoutedPeer), 5300));

            byte[] packet = ReadUntil(queue, batch, IsUdpTo(5300));
            Assert.Equal(20 + 8 + 3, packet.Length);

            // The slot still holds the header of the packet read into it; a packet whose checksum
            // is not partial is written as a plain one whatever that header said.
            batch.Clear();
            int length = Ipv4PacketWriter.WriteUdp(batch.PacketSpace(0), Ipv4Address.Parse(RoutedPeer), 6000,
                Ipv4Address.Parse(TunAddress), 5301, new byte[] { 9 });
            batch.SetLength(0, length);
            batch.Count = 1;
            Assert.Equal(1, queue.WriteBatch(batch));
            byte[] received = new byte[16];
            Assert.Equal(1, receiver.Receive(received));
            Assert.Equal(9, received[0]);
        });
    }

    [Fact]
    public void Opening_a_name_in_use_by_a_device_of_another_kind_says_so()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("busy");
        network.Run(() =>
        {
            network.Ip("link", "add", "natgate0", "type", "veth", "peer", "name", "ngpeer0");
            TunException failure = Assert.Throws<TunException>(() => TunDevice.Open(new TunOptions()));
            Assert.Equal("EINVAL", failure.ErrorName);
            Assert.Contains("natgate0", failure.Message, StringComparison.Ordinal);
        });
    }

    private static TunDevice OpenWithAddress(NetworkNamespace network, TunOptions options)
    {
        TunDevice tun = TunDevice.Open(options);
        try
        {
            network.Ip("addr", "add", TunAddress + "/24", "dev", tun.Name);
            network.Ip("link", "set", "dev", tun.Name, "up");
            return tun;
        }
        catch
        {
            tun.Dispose();
            throw;
        }
    }

    private static Func<ReadOnlySpan<byte>, bool> IsUdpTo(ushort port) => bytes =>
    {
        byte[] copy = bytes.ToArray();
        return Ipv4Packet.TryParse(copy, out Ipv4Packet ip) == PacketError.None && ip.Protocol == IpProtocol.Udp
            && UdpDatagram.TryParse(ip.Payload, out UdpDatagram udp) == PacketError.None && udp.DestinationPort == port;
    };

    /// <summary>Reads batches until a packet matches (the kernel may also send IPv6 neighbour discovery), for up to 3 seconds.</summary>
    private static byte[] ReadUntil(TunQueue queue, PacketBatch batch, Func<ReadOnlySpan<byte>, bool> match)
    {
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 3000)
        {
            if (queue.WaitReadable(100) != PacketWaitResult.Readable)
            {
                continue;
            }
            int count = queue.ReadBatch(batch);
            for (int index = 0; index < count; index++)
            {
                if (match(batch.Packet(index)))
                {
                    return batch.Packet(index).ToArray();
                }
            }
        }
        throw new TimeoutException("no matching packet came out of the TUN within 3 seconds");
    }

    private static void DrainFor(TunQueue queue, PacketBatch batch, TimeSpan time)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < time)
        {
            if (queue.WaitReadable(20) == PacketWaitResult.Readable)
            {
                queue.ReadBatch(batch);
            }
        }
    }
}
