using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Rules;

namespace NatGate.Core.Translation;

/// <summary>
/// The rule set part of the engine: the loaded rules and their numbers (<see cref="RuleSlotTable"/>),
/// the matching order (<see cref="RuleMatcher"/>, swapped in whole after every change), which
/// rules are active on this gateway's interfaces, finding a rule by content, and checking a set
/// before it loads (validity, duplicates, room). A rule's redirected ports are reserved in the
/// address pools while it is active. Removed rules keep their numbers while sessions name them.
/// </summary>
internal sealed class RuleSet(RuleSlotTable rules, AddressPools pools, AddressPools<Ipv6Address> ipv6Pools, ulong seed)
{
    private Dictionary<RuleShape, HashSet<RuleSlot>>? activeRulesByShape; // for FindRule; see ActiveRulesByShape
    private HashSet<string> interfaces = new(StringComparer.Ordinal);

    /// <summary>The matching order of the active rules, as packets see it now.</summary>
    public RuleMatcher Matcher
    {
        get;
        private set
        {
            field = value;
            MatcherChanged?.Invoke();
        }
    } = RuleMatcher.Empty;

    /// <summary>Called after every swap of <see cref="Matcher"/> (a load, a replace, a removal, a flush, new interfaces).</summary>
    public Action? MatcherChanged { get; set; }

    /// <summary>
    /// Loads a rule and returns its number. Redirected external ports are reserved so dynamic
    /// mappings never take them. Each call rebuilds the matching order: load many rules with
    /// <see cref="LoadRules"/>, which rebuilds it once.
    /// </summary>
    public int AddRule(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        Validate(rule);
        CheckRoom(rules.Occupied + 1);
        var slot = new RuleSlot(-1, rule);
        Activate(slot);
        RebuildRuleOrder();
        return slot.Index;
    }

    /// <summary>
    /// Loads several rules at once (ipnat -f): every rule is checked first, and if one is
    /// refused none is loaded. Returns their numbers. Costs O(N log N): the rules are numbered,
    /// then the matching order and its indexes are built once and swapped in.
    /// </summary>
    public IReadOnlyList<int> LoadRules(IEnumerable<NatRule> newRules)
    {
        ArgumentNullException.ThrowIfNull(newRules);
        List<NatRule> list = [.. newRules];
        ValidateAll(list);
        RefuseDuplicates(list, againstLoaded: true);
        CheckRoom(rules.Occupied + list.Count);
        activeRulesByShape = null;
        return ActivateAll(list);
    }

    /// <summary>
    /// Refuses a set with a rule that is already loaded (when <paramref name="againstLoaded"/>)
    /// or that comes twice in it (EEXIST, naming both): IP Filter refuses a duplicate too, and a
    /// second copy could only ever shadow the first.
    /// </summary>
    private void RefuseDuplicates(List<NatRule> list, bool againstLoaded)
    {
        var seen = new Dictionary<RuleShape, List<NatRule>>();
        foreach (NatRule rule in list)
        {
            int loaded = againstLoaded ? FindRule(rule) : -1;
            if (loaded >= 0 && RuleComparer.Equal(rules[loaded]!.Rule, rule))
            {
                throw new NatControlException(NatErrno.EEXIST, $"{rule.Label ?? "a rule"}: the same rule is already loaded, as rule {loaded}{(rules[loaded]!.Rule.Label is { } label ? $" ({label})" : "")}.");
            }
            RuleShape shape = RuleShape.Of(rule);
            if (!seen.TryGetValue(shape, out List<NatRule>? same))
            {
                seen[shape] = same = [];
            }
            if (same.FirstOrDefault(earlier => RuleComparer.Equal(earlier, rule)) is { } first)
            {
                throw new NatControlException(NatErrno.EEXIST, $"{rule.Label ?? "a rule"}: the same rule comes twice{(first.Label is { } label ? $", first as {label}" : "")}.");
            }
            same.Add(rule);
        }
    }

    /// <summary>
    /// Replaces every rule with <paramref name="newRules"/> (ipnat -C -f FILE): the new set is
    /// checked whole first, and if it is refused the old set stays loaded, untouched. Packets see
    /// the old set or the new, never a mix: the new matching order is swapped in at the end.
    /// </summary>
    public IReadOnlyList<int> ReplaceRules(IEnumerable<NatRule> newRules) => ReplaceRules(PrepareReplacement(newRules));

