namespace NatGate.Linux.Tun;

/// <summary>Counters of one TUN queue since it was opened.</summary>
public readonly record struct TunQueueStatistics
{
    public long PacketsRead { get; init; }
    public long BytesRead { get; init; }
    public long PacketsWritten { get; init; }
    public long BytesWritten { get; init; }

    /// <summary>Reads that returned a packet larger than the slot (truncated, so dropped) or shorter than the virtio header.</summary>
    public long ReadsDropped { get; init; }

    /// <summary>Writes refused for lack of room (EAGAIN, ENOBUFS): the packet was dropped, as a router queue would.</summary>
    public long WritesDroppedFull { get; init; }

    /// <summary>Writes the kernel rejected (EINVAL, EIO when the interface is down, EMSGSIZE, ...): the packet was dropped.</summary>
    public long WritesRejected { get; init; }
}
