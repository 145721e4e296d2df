using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Offload;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Tests.Translation;
using NatGate.Core.Translation;
using CsCheck;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Offload;

/// <summary>
/// The engine and a cache below it (the kernel fast path's contract, in memory): which sessions
/// go in and when, that the cache's rewrite equals the engine's byte for byte, and that expiry,
/// listings and removals account for what the cache carried.
/// </summary>
public sealed class SessionOffloadTests
{
    private static (Lab Lab, InMemorySessionOffload Cache) Offloaded(NatPolicy? policy = null, int capacity = int.MaxValue)
    {
        var lab = new Lab(policy);
        var cache = new InMemorySessionOffload { Capacity = capacity };
        lab.Engine.UseOffload(cache);
        return (lab, cache);
    }

    /// <summary>The next packet both ways, once through the engine and once through the cache: the same bytes.</summary>
    private static void AssertCacheRewritesAsEngine(Lab lab, InMemorySessionOffload cache, byte[] outbound, Func<byte[], byte[]> replyTo)
    {
        byte[] byEngine = lab.Forward(outbound);
        byte[] byCache = (byte[])outbound.Clone();
        Assert.True(cache.TryRewrite(byCache, lab.Now));
        Assert.Equal(Convert.ToHexString(byEngine), Convert.ToHexString(byCache));
        Lab.AssertValid(byCache);

        byte[] reply = replyTo(byEngine);
        byte[] replyByEngine = lab.Forward(reply);
        byte[] replyByCache = (byte[])reply.Clone();
        Assert.True(cache.TryRewrite(replyByCache, lab.Now));
        Assert.Equal(Convert.ToHexString(replyByEngine), Convert.ToHexString(replyByCache));
        Lab.AssertValid(replyByCache);
    }

    [Fact]
    public void Udp_tcp_and_echo_rewritten_by_the_cache_equal_the_engines_rewrite_for_any_tuple()
    {
        Gen.Select(Gen.Int[0, 2], Gen.Byte[2, 254], Gen.UShort[1, 65535], Gen.UInt, Gen.UShort[1, 65535], Gen.Bool).Sample((kind, host, port, remoteValue, remotePort, udpChecksum) =>
        {
            (Lab lab, InMemorySessionOffload cache) = Offloaded();
            var inside = new Ipv4Address(Lab.InsideA.Value & 0xFFFFFF00 | host);
            var remote = new Ipv4Address(0xCB007100 | (remoteValue & 0xFF)); // 203.0.113.x
            switch (kind)
            {
                case 0:
                    lab.Forward(Lab.Udp(inside, port, remote, remotePort, withChecksum: udpChecksum));
                    AssertCacheRewritesAsEngine(lab, cache, Lab.Udp(inside, port, remote, remotePort, "more", withChecksum: udpChecksum),
                        leaving => Lab.Udp(remote, remotePort, Lab.External, Lab.Tuple(leaving).SourcePort, "answer", withChecksum: udpChecksum));
                    break;
                case 1:
                    byte[] syn = lab.Forward(Lab.Tcp(inside, port, remote, remotePort, TcpFlags.Syn));
                    Assert.Equal(0, cache.Count); // not before the SYN-ACK
                    lab.Forward(Lab.Tcp(remote, remotePort, Lab.External, Lab.Tuple(syn).SourcePort, TcpFlags.Syn | TcpFlags.Ack));
                    Assert.Equal(1, cache.Count); // the handshake's last ACK goes by the cache
                    AssertCacheRewritesAsEngine(lab, cache, Lab.Tcp(inside, port, remote, remotePort, TcpFlags.Ack | TcpFlags.Psh, "data"),
                        leaving => Lab.Tcp(remote, remotePort, Lab.External, Lab.Tuple(leaving).SourcePort, TcpFlags.Ack, "answer"));
                    break;
                default:
                    lab.Forward(Lab.Echo(inside, remote, port));
                    AssertCacheRewritesAsEngine(lab, cache, Lab.Echo(inside, remote, port),
                        leaving => Lab.Echo(remote, Lab.External, Lab.Tuple(leaving).SourcePort, reply: true));
                    break;
            }
        }, iter: 200);
    }

