using System.Runtime.InteropServices;
using NatGate.Linux.Interop;

namespace NatGate.Linux.Routing;

/// <summary>
/// Tells when the host's links, addresses or routes (IPv4 and IPv6) change (a DHCP renewal, a PPPoE
/// reconnect, a container's veth appearing), through an rtnetlink socket subscribed to those
/// groups. It is only a trigger: each burst of messages, once quiet for <see cref="Settle"/>,
/// calls the handler once, which reads the state afresh through <c>ip -j</c> as the reconciler
/// always does; the messages themselves are not parsed, so nothing is missed when the socket's
/// buffer overflows (ENOBUFS also triggers). The socket belongs to the network namespace of the
/// thread that creates it.
/// </summary>
public sealed unsafe class RoutingChanges : IDisposable
{
    private const uint GroupLink = 0x1;          // RTMGRP_LINK
    private const uint GroupIpv4Address = 0x10;  // RTMGRP_IPV4_IFADDR
    private const uint GroupIpv4Route = 0x40;    // RTMGRP_IPV4_ROUTE
    private const uint GroupIpv6Address = 0x100; // RTMGRP_IPV6_IFADDR
    private const uint GroupIpv6Route = 0x400;   // RTMGRP_IPV6_ROUTE

    private readonly int socket;
    private readonly int wake;
    private readonly Action changed;
    private readonly Thread thread;
    private volatile bool stopping;

    /// <summary>How long the messages must pause before the handler runs: an address change is a burst of several.</summary>
    public static TimeSpan Settle { get; } = TimeSpan.FromMilliseconds(150);

    private RoutingChanges(int socket, int wake, Action changed)
    {
        this.socket = socket;
        this.wake = wake;
        this.changed = changed;
        thread = new Thread(Run) { IsBackground = true, Name = "natgate-routing-changes" };
    }

    /// <summary>Subscribes, in the calling thread's network namespace; <paramref name="changed"/> runs on a thread of its own.</summary>
    public static RoutingChanges Start(Action changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        int socket = Libc.Socket(Libc.AddressFamilyNetlink, Libc.SocketRaw | Libc.SocketCloseOnExec, Libc.NetlinkRoute);
        if (socket < 0)
        {
            throw new IOException($"socket(AF_NETLINK): {Errno.Name(Marshal.GetLastPInvokeError())}");
        }
        // struct sockaddr_nl: family, padding, port id (0: the kernel picks), groups.
        byte* address = stackalloc byte[12];
        new Span<byte>(address, 12).Clear();
        *(ushort*)address = Libc.AddressFamilyNetlink;
        *(uint*)(address + 8) = GroupLink | GroupIpv4Address | GroupIpv4Route | GroupIpv6Address | GroupIpv6Route;
        if (Libc.Bind(socket, address, 12) != 0)
        {
            int error = Marshal.GetLastPInvokeError();
            Libc.Close(socket);
            throw new IOException($"bind(AF_NETLINK): {Errno.Name(error)}");
        }
        int wake = Libc.EventFd(0, Libc.EventFdCloseOnExec | Libc.EventFdNonBlocking);
        if (wake < 0)
        {
            int error = Marshal.GetLastPInvokeError();
            Libc.Close(socket);
            throw new IOException($"eventfd: {Errno.Name(error)}");
        }
        var changes = new RoutingChanges(socket, wake, changed);
        changes.thread.Start();
        return changes;
    }

    private void Run()
    {
        byte[] buffer = new byte[64 * 1024];
        Libc.PollFd* waits = stackalloc Libc.PollFd[2];
        bool pending = false;
        while (!stopping)
        {
            waits[0] = new Libc.PollFd { FileDescriptor = socket, Events = Libc.PollIn };
            waits[1] = new Libc.PollFd { FileDescriptor = wake, Events = Libc.PollIn };
            // Waiting for quiet after a message; otherwise until the next one.
            int ready = Libc.Poll(waits, 2, pending ? (int)Settle.TotalMilliseconds : -1);
            if (stopping)
            {
                break;
            }
            if (ready == 0)
            {
                pending = false;
                changed();
                continue;
            }
            if (ready < 0 || (waits[0].ReturnedEvents & Libc.PollIn) == 0)
            {
                continue;
            }
            fixed (byte* data = buffer)
            {
                // A message, or ENOBUFS when some were lost: either way something changed.
                Libc.Read(socket, data, (nuint)buffer.Length);
            }
            pending = true;
        }
    }

    public void Dispose()
    {
        if (stopping)
        {
            return;
        }
        stopping = true;
        ulong one = 1;
        Libc.Write(wake, &one, sizeof(ulong));
        thread.Join(TimeSpan.FromSeconds(5));
        Libc.Close(socket);
        Libc.Close(wake);
    }
}
