using NatGate.Core.Addressing;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Control;

/// <summary>
/// A session described for insertion or saving, like IP Filter's nat_save: the rule that made
/// it, both tuples, its direction, optional precomputed checksum deltas (checked against the
/// tuples), TCP state, timers and counters. Times are ticks on the engine's clock. Its tuples are
/// of either family (nat_save holds <c>i6addr_t</c> addresses): an IPv6 session belongs to an
/// IPv6 rule and goes into the NAT66 table. A NAT64 session (under a NAT64 map) has one tuple of
/// each family: the IPv6 one on the inside, the IPv4 one (plain IPv4 addresses, ICMP for an
/// echo) on the outside, Original being the inside one unless the session began outside.
/// </summary>
public sealed record SessionRecord
{
    /// <summary>The interface of the rule, informational (nat_save's ipn_ifname).</summary>
    public string? Interface { get; init; }

    /// <summary>The rule the session belongs to; Put answers ESRCH when no loaded rule equals it.</summary>
    public required NatRule Rule { get; init; }

    /// <summary>The first packet's tuple as it arrived.</summary>
    public required IpFlow Original { get; init; }

    /// <summary>That packet's tuple after translation.</summary>
    public required IpFlow Translated { get; init; }

    /// <summary>True when the first packet came from outside.</summary>
    public bool InitiatedOutside { get; init; }

    /// <summary>True when the session belongs to a dynamic mapping whose external port was allocated.</summary>
    public bool InMapping { get; init; }

    public MappingBehavior Mapping { get; init; }

    /// <summary>If given, must equal the deltas computed from the tuples (nat_ipsumd, nat_sumd).</summary>
    public ushort? IpChecksumDelta { get; init; }

    public ushort? TransportChecksumDelta { get; init; }

    public TcpTracking Tcp { get; init; }

    public long CreatedTicks { get; init; }

    public long LastSeenTicks { get; init; }

    public long PacketsForward { get; init; }

    public long PacketsReply { get; init; }

    public long BytesForward { get; init; }

    public long BytesReply { get; init; }
}

/// <summary>The answer to a NAT lookup (SIOCGNATL).</summary>
/// <param name="RealAddress">The destination the client really asked for, of the connection's family (nl_realip, or nl_realip6 when nl_v is 6).</param>
/// <param name="RealPort">Its port.</param>
/// <param name="ForwardPossible">
/// With find-forward: true when no session already holds the tuple an outgoing connection from the
/// redirect's local address to the real destination would use (IPN_FINDFORWARD left set).
/// </param>
public readonly record struct LookupResult(IpAddress RealAddress, ushort RealPort, bool ForwardPossible);

/// <summary>The ipnat -s figures.</summary>
public sealed record NatStatistics
{
    public long MappedIn { get; init; }
    public long MappedOut { get; init; }
    public long BytesIn { get; init; }
    public long BytesOut { get; init; }
    public long Added { get; init; }
    public long Expired { get; init; }
    public long Removed { get; init; }

    /// <summary>Sessions ended because their external address left the host.</summary>
    public long AddressGone { get; init; }
    public long NoMemory { get; init; }
    public long Bad { get; init; }
    public long Passed { get; init; }
    /// <summary>Sessions in the tables: IPv4, NAT66 and NAT64.</summary>
    public int InUse { get; init; }

    /// <summary>Of <see cref="InUse"/>, the IPv6 (NAT66) sessions.</summary>
    public int InUseIpv6 { get; init; }

    /// <summary>Of <see cref="InUse"/>, the NAT64 sessions (IPv6 inside, IPv4 outside).</summary>
    public int InUseNat64 { get; init; }

    /// <summary>Dynamic mappings, both families.</summary>
    public int Mappings { get; init; }

    /// <summary>Sessions whose rule has been removed (ipnat "orphans").</summary>
    public int Orphans { get; init; }

    public int Rules { get; init; }
    public bool Locked { get; init; }
    public long IcmpErrorsTranslated { get; init; }

    /// <summary>Refused new sessions that got no ICMP error, the refusal replies being over their rate.</summary>
    public long RefusalRepliesSuppressed { get; init; }
    public long FragmentsTranslated { get; init; }
    public required IReadOnlyDictionary<string, long> Drops { get; init; }
}

/// <summary>What a restore did: how many sessions went in, and each refusal with its entry number.</summary>
public sealed record RestoreReport(int Restored, IReadOnlyList<RestoreFailure> Failures);

public sealed record RestoreFailure(int Entry, NatErrno Errno, string Message);
