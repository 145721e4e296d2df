using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// What happens to sessions, for the parts that keep something about them (counts by state,
/// the engine's public events, the session log). Called on the engine's thread, as it happens,
/// with the time it happens at; an observer must not insert or remove sessions itself.
/// </summary>
internal interface ISessionObserver<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    /// <summary>A session was made (by a packet, a put or a restore); it is in the table.</summary>
    void Created(int index, in Session<TAddress> session, long nowTicks);

    /// <summary>A TCP session's tracked state moved on.</summary>
    void TcpStateChanged(int index, in Session<TAddress> session, TcpTracking before, long nowTicks);

    /// <summary>A session is about to go; it is still in the table.</summary>
    void Removed(int index, in Session<TAddress> session, SessionEndReason reason, long nowTicks);
}

/// <summary>
/// Where a mapping's external port goes back when its last session ends: the family's own
/// <see cref="AddressPools{TAddress}"/>, or for NAT64 the IPv4 pools its ports came from.
/// </summary>
internal interface IMappingPorts<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    /// <summary>A mapping's last session ended: its external port returns to its allocator.</summary>
    void MappingEnded(in Session<TAddress> endedMapping, long nowTicks);
}

/// <summary>
/// The session part of the engine: the only code that inserts sessions into the flow table and
/// removes them. With each it keeps what depends on a session's life: its rule's reference
/// count (a removed rule goes when its last session does), its external port (given back when
/// its mapping's last session ends), its timer, the engine's counters, and the observers
/// (<see cref="ISessionObserver{TAddress}"/>). The new-session path and put/restore insert through
/// <see cref="Insert"/>; expiry, flushes and removals go through <see cref="Remove"/>.
/// </summary>
internal sealed class SessionStore<TAddress>(FlowTable<TAddress> table, RuleSlotTable rules, IMappingPorts<TAddress> pools, NatCounters counters, SessionCensus census)
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    private const int ExpiryBatch = 256;
    private ISessionObserver<TAddress>[] observers = [];

    public FlowTable<TAddress> Table => table;

    /// <summary>The counts by protocol and state (shared by both families' stores): always kept, and called directly (a sealed class, no dispatch on the new-session path).</summary>
    public SessionCensus Census => census;

    /// <summary>The cache below the engine that carries this table's decided sessions (the kernel fast path); null: none.</summary>
    public OffloadTracker<TAddress>? Offload { get; private set; }

    /// <summary>Keeps the sessions in <paramref name="tracker"/>'s cache from now on, and offers it those already here.</summary>
    public void UseOffload(OffloadTracker<TAddress> tracker)
    {
        Offload = tracker;
        Observe(tracker);
        tracker.AddExisting();
    }

    /// <summary>
    /// Adds an observer besides the census; with <paramref name="first"/>, ahead of the others, so
    /// that it sees a removed session while the offload cache still holds its counters.
    /// </summary>
    public void Observe(ISessionObserver<TAddress> observer, bool first = false) => observers = first ? [observer, .. observers] : [.. observers, observer];

    /// <summary>
    /// Inserts a session whose room was checked (<see cref="FlowTable.CheckRoom"/>), joining the
    /// mapping of <paramref name="join"/> (-1: none) or starting one at <paramref name="nowTicks"/>;
    /// its timer is due at <paramref name="deadlineTicks"/>. Returns its index.
    /// </summary>
    public int Insert(in Session<TAddress> session, int join, bool startsMapping, long deadlineTicks, long nowTicks)
    {
        int index = table.Add(session, join, startsMapping);
        rules[session.RuleIndex]!.Sessions++;
        table.Wheel.Schedule(index, deadlineTicks);
        counters.Added++;
        Census.Created(index, table.At(index));
        foreach (ISessionObserver<TAddress> observer in observers)
        {
            observer.Created(index, table.At(index), nowTicks);
        }
        return index;
    }

    /// <summary>
    /// Removes a session, counted by <paramref name="reason"/>: its mapping's port goes back to
    /// the pool when it was the mapping's last, and its rule goes when it was a removed rule's last.
    /// </summary>
    public void Remove(int index, SessionEndReason reason, long nowTicks)
    {
        Census.Removed(index, table.At(index), reason);
        foreach (ISessionObserver<TAddress> observer in observers)
        {
            observer.Removed(index, table.At(index), reason, nowTicks);
        }
        int ruleIndex = table.At(index).RuleIndex;
        if (table.Remove(index, out Session<TAddress> endedMapping))
        {
            pools.MappingEnded(endedMapping, nowTicks);
        }
        RuleSlot? rule = rules[ruleIndex];
        if (rule is not null && --rule.Sessions == 0 && !rule.Active)
        {
            rules[ruleIndex] = null;
        }
        switch (reason)
        {
            case SessionEndReason.Expired:
                counters.Expired++;
                break;
            case SessionEndReason.AddressGone:
                counters.AddressGone++;
                break;
            default:
                counters.Removed++;
                break;
        }
    }

    /// <summary>
    /// A TCP session's state moved on: the observers hear of it, and a session that stops being
    /// long-lived (closing, reset) gets the transitory timer from now (RFC 7857: 4 minutes after
    /// RST or both FINs), which is also when the lazy check at expiry would now say it ends.
    /// </summary>
    public void TcpStateChanged(int index, TcpTracking before, long nowTicks)
    {
        ref Session<TAddress> session = ref table.At(index);
        Census.TcpStateChanged(index, session, before);
        foreach (ISessionObserver<TAddress> observer in observers)
        {
            observer.TcpStateChanged(index, session, before, nowTicks);
        }
        if (!IsLongLived(session.Tcp) && IsLongLived(before))
        {
            table.Wheel.Schedule(index, nowTicks + rules[session.RuleIndex]!.TcpTransitoryTimeoutTicks);
        }
    }

    /// <summary>
    /// Runs the timers: removes the sessions idle past their timeout. Timers are lazy (a packet
    /// only stores its time), so each due session is looked at again here; while the table is
    /// locked nothing is removed. Returns how many expired.
    /// </summary>
    public int Expire(long nowTicks, bool locked)
    {
        Span<int> batch = stackalloc int[ExpiryBatch];
        int expired = 0;
        int found;
        do
        {
            found = table.Wheel.Advance(nowTicks, batch);
            for (int i = 0; i < found; i++)
            {
                int index = batch[i];
                long deadline = DeadlineOf(table.At(index));
                if (locked)
                {
                    table.Wheel.Schedule(index, Math.Max(deadline, nowTicks + TimeSpan.TicksPerSecond));
                }
                else if (deadline > nowTicks)
                {
                    table.Wheel.Schedule(index, deadline);
                }
                else if (Offload is not null && RefreshFromOffload(index, nowTicks) && DeadlineOf(table.At(index)) > nowTicks)
                {
                    // The fast path carried its traffic since the engine last saw it (DESIGN.md, "Two paths").
                    table.Wheel.Schedule(index, DeadlineOf(table.At(index)));
                }
                else
                {
                    Remove(index, SessionEndReason.Expired, nowTicks);
                    expired++;
                }
            }
        }
        while (found == batch.Length);
        return expired;
    }

    /// <summary>
    /// The fast path's view of a session that is due: its last-seen time, and the handshake's
    /// completion that only the fast path saw (then the session is established from now on, and
    /// the census and observers hear of it as of any TCP state change). True when either moved.
    /// </summary>
    private bool RefreshFromOffload(int index, long nowTicks)
    {
        ref Session<TAddress> session = ref table.At(index);
        bool moved = Offload!.Refresh(index, ref session, nowTicks, out bool handshakeCompleted);
        if (!handshakeCompleted)
        {
            return moved;
        }
        TcpTracking before = session.Tcp;
        session.Tcp = before | TcpTracking.Established;
        TcpStateChanged(index, before, nowTicks);
        return true;
    }

    /// <summary>When a session ends if nothing more is seen of it: last seen (to the second above) plus its timeout.</summary>
    public long DeadlineOf(in Session<TAddress> session) => table.TicksOf(session.LastSeenSeconds + 1) + TimeoutOf(session);

    /// <summary>The idle timeout that applies to a session now, by protocol and TCP state.</summary>
    public long TimeoutOf(in Session<TAddress> session)
    {
        RuleSlot rule = rules[session.RuleIndex]!;
        IpProtocol protocol = session.Original.Protocol;
        return protocol switch
        {
            IpProtocol.Tcp => IsLongLived(session.Tcp) ? rule.TcpEstablishedTimeoutTicks : rule.TcpTransitoryTimeoutTicks,
            IpProtocol.Udp => rule.UdpTimeoutTicks,
            _ when protocol == TAddress.IcmpProtocol => rule.IcmpTimeoutTicks,
            _ => rule.OtherTimeoutTicks,
        };
    }

    /// <summary>Established and neither reset nor closed both ways: the long timeout applies.</summary>
    public static bool IsLongLived(TcpTracking tracking)
        => (tracking & TcpTracking.Established) != 0 && (tracking & TcpTracking.Reset) == 0
        && (tracking & (TcpTracking.ForwardFin | TcpTracking.ReplyFin)) != (TcpTracking.ForwardFin | TcpTracking.ReplyFin);
}
