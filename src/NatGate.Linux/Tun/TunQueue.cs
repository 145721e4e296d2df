using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using NatGate.Core.Devices;
using NatGate.Linux.Interop;

namespace NatGate.Linux.Tun;

/// <summary>
/// One queue of a TUN device: a non-blocking file descriptor and an eventfd that interrupts
/// waits. Meant for one worker thread; only <see cref="Interrupt"/> and
/// <see cref="Statistics"/> may be called from others. The kernel spreads flows across the
/// queues of a multi-queue device by flow hash, so each worker sees whole flows. With a virtio
/// header, <see cref="VirtioOffload"/> turns it into each packet's "checksum partial" flag on
/// read, and back on write.
/// </summary>
[SuppressMessage("Naming", "CA1711", Justification = "A TUN queue is the kernel's name (IFF_MULTI_QUEUE), not a collection.")]
public sealed unsafe class TunQueue : IPacketQueue
{
    private readonly string _deviceName;
    private int _fileDescriptor;
    private int _eventFileDescriptor;
    private long _packetsRead;
    private long _bytesRead;
    private long _packetsWritten;
    private long _bytesWritten;
    private long _readsDropped;
    private long _writesDroppedFull;
    private long _writesRejected;

    internal TunQueue(int index, string deviceName, int fileDescriptor, int eventFileDescriptor, bool virtioHeader, int largestPacket)
    {
        Index = index;
        _deviceName = deviceName;
        _fileDescriptor = fileDescriptor;
        _eventFileDescriptor = eventFileDescriptor;
        VirtioHeader = virtioHeader;
        LargestPacket = largestPacket;
    }

    /// <summary>This queue's position in the device, from 0.</summary>
    public int Index { get; }

    /// <summary>Whether every packet read or written starts with a virtio header.</summary>
    public bool VirtioHeader { get; }

    /// <summary>
    /// The largest packet a read returns: the MTU, or 65535 with offloads (super-packets);
    /// <see cref="CreateBatch"/> sizes slots from it.
    /// </summary>
    public int LargestPacket { get; }

    /// <summary>A snapshot of this queue's counters.</summary>
    public PacketQueueStatistics Statistics => new()
    {
        PacketsRead = Volatile.Read(ref _packetsRead),
        BytesRead = Volatile.Read(ref _bytesRead),
        PacketsWritten = Volatile.Read(ref _packetsWritten),
        BytesWritten = Volatile.Read(ref _bytesWritten),
        ReadsDropped = Volatile.Read(ref _readsDropped),
        WritesDroppedFull = Volatile.Read(ref _writesDroppedFull),
        WritesRejected = Volatile.Read(ref _writesRejected),
    };

    /// <summary>A batch whose slots match this queue: MTU-sized packets and the virtio header when enabled.</summary>
    public PacketBatch CreateBatch(int capacity = PacketBatch.DefaultCapacity) => new(capacity, LargestPacket, HeaderLength);

    private int HeaderLength => VirtioHeader ? VirtioNetHeader.Length : 0;

