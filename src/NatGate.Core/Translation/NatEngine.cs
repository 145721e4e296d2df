using NatGate.Core.Control;
using System.Security.Cryptography;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Offload;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation.Npt;

namespace NatGate.Core.Translation;

/// <summary>
/// The translation engine: rules, the flow table, port pools and counters. It does no I/O and
/// reads no clock: callers pass packet bytes and the time (ticks), and act on the verdict.
/// One thread at a time may call it (the daemon serialises access); nothing on the per-packet
/// path allocates.
/// </summary>
public sealed partial class NatEngine
{
    private readonly FlowTable table;
    private readonly RuleSlotTable rules = new();
    private readonly AddressPools pools;
    private readonly RuleSet ruleSet;
    private readonly SessionStore sessions;
    private readonly SessionCensus census = new();
    // The IPv4 parts, as the paths written for both families take them.
    private readonly FamilyParts<Ipv4Address> ipv4;

    // The IPv6 parts (NAT66), made with the first IPv6 packet a stateful IPv6 rule takes: their
    // table reserves its memory up front, which a gateway without IPv6 rules never needs.
    private FamilyParts<Ipv6Address>? ipv6;

    // IPv6's external addresses and their ports: made at once (a dictionary, no memory per
    // session), so that IPv6 redirects reserve their ports from the first rule on.
    private readonly AddressPools<Ipv6Address> ipv6Pools;

    /// <summary>IPv6 sessions in the table (NAT66).</summary>
    public int Ipv6SessionCount => ipv6?.Table.Count ?? 0;

    private FamilyParts<Ipv6Address> Ipv6Parts()
    {
        if (ipv6 is null)
        {
            var flows = new FlowTable<Ipv6Address>(Options.Limits, table.EpochTicks, seed);
            ipv6 = new FamilyParts<Ipv6Address>(flows, new SessionStore<Ipv6Address>(flows, rules, ipv6Pools, Counters, census), ipv6Pools,
                new FragmentTracker<Ipv6Address>(Options))
            {
                LocalAddresses = ipv6LocalAddresses,
            };
            if (eventsObserved)
            {
                ipv6.Sessions.Observe(new SessionEvents<Ipv6Address>(this, (SessionTableView<Ipv6Address>)ipv6, table.Capacity));
            }
            if (offload is not null)
            {
                ipv6.Sessions.UseOffload(new OffloadTracker<Ipv6Address>(offload, flows, rules, table.Capacity));
            }
            RecordIpv6Events();
        }
        return ipv6;
    }
    private readonly ulong seed;
    private static readonly TimeSpan EpochMargin = TimeSpan.FromDays(366);

    public NatEngine(NatEngineOptions options, long startTicks)
    {
        Options = options;
        seed = options.RandomSeed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        // The table counts seconds from an epoch a year before the start, so that sessions
        // restored from a state file keep their creation and last-seen times.
        table = new FlowTable(options.Limits, Math.Max(0, startTicks - EpochMargin.Ticks), seed);
        pools = new AddressPools(seed, options.UdpPortQuarantine.Ticks);
        ipv6Pools = new AddressPools<Ipv6Address>(seed, options.UdpPortQuarantine.Ticks);
        ruleSet = new RuleSet(rules, pools, ipv6Pools, seed);
        sessions = new SessionStore(table, rules, pools, Counters, census);
        ipv4 = new FamilyParts<Ipv4Address>(table, sessions, pools, new FragmentTracker<Ipv4Address>(options));
        Hairpinning = options.Hairpinning;
        ruleSet.MatcherChanged = MatcherChanged;
    }

    public NatEngineOptions Options { get; }

    internal NatCounters Counters { get; } = new();

    /// <summary>The global hairpinning mode (Set-NetNatGlobal); may change at run time.</summary>
    public HairpinningMode Hairpinning { get; set; }

    /// <summary>Sessions in the table.</summary>
    public int SessionCount => table.Count;

    /// <summary>Dynamic mappings in the table.</summary>
    public int MappingCount => table.MappingCount;

    public int Capacity => table.Capacity;

    /// <summary>Bytes the table holds for sessions, indexes and timers.</summary>
    public long TableMemoryBytes => table.MemoryBytes + table.Wheel.MemoryBytes;

    /// <summary>True while the table is locked (SIOCSTLCK).</summary>
    public bool IsLocked { get; private set; }

    private Action<SessionEvent>? sessionChanged;

    /// <summary>
    /// Raised when a session is created or deleted. Nothing is built for it when no one listens:
    /// the session store is observed for it only from the first subscription on.
    /// </summary>
    public event Action<SessionEvent>? SessionChanged
    {
        add
        {
            if (!eventsObserved && value is not null)
            {
                sessions.Observe(new SessionEvents<Ipv4Address>(this, ipv4, 0));
                ipv6?.Sessions.Observe(new SessionEvents<Ipv6Address>(this, (SessionTableView<Ipv6Address>)ipv6, table.Capacity));
                nat64?.Sessions.Observe(new SessionEvents<Ipv6Address>(this, Nat64View(nat64), Nat64FirstId));
                eventsObserved = true;
            }
            sessionChanged += value;
        }
        remove => sessionChanged -= value;
    }

