using NatGate.Core.Rules;

namespace NatGate.Core.Translation;

/// <summary>
/// A replacement rule set made ready off the packet thread (<see cref="NatEngine.PrepareReplacement"/>):
/// checked whole, and its matching order and indexes built, so that
/// <see cref="NatEngine.ReplaceRules(PreparedRuleSet)"/> on the packet thread only numbers the
/// rules and swaps the new order in. It can be applied once.
/// </summary>
public sealed class PreparedRuleSet
{
    internal PreparedRuleSet(IReadOnlyList<NatRule> rules, RuleSlot[] slots, RuleMatcher matcher, HashSet<string> interfaces)
    {
        Rules = rules;
        Slots = slots;
        Matcher = matcher;
        Interfaces = interfaces;
    }

    /// <summary>The rules, in the order they were given.</summary>
    public IReadOnlyList<NatRule> Rules { get; }

    /// <summary>Whether the set has been loaded; a set is loaded at most once.</summary>
    public bool Applied { get; internal set; }

    /// <summary>The rules' slots, numbered by their place in the set until they are loaded.</summary>
    internal RuleSlot[] Slots { get; }

    /// <summary>The matching order and indexes, good while the engine's interfaces are still <see cref="Interfaces"/>.</summary>
    internal RuleMatcher Matcher { get; }

    internal HashSet<string> Interfaces { get; }
}
