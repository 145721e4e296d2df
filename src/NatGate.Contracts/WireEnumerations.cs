namespace NatGate.Control;

// The engine's enumerations as the API names them. Members and values are the engine's
// (NatGate.Core.Rules, NetNat, Sessions), so a body reads the same; the server converts by value
// and a test checks the two stay alike.

/// <summary>RFC 4787 mapping behaviour (NatGate.Core.Rules.MappingBehavior).</summary>
public enum NatMappingBehavior : byte
{
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}

/// <summary>RFC 4787 filtering behaviour (NatGate.Core.Rules.FilteringBehavior).</summary>
public enum NatFilteringBehavior : byte
{
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}

/// <summary>A static mapping's protocol (NatGate.Core.NetNat.StaticMappingProtocol).</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Naming", "CA1707", Justification = "NetNat's own spelling.")]
public enum NatStaticMappingProtocol
{
    TCP,
    UDP,
}

/// <summary>What has been seen of a TCP connection (NatGate.Core.Sessions.TcpTracking).</summary>
[Flags]
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1028", Justification = "The engine's values, one byte.")]
public enum SessionTcpTracking : byte
{
    None = 0,
    ForwardSyn = 1,
    ReplySyn = 2,
    Established = 4,
    ForwardFin = 8,
    ReplyFin = 16,
    Reset = 32,
}
