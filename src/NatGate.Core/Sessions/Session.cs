using NatGate.Core.Addressing;
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

    /// <summary>
    /// The slot holds a session. A slot without it is free: memory that was never written is
    /// zero, so a table's slots start free without being touched, and the operating system
    /// gives a page only when a session first lands on it (no RSS for a table reserved and unused).
    /// </summary>
    InUse = 128,
}

/// <summary>What has been seen of a TCP connection (RFC 7857 section 2.2, RFC 5382 section 5). At most six flags: a session keeps them in 6 bits.</summary>
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
/// One translation session, stored by value in the flow table's flat array (80 bytes for IPv4,
/// 128 for IPv6: the two flow keys grow from 16 to 40 bytes each, and nothing else changes).
/// <see cref="Original"/> is the first packet's tuple as it arrived; <see cref="Translated"/> is
/// that packet's tuple after translation. Packets in the same direction match Original; packets
/// the other way match Translated.Reverse() and are rewritten to Original.Reverse(). This one
/// form covers source translation (map), destination translation (rdr) and both at once
/// (hairpinning), as conntrack's two tuples do.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Session<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    public FlowKey<TAddress> Original;
    public FlowKey<TAddress> Translated;

    /// <summary>RFC 1624 delta for the IP header checksum in the forward direction (address changes).</summary>
    public ushort IpChecksumDelta;

    /// <summary>Delta for the TCP/UDP checksum (addresses and ports) or the ICMP checksum (identifier) in the forward direction.</summary>
    public ushort TransportChecksumDelta;

    /// <summary>Seconds since the table's epoch.</summary>
    public uint CreatedSeconds;

    public uint LastSeenSeconds;

    // The rule number takes 18 bits (up to 262,143 rules) without growing the session: the low 16
    // here, the high 2 in the top bits of the byte whose low 6 bits are the TCP tracking flags.
    private ushort ruleIndexLow;
    private byte tcpAndRuleIndexHigh;
    public SessionAttributes Attributes;

    /// <summary>Circular list of the sessions that share one mapping; -1 when not in a mapping.</summary>
    public int MappingNext;

    public int MappingPrevious;

    public uint PacketsForward;
    public uint PacketsReply;
    public ulong BytesForward;
    public ulong BytesReply;

    /// <summary>The highest rule number a session can name.</summary>
    public const int MaximumRuleIndex = (1 << 18) - 1;

    private const int TcpBits = 0x3F;

    /// <summary>The number of the rule that made the session, 0 to <see cref="MaximumRuleIndex"/>.</summary>
    public int RuleIndex
    {
        readonly get => ruleIndexLow | ((tcpAndRuleIndexHigh & ~TcpBits) << 10);
        set
        {
            ruleIndexLow = (ushort)value;
            tcpAndRuleIndexHigh = (byte)((tcpAndRuleIndexHigh & TcpBits) | ((value >> 10) & ~TcpBits));
        }
    }

    public TcpTracking Tcp
    {
        readonly get => (TcpTracking)(tcpAndRuleIndexHigh & TcpBits);
        set => tcpAndRuleIndexHigh = (byte)((tcpAndRuleIndexHigh & ~TcpBits) | ((int)value & TcpBits));
    }

    public readonly bool IsFree => (Attributes & SessionAttributes.InUse) == 0;

    /// <summary>The inside host this session counts against (RFC 6888 REQ-4 limits).</summary>
    public readonly TAddress InsideAddress => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Translated.Destination : Original.Source;

    public readonly ushort InsidePort => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Translated.DestinationPort : Original.SourcePort;

    /// <summary>The external endpoint (address, port) of the mapping the session uses.</summary>
    public readonly TAddress ExternalAddress => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.Destination : Translated.Source;

    public readonly ushort ExternalPort => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.DestinationPort : Translated.SourcePort;

    /// <summary>The remote endpoint as the outside sees it.</summary>
    public readonly TAddress RemoteAddress => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.Source : Translated.Destination;

    public readonly ushort RemotePort => (Attributes & SessionAttributes.InitiatedOutside) != 0 ? Original.SourcePort : Translated.DestinationPort;
}
