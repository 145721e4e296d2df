namespace NatGate.Core.Translation;

/// <summary>What the caller does with a packet after <see cref="NatEngine.Translate"/>.</summary>
public enum Verdict : byte
{
    /// <summary>Send the (possibly rewritten) packet on; <see cref="TranslationResult.Length"/> bytes.</summary>
    Forward,

    /// <summary>Discard it; <see cref="TranslationResult.Reason"/> says why, and a counter was bumped.</summary>
    Drop,

    /// <summary>The buffer now holds an ICMP error addressed to the packet's sender: send that instead.</summary>
    Reply,

    /// <summary>The engine kept a copy (an early fragment); it comes out later through <see cref="NatEngine.TryTakeReleasedPacket"/>.</summary>
    Held,
}

/// <summary>Why a packet was dropped (or answered with an error). Each has a counter.</summary>
public enum DropReason : byte
{
    None,

    /// <summary>Bytes that do not parse as IPv4 and its transport header, or a bad header checksum.</summary>
    Malformed,

    /// <summary>A protocol or packet kind NatGate does not translate (ICMP types other than queries and errors, IPv6 that no rule takes, neighbour discovery).</summary>
    Unsupported,

    /// <summary>Inbound to an external address with no session, mapping or redirect: unsolicited (RFC 5382 REQ-4).</summary>
    NoSession,

    /// <summary>A mapping exists but its filtering behaviour refuses this remote (RFC 4787 REQ-8).</summary>
    Filtered,

    /// <summary>A TCP packet that cannot start a session (not a SYN) and matches none.</summary>
    NotSyn,

    /// <summary>The table is full (RFC 6888 REQ-11: never evict a live session to make room).</summary>
    TableFull,

    /// <summary>The inside host holds its maximum number of sessions (RFC 6888 REQ-4).</summary>
    HostLimit,

    /// <summary>The hash bucket (probe limit) is full.</summary>
    BucketFull,

    /// <summary>No free external port or identifier.</summary>
    PortsExhausted,

    /// <summary>The table is locked (SIOCSTLCK): no new sessions.</summary>
    Locked,

    /// <summary>Hairpinning is disabled.</summary>
    HairpinDisabled,

    /// <summary>An ICMP error about a flow the table does not hold (RFC 5508 REQ-?: only translated when a session matches).</summary>
    IcmpErrorNoSession,

    /// <summary>A later fragment whose first fragment did not come in time.</summary>
    FragmentTimeout,

    /// <summary>No room to hold an early fragment or to track a fragmented datagram.</summary>
    FragmentBufferFull,

    /// <summary>A session would duplicate an existing one.</summary>
    Conflict,

    /// <summary>
    /// From a map rule's inside prefix, in a protocol (or to ports) that no rule translates:
    /// dropped rather than forwarded with the inside address.
    /// </summary>
    ProtocolNotTranslated,

    /// <summary>
    /// An IPv6 address that prefix translation cannot carry over: the word that would absorb the
    /// checksum adjustment is 0xFFFF (NPTv6, RFC 6296 section 3.2).
    /// </summary>
    UntranslatableAddress,

    /// <summary>
    /// NAT64: a packet RFC 7915 cannot carry from one family to the other (an ICMP type or code
    /// with no counterpart, a routing header with segments left, a longer result than the buffer
    /// holds), or an address the Well-Known Prefix must not stand for (RFC 6052 section 3.1).
    /// </summary>
    UntranslatableAcrossFamilies,
}

/// <summary>The outcome of translating one packet.</summary>
public readonly record struct TranslationResult(Verdict Verdict, DropReason Reason, int Length)
{
    public static TranslationResult Dropped(DropReason reason) => new(Verdict.Drop, reason, 0);
}