    /// <summary>
    /// The slow half of <see cref="ReplaceRules(IEnumerable{NatRule})"/>: checks the set whole
    /// (refusing it as that does) and builds its matching order and indexes. It reads nothing the
    /// engine changes in place, so it may run on any thread while packets are translated; the
    /// packet thread then applies the result with <see cref="ReplaceRules(PreparedRuleSet)"/>.
    /// </summary>
    public PreparedRuleSet PrepareReplacement(IEnumerable<NatRule> newRules)
    {
        ArgumentNullException.ThrowIfNull(newRules);
        List<NatRule> list = [.. newRules];
        ValidateAll(list);
        RefuseDuplicates(list, againstLoaded: false);
        CheckRoom(list.Count);
        HashSet<string> onInterfaces = interfaces;
        var slots = new RuleSlot[list.Count];
        var active = new List<RuleSlot>(list.Count);
        for (int i = 0; i < list.Count; i++)
        {
            // Numbered by place for now: once loaded, the set's numbers rise in the same order
            // (the lowest free numbers, taken in turn), so the matching order built here holds.
            slots[i] = new RuleSlot(i, list[i]);
            if (OnInterfaces(list[i], onInterfaces))
            {
                active.Add(slots[i]);
            }
        }
        return new PreparedRuleSet(list, slots, RuleMatcher.Build(active, seed), onInterfaces);
    }

    /// <summary>
    /// Replaces every rule with a set made ready by <see cref="PrepareReplacement"/>: numbers its
    /// rules, reserves their ports and swaps its matching order in. Refused whole (ENOMEM) when
    /// the set does not fit beside the removed rules whose sessions live on.
    /// </summary>
    public IReadOnlyList<int> ReplaceRules(PreparedRuleSet prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        if (prepared.Applied)
        {
            throw new InvalidOperationException("This prepared rule set has been loaded already; prepare the rules again.");
        }
        // Rules with sessions keep their numbers after the flush, as orphans.
        int kept = 0;
        foreach (RuleSlot? slot in rules)
        {
            if (slot is { Sessions: > 0 } || slot is { Active: false })
            {
                kept++;
            }
        }
        CheckRoom(kept + prepared.Slots.Length);
        activeRulesByShape = null;
        foreach (RuleSlot? slot in rules)
        {
            if (slot is { Active: true })
            {
                Deactivate(slot);
            }
        }
        var numbers = new int[prepared.Slots.Length];
        for (int i = 0; i < numbers.Length; i++)
        {
            Activate(prepared.Slots[i]);
            numbers[i] = prepared.Slots[i].Index;
        }
        prepared.Applied = true;
        if (ReferenceEquals(prepared.Interfaces, interfaces))
        {
            Matcher = prepared.Matcher;
        }
        else
        {
            RebuildRuleOrder(); // the interfaces changed since it was prepared
        }
        return numbers;
    }

    private int[] ActivateAll(List<NatRule> list)
    {
        var numbers = new int[list.Count];
        for (int i = 0; i < list.Count; i++)
        {
            var slot = new RuleSlot(-1, list[i]);
            Activate(slot);
            numbers[i] = slot.Index;
        }
        RebuildRuleOrder();
        return numbers;
    }

    private static void CheckRoom(int occupied)
    {
        if (occupied > RuleSlotTable.MaximumRules)
        {
            throw new NatControlException(NatErrno.ENOMEM, $"At most {RuleSlotTable.MaximumRules} rules can be loaded (with the removed rules whose sessions live on); this would make {occupied}. Purge orphans or load fewer rules.");
        }
    }

