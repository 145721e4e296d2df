using System.Text;
using NatGate.Core.Devices;
using NatGate.Linux.Interop;

namespace NatGate.Linux.Tun;

/// <summary>
/// A Linux TUN interface (IFF_TUN | IFF_NO_PI) opened through <c>/dev/net/tun</c>, with one
/// <see cref="TunQueue"/> per file descriptor. The interface is created in the network
/// namespace of the calling thread and disappears when the device is disposed (it is not
/// made persistent). Dispose only after every worker has left its queue: stop them with
/// <see cref="TunQueue.Interrupt"/> and join them first.
/// </summary>
public sealed unsafe class TunDevice : IPacketDevice
{
    private const string ClonePath = "/dev/net/tun";
    private const nuint SetInterface = 0x400454CA;          // TUNSETIFF
    private const nuint SetInterfaceMtu = 0x8922;           // SIOCSIFMTU
    private const short FlagTun = 0x0001;                   // IFF_TUN
    private const short FlagMultiQueue = 0x0100;            // IFF_MULTI_QUEUE
    private const short FlagNoPacketInformation = 0x1000;   // IFF_NO_PI
    private const short FlagVirtioHeader = 0x4000;          // IFF_VNET_HDR
    private const nuint SetOffload = 0x400454D0;            // TUNSETOFFLOAD
    private const int InterfaceRequestLength = 40;          // sizeof(struct ifreq)
    private const int InterfaceNameLength = 16;             // IFNAMSIZ; the union (flags, mtu) follows

    private readonly TunQueue[] _queues;

    private TunDevice(string name, TunQueue[] queues, TunOptions options)
    {
        Name = name;
        _queues = queues;
        Options = options;
    }

    /// <summary>The interface name the kernel gave (differs from the option when it held <c>%d</c>).</summary>
    public string Name { get; }

    /// <summary>The options the device was opened with.</summary>
    public TunOptions Options { get; }

    /// <summary>How many queues are open.</summary>
    public int QueueCount => _queues.Length;

    /// <summary>Queue <paramref name="index"/>, from 0 to <see cref="QueueCount"/> - 1.</summary>
    public TunQueue Queue(int index) => _queues[index];

    IPacketQueue IPacketDevice.Queue(int index) => _queues[index];

    /// <summary>
    /// Creates (or attaches to) the TUN interface and opens its queues, then sets its MTU.
    /// Throws <see cref="TunException"/> with the errno and what to do about it.
    /// </summary>
    public static TunDevice Open(TunOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        short flags = (short)(FlagTun | FlagNoPacketInformation);
        if (options.Queues > 1)
        {
            flags |= FlagMultiQueue;
        }
        if (options.VirtioHeader)
        {
            flags |= FlagVirtioHeader;
        }

        var queues = new List<TunQueue>(options.Queues);
        string name = options.Name;
        try
        {
            for (int index = 0; index < options.Queues; index++)
            {
                int fileDescriptor = Libc.Open(ClonePath, Libc.ReadWrite | Libc.NonBlocking | Libc.CloseOnExec);
                if (fileDescriptor < 0)
                {
                    throw TunException.For(Errno.Last, "open", name);
                }
                try
                {
                    // Later queues attach by the name the first one got.
                    name = Attach(fileDescriptor, name, flags);
                    if (index == 0 && options.Offloads != TunOffloads.None)
                    {
                        // The offloads belong to the device: setting them through the first queue is enough.
                        EnableOffloads(fileDescriptor, name, options.Offloads);
                    }
                }
                catch
                {
                    _ = Libc.Close(fileDescriptor);
                    throw;
                }
                int eventFileDescriptor = Libc.EventFd(0, Libc.EventFdNonBlocking | Libc.EventFdCloseOnExec);
                if (eventFileDescriptor < 0)
                {
                    int errno = Errno.Last;
                    _ = Libc.Close(fileDescriptor);
                    throw TunException.For(errno, "eventfd", name);
                }
                // With offloads a read can be a 64 KiB super-packet whatever the MTU.
                int largest = options.Offloads != TunOffloads.None ? 65535 : options.Mtu;
                queues.Add(new TunQueue(index, name, fileDescriptor, eventFileDescriptor, options.VirtioHeader, largest));
            }
            SetMtu(name, options.Mtu);
        }
        catch
        {
            foreach (TunQueue queue in queues)
            {
                queue.Close();
            }
            throw;
        }
        return new TunDevice(name, [.. queues], options);
    }

    /// <summary>Closes every queue; the interface disappears with the last descriptor.</summary>
    public void Dispose()
    {
        foreach (TunQueue queue in _queues)
        {
            queue.Close();
        }
    }

    private static string Attach(int fileDescriptor, string name, short flags)
    {
        byte* request = stackalloc byte[InterfaceRequestLength];
        new Span<byte>(request, InterfaceRequestLength).Clear();
        Encoding.UTF8.GetBytes(name, new Span<byte>(request, InterfaceNameLength - 1));
        *(short*)(request + InterfaceNameLength) = flags;
        if (Libc.Ioctl(fileDescriptor, SetInterface, request) < 0)
        {
            throw TunException.For(Errno.Last, "TUNSETIFF", name);
        }
        var written = new ReadOnlySpan<byte>(request, InterfaceNameLength);
        int end = written.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? written : written[..end]);
    }

    private static void EnableOffloads(int fileDescriptor, string name, TunOffloads offloads)
    {
        // The argument is the flags themselves, not a pointer to them.
        if (Libc.Ioctl(fileDescriptor, SetOffload, (void*)(nuint)(uint)offloads) == 0)
        {
            return;
        }
        int errno = Errno.Last;
        TunOffloads withoutUdp = offloads & ~(TunOffloads.Uso4 | TunOffloads.Uso6);
        // USO needs Linux 6.2; an older kernel refuses the whole set with EINVAL, so ask again without it.
        if (withoutUdp != offloads && Libc.Ioctl(fileDescriptor, SetOffload, (void*)(nuint)(uint)withoutUdp) == 0)
        {
            return;
        }
        throw TunException.For(errno, "TUNSETOFFLOAD", name);
    }

    private static void SetMtu(string name, int mtu)
    {
        // SIOCSIFMTU goes through any socket of the interface's namespace, not the TUN descriptor.
        int socket = Libc.Socket(Libc.AddressFamilyInet, Libc.SocketDatagram | Libc.SocketCloseOnExec, 0);
        if (socket < 0)
        {
            throw TunException.For(Errno.Last, "socket", name);
        }
        try
        {
            byte* request = stackalloc byte[InterfaceRequestLength];
            new Span<byte>(request, InterfaceRequestLength).Clear();
            Encoding.UTF8.GetBytes(name, new Span<byte>(request, InterfaceNameLength - 1));
            *(int*)(request + InterfaceNameLength) = mtu;
            if (Libc.Ioctl(socket, SetInterfaceMtu, request) < 0)
            {
                throw TunException.For(Errno.Last, "SIOCSIFMTU", name);
            }
        }
        finally
        {
            _ = Libc.Close(socket);
        }
    }
}
