using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;

namespace NatGate.Core.SessionLog;

/// <summary>
/// One event of the session log (RFC 6888 REQ-12, the fields RFC 7422 and RFC 8158 log): who had
/// which external endpoint toward which remote, from when to when, under which rule. A value
/// copied into <see cref="SessionEventRing"/> on the engine's thread, so nothing in it is made
/// for the event: the addresses are values, the rule and the state name are references to what
/// already exists. Packets and bytes are the session's totals, the kernel fast path's included.
/// </summary>
public readonly record struct SessionLogRecord
{
    /// <summary>When it happened: UTC, in ticks (the engine's time).</summary>
    public long TimestampTicks { get; init; }

    public SessionEventKind Kind { get; init; }

    /// <summary>Why a session ended (deleted events; <see cref="SessionEndReason.None"/> otherwise).</summary>
    public SessionEndReason Reason { get; init; }

    public SessionFamily Family { get; init; }

    /// <summary>The protocol as the inside sees it (ICMPv6 for a NAT64 echo, whose outside is ICMP).</summary>
    public IpProtocol Protocol { get; init; }

    /// <summary>TCP: SynSent, SynReceived, Established, Closing, TimeWait, Reset; others: Active.</summary>
    public string? State { get; init; }

    /// <summary>The session's id (its slot, as listings number it); -1 for a port block.</summary>
    public int SessionId { get; init; }

    /// <summary>True when the first packet came from outside (a redirect, a static mapping, a mapping admitted by filtering).</summary>
    public bool InitiatedOutside { get; init; }

    /// <summary>The number of the rule that made the session or owns the block.</summary>
    public int RuleIndex { get; init; }

    /// <summary>That rule (its origin names the file and line, or the NetNat instance); null if it is gone.</summary>
    public NatRule? Rule { get; init; }

    /// <summary>The inside host's address and port.</summary>
    public IpAddress InsideAddress { get; init; }

    public ushort InsidePort { get; init; }

    /// <summary>The external address and port the outside saw (a port block's address).</summary>
    public IpAddress ExternalAddress { get; init; }

    public ushort ExternalPort { get; init; }

    /// <summary>The remote endpoint as the outside sees it.</summary>
    public IpAddress RemoteAddress { get; init; }

    public ushort RemotePort { get; init; }

    public long PacketsOut { get; init; }

    public long PacketsIn { get; init; }

    public long BytesOut { get; init; }

    public long BytesIn { get; init; }

    /// <summary>A port block event's ports; empty for sessions.</summary>
    public PortRange PortBlock { get; init; }

    /// <summary>
    /// A session of a map-block rule: the attribution logs record its port block instead (RFC 7422
    /// section 3: the block says who had the ports), while live views still show the session.
    /// </summary>
    public bool UnderPortBlock { get; init; }

    /// <summary>True for the port block events.</summary>
    public bool IsPortBlock => Kind is SessionEventKind.PortBlockAllocated or SessionEventKind.PortBlockReleased;
}