    private bool eventsObserved;

    private ISessionOffload? offload;

    /// <summary>
    /// Hands the decided sessions of IPv4 and NAT66 to a cache below the engine that rewrites
    /// their packets without it (the kernel fast path, DESIGN.md "Two paths"), those in the table
    /// now included. The engine stays the authority: sessions leave the cache when they end here,
    /// and expiry asks the cache when it last carried a session's packets. NAT64 stays with the
    /// engine (a change of family is not a rewrite). Once per engine.
    /// </summary>
    public void UseOffload(ISessionOffload cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (offload is not null)
        {
            throw new InvalidOperationException("the engine already has an offload cache");
        }
        offload = cache;
        sessions.UseOffload(new OffloadTracker<Ipv4Address>(cache, table, rules, 0));
        ipv6?.Sessions.UseOffload(new OffloadTracker<Ipv6Address>(cache, ipv6.Table, rules, table.Capacity));
        // NPTv6 is the rules' alone: the cache follows every change of the matching order (MatcherChanged).
        OffloadPrefixTranslations();
    }

    /// <summary>
    /// The NPTv6 mappings the offload cache may carry: the rule set's, in matching order; none
    /// while NAT64 is configured, since the engine gives a packet to an IPv4-embedded address to
    /// NAT64 before any prefix translation (TranslateIpv6) and the cache cannot tell those apart.
    /// </summary>
    public IReadOnlyList<Nptv6Mapping> OffloadablePrefixTranslations()
    {
        RuleMatcher matcher = ruleSet.Matcher;
        if (matcher.Nat64.Length > 0 || (nat64 is not null && !nat64.Prefixes.IsEmpty))
        {
            return [];
        }
        var mappings = new Nptv6Mapping[matcher.PrefixTranslations.Length];
        for (int index = 0; index < mappings.Length; index++)
        {
            mappings[index] = matcher.PrefixTranslations[index].PrefixTranslation!;
        }
        return mappings;
    }

    private void OffloadPrefixTranslations() => offload?.SetPrefixTranslations(OffloadablePrefixTranslations());

    /// <summary>After every swap of the matching order: helpers a new rule names start, and the offload cache takes the NPTv6 mappings.</summary>
    private void MatcherChanged()
    {
        StartHelpers();
        OffloadPrefixTranslations();
    }

    /// <summary>Sessions in the offload cache, both families.</summary>
    public int OffloadedSessionCount => (sessions.Offload?.Count ?? 0) + (ipv6?.Sessions.Offload?.Count ?? 0);

    /// <summary>Sessions the offload cache refused since the start (it was full): they stayed with the engine.</summary>
    public long OffloadRefusedCount => (sessions.Offload?.Refused ?? 0) + (ipv6?.Sessions.Offload?.Refused ?? 0);

    /// <summary>The sessions the engine has put in the offload cache, as it put them: what a checker compares the cache with.</summary>
    public (List<OffloadedSession<Ipv4Address>> Ipv4, List<OffloadedSession<Ipv6Address>> Ipv6) OffloadedSessions()
        => (Offloaded(sessions.Offload, table), Offloaded(ipv6?.Sessions.Offload, ipv6?.Table));

