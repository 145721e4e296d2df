namespace NatGate.Control;

/// <summary>The ipnat -s figures.</summary>
public sealed record StatisticsView
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
