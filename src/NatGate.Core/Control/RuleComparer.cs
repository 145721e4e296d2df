using NatGate.Core.Rules;

namespace NatGate.Core.Control;

/// <summary>Value equality for rules, targets included (a record compares its list by reference).</summary>
public static class RuleComparer
{
    public static bool Equal(NatRule left, NatRule right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        return left with { RedirectTargets = Array.Empty<uint>(), Label = null } == right with { RedirectTargets = Array.Empty<uint>(), Label = null }
            && left.RedirectTargets.SequenceEqual(right.RedirectTargets);
    }
}