    [Fact]
    public void Nat66_sessions_rewritten_by_the_cache_equal_the_engines_rewrite()
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        engine.LoadRules(IpnatParser.Parse("""
            map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
            map wan0 fd00:77::/64 -> 2001:db8::10/128
            """, "ipnat.conf").Rules);
        var cache = new InMemorySessionOffload();
        engine.UseOffload(cache);
        Ipv6Address inside = Address("fd00:77::2"), remote = Address("2001:db8:ff::5"), external = Address("2001:db8::10");
        foreach (Func<Ipv6Address, Ipv6Address, ushort, ushort, byte[]> make in new Func<Ipv6Address, Ipv6Address, ushort, ushort, byte[]>[]
            { (s, d, sp, dp) => Udp(s, d, sp, dp), (s, d, sp, dp) => EchoRequest(s, d) })
        {
            byte[] first = make(inside, remote, 40000, 443);
            Assert.Equal(Verdict.Forward, engine.Translate(first, first.Length, 0).Verdict);
            byte[] byEngine = make(inside, remote, 40000, 443);
            byte[] byCache = (byte[])byEngine.Clone();
            Assert.Equal(Verdict.Forward, engine.Translate(byEngine, byEngine.Length, 0).Verdict);
            Assert.True(cache.TryRewrite(byCache, 0));
            Assert.Equal(Convert.ToHexString(byEngine), Convert.ToHexString(byCache));
            Assert.True(ChecksumIsValid(byCache));
            Assert.Equal(external, Source(byCache));
        }
        Assert.Equal(2, engine.OffloadedSessionCount);
        Assert.Equal(2, engine.OffloadedSessions().Ipv6.Count);
    }

    [Fact]
    public void Tcp_control_segments_fragments_and_requests_the_wrong_way_are_left_to_the_engine()
    {
        (Lab lab, InMemorySessionOffload cache) = Offloaded();
        byte[] syn = lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn));
        ushort external = Lab.Tuple(syn).SourcePort;
        lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, external, TcpFlags.Syn | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Ack));
        foreach (TcpFlags control in new[] { TcpFlags.Fin | TcpFlags.Ack, TcpFlags.Rst, TcpFlags.Syn })
        {
            byte[] packet = Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, control);
            byte[] before = (byte[])packet.Clone();
            Assert.False(cache.TryRewrite(packet, lab.Now));
            Assert.Equal(before, packet);
        }
        byte[] fragment = Lab.Udp(Lab.InsideA, 40001, Lab.Remote, 53);
        lab.Forward(Lab.Udp(Lab.InsideA, 40001, Lab.Remote, 53));
        fragment[Ipv4Packet.Field.FlagsAndFragmentOffset] |= 0x20; // more fragments
        Assert.False(cache.TryRewrite(fragment, lab.Now));
        lab.Forward(Lab.Echo(Lab.InsideA, Lab.Remote, 7));
        // An echo request from outside carrying the inside host's mapped identifier is not a reply (RFC 5508 REQ-3).
        byte[] leaving = lab.Forward(Lab.Echo(Lab.InsideA, Lab.Remote, 7));
        Assert.False(cache.TryRewrite(Lab.Echo(Lab.Remote, Lab.External, Lab.Tuple(leaving).SourcePort, reply: false), lab.Now));
        Assert.True(cache.TryRewrite(Lab.Echo(Lab.Remote, Lab.External, Lab.Tuple(leaving).SourcePort, reply: true), lab.Now));
    }

    [Fact]
    public void A_flow_busy_only_in_the_cache_does_not_expire_and_an_idle_one_does()
    {
        (Lab lab, InMemorySessionOffload cache) = Offloaded();
        byte[] busy = Lab.Udp(Lab.InsideA, 40000, Lab.Remote, 53);
        byte[] idle = Lab.Udp(Lab.InsideB, 40000, Lab.Remote, 53);
        lab.Forward(busy);
        lab.Forward(idle);
        Assert.Equal(2, cache.Count);
        // Ten minutes (the UDP timeout is five, RFC 4787 REQ-5), the busy flow's packets carried by the cache alone.
        for (int second = 0; second < 600; second += 10)
        {
            lab.Advance(TimeSpan.FromSeconds(10));
            Assert.True(cache.TryRewrite(Lab.Udp(Lab.InsideA, 40000, Lab.Remote, 53), lab.Now));
            lab.Engine.ExpireSessions(lab.Now);
        }
        SessionInfo remaining = Assert.Single(lab.Engine.ListSessions());
        Assert.Equal(Lab.InsideA.ToString(), remaining.InternalSourceAddress);
        Assert.Equal(1, cache.Count); // the idle one left the cache with the table
        Assert.Equal(61, remaining.PacketsOut); // the engine's first packet and the cache's 60
    }

    [Fact]
    public void A_handshake_completed_in_the_cache_makes_the_session_established_and_a_half_open_one_expires()
    {
        (Lab lab, InMemorySessionOffload cache) = Offloaded();
        byte[] completed = lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn));
        byte[] halfOpen = lab.Forward(Lab.Tcp(Lab.InsideB, 40000, Lab.Remote, 80, TcpFlags.Syn));
        foreach (byte[] leaving in new[] { completed, halfOpen })
        {
            lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, Lab.Tuple(leaving).SourcePort, TcpFlags.Syn | TcpFlags.Ack));
        }
        Assert.Equal(2, cache.Count);
        // The last ACK of one handshake, carried by the cache alone: the engine never sees it.
        Assert.True(cache.TryRewrite(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Ack), lab.Now));
        Assert.Equal(["Established", "SynReceived"], lab.Engine.ListSessions().OrderBy(session => session.InternalSourceAddress).Select(session => session.State));
        Assert.Equal(2, lab.Engine.CountSessions()[("tcp", "SynReceived")]); // the census learns it at the expiry check

        // Past the transitory timeout (4 minutes, RFC 7857 2.2) and well inside the established one
        // (2 hours 4 minutes, RFC 5382 REQ-5), with no packet at all since: the half-open one ends,
        // the completed one is now established for the engine too.
        lab.Advance(TimeSpan.FromMinutes(30));
        lab.Engine.ExpireSessions(lab.Now);
        SessionInfo remaining = Assert.Single(lab.Engine.ListSessions());
        Assert.Equal(Lab.InsideA.ToString(), remaining.InternalSourceAddress);
        Assert.Equal("Established", remaining.State);
        Assert.Equal(1, lab.Engine.CountSessions()[("tcp", "Established")]);
        Assert.False(lab.Engine.CountSessions().ContainsKey(("tcp", "SynReceived")));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Inbound_udp_carried_by_the_cache_refreshes_only_when_the_policy_says_so()
    {
        foreach (bool inboundRefresh in new[] { false, true })
        {
            (Lab lab, InMemorySessionOffload cache) = Offloaded(NatPolicy.Default with { UdpInboundRefresh = inboundRefresh });
            byte[] leaving = lab.Forward(Lab.Udp(Lab.InsideA, 40000, Lab.Remote, 53));
            for (int second = 0; second < 600; second += 10)
            {
                lab.Advance(TimeSpan.FromSeconds(10));
                cache.TryRewrite(Lab.Udp(Lab.Remote, 53, Lab.External, Lab.Tuple(leaving).SourcePort), lab.Now);
                lab.Engine.ExpireSessions(lab.Now);
            }
            Assert.Equal(inboundRefresh ? 1 : 0, lab.Engine.SessionCount); // RFC 4787 REQ-6
            Assert.Equal(lab.Engine.SessionCount, cache.Count);
        }
    }

    [Fact]
    public void Flush_removal_and_put_keep_the_cache_equal_to_the_table()
    {
        (Lab lab, InMemorySessionOffload cache) = Offloaded();
        for (ushort port = 1000; port < 1010; port++)
        {
            lab.Forward(Lab.Udp(Lab.InsideA, port, Lab.Remote, 53));
        }
        Assert.Equal(10, cache.Count);
        IReadOnlyList<SessionInfo> listed = lab.Engine.ListSessions();
        IReadOnlyList<SessionRecord> saved = lab.Engine.ExportSessions();
        lab.Engine.RemoveSession(listed[0].Id, lab.Now);
        Assert.Equal(9, cache.Count);
        Assert.False(cache.TryRewrite(Lab.Udp(Lab.InsideA, listed[0].InternalSourcePort, Lab.Remote, 53), lab.Now));
        lab.Engine.FlushSessions(lab.Now);
        Assert.Equal(0, cache.Count);
        Assert.Equal(0, lab.Engine.OffloadedSessionCount);
        lab.Engine.Lock(true);
        lab.Engine.Put(saved[1], lab.Now);
        lab.Engine.Lock(false);
        Assert.Equal(1, cache.Count);
        Assert.True(cache.TryRewrite(Lab.Udp(Lab.InsideA, listed[1].InternalSourcePort, Lab.Remote, 53), lab.Now));
        Assert.Single(lab.Engine.OffloadedSessions().Ipv4);
    }

    [Fact]
    public void A_full_cache_refuses_and_the_engine_keeps_translating_the_session()
    {
        (Lab lab, InMemorySessionOffload cache) = Offloaded(capacity: 1);
        lab.Forward(Lab.Udp(Lab.InsideA, 40000, Lab.Remote, 53));
        lab.Forward(Lab.Udp(Lab.InsideA, 40001, Lab.Remote, 53));
        Assert.Equal(1, cache.Count);
        Assert.Equal(1, lab.Engine.OffloadRefusedCount);
        Assert.False(cache.TryRewrite(Lab.Udp(Lab.InsideA, 40001, Lab.Remote, 53), lab.Now));
        Assert.Equal(Lab.External, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 40001, Lab.Remote, 53))).Source);
    }

    [Fact]
    public void Sessions_present_before_the_cache_is_attached_are_offered_to_it()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 40000, Lab.Remote, 53));
        lab.Forward(Lab.Tcp(Lab.InsideA, 40001, Lab.Remote, 80, TcpFlags.Syn)); // not established: stays
        var cache = new InMemorySessionOffload();
        lab.Engine.UseOffload(cache);
        Assert.Equal(1, cache.Count);
        Assert.Throws<InvalidOperationException>(() => lab.Engine.UseOffload(new InMemorySessionOffload()));
    }

    [Fact]
    public void A_new_engine_adopts_what_the_cache_carries_and_translates_it_on_as_before()
    {
        (Lab lab, InMemorySessionOffload cache) = Offloaded();
        byte[] udp = lab.Forward(Lab.Udp(Lab.InsideA, 40000, Lab.Remote, 53));
        lab.Forward(Lab.Udp(Lab.InsideA, 40000, Lab.OtherRemote, 53)); // the same mapping, a second session
        byte[] syn = lab.Forward(Lab.Tcp(Lab.InsideB, 40001, Lab.Remote, 80, TcpFlags.Syn));
        lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, Lab.Tuple(syn).SourcePort, TcpFlags.Syn | TcpFlags.Ack));
        lab.Forward(Lab.Tcp(Lab.InsideB, 40001, Lab.Remote, 80, TcpFlags.Ack));
        List<OffloadedSession<Ipv4Address>> carried = lab.Engine.OffloadedSessions().Ipv4;
        Assert.Equal(3, carried.Count);

        // A restart: a new engine, the same rules, nothing restored; the cache's sessions come in.
        var next = new Lab();
        foreach (OffloadedSession<Ipv4Address> session in carried)
        {
            Assert.True(next.Engine.AdoptOffloaded(session, next.Now, next.Now, out string? problem), problem);
            Assert.False(next.Engine.AdoptOffloaded(session, next.Now, next.Now, out problem)); // there already
            Assert.Null(problem);
        }
        Assert.Equal(3, next.Engine.SessionCount);
        Assert.Equal(2, next.Engine.MappingCount);
        Assert.Contains(next.Engine.ListSessions(), session => session.State == "Established");
        // Replies come back to the same inside endpoints, and the mapping's port is still its own.
        Assert.Equal((Lab.InsideA, (ushort)40000), (Lab.Tuple(next.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, Lab.Tuple(udp).SourcePort))).Destination,
            Lab.Tuple(next.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, Lab.Tuple(udp).SourcePort))).DestinationPort));
        Assert.Equal(Lab.Tuple(udp).SourcePort, Lab.Tuple(next.Forward(Lab.Udp(Lab.InsideA, 40000, Lab.Remote, 53))).SourcePort);
        Assert.Equal(Lab.Tuple(syn).SourcePort, Lab.Tuple(next.Forward(Lab.Tcp(Lab.InsideB, 40001, Lab.Remote, 80, TcpFlags.Ack, "more"))).SourcePort);

        // An engine whose rules could not have made them refuses, saying why.
        var other = new Lab(addMapRule: false);
        Assert.False(other.Engine.AdoptOffloaded(carried[0], other.Now, other.Now, out string? refusal));
        Assert.Contains("no loaded rule", refusal, StringComparison.Ordinal);
        Assert.Equal(0, other.Engine.SessionCount);
    }

    [Fact]
    public void A_redirect_to_the_loopback_stays_with_the_engine()
    {
        // rdr to a transparent proxy on the gateway's 127.0.0.1: rewritten at an inside
        // interface's ingress, the kernel would drop it as a martian (SharedAddressTests' proxy).
        var lab = new Lab(addMapRule: false);
        lab.Engine.LoadRules(IpnatParser.Parse("rdr natgate0 0.0.0.0/0 port 80 -> 127.0.0.1 port 3128 tcp\nrdr natgate0 0.0.0.0/0 port 81 -> 10.0.0.9 port 81 tcp\n", "ipnat.conf").Rules);
        var cache = new InMemorySessionOffload();
        lab.Engine.UseOffload(cache);
        foreach ((ushort port, string target) in new[] { ((ushort)80, "127.0.0.1"), ((ushort)81, "10.0.0.9") })
        {
            byte[] syn = lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, port, TcpFlags.Syn));
            Assert.Equal(target, Lab.Tuple(syn).Destination.ToString());
            lab.Forward(Lab.Tcp(Lab.Tuple(syn).Destination, Lab.Tuple(syn).DestinationPort, Lab.InsideA, 40000, TcpFlags.Syn | TcpFlags.Ack));
            lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, port, TcpFlags.Ack));
        }
        Assert.Equal(1, cache.Count); // the one to 10.0.0.9
        Assert.False(cache.TryRewrite(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Ack, "GET"), lab.Now));
    }
}
