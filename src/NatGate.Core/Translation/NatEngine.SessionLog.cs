using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Offload;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.SessionLog;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Core.Translation;

public sealed partial class NatEngine
{
    private SessionEventRing? sessionLog;
    private SessionRecorder<Ipv4Address>? ipv4Recorder;
    private SessionRecorder<Ipv6Address>? ipv6Recorder;
    private SessionRecorder<Ipv6Address>? nat64Recorder;

    /// <summary>
    /// Writes every session's life into <paramref name="ring"/> from now on (RFC 6888 REQ-12's
    /// log): created, TCP state changes (when the ring wants them), deleted with the reason and
    /// the packets and bytes (the kernel fast path's included), and for map-block rules the port
    /// block an inside host holds from its first session to the end of its last (RFC 7422). On the
    /// packet path this copies one value into the ring; nothing is allocated and nothing waits.
    /// Once per engine.
    /// </summary>
    public void RecordSessionEvents(SessionEventRing ring)
    {
        ArgumentNullException.ThrowIfNull(ring);
        if (sessionLog is not null)
        {
            throw new InvalidOperationException("the engine already records its session events");
        }
        sessionLog = ring;
        ipv4Recorder = new SessionRecorder<Ipv4Address>(this, ring, ipv4, 0);
        sessions.Observe(ipv4Recorder, first: true);
        if (ipv6 is not null)
        {
            RecordIpv6Events();
        }
        if (nat64 is not null)
        {
            RecordNat64Events(nat64);
        }
    }

    // The IPv6 and NAT64 tables are made with their first packet: their recorders come with them.
    private void RecordIpv6Events()
    {
        if (sessionLog is not null && ipv6 is not null && ipv6Recorder is null)
        {
            ipv6Recorder = new SessionRecorder<Ipv6Address>(this, sessionLog, ipv6, table.Capacity);
            ipv6.Sessions.Observe(ipv6Recorder, first: true);
        }
    }

    private void RecordNat64Events(Nat64Parts parts)
    {
        if (sessionLog is not null && nat64Recorder is null)
        {
            nat64Recorder = new SessionRecorder<Ipv6Address>(this, sessionLog, Nat64View(parts), Nat64FirstId);
            parts.Sessions.Observe(nat64Recorder, first: true);
        }
    }

    /// <summary>
    /// At a stop: writes a deleted record (<see cref="SessionEndReason.Stopped"/>) for each session
    /// alive in the slots from <paramref name="firstSlot"/> on (<paramref name="slotCount"/> of
    /// them), and releases the port blocks whose last session that was. The sessions stay in the
    /// table (a state file still saves them). Returns where the next slice starts,
    /// <see cref="SessionSlots"/> at the end; the caller lets the ring drain between slices. Records
    /// that find the ring full are lost and counted, as always.
    /// </summary>
    public int RecordSessionsAtStop(int firstSlot, int slotCount, long nowTicks)
        => sessionLog is null ? SessionSlots : Walk(firstSlot, slotCount, new StopRecorder(this, nowTicks));

    private sealed class StopRecorder(NatEngine engine, long nowTicks) : ISessionVisitor
    {
        public void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>
        {
            object? recorder = view.Family switch
            {
                SessionFamily.Ipv4 => engine.ipv4Recorder,
                SessionFamily.Ipv6 => engine.ipv6Recorder,
                _ => engine.nat64Recorder,
            };
            (recorder as SessionRecorder<TAddress>)?.Removed(index, view.Table.At(index), SessionEndReason.Stopped, nowTicks);
        }
    }

