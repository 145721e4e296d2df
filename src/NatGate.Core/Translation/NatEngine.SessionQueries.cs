using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// Sessions chosen by a <see cref="SessionFilter"/> (natgate sessions --port, --state, --rule;
/// conntrack -L and -D with filters): listed, counted or removed, a bounded slice per call as
/// every walk is, and removed only through the session store, so the kernel fast path's map and
/// every other observer follow.
/// </summary>
public sealed partial class NatEngine
{
    /// <summary>
    /// Counts the sessions <paramref name="filter"/> takes in one slice of the tables (the slots
    /// from <paramref name="firstSlot"/> on), adding them to <paramref name="count"/>; returns where
    /// the next slice starts. An empty filter is answered without a walk by <see cref="Statistics"/>.
    /// </summary>
    public int CountSessions(int firstSlot, int slotCount, SessionFilter filter, ref int count)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var counter = new FilteredCounter(filter);
        int next = Walk(firstSlot, slotCount, counter);
        count += counter.Count;
        return next;
    }

    /// <summary>
    /// Removes the sessions <paramref name="filter"/> takes in one slice of the tables (conntrack
    /// -D), counted as removed; returns where the next slice starts. Refused while the table is locked.
    /// </summary>
    public int RemoveSessions(SessionFilter filter, int firstSlot, int slotCount, long nowTicks, out int removed)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ThrowIfLocked();
        var chosen = new Chosen(filter);
        int next = Walk(firstSlot, slotCount, chosen);
        foreach (int id in chosen.Ids)
        {
            RemoveById(id, SessionEndReason.Removed, nowTicks);
        }
        removed = chosen.Ids.Count;
        return next;
    }

    /// <summary>Whether <paramref name="filter"/> takes the session: every condition it gives holds.</summary>
    private static bool Takes<TAddress>(SessionFilter filter, SessionTableView<TAddress> view, in Session<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (filter.Protocol is { } wanted && session.Original.Protocol != wanted
            && !(view.Family == SessionFamily.Nat64 && wanted == IpProtocol.Icmp && session.Original.Protocol == IpProtocol.Icmpv6))
        {
            return false; // (a NAT64 echo is ICMP on its IPv4 side, so "icmp" finds it too)
        }
        if (filter.Rule is { } rule && session.RuleIndex != rule)
        {
            return false;
        }
        if (filter.Port is { } port
            && session.Original.SourcePort != port && session.Original.DestinationPort != port
            && session.Translated.SourcePort != port && session.Translated.DestinationPort != port)
        {
            return false;
        }
        if (filter.State is { } state
            && !string.Equals(state, session.Original.Protocol == IpProtocol.Tcp ? TcpStateName(session.Tcp) : "Active", StringComparison.Ordinal))
        {
            return false;
        }
        if (filter.Address is { } touching)
        {
            if (!view.TryHold(touching, out TAddress address))
            {
                return false;
            }
            if (session.Original.Source != address && session.Original.Destination != address
                && session.Translated.Source != address && session.Translated.Destination != address)
            {
                return false;
            }
        }
        return true;
    }

    private sealed class FilteredCounter(SessionFilter filter) : ISessionVisitor
    {
        public int Count { get; private set; }

        public void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>
        {
            if (Takes(filter, view, view.Table.At(index)))
            {
                Count++;
            }
        }
    }

    /// <summary>Collects the ids a removal takes; they are removed after the walk, which removing would disturb.</summary>
    private sealed class Chosen(SessionFilter filter) : ISessionVisitor
    {
        public List<int> Ids { get; } = [];

        public void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>
        {
            if (Takes(filter, view, view.Table.At(index)))
            {
                Ids.Add(id);
            }
        }
    }
}
