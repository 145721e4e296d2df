namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Tests that measure a stream's accounting or ride out a restart run alone, after the others,
/// so that a parallel lab on the same two cores cannot starve them into timeouts or loss.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "alone";
}
