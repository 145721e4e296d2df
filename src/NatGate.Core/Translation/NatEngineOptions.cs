using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>Settings fixed when an engine is built.</summary>
public sealed record NatEngineOptions
{
    public FlowTableLimits Limits { get; init; } = new();

    /// <summary>The global hairpinning mode (NetNat InterRoutingDomainHairpinningMode).</summary>
    public HairpinningMode Hairpinning { get; init; } = HairpinningMode.ExternalSource;

    /// <summary>
    /// Answer an outbound packet whose new session is refused (table, host or port limit) with
    /// ICMP destination unreachable, communication administratively prohibited (type 3 code 13),
    /// so the inside host fails fast instead of timing out.
    /// </summary>
    public bool ReplyToRefusedSessions { get; init; } = true;

    /// <summary>
    /// At most this many of those ICMP errors a second, with a burst of as many (RFC 1812 4.3.2.8
    /// asks routers to limit the ICMP errors they send); past it a refusal is only counted. A host
    /// that hammers a full table must not turn the gateway into an ICMP flood.
    /// </summary>
    public int RefusalRepliesPerSecond { get; init; } = 100;

    /// <summary>A released UDP port goes to another host only after this long (RFC 6888 REQ-8, RFC 4787: 120 s).</summary>
    public TimeSpan UdpPortQuarantine { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How long a fragmented datagram's translation is remembered, and an early fragment held.</summary>
    public TimeSpan FragmentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Fragmented datagrams tracked at once.</summary>
    public int MaximumFragmentedDatagrams { get; init; } = 4096;

    /// <summary>Early fragments held at once, each up to <see cref="HeldFragmentSize"/> bytes.</summary>
    public int MaximumHeldFragments { get; init; } = 64;

    public int HeldFragmentSize { get; init; } = 2048;

    /// <summary>Seed for hashing and port choice; null draws one at random.</summary>
    public ulong? RandomSeed { get; init; }
}
