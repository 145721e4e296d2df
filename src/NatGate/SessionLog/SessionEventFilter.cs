using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.SessionLog;

namespace NatGate.SessionLog;

/// <summary>
/// Which events a watcher wants (conntrack -E's filters): a protocol, an address on any side
/// (inside, external or remote), a port on any side, and the kinds of event. Empty: all of them.
/// </summary>
internal sealed record SessionEventFilter
{
    public IpProtocol? Protocol { get; init; }

    public IpAddress? Address { get; init; }

    public ushort? Port { get; init; }

    /// <summary>A session state (SynSent ... Reset, or Active), in any case; port blocks never match one.</summary>
    public string? State { get; init; }

    /// <summary>The rule's number.</summary>
    public int? Rule { get; init; }

    /// <summary>The kinds wanted; null: every kind.</summary>
    public IReadOnlySet<SessionEventKind>? Kinds { get; init; }

    /// <summary>True when the watcher asks for TCP state changes (the ring writes them only then).</summary>
    public bool WantsUpdates => Kinds is null || Kinds.Contains(SessionEventKind.Updated);

    public bool Matches(in SessionLogRecord record)
    {
        if (Kinds is not null && !Kinds.Contains(record.Kind))
        {
            return false;
        }
        if ((Rule is { } rule && record.RuleIndex != rule)
            || (State is { } state && (record.IsPortBlock || !string.Equals(record.State, state, StringComparison.OrdinalIgnoreCase))))
        {
            return false;
        }
        // "icmp" is either family's ICMP, as listings name both.
        if (Protocol is { } protocol && (record.IsPortBlock
                || (record.Protocol != protocol && !(protocol == IpProtocol.Icmp && record.Protocol == IpProtocol.Icmpv6))))
        {
            return false;
        }
        if (Address is { } address && record.InsideAddress != address && record.ExternalAddress != address && (record.IsPortBlock || record.RemoteAddress != address))
        {
            return false;
        }
        if (Port is { } port && (record.IsPortBlock
                ? !record.PortBlock.Contains(port)
                : record.InsidePort != port && record.ExternalPort != port && record.RemotePort != port))
        {
            return false;
        }
        return true;
    }

    /// <summary>An event kind's name as the API and the command line take it: created, updated, deleted, port-block-allocated, port-block-released.</summary>
    public static bool TryParseKind(string text, out SessionEventKind kind)
    {
        foreach (SessionEventKind candidate in Enum.GetValues<SessionEventKind>())
        {
            if (string.Equals(SessionEventJson.EventName(candidate), text, StringComparison.OrdinalIgnoreCase))
            {
                kind = candidate;
                return true;
            }
        }
        kind = default;
        return false;
    }
}
