namespace NatGate.Control;

/// <summary>
/// One session as listed (Get-NetNatSession's fields plus counters and state). The internal side
/// is what inside hosts see, the external side what the outside sees.
/// </summary>
public sealed record SessionView
{
    /// <summary>The slot number; stable for the session's life.</summary>
    public int Id { get; init; }

    public required string Protocol { get; init; }

    public byte ProtocolNumber { get; init; }

    /// <summary>
    /// The table the session lives in: "ipv4", "ipv6" (NAT66) or "nat64" (IPv6 endpoints inside,
    /// IPv4 ones outside); null from a NatGate that did not say.
    /// </summary>
    public string? Family { get; init; }

    /// <summary>The first packet's tuple, as it arrived.</summary>
    public FlowView Original { get; init; }

    /// <summary>That packet's tuple after translation.</summary>
    public FlowView Translated { get; init; }

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
}
