using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Control;

/// <summary>
/// One session as listed (Get-NetNatSession's fields plus counters and state). The internal side
/// is what inside hosts see, the external side what the outside sees.
/// </summary>
public sealed record SessionInfo
{
    /// <summary>
    /// The slot number, stable for the session's life: IPv4's table first, then IPv6's, so one
    /// number names a session of either family (<see cref="Translation.NatEngine.SessionSlots"/>).
    /// </summary>
    public int Id { get; init; }

    public required string Protocol { get; init; }

    public byte ProtocolNumber { get; init; }

    /// <summary>The first packet's tuple, as it arrived.</summary>
    public IpFlow Original { get; init; }

    /// <summary>That packet's tuple after translation.</summary>
    public IpFlow Translated { get; init; }

    /// <summary>True when the first packet came from outside (a redirect or a mapping admitted it).</summary>
    public bool InitiatedOutside { get; init; }

    public required string InternalSourceAddress { get; init; }
    public ushort InternalSourcePort { get; init; }
    public required string InternalDestinationAddress { get; init; }
    public ushort InternalDestinationPort { get; init; }
    public required string ExternalSourceAddress { get; init; }
    public ushort ExternalSourcePort { get; init; }
    public required string ExternalDestinationAddress { get; init; }
    public ushort ExternalDestinationPort { get; init; }

    public DateTimeOffset CreationTime { get; init; }
    public DateTimeOffset LastSeen { get; init; }

    /// <summary>When the session expires if no packet refreshes it.</summary>
    public DateTimeOffset Expires { get; init; }

    /// <summary>TCP: SynSent, SynReceived, Established, Closing, TimeWait, Reset; others: Active.</summary>
    public required string State { get; init; }

    public int Rule { get; init; }
    public string? RuleLabel { get; init; }

    public long PacketsOut { get; init; }
    public long PacketsIn { get; init; }
    public long BytesOut { get; init; }
    public long BytesIn { get; init; }

    /// <summary>
    /// The table the session lives in. A NAT64 session's internal side is IPv6 and its external
    /// side IPv4, shown as plain IPv4 addresses (the table's IPv4-mapped form never reaches a listing).
    /// </summary>
    public SessionFamily Family { get; init; }

    /// <summary>True for an IPv6 (NAT66) session.</summary>
    public bool IsIpv6 => Family == SessionFamily.Ipv6;
}

public enum SessionEventKind
{
    Created,
    Deleted,

    /// <summary>A TCP session's state moved on (conntrack -E's [UPDATE]).</summary>
    Updated,

    /// <summary>A map-block rule's inside host got its block of external ports (its first session began; RFC 7422).</summary>
    PortBlockAllocated,

    /// <summary>A map-block rule's inside host's last session ended: its block is free again.</summary>
    PortBlockReleased,
}

/// <summary>Why a session ended.</summary>
public enum SessionEndReason
{
    None,
    Expired,
    Flushed,
    Purged,
    Removed,

    /// <summary>Its external address left the host (a DHCP renewal, a PPPoE reconnect).</summary>
    AddressGone,

    /// <summary>
    /// The daemon stopped while the session was alive: its end as far as the session log knows
    /// (a restart with --state brings it back, logged as created again).
    /// </summary>
    Stopped,
}

/// <summary>A session created or deleted, for loggers.</summary>
public readonly record struct SessionEvent(SessionEventKind Kind, SessionInfo Session, SessionEndReason Reason);