    private static void ValidateAll(List<NatRule> list)
    {
        foreach (NatRule rule in list)
        {
            ArgumentNullException.ThrowIfNull(rule, nameof(list));
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
            if (index >= 0)
            {
                Deactivate(rules[index]!);
                removed++;
            }
        }
        if (removed > 0)
        {
            RebuildRuleOrder();
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

    private bool OnOurInterface(NatRule rule) => OnInterfaces(rule, interfaces);

    private static bool OnInterfaces(NatRule rule, HashSet<string> names) => rule.Interface is null || names.Count == 0 || names.Contains(rule.Interface);

    /// <summary>Removes a rule (ipnat -r): it makes no new sessions; its sessions stay until they expire or are purged.</summary>
    public bool RemoveRule(int ruleIndex)
    {
        RuleSlot? slot = ruleIndex >= 0 && ruleIndex < rules.Count ? rules[ruleIndex] : null;
        if (slot is null || !slot.Active)
        {
            return false;
        }
        Deactivate(slot);
        RebuildRuleOrder();
        return true;
    }

    /// <summary>Removes the rules numbered <paramref name="ruleIndexes"/> (ipnat -r, several at once); returns how many were active.</summary>
    public int RemoveRules(IEnumerable<int> ruleIndexes)
    {
        ArgumentNullException.ThrowIfNull(ruleIndexes);
        int removed = 0;
        foreach (int ruleIndex in ruleIndexes)
        {
            if (ruleIndex >= 0 && ruleIndex < rules.Count && rules[ruleIndex] is { Active: true } slot)
            {
                Deactivate(slot);
                removed++;
            }
        }
        if (removed > 0)
        {
            RebuildRuleOrder();
        }
        return removed;
    }

    /// <summary>Removes every rule (ipnat -C); sessions remain.</summary>
    public int FlushRules()
    {
        activeRulesByShape = null;
        int removed = 0;
        foreach (RuleSlot? slot in rules)
        {
            if (slot is { Active: true })
            {
                Deactivate(slot);
                removed++;
            }
        }
        if (removed > 0)
        {
            RebuildRuleOrder();
        }
        return removed;
    }

    /// <summary>Numbers a rule and takes its ports; the caller swaps in a matching order that has it.</summary>
    private void Activate(RuleSlot slot)
    {
        rules.Add(slot);
        pools.ReferencePools(slot.Rule, +1);
        ipv6Pools.ReferencePools(slot.Rule, +1);
        if (activeRulesByShape is not null)
        {
            AddByShape(activeRulesByShape, slot);
        }
    }

    /// <summary>Stops a rule making sessions and frees its number once it has none; the caller rebuilds the matching order.</summary>
    private void Deactivate(RuleSlot slot)
    {
        slot.Active = false;
        pools.ReferencePools(slot.Rule, -1);
        ipv6Pools.ReferencePools(slot.Rule, -1);
        if (activeRulesByShape is not null)
        {
            RuleShape shape = RuleShape.Of(slot.Rule);
            HashSet<RuleSlot> same = activeRulesByShape[shape];
            same.Remove(slot);
            if (same.Count == 0)
            {
                activeRulesByShape.Remove(shape);
            }
        }
        if (slot.Sessions == 0)
        {
            rules[slot.Index] = null;
        }
    }

    /// <summary>The loaded rules, in number order, with their session counts.</summary>
    public IReadOnlyList<RuleInfo> ListRules()
    {
        var list = new List<RuleInfo>();
        foreach (RuleSlot? slot in rules)
        {
            if (slot is not null)
            {
                list.Add(new RuleInfo(slot.Index, slot.Rule, slot.Active, slot.Sessions, OnOurInterface(slot.Rule), slot.Hits));
            }
        }
        return list;
    }

    /// <summary>
    /// The first active rule equal to <paramref name="rule"/>; failing that, the first that
    /// translates the same way whatever its policy (a rule that travelled as ipnat text); or -1.
    /// Looks only at the active rules of the same shape.
    /// </summary>
    public int FindRule(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (!ActiveRulesByShape().TryGetValue(RuleShape.Of(rule), out HashSet<RuleSlot>? same))
        {
            return -1;
        }
        int equal = int.MaxValue;
        int sameTranslation = int.MaxValue;
        foreach (RuleSlot slot in same)
        {
            if (slot.Index < equal && RuleComparer.Equal(slot.Rule, rule))
            {
                equal = slot.Index;
            }
            else if (slot.Index < sameTranslation && RuleComparer.SameTranslation(slot.Rule, rule))
            {
                sameTranslation = slot.Index;
            }
        }
        return equal != int.MaxValue ? equal : sameTranslation != int.MaxValue ? sameTranslation : -1;
    }

    /// <summary>
    /// The active rules by shape, for <see cref="FindRule"/>: built by the first call after a
    /// bulk change (a load, replace or flush drops it rather than pay for it rule by rule), then
    /// kept up to date by single changes, so removing or restoring many by content stays linear.
    /// </summary>
    private Dictionary<RuleShape, HashSet<RuleSlot>> ActiveRulesByShape()
    {
        if (activeRulesByShape is null)
        {
            activeRulesByShape = [];
            foreach (RuleSlot? slot in rules)
            {
                if (slot is { Active: true })
                {
                    AddByShape(activeRulesByShape, slot);
                }
            }
        }
        return activeRulesByShape;
    }

    private static void AddByShape(Dictionary<RuleShape, HashSet<RuleSlot>> byShape, RuleSlot slot)
    {
        RuleShape shape = RuleShape.Of(slot.Rule);
        if (!byShape.TryGetValue(shape, out HashSet<RuleSlot>? same))
        {
            same = [];
            byShape[shape] = same;
        }
        same.Add(slot);
    }

    /// <summary>What <see cref="RuleComparer.SameTranslation"/> compares first: rules that differ here never match.</summary>
    private readonly record struct RuleShape(NatRuleKind Kind, IpPrefix Source, IpPrefix Destination, PortMatch DestinationPorts, IpAddress TranslatedFirst, IpAddress TranslatedLast)
    {
        public static RuleShape Of(NatRule rule)
            => new(rule.Kind, rule.Source, rule.Destination, rule.DestinationPorts, rule.TranslatedFirst, rule.TranslatedLast);
    }

    private static void Validate(NatRule rule)
    {
        if (rule.FamilyProblem is { } mixed)
        {
            throw new NatControlException(NatErrno.EINVAL, $"{char.ToUpperInvariant(mixed[0])}{mixed[1..]}.");
        }
        if (rule.IsNat64)
        {
            if (Nat64.Nat64Mapping.ProblemOf(rule) is { } problem)
            {
                throw new NatControlException(NatErrno.EINVAL, $"{char.ToUpperInvariant(problem[0])}{problem[1..]}.");
            }
            return;
        }
        if (rule.IsIpv6)
        {
            ValidateIpv6(rule);
            return;
        }
        switch (rule.Kind)
        {
            case NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional when rule.TranslatedCount == 0:
                throw new NatControlException(NatErrno.EINVAL, "A map rule needs at least one external address (TranslatedFirst <= TranslatedLast).");
            case NatRuleKind.Bidirectional when rule.Source.Count != (UInt128)rule.TranslatedCount:
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

    /// <summary>
    /// IPv6: a bimap between two prefixes of one length (/1 to /64) is NPTv6 (RFC 6296); the
    /// stateful kinds (map, rdr, map-block) are refused until NAT66 is in.
    /// </summary>
    private static void ValidateIpv6(NatRule rule)
    {
        if (rule.Kind == NatRuleKind.Map)
        {
            // NAT66: a map translates as IPv4's does; its external addresses are a range, or a prefix up to 2^64 wide.
            if (rule.TranslatedCount == 0)
            {
                throw new NatControlException(NatErrno.EINVAL, "An IPv6 map needs at least one external address.");
            }
            return;
        }
        if (rule.Kind == NatRuleKind.Redirect)
        {
            if (rule.RedirectTargets.Count == 0)
            {
                throw new NatControlException(NatErrno.EINVAL, "A redirect needs at least one internal address.");
            }
            return;
        }
        if (rule.Kind != NatRuleKind.Bidirectional)
        {
            throw new NatControlException(NatErrno.EINVAL, "IPv6 map-block rules are not translated yet: IPv6 takes map, rdr, and bimap between prefixes of one length (NPTv6, RFC 6296).");
        }
        if (rule.Source.IsAny)
        {
            throw new NatControlException(NatErrno.EINVAL, "An IPv6 bimap needs an internal prefix, such as fd00:77::/48.");
        }
        IpPrefix external;
        try
        {
            external = IpPrefix.Covering(rule.TranslatedFirst, rule.TranslatedLast);
            _ = new Npt.Nptv6Mapping(rule.Source, external);
        }
        catch (ArgumentException problem)
        {
            throw new NatControlException(NatErrno.EINVAL, $"An IPv6 bimap translates one prefix to another of the same length, /64 or shorter (NPTv6, RFC 6296): {problem.Message}");
        }
        if (!rule.Destination.IsAny || rule.Protocols != RuleProtocols.Any || rule.TranslatedPorts is not null || rule.PortmapAuto)
        {
            throw new NatControlException(NatErrno.EINVAL, "An IPv6 bimap translates every packet of its prefix: it takes no destination, protocol or ports.");
        }
    }

    /// <summary>Builds the matching order and its indexes for the active rules, then swaps them in with one assignment.</summary>
    private void RebuildRuleOrder()
    {
        var active = new List<RuleSlot>();
        foreach (RuleSlot? slot in rules)
        {
            if (slot is { Active: true } && OnOurInterface(slot.Rule))
            {
                active.Add(slot);
            }
        }
        Matcher = RuleMatcher.Build(active, seed);
    }
}
