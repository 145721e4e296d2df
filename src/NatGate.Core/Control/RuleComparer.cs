using NatGate.Core.Addressing;
using NatGate.Core.Rules;

namespace NatGate.Core.Control;

/// <summary>Value equality for rules, targets included (a record compares its list by reference).</summary>
public static class RuleComparer
{
    public static bool Equal(NatRule left, NatRule right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        return left with { RedirectTargets = Array.Empty<IpAddress>(), Origin = null } == right with { RedirectTargets = Array.Empty<IpAddress>(), Origin = null }
            && left.RedirectTargets.SequenceEqual(right.RedirectTargets);
    }

    /// <summary>
    /// Equal but for the policy (timeouts, behaviours) and origin: what an ipnat line can say.
    /// A rule written back as text and read again matches its loaded original this way.
    /// </summary>
    public static bool SameTranslation(NatRule left, NatRule right)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        return Equal(left with { Policy = NatPolicy.Default }, right with { Policy = NatPolicy.Default });
    }
}
