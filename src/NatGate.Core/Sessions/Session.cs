using System.Runtime.InteropServices;

namespace NatGate.Core.Sessions;

/// <summary>Facts about a session that do not change after it is created.</summary>
[Flags]
public enum SessionAttributes : byte
{
    None = 0,

    /// <summary>The first packet came from outside (a redirect, or a mapping admitted by filtering).</summary>
    InitiatedOutside = 1,

    /// <summary>The session belongs to a dynamic mapping (it is in a mapping's session list).</summary>
    InMapping = 2,

    /// <summary>This session is the one the mapping indexes point at.</summary>
    MappingRepresentative = 4,

    /// <summary>The mapping's external port was taken from a port allocator and goes back when the mapping ends.</summary>
    PortAllocated = 8,

    /// <summary>Inserted by the control API (Put or a restore) rather than created by traffic.</summary>
    Inserted = 16,

    /// <summary>The mapping is address-dependent (RFC 4787): its key includes the remote address.</summary>
    MappingAddressDependent = 32,

    /// <summary>The mapping is address-and-port-dependent: its key includes the remote address and port.</summary>
    MappingAddressAndPortDependent = 64,

    /// <summary>The slot holds no session (it is on the free list).</summary>
    Free = 128,
}

/// <summary>What has been seen of a TCP connection (RFC 7857 section 2.2, RFC 5382 section 5).</summary>
[Flags]
public enum TcpTracking : byte
{
    None = 0,
    ForwardSyn = 1,
    ReplySyn = 2,
    Established = 4,
    ForwardFin = 8,
    ReplyFin = 16,
    Reset = 32,
}

/// <summary>
/// One translation session, stored by value in the flow table's flat array (80 bytes).
/// <see cref="Original"/> is the first packet's tuple as it arrived; <see cref="Translated"/> is
/// that packet's tuple after translation. Packets in the same direction match Original; packets
/// the other way match Translated.Reverse() and are rewritten to Original.Reverse(). This one
/// form covers source translation (map), destination translation (rdr) and both at once
/// (hairpinning), as conntrack's two tuples do.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Session
{
    public FlowKey Original;
    public FlowKey Translated;

    /// <summary>RFC 1624 delta for the IP header checksum in the forward direction (address changes).</summary>
    public ushort IpChecksumDelta;

    /// <summary>Delta for the TCP/UDP checksum (addresses and ports) or the ICMP checksum (identifier) in the forward direction.</summary>
    public ushort TransportChecksumDelta;

    /// <summary>Seconds since the table's epoch.</summary>
    public uint CreatedSeconds;

    public uint LastSeenSeconds;

    public ushort RuleIndex;
    public TcpTracking Tcp;
    public SessionAttributes Attributes;

    /// <summary>Circular list of the sessions that share one mapping; -1 when not in a mapping.</summary>
    public int MappingNext;

    public int MappingPrevious;

    public uint PacketsForward;
    public uint PacketsReply;
    public ulong BytesForward;
    public ulong BytesReply;

    public readonly bool IsFree => (Attributes & SessionAttributes.Free) != 0;

    /// <summary>The inside host this session counts against (RFC 6888 REQ-4 limits).</summary>
    public readonly uint InsideAddress => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Translated.Destination : Original.Source;

    public readonly ushort InsidePort => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Translated.DestinationPort : Original.SourcePort;

    /// <summary>The external endpoint (address, port) of the mapping the session uses.</summary>
    public readonly uint ExternalAddress => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.Destination : Translated.Source;

    public readonly ushort ExternalPort => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.DestinationPort : Translated.SourcePort;

    /// <summary>The remote endpoint as the outside sees it.</summary>
    public readonly uint RemoteAddress => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.Source : Translated.Destination;

    public readonly ushort RemotePort => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.SourcePort : Translated.DestinationPort;
}
