using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Offload;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// Keeps one family's sessions in an <see cref="ISessionOffload"/> (the kernel fast path) as the
/// session store changes them: a session goes in once it is decided and comes out when it ends,
/// so the cache never holds what the table does not. Decided means: UDP and ICMP echo at once;
/// TCP once the SYN-ACK has been seen (both SYNs), so the handshake's last ACK and everything
/// after it go by the kernel from the first: a connection crosses the TUN with its SYNs, FINs and
/// RSTs only, which the cache leaves to the engine (every TCP state change but one is still seen
/// here). The one it does not see, the ACK that completes the handshake (RFC 7857 2.2, RFC 5382
/// REQ-5), it learns from the cache's counters: a packet the cache carried the opening way after
/// both SYNs is that ACK or later (<see cref="Refresh"/>, and listings). A helper's control
/// connections (a rule's <c>proxy</c>: its sessions to the proxy port) stay with the engine, which
/// must read their payload; the rule's other sessions, data connections included, need not.
/// </summary>
internal sealed class OffloadTracker<TAddress>(ISessionOffload offload, FlowTable<TAddress> table, RuleSlotTable rules, int firstId) : ISessionObserver<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    // One bit per slot: whether the session there is in the cache (a removal asks the cache only
    // then). Zeroed memory, so untouched pages of a large table cost nothing.
    private readonly ulong[] offloaded = new ulong[(table.Capacity + 63) / 64];

    public ISessionOffload Offload => offload;

    /// <summary>Sessions in the cache.</summary>
    public int Count { get; private set; }

    /// <summary>Sessions the cache refused (full): they stay with the engine.</summary>
    public long Refused { get; private set; }

    public bool IsOffloaded(int index) => (offloaded[index >> 6] & (1UL << index)) != 0;

    public void Created(int index, in Session<TAddress> session, long nowTicks)
    {
        if (IsDecided(session))
        {
            Add(index, session);
        }
    }

    public void TcpStateChanged(int index, in Session<TAddress> session, TcpTracking before, long nowTicks)
    {
        if (!IsOffloaded(index) && IsDecided(session))
        {
            Add(index, session);
        }
    }

    public void Removed(int index, in Session<TAddress> session, SessionEndReason reason, long nowTicks)
    {
        if (IsOffloaded(index))
        {
            offload.Remove(Describe(index, session));
            offloaded[index >> 6] &= ~(1UL << index);
            Count--;
        }
    }

    /// <summary>Offers every session already in the table (those restored before the cache was attached).</summary>
    public void AddExisting()
    {
        for (int index = 0; index < table.Capacity; index++)
        {
            ref Session<TAddress> session = ref table.At(index);
            if (!session.IsFree && !IsOffloaded(index) && IsDecided(session))
            {
                Add(index, session);
            }
        }
    }

    /// <summary>
    /// Before a session expires: takes the cache's last-seen time into the session when the cache
    /// carried its traffic since, with the engine's own rule for which packets refresh it (RFC
    /// 4787 REQ-6: inbound UDP only when the rule says so). True when it moved the time on.
    /// <paramref name="handshakeCompleted"/>: a TCP session the engine has not seen established
    /// was (<see cref="HandshakeCompleted"/>); the caller records it.
    /// </summary>
    public bool Refresh(int index, ref Session<TAddress> session, long nowTicks, out bool handshakeCompleted)
    {
        handshakeCompleted = false;
        if (!IsOffloaded(index) || !offload.TryGetActivity(Describe(index, session), nowTicks, out OffloadActivity activity))
        {
            return false;
        }
        handshakeCompleted = HandshakeCompleted(session.Original.Protocol, session.Tcp, activity);
        bool initiatedOutside = (session.Attributes & SessionAttributes.InitiatedOutside) != 0;
        long outbound = initiatedOutside ? activity.LastSeenReplyTicks : activity.LastSeenForwardTicks;
        long inbound = initiatedOutside ? activity.LastSeenForwardTicks : activity.LastSeenReplyTicks;
        long lastSeen = outbound;
        if (session.Original.Protocol != IpProtocol.Udp || rules[session.RuleIndex]?.UdpInboundRefresh == true)
        {
            lastSeen = Math.Max(lastSeen, inbound);
        }
        uint seconds = table.SecondsSinceEpoch(Math.Min(lastSeen, nowTicks));
        if (seconds <= session.LastSeenSeconds)
        {
            return false;
        }
        session.LastSeenSeconds = seconds;
        return true;
    }

    /// <summary>
    /// Whether the cache's counters show the handshake completed that the engine has not seen: a
    /// TCP session with both SYNs, not yet established, of which the cache carried a packet the
    /// opening way. The cache takes no SYN, FIN or RST, so that packet is the ACK of the SYN-ACK
    /// or one after it.
    /// </summary>
    public static bool HandshakeCompleted(IpProtocol protocol, TcpTracking tracking, in OffloadActivity activity)
        => protocol == IpProtocol.Tcp && activity.PacketsForward > 0
        && (tracking & (TcpTracking.Established | TcpTracking.Reset)) == 0
        && (tracking & (TcpTracking.ForwardSyn | TcpTracking.ReplySyn)) == (TcpTracking.ForwardSyn | TcpTracking.ReplySyn);

    /// <summary>What the cache carried of a session, for listings; empty when it holds none of it.</summary>
    public OffloadActivity ActivityOf(int index, in Session<TAddress> session, long nowTicks)
        => IsOffloaded(index) && offload.TryGetActivity(Describe(index, session), nowTicks, out OffloadActivity activity) ? activity : default;

    /// <summary>The session as the cache knows it.</summary>
    public OffloadedSession<TAddress> Describe(int index, in Session<TAddress> session)
        => new(firstId + index, session.Original, session.Translated, (session.Attributes & SessionAttributes.InitiatedOutside) != 0);

    private bool IsDecided(in Session<TAddress> session)
    {
        IpProtocol protocol = session.Original.Protocol;
        if (!OffloadDeltas.Carries<TAddress>(protocol)
            || rules[session.RuleIndex]?.Rule.Proxy?.Reads(protocol, session.Original.DestinationPort, session.Translated.DestinationPort) == true)
        {
            return false;
        }
        // A redirect to the loopback (a transparent proxy on 127.0.0.1): the kernel drops a
        // packet for 127/8 or ::1 that arrives on any device but lo (a martian), so rewritten at
        // an inside interface's ingress it would be lost; through the TUN, route_localnet lets it in.
        if (IsLoopback(session.Translated.Destination) || IsLoopback(session.Original.Destination))
        {
            return false;
        }
        return protocol != IpProtocol.Tcp || IsAnswered(session.Tcp);
    }

    /// <summary>Both SYNs seen, and the connection neither reset nor closed both ways.</summary>
    private static bool IsAnswered(TcpTracking tracking)
        => (tracking & (TcpTracking.ForwardSyn | TcpTracking.ReplySyn)) == (TcpTracking.ForwardSyn | TcpTracking.ReplySyn)
        && (tracking & TcpTracking.Reset) == 0
        && (tracking & (TcpTracking.ForwardFin | TcpTracking.ReplyFin)) != (TcpTracking.ForwardFin | TcpTracking.ReplyFin);

    private static readonly TAddress LoopbackNetwork = TAddress.Size == 4
        ? TAddress.Read([127, 0, 0, 0])
        : TAddress.Read([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

    private static bool IsLoopback(TAddress address) => TAddress.InPrefix(address, LoopbackNetwork, TAddress.Size == 4 ? 8 : 128);

    private void Add(int index, in Session<TAddress> session)
    {
        if (offload.TryAdd(Describe(index, session)))
        {
            offloaded[index >> 6] |= 1UL << index;
            Count++;
        }
        else
        {
            Refused++;
        }
    }
}