    /// <summary>
    /// Reads packets until the kernel has none left (EAGAIN) or the batch is full, and returns
    /// how many it read (also in <see cref="PacketBatch.Count"/>). Never blocks; pair it with
    /// <see cref="WaitReadable"/>. A packet larger than its slot, or whose virtio header does not
    /// fit it, is dropped and counted in <see cref="PacketQueueStatistics.ReadsDropped"/>.
    /// </summary>
    [SkipLocalsInit]
    public int ReadBatch(PacketBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.DeviceHeaderLength != HeaderLength)
        {
            throw new ArgumentException("The batch's virtio header setting differs from the queue's; make it with CreateBatch.", nameof(batch));
        }
        int fileDescriptor = OpenDescriptor();
        int count = 0;
        int headerLength = batch.DeviceHeaderLength;
        int slotBytes = headerLength + batch.PacketCapacity;
        while (count < batch.Capacity)
        {
            nint result;
            // The batch's memory is pinned for its lifetime: fixed only takes the address.
            fixed (byte* slot = batch.Slot(count))
            {
                result = Libc.Read(fileDescriptor, slot, (nuint)slotBytes + 1);
            }
            if (result < 0)
            {
                int errno = Errno.Last;
                if (errno == Errno.TryAgain)
                {
                    break;
                }
                if (errno == Errno.Interrupted)
                {
                    continue;
                }
                if (errno is Errno.Fault or Errno.InvalidArgument or Errno.MessageTooLong)
                {
                    _readsDropped++;
                    continue;
                }
                batch.Count = count;
                throw TunException.For(errno, "read", _deviceName);
            }
            // A packet longer than the buffer is cut to fit (Linux 6.x returns the bytes copied;
            // older kernels returned the full length): one byte past the slot reveals either.
            int packetLength = (int)result - headerLength;
            if (packetLength <= 0 || result > slotBytes)
            {
                _readsDropped++;
                continue;
            }
            batch.SetLength(count, packetLength);
            bool checksumPartial = false;
            if (VirtioHeader && !VirtioOffload.PrepareRead(batch.DeviceHeader(count), batch.Packet(count), out checksumPartial))
            {
                _readsDropped++;
                continue;
            }
            batch.SetChecksumPartial(count, checksumPartial);
            _bytesRead += packetLength;
            count++;
        }
        _packetsRead += count;
        batch.Count = count;
        return count;
    }

    /// <summary>
    /// Writes the first <see cref="PacketBatch.Count"/> packets of <paramref name="batch"/>
    /// (skipping those of length 0) and returns how many the kernel took. With a virtio header,
    /// a packet whose checksum is not partial goes as a plain one (<see cref="VirtioOffload.PrepareWrite"/>).
    /// A packet refused for lack of room or rejected as malformed is dropped and counted, never thrown.
    /// </summary>
    public int WriteBatch(PacketBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.DeviceHeaderLength != HeaderLength)
        {
            throw new ArgumentException("The batch's virtio header setting differs from the queue's; make it with CreateBatch.", nameof(batch));
        }
        int fileDescriptor = OpenDescriptor();
        int written = 0;
        for (int index = 0; index < batch.Count; index++)
        {
            int packetLength = batch.GetLength(index);
            if (packetLength == 0)
            {
                continue;
            }
            if (VirtioHeader)
            {
                VirtioOffload.PrepareWrite(batch.DeviceHeader(index), batch.Packet(index), batch.IsChecksumPartial(index));
            }
            while (true)
            {
                nint result;
                fixed (byte* slot = batch.Slot(index))
                {
                    result = Libc.Write(fileDescriptor, slot, (nuint)(batch.DeviceHeaderLength + packetLength));
                }
                if (result >= 0)
                {
                    written++;
                    _bytesWritten += packetLength;
                    break;
                }
                int errno = Errno.Last;
                if (errno == Errno.Interrupted)
                {
                    continue;
                }
                if (errno is Errno.TryAgain or Errno.NoBufferSpace)
                {
                    _writesDroppedFull++;
                    break;
                }
                if (errno is Errno.InvalidArgument or Errno.InputOutput or Errno.MessageTooLong or Errno.Fault)
                {
                    _writesRejected++;
                    break;
                }
                _packetsWritten += written;
                throw TunException.For(errno, "write", _deviceName);
            }
        }
        _packetsWritten += written;
        return written;
    }

    /// <summary>
    /// Waits until a packet can be read, <paramref name="timeoutMilliseconds"/> pass (-1: no
    /// limit), or <see cref="Interrupt"/> is called, polling the TUN and the eventfd that
    /// <see cref="Interrupt"/> signals. An interrupt that came before the call is not lost: the
    /// call returns <see cref="PacketWaitResult.Interrupted"/> at once and consumes it.
    /// </summary>
    public PacketWaitResult WaitReadable(int timeoutMilliseconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(timeoutMilliseconds, -1);
        Libc.PollFd* descriptors = stackalloc Libc.PollFd[2];
        descriptors[0] = new Libc.PollFd { FileDescriptor = OpenDescriptor(), Events = Libc.PollIn };
        descriptors[1] = new Libc.PollFd { FileDescriptor = _eventFileDescriptor, Events = Libc.PollIn };
        long deadline = timeoutMilliseconds < 0 ? long.MaxValue : Environment.TickCount64 + timeoutMilliseconds;
        while (true)
        {
            int remaining = deadline == long.MaxValue ? -1 : (int)Math.Max(0, deadline - Environment.TickCount64);
            int ready = Libc.Poll(descriptors, 2, remaining);
            if (ready < 0)
            {
                int errno = Errno.Last;
                if (errno == Errno.Interrupted)
                {
                    continue;
                }
                throw TunException.For(errno, "poll", _deviceName);
            }
            if (ready == 0)
            {
                return PacketWaitResult.TimedOut;
            }
            if (descriptors[1].ReturnedEvents != 0)
            {
                ulong value;
                _ = Libc.Read(_eventFileDescriptor, &value, sizeof(ulong));
                return PacketWaitResult.Interrupted;
            }
            return PacketWaitResult.Readable;
        }
    }

    /// <summary>Wakes the thread in <see cref="WaitReadable"/>, or the next call to it. Safe from any thread.</summary>
    public void Interrupt()
    {
        int eventFileDescriptor = Volatile.Read(ref _eventFileDescriptor);
        if (eventFileDescriptor < 0)
        {
            return;
        }
        ulong one = 1;
        // EAGAIN only when the counter would overflow, which means a wake-up is pending anyway.
        _ = Libc.Write(eventFileDescriptor, &one, sizeof(ulong));
    }

    internal void Close()
    {
        int fileDescriptor = Interlocked.Exchange(ref _fileDescriptor, -1);
        if (fileDescriptor >= 0)
        {
            _ = Libc.Close(fileDescriptor);
        }
        int eventFileDescriptor = Interlocked.Exchange(ref _eventFileDescriptor, -1);
        if (eventFileDescriptor >= 0)
        {
            _ = Libc.Close(eventFileDescriptor);
        }
    }

    private int OpenDescriptor()
    {
        int fileDescriptor = _fileDescriptor;
        ObjectDisposedException.ThrowIf(fileDescriptor < 0, this);
        return fileDescriptor;
    }
}
