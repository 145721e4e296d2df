using NatGate.Core.Control;
using NatGate.Core.PortMappings;

namespace NatGate.Core.State;

/// <summary>What a session file holds: when it was written, and every session in it, in file order.</summary>
/// <param name="SavedAt">The time the saver recorded in the header.</param>
/// <param name="Sessions">The sessions, ready for <see cref="Translation.NatEngine.Restore"/>.</param>
public sealed record SavedSessions(DateTimeOffset SavedAt, IReadOnlyList<SessionRecord> Sessions)
{
    /// <summary>The port mappings inside hosts asked for (PCP, NAT-PMP), from version 4 on; empty in older files.</summary>
    public IReadOnlyList<PortMapping> PortMappings { get; init; } = [];

    /// <summary>When the port mapping server's epoch began (RFC 6887 8.5), in ticks; -1 when the file holds no mappings.</summary>
    public long PortMappingEpochTicks { get; init; } = -1;
}
