using NatGate.Core.Offload;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    /// <summary>
    /// Runs the timers: removes sessions idle past their timeout, ends port mappings whose lifetime is over and forgets stale fragments.
    /// Call it about once a second. While the table is locked nothing is removed.
    /// Returns the number of sessions expired.
    /// </summary>
    public int ExpireSessions(long nowTicks)
    {
        latestTicks = nowTicks;
        // Port mappings (PCP, NAT-PMP) end with their lifetime, locked or not: their redirects are rules, not sessions.
        ExpirePortMappings(nowTicks);
        int expired = sessions.Expire(nowTicks, IsLocked) + (ipv6?.Sessions.Expire(nowTicks, IsLocked) ?? 0)
            + (nat64?.Sessions.Expire(nowTicks, IsLocked) ?? 0);
        // Data connections announced but never opened give their ports back (FtpHelper.ExpectationTimeout).
        ftp?.ExpireExpectations(nowTicks);
        // Held fragments whose first fragment never came are dropped here, and counted.
        int timedOut = ipv4.Fragments.Expire(nowTicks) + (ipv6?.Fragments.Expire(nowTicks) ?? 0) + (nat64?.Fragments.Expire(nowTicks) ?? 0);
        for (int i = 0; i < timedOut; i++)
        {
            Counters.CountDrop(DropReason.FragmentTimeout);
        }
        return expired;
    }

    // The time of the last expiry run: listings read the offload cache's last-seen times against it.
    private long latestTicks;

    /// <summary>Sessions by protocol name and state, for metrics: counts kept as they change, no walk of the table.</summary>
    public IReadOnlyDictionary<(string Protocol, string State), int> CountSessions() => sessions.Census.Counts();

    /// <summary>
    /// Counts by walking one slice of the tables, as <see cref="ListSessions(int, int, List{SessionInfo}, IpAddress?, IpProtocol?)"/>
    /// walks: adds the sessions (of both families) of the slots from <paramref name="firstSlot"/> on;
    /// returns where the next slice starts. For checking the kept counts; metrics use <see cref="CountSessions()"/>.
    /// </summary>
    public int CountSessions(int firstSlot, int slotCount, Dictionary<(string Protocol, string State), int> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        return Walk(firstSlot, slotCount, new Counter(counts));
    }

    private sealed class Counter(Dictionary<(string Protocol, string State), int> counts) : ISessionVisitor
    {
        public void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>
        {
            ref Session<TAddress> session = ref view.Table.At(index);
            IpProtocol protocol = session.Original.Protocol;
            // The census counts both families' ICMP as "icmp" (SessionCensus).
            var key = (protocol == TAddress.IcmpProtocol ? "icmp" : IpProtocolNames.Of(protocol),
                protocol == IpProtocol.Tcp ? TcpStateName(session.Tcp) : "Active");
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
    }

    internal static string TcpStateName(TcpTracking tracking)
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

    /// <summary>A listing of one session of any table; <paramref name="id"/> is its number in <see cref="SessionSlots"/>.</summary>
    private SessionInfo Describe<TAddress>(SessionTableView<TAddress> view, int index, int id)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FlowTable<TAddress> table = view.Table;
        ref Session<TAddress> session = ref table.At(index);
        bool outside = (session.Attributes & SessionAttributes.InitiatedOutside) != 0;
        // Internal side: the flow as inside hosts see it; external: as the outside sees it (for
        // NAT64, IPv6 inside and plain IPv4 outside).
        IpFlow original = view.Shown(session.Original, ipv4Side: outside);
        IpFlow translated = view.Shown(session.Translated, ipv4Side: !outside);
        IpFlow internalKey = outside ? translated.Reverse() : original;
        IpFlow externalKey = outside ? original.Reverse() : translated;
        RuleSlot? rule = rules[session.RuleIndex];
        long expires = rule is null ? table.TicksOf(session.LastSeenSeconds + 1) : view.Sessions.DeadlineOf(session);
        // What the fast path carried of it, besides what the engine translated itself.
        OffloadActivity carried = view.Sessions.Offload?.ActivityOf(index, session, latestTicks) ?? default;
        return new SessionInfo
        {
            Id = id,
            Family = view.Family,
            Protocol = IpProtocolNames.Of(session.Original.Protocol),
            ProtocolNumber = (byte)session.Original.Protocol,
            Original = original,
            Translated = translated,
            InitiatedOutside = outside,
            InternalSourceAddress = $"{internalKey.Source}",
            InternalSourcePort = internalKey.SourcePort,
            InternalDestinationAddress = $"{internalKey.Destination}",
            InternalDestinationPort = internalKey.DestinationPort,
            ExternalSourceAddress = $"{externalKey.Source}",
            ExternalSourcePort = externalKey.SourcePort,
            ExternalDestinationAddress = $"{externalKey.Destination}",
            ExternalDestinationPort = externalKey.DestinationPort,
            CreationTime = new DateTimeOffset(table.TicksOf(session.CreatedSeconds), TimeSpan.Zero),
            LastSeen = new DateTimeOffset(table.TicksOf(session.LastSeenSeconds), TimeSpan.Zero),
            Expires = new DateTimeOffset(expires, TimeSpan.Zero),
            // A handshake completed in the fast path shows as such before the engine records it at the next expiry check.
            State = session.Original.Protocol == IpProtocol.Tcp
                ? TcpStateName(OffloadTracker<TAddress>.HandshakeCompleted(IpProtocol.Tcp, session.Tcp, carried) ? session.Tcp | TcpTracking.Established : session.Tcp)
                : "Active",
            Rule = session.RuleIndex,
            RuleLabel = rule?.Rule.Label,
            PacketsOut = (long)(outside ? session.PacketsReply + carried.PacketsReply : session.PacketsForward + carried.PacketsForward),
            PacketsIn = (long)(outside ? session.PacketsForward + carried.PacketsForward : session.PacketsReply + carried.PacketsReply),
            BytesOut = (long)(outside ? session.BytesReply + carried.BytesReply : session.BytesForward + carried.BytesForward),
            BytesIn = (long)(outside ? session.BytesForward + carried.BytesForward : session.BytesReply + carried.BytesReply),
        };
    }
}