    private static List<OffloadedSession<TAddress>> Offloaded<TAddress>(OffloadTracker<TAddress>? tracker, FlowTable<TAddress>? flows)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        List<OffloadedSession<TAddress>> found = [];
        if (tracker is null || flows is null)
        {
            return found;
        }
        for (int index = 0; index < flows.Capacity; index++)
        {
            if (tracker.IsOffloaded(index))
            {
                found.Add(tracker.Describe(index, flows.At(index)));
            }
        }
        return found;
    }

    /// <summary>
    /// A table's session store's observer that raises <see cref="SessionChanged"/>, describing the
    /// session only when someone listens; <paramref name="firstId"/> is where the table's ids start.
    /// </summary>
    private sealed class SessionEvents<TAddress>(NatEngine engine, SessionTableView<TAddress> parts, int firstId) : ISessionObserver<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        public void Created(int index, in Session<TAddress> session, long nowTicks)
            => engine.sessionChanged?.Invoke(new SessionEvent(SessionEventKind.Created, engine.Describe(parts, index, firstId + index), SessionEndReason.None));

        public void Removed(int index, in Session<TAddress> session, SessionEndReason reason, long nowTicks)
            => engine.sessionChanged?.Invoke(new SessionEvent(SessionEventKind.Deleted, engine.Describe(parts, index, firstId + index), reason));

        public void TcpStateChanged(int index, in Session<TAddress> session, TcpTracking before, long nowTicks)
        {
        }
    }

    /// <summary>
    /// The gateway's own addresses. A packet from one of them that is redirected also gets its
    /// source rewritten to the external address, so the answer comes back through the NAT
    /// (DESIGN.md, "The data path on Linux").
    /// </summary>
    public void SetLocalAddresses(IEnumerable<Ipv4Address> addresses) => ipv4.LocalAddresses = [.. addresses];

    /// <summary>The gateway's own IPv6 addresses, as <see cref="SetLocalAddresses(IEnumerable{Ipv4Address})"/> for NAT66.</summary>
    public void SetLocalAddresses(IEnumerable<Ipv6Address> addresses)
    {
        ipv6LocalAddresses = [.. addresses];
        ipv6?.LocalAddresses = ipv6LocalAddresses;
    }

    // Kept here as well, for the IPv6 parts made later.
    private HashSet<Ipv6Address> ipv6LocalAddresses = [];

    // ---------------------------------------------------------------- rules (the RuleSet part)

    /// <summary>
    /// Loads a rule and returns its number. Redirected external ports are reserved so dynamic
    /// mappings never take them. Each call rebuilds the matching order: load many rules with
    /// <see cref="LoadRules"/>, which rebuilds it once.
    /// </summary>
    public int AddRule(NatRule rule) => ruleSet.AddRule(rule);

    /// <summary>
    /// Loads several rules at once (ipnat -f): every rule is checked first, and if one is
    /// refused none is loaded. Returns their numbers.
    /// </summary>
    public IReadOnlyList<int> LoadRules(IEnumerable<NatRule> newRules) => ruleSet.LoadRules(newRules);

    /// <summary>
    /// Replaces every rule with <paramref name="newRules"/> (ipnat -C -f FILE): the new set is
    /// checked whole first, and if it is refused the old set stays loaded, untouched.
    /// </summary>
    public IReadOnlyList<int> ReplaceRules(IEnumerable<NatRule> newRules) => ruleSet.ReplaceRules(newRules);

    /// <summary>The slow half of a replacement, safe on any thread while packets are translated (<see cref="RuleSet.PrepareReplacement"/>).</summary>
    public PreparedRuleSet PrepareReplacement(IEnumerable<NatRule> newRules) => ruleSet.PrepareReplacement(newRules);

    /// <summary>Replaces every rule with a set made ready by <see cref="PrepareReplacement"/>.</summary>
    public IReadOnlyList<int> ReplaceRules(PreparedRuleSet prepared) => ruleSet.ReplaceRules(prepared);

    /// <summary>Removes every loaded rule equal to one of <paramref name="toRemove"/> (ipnat -r -f); returns how many.</summary>
    public int RemoveRules(IEnumerable<NatRule> toRemove) => ruleSet.RemoveRules(toRemove);

    /// <summary>The interfaces this gateway translates on: a rule naming another stays loaded but inactive.</summary>
    public void SetInterfaces(IEnumerable<string> names) => ruleSet.SetInterfaces(names);

    /// <summary>Removes a rule (ipnat -r): it makes no new sessions; its sessions stay until they expire or are purged.</summary>
    public bool RemoveRule(int ruleIndex) => ruleSet.RemoveRule(ruleIndex);

    /// <summary>Removes the rules numbered <paramref name="ruleIndexes"/>; returns how many were active.</summary>
    public int RemoveRules(IEnumerable<int> ruleIndexes) => ruleSet.RemoveRules(ruleIndexes);

    /// <summary>Removes every rule (ipnat -C); sessions remain.</summary>
    public int FlushRules() => ruleSet.FlushRules();

    /// <summary>The loaded rules, in number order, with their session counts.</summary>
    public IReadOnlyList<RuleInfo> ListRules() => ruleSet.ListRules();

    /// <summary>The first active rule equal to <paramref name="rule"/>, else the first that translates the same way; or -1.</summary>
    public int FindRule(NatRule rule) => ruleSet.FindRule(rule);

    /// <summary>Port utilisation per external address and protocol, for metrics.</summary>
    public IReadOnlyList<PortUsage> PortUsage() => [.. pools.PortUsage(), .. ipv6Pools.PortUsage()];

    /// <summary>Whether <paramref name="address"/> is one the NAT answers for (a map target, a redirect or bimap address).</summary>
    private bool IsExternalAddress(Ipv4Address address) => ruleSet.Matcher.IsExternalAddress(address);

}

/// <summary>A loaded rule as listed.</summary>
/// <param name="Index">The rule's number.</param>
/// <param name="Rule">The rule.</param>
/// <param name="Active">False once removed (its sessions live on as orphans).</param>
/// <param name="Sessions">Sessions that name the rule.</param>
/// <param name="OnThisGateway">False when the rule names an interface this gateway does not translate on.</param>
/// <param name="Hits">Sessions the rule made from packets since it was loaded (ipnat -h).</param>
public sealed record RuleInfo(int Index, NatRule Rule, bool Active, int Sessions, bool OnThisGateway = true, long Hits = 0);

/// <summary>How many external ports (or ICMP identifiers) of one address are in use.</summary>
public readonly record struct PortUsage(IpAddress Address, IpProtocol Protocol, int Allocated, int Capacity)
{
    public override string ToString() => $"{Address.ToString()} {IpProtocolNames.Of(Protocol)} {Allocated}/{Capacity}";
}
