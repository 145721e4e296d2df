namespace NatGate.Control;

/// <summary>
/// One line of the session event stream (GET /v1/sessions/events, `natgate sessions --watch
/// --json`) and of the JSON lines session log (--session-log FILE): the same shape in both.
/// </summary>
public sealed record SessionEventView
{
    /// <summary>When it happened, UTC, to the millisecond.</summary>
    public DateTimeOffset Time { get; init; }

    /// <summary>created, updated, deleted, port-block-allocated, port-block-released; or lost (<see cref="Count"/> events a slow reader missed).</summary>
    public required string Event { get; init; }

    /// <summary>ipv4, ipv6 (NAT66) or nat64.</summary>
    public string? Family { get; init; }

    public string? Protocol { get; init; }

    /// <summary>The inside host's address and port.</summary>
    public string? InsideAddress { get; init; }

    public int InsidePort { get; init; }

    /// <summary>The external address and port the outside saw (a port block's address).</summary>
    public string? ExternalAddress { get; init; }

    public int ExternalPort { get; init; }

    /// <summary>The remote endpoint as the outside sees it.</summary>
    public string? RemoteAddress { get; init; }

    public int RemotePort { get; init; }

    /// <summary>TCP: SynSent, SynReceived, Established, Closing, TimeWait, Reset; others: Active.</summary>
    public string? State { get; init; }

    /// <summary>The session's id (as `natgate sessions` lists it); absent for a port block.</summary>
    public int? Session { get; init; }

    public bool InitiatedOutside { get; init; }

    /// <summary>The number of the rule that made the session or owns the port block.</summary>
    public int? Rule { get; init; }

    /// <summary>Where the rule came from: FILE:LINE, "nat NAME", the command line.</summary>
    public string? RuleOrigin { get; init; }

    /// <summary>Why a session ended: Expired, Flushed, Purged, Removed, AddressGone, Stopped.</summary>
    public string? Reason { get; init; }

    public long PacketsOut { get; init; }
    public long PacketsIn { get; init; }
    public long BytesOut { get; init; }
    public long BytesIn { get; init; }

    /// <summary>A port block's first and last port.</summary>
    public int? PortFirst { get; init; }

    public int? PortLast { get; init; }

    /// <summary>For a "lost" line: how many events this reader missed because it fell behind.</summary>
    public long? Count { get; init; }
}
