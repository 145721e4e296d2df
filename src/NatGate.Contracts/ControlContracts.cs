using System.Text.Json;
using System.Text.Json.Serialization;

namespace NatGate.Control;

// The bodies of the control API (docs: DESIGN.md "Control semantics"). Addresses travel as dotted
// text and rules as ipnat text, so a person can read and write every body by hand.

/// <summary>A refusal: the errno name (for example "EEXIST") and a sentence a person can act on.</summary>
public sealed record ControlError(string Error, string Message);

/// <summary>How many objects an operation removed (flushes, purge, rule removal).</summary>
public sealed record RemovedCount(int Removed);

/// <summary>One loaded rule as ipnat -l lists it.</summary>
/// <param name="Text">The rule in ipnat.conf form, or a description when ipnat.conf cannot express it.</param>
/// <param name="Hits">Sessions the rule made from packets since it was loaded (ipnat -h); absent from an older daemon.</param>
public sealed record RuleView(int Index, string Text, string? Label, bool Active, bool OnThisGateway, int Sessions, long Hits = 0);

/// <summary>Rules as ipnat.conf text; <paramref name="Source"/> names the file in labels and errors.</summary>
public sealed record RulesText(string Text, string? Source);

public sealed record LoadRulesResult(IReadOnlyList<int> Indexes, IReadOnlyList<string> Warnings);

/// <summary>SIOCGNATL's question: the accepted connection's local ("inside") and peer ("outside") ends.</summary>
public sealed record LookupRequest(string Protocol, string InsideAddress, ushort InsidePort, string OutsideAddress, ushort OutsidePort, bool FindForward);

public sealed record LookupAnswer(string RealAddress, ushort RealPort, bool ForwardPossible);

public sealed record LockRequest(bool Locked);

public sealed record LockAnswer(bool Previous);

/// <summary>A state file on the daemon's machine; give an absolute path (the daemon's working directory is not yours).</summary>
public sealed record StatePath(string Path);

public sealed record SaveAnswer(int Sessions);

public sealed record RestoreFailureView(int Entry, string Error, string Message);

public sealed record RestoreAnswer(int Restored, IReadOnlyList<RestoreFailureView> Failures);

public sealed record PutAnswer(int Id);

/// <summary>
/// A session to insert (SIOCSTPUT), as the engine's session record with its rule written as one
/// ipnat.conf line; the rule must equal a loaded one.
/// </summary>
public sealed record SessionRecordView
{
    public string? Interface { get; init; }

    public required string Rule { get; init; }

    public required FlowView Original { get; init; }

    public required FlowView Translated { get; init; }

    public bool InitiatedOutside { get; init; }

    public bool InMapping { get; init; }

    public NatMappingBehavior Mapping { get; init; }

    public ushort? IpChecksumDelta { get; init; }

    public ushort? TransportChecksumDelta { get; init; }

    public SessionTcpTracking Tcp { get; init; }

    public long CreatedTicks { get; init; }

    public long LastSeenTicks { get; init; }

    public long PacketsForward { get; init; }

    public long PacketsReply { get; init; }

    public long BytesForward { get; init; }

    public long BytesReply { get; init; }
}

/// <summary>
/// A NAT instance with New-NetNat's parameter names; timeouts in seconds as NetNat gives them.
/// In a PATCH every member is optional and only those given change (Set-NetNat).
/// </summary>
public sealed record NatInstanceView
{
    public string? Name { get; init; }

    public string? InternalIPInterfaceAddressPrefix { get; init; }

    public string? ExternalIPInterfaceAddressPrefix { get; init; }

    public IReadOnlyList<ExternalAddressView>? ExternalAddresses { get; init; }

    public int? TcpEstablishedConnectionTimeout { get; init; }

    public int? TcpTransientConnectionTimeout { get; init; }

    public int? UdpIdleSessionTimeout { get; init; }

    public int? IcmpQueryTimeout { get; init; }

    public NatFilteringBehavior? TcpFilteringBehavior { get; init; }

    public NatFilteringBehavior? UdpFilteringBehavior { get; init; }

    public bool? UdpInboundRefresh { get; init; }

    public NatMappingBehavior? MappingBehavior { get; init; }

    /// <summary>NatGate's addition: keep the inside port's parity in new mappings (RFC 4787 REQ-4); off by default.</summary>
    public bool? PreservePortParity { get; init; }
}

public sealed record ExternalAddressView(string IPAddress, ushort PortStart = 1024, ushort PortEnd = 65535);

/// <summary>A static mapping with Add-NetNatStaticMapping's parameter names; a StaticMappingID of 0 asks for the next free one.</summary>
public sealed record StaticMappingView
{
    public required string NatName { get; init; }

    public int StaticMappingID { get; init; }

    public NatStaticMappingProtocol Protocol { get; init; } = NatStaticMappingProtocol.TCP;

    /// <summary>"0.0.0.0" (or absent) means every external address of the instance.</summary>
    public string? ExternalIPAddress { get; init; }

