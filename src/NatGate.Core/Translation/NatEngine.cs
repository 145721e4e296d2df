using NatGate.Core.Control;
using System.Security.Cryptography;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

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
    private readonly List<RuleSlot?> rules = [];
    private RuleSlot[] mapRules = [];
    private RuleSlot[] redirectRules = [];
    private readonly Dictionary<uint, ExternalAddressPool> pools = [];
    private HashSet<uint> localAddresses = [];
    private readonly ulong seed;
    private readonly long udpQuarantineTicks;
    private readonly FragmentTracker fragments;
    private HashSet<string> interfaces = new(StringComparer.Ordinal);
    private static readonly TimeSpan EpochMargin = TimeSpan.FromDays(366);

    public NatEngine(NatEngineOptions options, long startTicks)
    {
        Options = options;
        seed = options.RandomSeed ?? BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        // The table counts seconds from an epoch a year before the start, so that sessions
        // restored from a state file keep their creation and last-seen times.
        table = new FlowTable(options.Limits, Math.Max(0, startTicks - EpochMargin.Ticks), seed);
        udpQuarantineTicks = options.UdpPortQuarantine.Ticks;
        Hairpinning = options.Hairpinning;
        fragments = new FragmentTracker(options);
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

    /// <summary>Raised when a session is created or deleted; nothing is built for it when no one listens.</summary>
    public event Action<SessionEvent>? SessionChanged;

    /// <summary>
    /// The gateway's own addresses. A packet from one of them that is redirected also gets its
    /// source rewritten to the external address, so the answer comes back through the NAT
    /// (DESIGN.md, "The data path on Linux").
    /// </summary>
    public void SetLocalAddresses(IEnumerable<uint> addresses) => localAddresses = [.. addresses];

    // ---------------------------------------------------------------- rules

    /// <summary>Loads a rule and returns its number. Redirected external ports are reserved so dynamic mappings never take them.</summary>
    public int AddRule(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        Validate(rule);
        int index = rules.FindIndex(slot => slot is null || (!slot.Active && slot.Sessions == 0));
        if (index < 0)
        {
            if (rules.Count >= ushort.MaxValue)
            {
                throw new NatControlException(NatErrno.ENOMEM, $"At most {ushort.MaxValue} rules can be loaded.");
            }
            index = rules.Count;
            rules.Add(null);
        }
        var slot = new RuleSlot(index, rule);
        rules[index] = slot;
        ReferencePools(rule, +1);
        RebuildRuleOrder();
        return index;
    }

    /// <summary>
    /// Loads several rules at once (ipnat -f): every rule is checked first, and if one is
    /// refused none is loaded. Returns their numbers.
    /// </summary>
    public IReadOnlyList<int> LoadRules(IEnumerable<NatRule> newRules)
    {
        ArgumentNullException.ThrowIfNull(newRules);
        List<NatRule> list = [.. newRules];
        ValidateAll(list);
        if (rules.Count(slot => slot is not null) + list.Count > ushort.MaxValue)
        {
            throw new NatControlException(NatErrno.ENOMEM, $"At most {ushort.MaxValue} rules can be loaded.");
        }
        return [.. list.Select(AddRule)];
    }

    /// <summary>
    /// Replaces every rule with <paramref name="newRules"/> (ipnat -C -f FILE): the new set is
    /// checked whole first, and if it is refused the old set stays loaded, untouched.
    /// </summary>
    public IReadOnlyList<int> ReplaceRules(IEnumerable<NatRule> newRules)
    {
        ArgumentNullException.ThrowIfNull(newRules);
        List<NatRule> list = [.. newRules];
        ValidateAll(list);
        int kept = rules.Count(slot => slot is { Active: false });
        if (kept + list.Count > ushort.MaxValue)
        {
            throw new NatControlException(NatErrno.ENOMEM, $"At most {ushort.MaxValue} rules can be loaded.");
        }
        FlushRules();
        return [.. list.Select(AddRule)];
    }

    private static void ValidateAll(List<NatRule> list)
    {
        foreach (NatRule rule in list)
        {
            try
            {
                Validate(rule);
            }
            catch (NatControlException refused)
            {
                throw new NatControlException(refused.Errno, rule.Label is null ? refused.Message : $"{rule.Label}: {refused.Message}");
            }
        }
    }

    /// <summary>Removes every loaded rule equal to one of <paramref name="toRemove"/> (ipnat -r -f); returns how many.</summary>
    public int RemoveRules(IEnumerable<NatRule> toRemove)
    {
        ArgumentNullException.ThrowIfNull(toRemove);
        int removed = 0;
        foreach (NatRule rule in toRemove)
        {
            int index = FindRule(rule);
            if (index >= 0 && RemoveRule(index))
            {
                removed++;
            }
        }
        return removed;
    }

    /// <summary>
    /// The interfaces this gateway translates on: its TUN device and its outside interface.
    /// A rule naming another interface stays loaded but inactive (listed as such); with no
    /// interfaces set, every rule is active.
    /// </summary>
    public void SetInterfaces(IEnumerable<string> names)
    {
        interfaces = new HashSet<string>(names, StringComparer.Ordinal);
        RebuildRuleOrder();
    }

    private bool OnOurInterface(NatRule rule) => rule.Interface is null || interfaces.Count == 0 || interfaces.Contains(rule.Interface);

    /// <summary>Removes a rule (ipnat -r): it makes no new sessions; its sessions stay until they expire or are purged.</summary>
    public bool RemoveRule(int ruleIndex)
    {
        RuleSlot? slot = ruleIndex >= 0 && ruleIndex < rules.Count ? rules[ruleIndex] : null;
        if (slot is null || !slot.Active)
        {
            return false;
        }
        slot.Active = false;
        ReferencePools(slot.Rule, -1);
        if (slot.Sessions == 0)
        {
            rules[ruleIndex] = null;
        }
        RebuildRuleOrder();
        return true;
    }

    /// <summary>Removes every rule (ipnat -C); sessions remain.</summary>
    public int FlushRules()
    {
        int removed = 0;
        for (int index = 0; index < rules.Count; index++)
        {
            if (rules[index] is { Active: true } && RemoveRule(index))
            {
                removed++;
            }
        }
        return removed;
    }

    /// <summary>The loaded rules, in number order, with their session counts.</summary>
    public IReadOnlyList<RuleInfo> ListRules()
    {
        var list = new List<RuleInfo>();
        foreach (RuleSlot? slot in rules)
        {
            if (slot is not null)
            {
                list.Add(new RuleInfo(slot.Index, slot.Rule, slot.Active, slot.Sessions, OnOurInterface(slot.Rule)));
            }
        }
        return list;
    }

    /// <summary>
    /// The first active rule equal to <paramref name="rule"/>; failing that, the first that
    /// translates the same way whatever its policy (a rule that travelled as ipnat text); or -1.
    /// </summary>
    public int FindRule(NatRule rule)
    {
        foreach (RuleSlot? slot in rules)
        {
            if (slot is { Active: true } && RuleComparer.Equal(slot.Rule, rule))
            {
                return slot.Index;
            }
        }
        foreach (RuleSlot? slot in rules)
        {
            if (slot is { Active: true } && RuleComparer.SameTranslation(slot.Rule, rule))
            {
                return slot.Index;
            }
        }
        return -1;
    }

    private static void Validate(NatRule rule)
    {
        switch (rule.Kind)
        {
            case NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional when rule.TranslatedCount == 0:
                throw new NatControlException(NatErrno.EINVAL, "A map rule needs at least one external address (TranslatedFirst <= TranslatedLast).");
            case NatRuleKind.Bidirectional when rule.Source.Count != rule.TranslatedCount:
                throw new NatControlException(NatErrno.EINVAL, $"A bimap maps addresses one to one: {rule.Source} has {rule.Source.Count} addresses but the external side has {rule.TranslatedCount}.");
            case NatRuleKind.Redirect when rule.RedirectTargets.Count == 0:
                throw new NatControlException(NatErrno.EINVAL, "A redirect needs at least one internal address.");
            case NatRuleKind.Redirect when rule.RedirectPort != 0 && rule.RedirectPort + (rule.DestinationPorts.Last - rule.DestinationPorts.First) > 65535:
                throw new NatControlException(NatErrno.EINVAL, "The redirect's port range runs past 65535.");
            case NatRuleKind.MapBlock when rule.Source.Length < 16:
                throw new NatControlException(NatErrno.EINVAL, "map-block needs an internal prefix of /16 or longer.");
            default:
                break;
        }
    }

    private void ReferencePools(NatRule rule, int change)
    {
        // Only single-address redirects reserve ports: a prefix-wide redirect has no one address to reserve on.
        if (rule.Kind == NatRuleKind.Redirect && rule.Destination.Length == 32)
        {
            ExternalAddressPool pool = PoolOf(rule.Destination.Network);
            foreach (byte protocol in (ReadOnlySpan<byte>)[6, 17])
            {
                if (!rule.AppliesTo(protocol) || rule.DestinationPorts.IsAny)
                {
                    continue;
                }
                PortAllocator allocator = AllocatorOf(pool, protocol);
                for (int port = rule.DestinationPorts.First; port <= rule.DestinationPorts.Last; port++)
                {
                    if (change > 0)
                    {
                        allocator.TryReserve((ushort)port, 0);
                    }
                    else
                    {
                        allocator.Release((ushort)port, 0, 0);
                    }
                }
            }
        }
    }

    private void RebuildRuleOrder()
    {
        // IP Filter's order: most specific netmask first, load order among equals (a stable sort).
        mapRules = [.. rules.OfType<RuleSlot>()
            .Where(slot => slot.Active && OnOurInterface(slot.Rule) && slot.Rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional)
            .OrderByDescending(slot => slot.Rule.Source.Length)];
        redirectRules = [.. rules.OfType<RuleSlot>()
            .Where(slot => slot.Active && OnOurInterface(slot.Rule) && slot.Rule.Kind is NatRuleKind.Redirect or NatRuleKind.Bidirectional)
            .OrderByDescending(slot => slot.Rule.Kind == NatRuleKind.Bidirectional ? 32 : slot.Rule.Destination.Length)];
    }

    private ExternalAddressPool PoolOf(uint address)
    {
        if (!pools.TryGetValue(address, out ExternalAddressPool? pool))
        {
            pool = new ExternalAddressPool(address);
            pools[address] = pool;
        }
        return pool;
    }

    private PortAllocator AllocatorOf(ExternalAddressPool pool, byte protocol)
        => pool.For(protocol, protocol == 17 ? udpQuarantineTicks : 0, seed ^ pool.Address);

    /// <summary>Whether <paramref name="address"/> is one the NAT answers for (a map target, a redirect or bimap address).</summary>
    private bool IsExternalAddress(uint address)
    {
        foreach (RuleSlot slot in mapRules)
        {
            if (address >= slot.Rule.TranslatedFirst && address <= slot.Rule.TranslatedLast)
            {
                return true;
            }
        }
        foreach (RuleSlot slot in redirectRules)
        {
            if (slot.Rule.Kind == NatRuleKind.Redirect && slot.Rule.Destination.Length > 0 && slot.Rule.Destination.Contains(address))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Port utilisation per external address and protocol, for metrics.</summary>
    public IReadOnlyList<PortUsage> PortUsage()
    {
        var list = new List<PortUsage>();
        foreach (ExternalAddressPool pool in pools.Values)
        {
            foreach (byte protocol in (ReadOnlySpan<byte>)[6, 17, 1])
            {
                if (pool.Find(protocol) is { } allocator)
                {
                    list.Add(new PortUsage(pool.Address, protocol, allocator.AllocatedCount, allocator.Capacity));
                }
            }
        }
        return list;
    }
}

/// <summary>A loaded rule as listed.</summary>
/// <param name="Index">The rule's number.</param>
/// <param name="Rule">The rule.</param>
/// <param name="Active">False once removed (its sessions live on as orphans).</param>
/// <param name="Sessions">Sessions that name the rule.</param>
/// <param name="OnThisGateway">False when the rule names an interface this gateway does not translate on.</param>
public sealed record RuleInfo(int Index, NatRule Rule, bool Active, int Sessions, bool OnThisGateway = true);

/// <summary>How many external ports (or ICMP identifiers) of one address are in use.</summary>
public readonly record struct PortUsage(uint Address, byte Protocol, int Allocated, int Capacity)
{
    public override string ToString() => $"{Ipv4Address.Format(Address)} {FlowKey.ProtocolName(Protocol)} {Allocated}/{Capacity}";
}
