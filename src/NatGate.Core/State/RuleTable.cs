using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Rules;

namespace NatGate.Core.State;

/// <summary>
/// The distinct rules of a session file, numbered from 0: written once in the header, and named
/// by number on each session line. Saving numbers rules in order of first use, and rules equal by
/// <see cref="RuleComparer.Equal"/> share a number; loading keeps the header's numbering.
/// </summary>
internal sealed class RuleTable
{
    private readonly List<NatRule> rules;

    /// <summary>Sessions usually share their rule's instance: most lookups end here, without comparing values.</summary>
    private readonly Dictionary<NatRule, int> byInstance = new(ReferenceEqualityComparer.Instance);

    private readonly Dictionary<NatRule, int> byValue = new(RuleValueComparer.Instance);

    /// <summary>An empty table, for saving.</summary>
    public RuleTable() => rules = [];

    /// <summary>The rules of a loaded header, numbered as they stand.</summary>
    public RuleTable(List<NatRule> loaded) => rules = loaded;

    public IReadOnlyList<NatRule> Rules => rules;

    /// <summary>The number of <paramref name="rule"/>, added at the end unless an equal rule is already in.</summary>
    public int Add(NatRule rule)
    {
        int index = IndexOf(rule);
        if (index < 0)
        {
            index = rules.Count;
            rules.Add(rule);
            byValue.Add(rule, index);
            byInstance.Add(rule, index);
        }
        return index;
    }

    /// <summary>The number of the rule equal to <paramref name="rule"/> among those added, or -1.</summary>
    public int IndexOf(NatRule rule)
    {
        if (byInstance.TryGetValue(rule, out int index))
        {
            return index;
        }
        if (!byValue.TryGetValue(rule, out index))
        {
            return -1;
        }
        byInstance.Add(rule, index);
        return index;
    }

    /// <summary><see cref="RuleComparer.Equal"/> with a hash code that agrees with it.</summary>
    private sealed class RuleValueComparer : IEqualityComparer<NatRule>
    {
        public static RuleValueComparer Instance { get; } = new();

        public bool Equals(NatRule? x, NatRule? y)
            => ReferenceEquals(x, y) || (x is not null && y is not null && RuleComparer.Equal(x, y));

        public int GetHashCode(NatRule rule)
        {
            // The same projection RuleComparer compares: the record without its targets (a list compared by reference) and origin.
            var hash = new HashCode();
            hash.Add(rule with { RedirectTargets = Array.Empty<IpAddress>(), Origin = null });
            foreach (IpAddress target in rule.RedirectTargets)
            {
                hash.Add(target);
            }
            return hash.ToHashCode();
        }
    }
}