    public required ushort ExternalPort { get; init; }

    public required string InternalIPAddress { get; init; }

    public ushort? InternalPort { get; init; }

    public string? RemoteExternalIPAddressPrefix { get; init; }
}

/// <summary>
/// A port mapping an inside host asked for with PCP or NAT-PMP (GET /v1/portmappings): its
/// protocol ("tcp", "udp"), both endpoints, the seconds left of its lifetime and who asked ("pcp", "nat-pmp").
/// </summary>
public sealed record PortMappingView(string Protocol, string InternalAddress, ushort InternalPort, string ExternalAddress, ushort ExternalPort, uint SecondsLeft, string RequestedWith);

/// <summary>Set-NetNatGlobal -InterRoutingDomainHairpinningMode: "Enabled" or "Disabled".</summary>
public sealed record HairpinningView(string Mode);

/// <summary>
/// The kernel fast path (GET /v1/fastpath): whether it runs and where, what it carried, and with
/// ?check=true a comparison of its map with the engine's table (the map must hold exactly the
/// sessions the engine gave it, each as the engine decided it).
/// </summary>
public sealed record FastPathView
{
    public bool Enabled { get; init; }

    /// <summary>Why it is off, when it is.</summary>
    public string? Reason { get; init; }

    public IReadOnlyList<string> Interfaces { get; init; } = [];

    public string? PinDirectory { get; init; }

    /// <summary>Sessions the engine has put in the map.</summary>
    public long Sessions { get; init; }

    /// <summary>Sessions the map refused (full); they stay on the TUN path.</summary>
    public long Refused { get; init; }

    public ulong Rewritten { get; init; }
    public ulong RewrittenBytes { get; init; }
    public ulong Missed { get; init; }
    public ulong TcpControl { get; init; }
    public ulong Fragments { get; init; }
    public ulong NotHandled { get; init; }
    public ulong RewriteFailed { get; init; }

    /// <summary>Of the packets rewritten, those the program handed to their egress device itself (bpf_fib_lookup, bpf_redirect).</summary>
    public ulong Forwarded { get; init; }

    /// <summary>NPTv6 (RFC 6296): packets the kernel translated by the engine's prefix mappings, and their bytes.</summary>
    public ulong PrefixRewritten { get; init; }
    public ulong PrefixRewrittenBytes { get; init; }

    /// <summary>Packets a prefix mapping matched that the kernel left to the engine (hairpinning, ICMPv6 other than echo, the host's own traffic).</summary>
    public ulong PrefixToEngine { get; init; }

    public FastPathCheckView? Check { get; init; }
}

/// <summary>
/// The maps against the engine: <paramref name="Expected"/> entries (two per offloaded session,
/// and two per NPTv6 mapping of the rules), <paramref name="Found"/> in the maps; missing, stale
/// (in a map for no session or mapping) and differing entries, with a few examples.
/// </summary>
public sealed record FastPathCheckView(int Expected, int Found, int Missing, int Stale, int Differing, IReadOnlyList<string> Examples)
{
    public bool Equal => Missing == 0 && Stale == 0 && Differing == 0;
}

/// <summary>Serialization of the control API's bodies, generated at compile time.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web,
    UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowTrailingCommas = true,
    Converters = [typeof(FlowViewJsonConverter)])]
[JsonSerializable(typeof(ControlError))]
[JsonSerializable(typeof(RemovedCount))]
[JsonSerializable(typeof(IReadOnlyList<SessionView>))]
[JsonSerializable(typeof(SessionView))]
[JsonSerializable(typeof(StatisticsView))]
[JsonSerializable(typeof(IReadOnlyList<RuleView>))]
[JsonSerializable(typeof(RulesText))]
[JsonSerializable(typeof(LoadRulesResult))]
[JsonSerializable(typeof(LookupRequest))]
[JsonSerializable(typeof(LookupAnswer))]
[JsonSerializable(typeof(LockRequest))]
[JsonSerializable(typeof(LockAnswer))]
[JsonSerializable(typeof(StatePath))]
[JsonSerializable(typeof(SaveAnswer))]
[JsonSerializable(typeof(RestoreAnswer))]
[JsonSerializable(typeof(PutAnswer))]
[JsonSerializable(typeof(SessionRecordView))]
[JsonSerializable(typeof(IReadOnlyList<SessionRecordView>))]
[JsonSerializable(typeof(NatInstanceView))]
[JsonSerializable(typeof(IReadOnlyList<NatInstanceView>))]
[JsonSerializable(typeof(StaticMappingView))]
[JsonSerializable(typeof(IReadOnlyList<StaticMappingView>))]
[JsonSerializable(typeof(HairpinningView))]
[JsonSerializable(typeof(IReadOnlyList<PortMappingView>))]
[JsonSerializable(typeof(FastPathView))]
[JsonSerializable(typeof(SessionCount))]
[JsonSerializable(typeof(SessionEventView))]
public sealed partial class ControlJson : JsonSerializerContext;
