namespace NatGate.Core.Devices;

/// <summary>Counters of one device queue since it was opened.</summary>
public readonly record struct PacketQueueStatistics
{
    public long PacketsRead { get; init; }
    public long BytesRead { get; init; }
    public long PacketsWritten { get; init; }
    public long BytesWritten { get; init; }

    /// <summary>
    /// Packets read and dropped by the device itself: larger than the slot (truncated), shorter
    /// than the device header, or with a TUN virtio header that does not fit the packet.
    /// </summary>
    public long ReadsDropped { get; init; }

    /// <summary>Writes refused for lack of room (EAGAIN, ENOBUFS): the packet was dropped, as a router queue would.</summary>
    public long WritesDroppedFull { get; init; }

    /// <summary>Writes the kernel rejected (EINVAL, EIO when the interface is down, EMSGSIZE, ...): the packet was dropped.</summary>
    public long WritesRejected { get; init; }
}
