using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    private const int ExpiryBatch = 256;

    /// <summary>
    /// Runs the timers: removes sessions idle past their timeout and forgets stale fragments.
    /// Call it about once a second. While the table is locked nothing is removed.
    /// Returns the number of sessions expired.
    /// </summary>
    public int ExpireSessions(long nowTicks)
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
                ref Session session = ref table.At(index);
                // Timers are lazy: a packet only stores its time, and the session is looked at again here.
                long deadline = table.TicksOf(session.LastSeenSeconds + 1) + TimeoutOf(session);
                if (IsLocked)
                {
                    table.Wheel.Schedule(index, Math.Max(deadline, nowTicks + TimeSpan.TicksPerSecond));
                }
                else if (deadline > nowTicks)
                {
                    table.Wheel.Schedule(index, deadline);
                }
                else
                {
                    RemoveSession(index, SessionEndReason.Expired, nowTicks);
                    Counters.Expired++;
                    expired++;
                }
            }
        }
        while (found == batch.Length);
        // Held fragments whose first fragment never came are dropped here, and counted.
        int timedOut = fragments.Expire(nowTicks);
        for (int i = 0; i < timedOut; i++)
        {
            Counters.CountDrop(DropReason.FragmentTimeout);
        }
        return expired;
    }

    /// <summary>The idle timeout that applies to a session now, by protocol and TCP state.</summary>
    private long TimeoutOf(in Session session)
    {
        RuleSlot rule = rules[session.RuleIndex]!;
        return session.Original.Protocol switch
        {
            IpProtocol.Tcp => IsLongLived(session.Tcp) ? rule.TcpEstablishedTimeoutTicks : rule.TcpTransitoryTimeoutTicks,
            IpProtocol.Udp => rule.UdpTimeoutTicks,
            IpProtocol.Icmp => rule.IcmpTimeoutTicks,
            _ => rule.OtherTimeoutTicks,
        };
    }

    private void RemoveSession(int index, SessionEndReason reason, long nowTicks)
    {
        if (SessionChanged is { } handler)
        {
            handler(new SessionEvent(SessionEventKind.Deleted, Describe(index), reason));
        }
        int ruleIndex = table.At(index).RuleIndex;
        CountSession(table.At(index), -1);
        if (table.Remove(index, out Session endedMapping))
        {
            pools.MappingEnded(endedMapping, nowTicks);
        }
        RuleSlot? rule = rules[ruleIndex];
        if (rule is not null && --rule.Sessions == 0 && !rule.Active)
        {
            rules[ruleIndex] = null;
        }
    }

    // Sessions by protocol and state, kept as they change (made, ended, a TCP state moving on),
    // so that metrics never walk the table (STYLE.md, "The packet thread does packet work").
    private static readonly (string Protocol, string State)[] CountedClasses =
    [
        ("tcp", "SynSent"), ("tcp", "SynReceived"), ("tcp", "Established"), ("tcp", "Closing"), ("tcp", "TimeWait"), ("tcp", "Reset"),
        ("udp", "Active"), ("icmp", "Active"),
    ];

    private readonly int[] sessionsByClass = new int[CountedClasses.Length];
    private readonly Dictionary<byte, int> otherSessionsByProtocol = [];

    private static int ClassOf(TcpTracking tracking)
    {
        const TcpTracking bothFin = TcpTracking.ForwardFin | TcpTracking.ReplyFin;
        const TcpTracking bothSyn = TcpTracking.ForwardSyn | TcpTracking.ReplySyn;
        return (tracking & TcpTracking.Reset) != 0 ? 5
            : (tracking & bothFin) == bothFin ? 4
            : (tracking & bothFin) != 0 ? 3
            : (tracking & TcpTracking.Established) != 0 ? 2
            : (tracking & bothSyn) == bothSyn ? 1
            : 0;
    }

    /// <summary>Counts a session made (+1) or ended (-1) in its protocol and state.</summary>
    private void CountSession(in Session session, int change)
    {
        switch (session.Original.Protocol)
        {
            case IpProtocol.Tcp:
                sessionsByClass[ClassOf(session.Tcp)] += change;
                break;
            case IpProtocol.Udp:
                sessionsByClass[6] += change;
                break;
            case IpProtocol.Icmp:
                sessionsByClass[7] += change;
                break;
            default:
                System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(otherSessionsByProtocol, session.Original.Protocol, out _) += change;
                break;
        }
    }

    /// <summary>Moves a TCP session's count when its state changes.</summary>
    private void CountTcpChange(TcpTracking before, TcpTracking after)
    {
        int from = ClassOf(before);
        int to = ClassOf(after);
        if (from != to)
        {
            sessionsByClass[from]--;
            sessionsByClass[to]++;
        }
    }

    /// <summary>Sessions by protocol name and state, for metrics: counts kept as they change, no walk of the table.</summary>
    public IReadOnlyDictionary<(string Protocol, string State), int> CountSessions()
    {
        var counts = new Dictionary<(string, string), int>();
        for (int i = 0; i < CountedClasses.Length; i++)
        {
            if (sessionsByClass[i] != 0)
            {
                counts[CountedClasses[i]] = sessionsByClass[i];
            }
        }
        foreach ((byte protocol, int count) in otherSessionsByProtocol)
        {
            if (count != 0)
            {
                counts[(FlowKey.ProtocolName(protocol), "Active")] = count;
            }
        }
        return counts;
    }

    /// <summary>
    /// Counts by walking one slice of the table, as <see cref="ListSessions(int, int, List{SessionInfo}, uint?, byte?)"/>
    /// walks: adds the sessions of the slots from <paramref name="firstSlot"/> on; returns where
    /// the next slice starts. For checking the kept counts; metrics use <see cref="CountSessions()"/>.
    /// </summary>
    public int CountSessions(int firstSlot, int slotCount, Dictionary<(string Protocol, string State), int> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        int end = (int)Math.Min((long)table.Capacity, (long)firstSlot + slotCount);
        for (int index = Math.Max(0, firstSlot); index < end; index++)
        {
            if (table.IsFree(index))
            {
                continue;
            }
            ref Session session = ref table.At(index);
            var key = (FlowKey.ProtocolName(session.Original.Protocol),
                session.Original.Protocol == IpProtocol.Tcp ? TcpStateName(session.Tcp) : "Active");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        return end;
    }

    private static string TcpStateName(TcpTracking tracking)
    {
        const TcpTracking bothFin = TcpTracking.ForwardFin | TcpTracking.ReplyFin;
        const TcpTracking bothSyn = TcpTracking.ForwardSyn | TcpTracking.ReplySyn;
        return (tracking & TcpTracking.Reset) != 0 ? "Reset"
            : (tracking & bothFin) == bothFin ? "TimeWait"
            : (tracking & bothFin) != 0 ? "Closing"
            : (tracking & TcpTracking.Established) != 0 ? "Established"
            : (tracking & bothSyn) == bothSyn ? "SynReceived"
            : "SynSent";
    }

    /// <summary>A listing of one session.</summary>
    private SessionInfo Describe(int index)
    {
        ref Session session = ref table.At(index);
        bool outside = (session.Attributes & SessionAttributes.InitiatedOutside) != 0;
        // Internal side: the flow as inside hosts see it; external: as the outside sees it.
        FlowKey internalKey = outside ? session.Translated.Reverse() : session.Original;
        FlowKey externalKey = outside ? session.Original.Reverse() : session.Translated;
        RuleSlot? rule = rules[session.RuleIndex];
        long expires = table.TicksOf(session.LastSeenSeconds + 1) + (rule is null ? 0 : TimeoutOf(session));
        return new SessionInfo
        {
            Id = index,
            Protocol = FlowKey.ProtocolName(session.Original.Protocol),
            ProtocolNumber = session.Original.Protocol,
            Original = session.Original,
            Translated = session.Translated,
            InitiatedOutside = outside,
            InternalSourceAddress = SessionInfo.Address(internalKey.Source),
            InternalSourcePort = internalKey.SourcePort,
            InternalDestinationAddress = SessionInfo.Address(internalKey.Destination),
            InternalDestinationPort = internalKey.DestinationPort,
            ExternalSourceAddress = SessionInfo.Address(externalKey.Source),
            ExternalSourcePort = externalKey.SourcePort,
            ExternalDestinationAddress = SessionInfo.Address(externalKey.Destination),
            ExternalDestinationPort = externalKey.DestinationPort,
            CreationTime = new DateTimeOffset(table.TicksOf(session.CreatedSeconds), TimeSpan.Zero),
            LastSeen = new DateTimeOffset(table.TicksOf(session.LastSeenSeconds), TimeSpan.Zero),
            Expires = new DateTimeOffset(expires, TimeSpan.Zero),
            State = session.Original.Protocol == IpProtocol.Tcp ? TcpStateName(session.Tcp) : "Active",
            Rule = session.RuleIndex,
            RuleLabel = rule?.Rule.Label,
            PacketsOut = outside ? session.PacketsReply : session.PacketsForward,
            PacketsIn = outside ? session.PacketsForward : session.PacketsReply,
            BytesOut = (long)(outside ? session.BytesReply : session.BytesForward),
            BytesIn = (long)(outside ? session.BytesForward : session.BytesReply),
        };
    }
}
