using NatGate.Core.Addressing;
using System.Runtime.InteropServices;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// Sessions by protocol and state, kept as they change (made, ended, a TCP state moving on),
/// so that metrics never walk the table (STYLE.md, "The packet thread does packet work").
/// Called by both families' session stores directly.
/// </summary>
internal sealed class SessionCensus
{
    private static readonly (string Protocol, string State)[] CountedClasses =
    [
        ("tcp", "SynSent"), ("tcp", "SynReceived"), ("tcp", "Established"), ("tcp", "Closing"), ("tcp", "TimeWait"), ("tcp", "Reset"),
        ("udp", "Active"), ("icmp", "Active"),
    ];

    private readonly int[] sessionsByClass = new int[CountedClasses.Length];
    private readonly Dictionary<IpProtocol, int> otherSessionsByProtocol = [];

    public void Created<TAddress>(int index, in Session<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => Count(session.Original.Protocol, session.Original.Protocol == TAddress.IcmpProtocol, session.Tcp, +1);

    public void Removed<TAddress>(int index, in Session<TAddress> session, SessionEndReason reason)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => Count(session.Original.Protocol, session.Original.Protocol == TAddress.IcmpProtocol, session.Tcp, -1);

    public void TcpStateChanged<TAddress>(int index, in Session<TAddress> session, TcpTracking before)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        int from = ClassOf(before);
        int to = ClassOf(session.Tcp);
        if (from != to)
        {
            sessionsByClass[from]--;
            sessionsByClass[to]++;
        }
    }

    /// <summary>The counts by protocol name and state, leaving out the empty ones.</summary>
    public IReadOnlyDictionary<(string Protocol, string State), int> Counts()
    {
        var counts = new Dictionary<(string, string), int>();
        for (int i = 0; i < CountedClasses.Length; i++)
        {
            if (sessionsByClass[i] != 0)
            {
                counts[CountedClasses[i]] = sessionsByClass[i];
            }
        }
        foreach ((IpProtocol protocol, int count) in otherSessionsByProtocol)
        {
            if (count != 0)
            {
                // Added, not set: protocol 1 over IPv6 is named "icmp", as the families' own ICMP are.
                (string, string) key = (IpProtocolNames.Of(protocol), "Active");
                counts[key] = counts.GetValueOrDefault(key) + count;
            }
        }
        return counts;
    }

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

    // familyIcmp: the family's own ICMP (1 in IPv4, 58 in IPv6), counted as "icmp" in both;
    // protocol 58 inside IPv4 is some other protocol.
    private void Count(IpProtocol protocol, bool familyIcmp, TcpTracking tcp, int change)
    {
        if (familyIcmp)
        {
            sessionsByClass[7] += change;
            return;
        }
        switch (protocol)
        {
            case IpProtocol.Tcp:
                sessionsByClass[ClassOf(tcp)] += change;
                break;
            case IpProtocol.Udp:
                sessionsByClass[6] += change;
                break;
            default:
                CollectionsMarshal.GetValueRefOrAddDefault(otherSessionsByProtocol, protocol, out _) += change;
                break;
        }
    }
}
