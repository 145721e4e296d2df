using NatGate.Core.Control;

namespace NatGate.Core.State;

/// <summary>What a session file holds: when it was written, and every session in it, in file order.</summary>
/// <param name="SavedAt">The time the saver recorded in the header.</param>
/// <param name="Sessions">The sessions, ready for <see cref="Translation.NatEngine.Restore"/>.</param>
public sealed record SavedSessions(DateTimeOffset SavedAt, IReadOnlyList<SessionRecord> Sessions);