    /// <summary>A session as the log records it: its endpoints as the inside and the outside see them, its rule, its counts.</summary>
    private SessionLogRecord LogRecord<TAddress>(SessionTableView<TAddress> view, int index, int id, in Session<TAddress> session, SessionEventKind kind,
        SessionEndReason reason, long nowTicks, bool underPortBlock)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        bool outside = (session.Attributes & SessionAttributes.InitiatedOutside) != 0;
        IpFlow original = view.Shown(session.Original, ipv4Side: outside);
        IpFlow translated = view.Shown(session.Translated, ipv4Side: !outside);
        IpFlow inside = outside ? translated.Reverse() : original;
        IpFlow external = outside ? original.Reverse() : translated;
        // The totals at the end: what the engine translated and what the fast path carried (read
        // before the offload tracker takes the session out of the cache: this observer comes first).
        OffloadActivity carried = kind == SessionEventKind.Deleted ? view.Sessions.Offload?.ActivityOf(index, session, nowTicks) ?? default : default;
        ulong forwardPackets = session.PacketsForward + carried.PacketsForward;
        ulong replyPackets = session.PacketsReply + carried.PacketsReply;
        ulong forwardBytes = session.BytesForward + carried.BytesForward;
        ulong replyBytes = session.BytesReply + carried.BytesReply;
        return new SessionLogRecord
        {
            TimestampTicks = nowTicks,
            Kind = kind,
            Reason = reason,
            Family = view.Family,
            Protocol = inside.Protocol,
            // A handshake completed in the fast path is established, as listings show it, before the engine records it.
            State = session.Original.Protocol == IpProtocol.Tcp
                ? TcpStateName(OffloadTracker<TAddress>.HandshakeCompleted(IpProtocol.Tcp, session.Tcp, carried) ? session.Tcp | TcpTracking.Established : session.Tcp)
                : "Active",
            SessionId = id,
            InitiatedOutside = outside,
            RuleIndex = session.RuleIndex,
            Rule = rules[session.RuleIndex]?.Rule,
            InsideAddress = inside.Source,
            InsidePort = inside.SourcePort,
            ExternalAddress = external.Source,
            ExternalPort = external.SourcePort,
            RemoteAddress = external.Destination,
            RemotePort = external.DestinationPort,
            PacketsOut = (long)(outside ? replyPackets : forwardPackets),
            PacketsIn = (long)(outside ? forwardPackets : replyPackets),
            BytesOut = (long)(outside ? replyBytes : forwardBytes),
            BytesIn = (long)(outside ? forwardBytes : replyBytes),
            UnderPortBlock = underPortBlock,
        };
    }

    /// <summary>
    /// A table's session store's observer that writes the session log: first among the observers
    /// (so a deleted session's fast-path counters are still there to read). For map-block rules it
    /// counts each inside host's sessions, and writes the host's port block as allocated when the
    /// first begins and as released when the last ends.
    /// </summary>
    private sealed class SessionRecorder<TAddress>(NatEngine engine, SessionEventRing ring, SessionTableView<TAddress> view, int firstId) : ISessionObserver<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        // Sessions per (map-block rule, inside host). An entry lives while the host has sessions, so
        // its slots are reused as hosts come and go; it grows only with the hosts active at once.
        private readonly Dictionary<(int Rule, TAddress Inside), int> blockSessions = [];

        public void Created(int index, in Session<TAddress> session, long nowTicks)
        {
            bool underPortBlock = CountPortBlock(session, +1, nowTicks);
            if (ring.Wants(SessionEventKind.Created))
            {
                ring.TryWrite(engine.LogRecord(view, index, firstId + index, session, SessionEventKind.Created, SessionEndReason.None, nowTicks, underPortBlock));
            }
        }

        public void TcpStateChanged(int index, in Session<TAddress> session, TcpTracking before, long nowTicks)
        {
            if (ring.Wants(SessionEventKind.Updated) && NatEngine.TcpStateName(before) != NatEngine.TcpStateName(session.Tcp))
            {
                ring.TryWrite(engine.LogRecord(view, index, firstId + index, session, SessionEventKind.Updated, SessionEndReason.None, nowTicks, IsUnderPortBlock(session)));
            }
        }

        public void Removed(int index, in Session<TAddress> session, SessionEndReason reason, long nowTicks)
        {
            bool underPortBlock = IsUnderPortBlock(session);
            if (ring.Wants(SessionEventKind.Deleted))
            {
                ring.TryWrite(engine.LogRecord(view, index, firstId + index, session, SessionEventKind.Deleted, reason, nowTicks, underPortBlock));
            }
            // The session's end first, then its block's, as they happened.
            if (underPortBlock)
            {
                CountPortBlock(session, -1, nowTicks);
            }
        }

        // Every session of a map-block rule uses its inside host's block (one admitted inbound on
        // the host's mapping too), so the block lives as long as any of them.
        private bool IsUnderPortBlock(in Session<TAddress> session)
            => view.Family != SessionFamily.Nat64 && engine.rules[session.RuleIndex]?.Rule.Kind == NatRuleKind.MapBlock;

        /// <summary>Counts a map-block session in or out of its host's block; true when the session is under one.</summary>
        private bool CountPortBlock(in Session<TAddress> session, int change, long nowTicks)
        {
            if (!IsUnderPortBlock(session))
            {
                return false;
            }
            var key = (session.RuleIndex, session.InsideAddress);
            ref int count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(blockSessions, key, out _);
            count += change;
            if (count < 0)
            {
                // A session from before the log began (none, when the daemon attaches it first).
                blockSessions.Remove(key);
                return true;
            }
            if (count == (change > 0 ? 1 : 0))
            {
                if (count == 0)
                {
                    blockSessions.Remove(key);
                }
                WritePortBlock(session, change > 0 ? SessionEventKind.PortBlockAllocated : SessionEventKind.PortBlockReleased, nowTicks);
            }
            return true;
        }

        private void WritePortBlock(in Session<TAddress> session, SessionEventKind kind, long nowTicks)
        {
            RuleSlot? slot = engine.rules[session.RuleIndex];
            if (slot is null || !ring.Wants(kind)
                || !AddressPools<TAddress>.TryBlockOf(slot, session.InsideAddress, IpProtocol.Tcp, out TAddress external, out PortRange block))
            {
                return;
            }
            ring.TryWrite(new SessionLogRecord
            {
                TimestampTicks = nowTicks,
                Kind = kind,
                Family = view.Family,
                State = "Active",
                SessionId = -1,
                RuleIndex = session.RuleIndex,
                Rule = slot.Rule,
                InsideAddress = TAddress.ToIpAddress(session.InsideAddress),
                ExternalAddress = TAddress.ToIpAddress(external),
                PortBlock = block,
            });
        }
    }
}
