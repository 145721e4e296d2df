using NatGate.Core.Control;
using NatGate.Core.Rules;

namespace NatGate.Core.Tests.State;

/// <summary>Value equality for session records: a record compares its rule's target list by reference, so compare that by content.</summary>
internal static class SessionRecordAssert
{
    public static void Equal(IReadOnlyList<SessionRecord> expected, IReadOnlyList<SessionRecord> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Equal(expected[i], actual[i]);
        }
    }

    public static void Equal(SessionRecord expected, SessionRecord actual)
    {
        Assert.Equal(expected.Rule.RedirectTargets, actual.Rule.RedirectTargets);
        Assert.Equal(WithoutTargets(expected.Rule), WithoutTargets(actual.Rule));
        Assert.Equal(expected with { Rule = WithoutTargets(expected.Rule) }, actual with { Rule = WithoutTargets(expected.Rule) });
    }

    private static NatRule WithoutTargets(NatRule rule) => rule with { RedirectTargets = [] };
}
