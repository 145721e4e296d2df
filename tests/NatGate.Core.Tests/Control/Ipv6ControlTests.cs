using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.State;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Control;

/// <summary>The /dev/ipnat operations on NAT66 sessions, beside IPv4's: flush, listings, lookup, put, purge, save and restore.</summary>
public sealed class Ipv6ControlTests
{
    private const string Rules = """
        map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
        map wan0 fd00:77::/64 -> 2001:db8::10/128
        rdr wan0 2001:db8::10 port 8080 -> fd00:77::3 port 80 tcp
        map wan0 10.77.0.0/24 -> 198.51.100.10/32 portmap tcp/udp auto
        """;

    private static readonly Ipv6Address Inside = Address("fd00:77::2");
    private static readonly Ipv6Address Server = Address("fd00:77::3");
    private static readonly Ipv6Address External = Address("2001:db8::10");
    private static readonly Ipv6Address Remote = Address("2001:db8:ff::5");
    private static readonly Ipv4Address Inside4 = Ipv4Address.Parse("10.77.0.2");
    private static readonly Ipv4Address Remote4 = Ipv4Address.Parse("203.0.113.5");

    private const long Now = 1_000 * TimeSpan.TicksPerSecond;

    private static NatEngine Engine(string rules = Rules)
    {
        var engine = new NatEngine(new NatEngineOptions(), 0);
        engine.LoadRules(IpnatParser.Parse(rules, "ipnat.conf").Rules);
        return engine;
    }

    private static TranslationResult Send(NatEngine engine, byte[] packet, long now = Now) => engine.Translate(packet, packet.Length, now);

    private static ushort SourcePort(byte[] packet) => BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(Ipv6Packet.HeaderLength));

    /// <summary>An IPv4 UDP session and an IPv6 one (NAT66) through the same engine; returns the IPv6 one's external port.</summary>
    private static ushort OneOfEach(NatEngine engine)
    {
        (int ipv4Before, int ipv6Before) = (engine.SessionCount, engine.Ipv6SessionCount);
        var buffer = new byte[128];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Inside4, 40000, Remote4, 53, "x"u8);
        Assert.Equal(Verdict.Forward, engine.Translate(buffer, length, Now).Verdict);
        byte[] outbound = Udp(Inside, Remote, 40000, 53);
        Assert.Equal(Verdict.Forward, Send(engine, outbound).Verdict);
        Assert.Equal((ipv4Before + 1, ipv6Before + 1), (engine.SessionCount, engine.Ipv6SessionCount));
        return SourcePort(outbound);
    }

    [Fact]
    public void Flush_removes_the_ipv6_sessions_with_the_ipv4_ones()
    {
        NatEngine engine = Engine();
        OneOfEach(engine);

        int removed = engine.FlushSessions(Now);

        Assert.Equal(2, removed);
        Assert.Equal(0, engine.SessionCount);
        Assert.Equal(0, engine.Ipv6SessionCount);
    }

    [Fact]
    public void Flush_is_refused_while_locked_and_ipv6_sessions_stay()
    {
        NatEngine engine = Engine();
        OneOfEach(engine);
        engine.Lock(true);
        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => engine.FlushSessions(Now)).Errno);
        Assert.Equal(1, engine.Ipv6SessionCount);
        // Locked, traffic makes no new IPv6 session either.
        Assert.Equal(DropReason.Locked, Send(engine, Udp(Inside, Remote, 40001, 53)).Reason);
    }

    [Fact]
    public void The_listing_shows_ipv6_sessions_with_their_endpoints_beside_ipv4_ones()
    {
        NatEngine engine = Engine();
        ushort externalPort = OneOfEach(engine);

        IReadOnlyList<SessionInfo> sessions = engine.ListSessions();

        Assert.Equal(2, sessions.Count);
        SessionInfo ipv6 = Assert.Single(sessions, session => session.IsIpv6);
        Assert.Equal(("udp", Inside.ToString(), (ushort)40000, Remote.ToString(), (ushort)53), (ipv6.Protocol, ipv6.InternalSourceAddress, ipv6.InternalSourcePort, ipv6.InternalDestinationAddress, ipv6.InternalDestinationPort));
        Assert.Equal((External.ToString(), externalPort, Remote.ToString(), (ushort)53), (ipv6.ExternalSourceAddress, ipv6.ExternalSourcePort, ipv6.ExternalDestinationAddress, ipv6.ExternalDestinationPort));
        Assert.Equal(new IpFlow(IpProtocol.Udp, Inside, 40000, Remote, 53), ipv6.Original);
        Assert.Equal(1, ipv6.PacketsOut);
        // Ids are one number space: IPv6's come after IPv4's table.
        Assert.InRange(ipv6.Id, engine.Capacity, engine.SessionSlots - 1);
        Assert.False(Assert.Single(sessions, session => !session.IsIpv6).IsIpv6);

        // Filters: an IPv6 address finds the IPv6 session only, an IPv4 one the IPv4 session only.
        Assert.Equal(ipv6.Id, Assert.Single(engine.ListSessions(External)).Id);
        Assert.Equal(ipv6.Id, Assert.Single(engine.ListSessions(Remote, IpProtocol.Udp)).Id);
        Assert.Empty(engine.ListSessions(Remote, IpProtocol.Tcp));
        Assert.False(Assert.Single(engine.ListSessions(Remote4)).IsIpv6);
    }

    [Fact]
    public void An_ipv6_session_is_removed_by_its_listed_id()
    {
        NatEngine engine = Engine();
        OneOfEach(engine);
        SessionInfo ipv6 = Assert.Single(engine.ListSessions(), session => session.IsIpv6);

        engine.RemoveSession(ipv6.Id, Now);

        Assert.Equal((1, 0), (engine.SessionCount, engine.Ipv6SessionCount));
        Assert.Equal(NatErrno.ESRCH, Assert.Throws<NatControlException>(() => engine.RemoveSession(ipv6.Id, Now)).Errno);
    }

    [Fact]
    public void Statistics_and_counts_by_state_include_ipv6_sessions()
    {
        NatEngine engine = Engine();
        OneOfEach(engine);

        NatStatistics statistics = engine.Statistics();

        Assert.Equal((2, 1, 2), (statistics.InUse, statistics.InUseIpv6, statistics.Mappings));
        Assert.Equal(2, engine.CountSessions()[("udp", "Active")]);
        var walked = new Dictionary<(string Protocol, string State), int>();
        for (int slot = 0; slot < engine.SessionSlots;)
        {
            slot = engine.CountSessions(slot, 4096, walked);
        }
        Assert.Equal(engine.CountSessions(), walked);
    }

    [Fact]
    public void An_ipv6_session_of_ipv4s_icmp_number_adds_to_the_icmp_count_and_hides_no_other()
    {
        // Found by the mutated-traffic replay: protocol 1 over IPv6 is named "icmp" as ICMPv6 is
        // counted, and its count replaced the ICMPv6 sessions' in the kept counts instead of adding to them.
        NatEngine engine = Engine();
        var buffer = new byte[128];
        for (ushort identifier = 1; identifier <= 2; identifier++)
        {
            int length = Ipv6PacketWriter.WriteEcho(buffer, Inside, Remote, Icmpv6Type.EchoRequest, identifier, 1, "ping"u8);
            Assert.Equal(Verdict.Forward, engine.Translate(buffer, length, Now).Verdict);
        }
        int header = Ipv6PacketWriter.WriteIpv6Header(buffer, Inside, Remote, IpProtocol.Icmp, 8);
        buffer.AsSpan(header, 8).Fill(0x5A);
        Assert.Equal(Verdict.Forward, engine.Translate(buffer, header + 8, Now).Verdict);
        Assert.Equal(3, engine.Ipv6SessionCount);

        var walked = new Dictionary<(string Protocol, string State), int>();
        engine.CountSessions(0, engine.SessionSlots, walked);
        Assert.Equal(3, walked[("icmp", "Active")]);
        Assert.Equal(walked, engine.CountSessions());
    }

    [Fact]
    public void Session_events_describe_ipv6_sessions()
    {
        NatEngine engine = Engine();
        var events = new List<SessionEvent>();
        engine.SessionChanged += events.Add;
        OneOfEach(engine);
        engine.FlushSessions(Now);

        SessionEvent[] ipv6 = [.. events.Where(change => change.Session.IsIpv6)];
        Assert.Equal([SessionEventKind.Created, SessionEventKind.Deleted], ipv6.Select(change => change.Kind));
        Assert.Equal(Inside.ToString(), ipv6[0].Session.InternalSourceAddress);
        Assert.Equal(SessionEndReason.Flushed, ipv6[1].Reason);
    }

    /// <summary>A redirected IPv6 connection from <see cref="Remote"/> to the external address's port 8080, which reaches <see cref="Server"/>:80.</summary>
    private static NatEngine Redirected(ushort clientPort = 33000)
    {
        NatEngine engine = Engine();
        byte[] syn = Tcp(Remote, External, clientPort, 8080);
        syn[Ipv6Packet.HeaderLength + 13] = (byte)TcpFlags.Syn;
        FixTcpChecksum(syn);
        Assert.Equal(Verdict.Forward, Send(engine, syn).Verdict);
        Assert.Equal(Server, Destination(syn));
        return engine;
    }

    [Fact]
    public void Lookup_of_a_redirected_ipv6_connection_gives_the_real_destination()
    {
        NatEngine engine = Redirected();

        // nl_v = 6: the server's end (nl_inip6) and the client's (nl_outip6); the answer is nl_realip6.
        LookupResult result = engine.Lookup(IpProtocol.Tcp, Server, 80, Remote, 33000, findForward: true);

        Assert.Equal((new IpAddress(External), (ushort)8080), (result.RealAddress, result.RealPort));
        Assert.True(result.RealAddress.IsIpv6);
        Assert.True(result.ForwardPossible);
    }

    [Fact]
    public void Find_forward_is_cleared_when_a_session_already_holds_the_outgoing_ipv6_tuple()
    {
        // The server (inside) already talks from port 80 to the real destination, as an outgoing
        // connection from the redirect's local end would: IP Filter clears IPN_FINDFORWARD.
        string rules = Rules + "\nrdr wan0 2001:db8::10 port 80 -> fd00:77::3 port 80 tcp\n";
        NatEngine engine = Engine(rules);
        byte[] syn = Tcp(Remote, External, 33000, 8080);
        syn[Ipv6Packet.HeaderLength + 13] = (byte)TcpFlags.Syn;
        FixTcpChecksum(syn);
        Send(engine, syn);
        byte[] hairpin = Tcp(Server, External, 80, 8080);
        hairpin[Ipv6Packet.HeaderLength + 13] = (byte)TcpFlags.Syn;
        FixTcpChecksum(hairpin);
        Assert.Equal(Verdict.Forward, Send(engine, hairpin).Verdict);

        LookupResult result = engine.Lookup(IpProtocol.Tcp, Server, 80, Remote, 33000, findForward: true);

        Assert.Equal((ushort)8080, result.RealPort);
        Assert.False(result.ForwardPossible);
    }

    [Fact]
    public void An_ipv6_lookup_without_a_session_is_esrch_and_mixed_families_are_einval()
    {
        NatEngine engine = Engine();
        NatControlException none = Assert.Throws<NatControlException>(() => engine.Lookup(IpProtocol.Tcp, Server, 80, Remote, 33001, findForward: false));
        Assert.Equal(NatErrno.ESRCH, none.Errno);
        Assert.Contains("[2001:db8:ff::5]:33001", none.Message, StringComparison.Ordinal);

        engine = Redirected();
        Assert.Equal(NatErrno.ESRCH, Assert.Throws<NatControlException>(() => engine.Lookup(IpProtocol.Tcp, Server, 80, Remote, 33001, findForward: false)).Errno);
        NatControlException mixed = Assert.Throws<NatControlException>(() => engine.Lookup(IpProtocol.Tcp, Server, 80, Remote4, 33000, findForward: false));
        Assert.Equal(NatErrno.EINVAL, mixed.Errno);
        Assert.Contains("one family", mixed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_transparent_proxy_on_the_gateway_finds_the_real_ipv6_destination_when_the_gateway_knows_its_ipv6_addresses()
    {
        Ipv6Address proxy = Address("fd00:77::1");
        Ipv6Address client = Inside;
        const string rules = """
            map wan0 fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
            rdr natgate0 ::/0 port 80 -> fd00:77::1 port 3128 tcp
            """;
        foreach (bool knowsItself in new[] { true, false })
        {
            NatEngine engine = Engine(rules);
            if (knowsItself)
            {
                engine.SetLocalAddresses([proxy]);
            }
            byte[] syn = Tcp(client, Remote, 40000, 80);
            syn[Ipv6Packet.HeaderLength + 13] = (byte)TcpFlags.Syn;
            FixTcpChecksum(syn);
            Assert.Equal(Verdict.Forward, Send(engine, syn).Verdict);
            Assert.Equal((proxy, (ushort)3128), (Destination(syn), BinaryPrimitives.ReadUInt16BigEndian(syn.AsSpan(Ipv6Packet.HeaderLength + 2))));
            if (knowsItself)
            {
                // The proxy sees the real client, and asks NatGate where it was going.
                Assert.Equal(client, Source(syn));
                LookupResult result = engine.Lookup(IpProtocol.Tcp, proxy, 3128, client, 40000, findForward: false);
                Assert.Equal((new IpAddress(Remote), (ushort)80), (result.RealAddress, result.RealPort));
            }
            else
            {
                // Not knowing the proxy is its own, the gateway hides the client behind the external address.
                Assert.Equal(External, Source(syn));
                Assert.Equal(NatErrno.ESRCH, Assert.Throws<NatControlException>(() => engine.Lookup(IpProtocol.Tcp, proxy, 3128, client, 40000, findForward: false)).Errno);
            }
        }
    }

    /// <summary>An IPv6 session's record, taken from the table, the table then flushed.</summary>
    private static (NatEngine Engine, SessionRecord Record, ushort ExternalPort) Ipv6Record()
    {
        NatEngine engine = Engine();
        byte[] outbound = Udp(Inside, Remote, 40000, 53);
        Send(engine, outbound);
        SessionRecord record = Assert.Single(engine.ExportSessions());
        engine.FlushSessions(Now);
        return (engine, record, SourcePort(outbound));
    }

    [Fact]
    public void An_ipv6_session_put_back_translates_its_replies()
    {
        (NatEngine engine, SessionRecord record, ushort externalPort) = Ipv6Record();
        Assert.True(record.Original.IsIpv6);
        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => engine.Put(record, Now)).Errno);
        engine.Lock(true);

        int id = engine.Put(record, Now);

        Assert.Equal(1, engine.Ipv6SessionCount);
        Assert.Equal(id, Assert.Single(engine.ListSessions()).Id);
        Assert.Equal(NatErrno.EEXIST, Assert.Throws<NatControlException>(() => engine.Put(record, Now)).Errno);
        engine.Lock(false);
        byte[] reply = Udp(Remote, External, 53, externalPort);
        Assert.Equal(Verdict.Forward, Send(engine, reply).Verdict);
        Assert.Equal(Inside, Destination(reply));
        Assert.True(ChecksumIsValid(reply));
    }

    [Fact]
    public void An_ipv6_put_that_does_not_fit_its_rule_or_family_is_einval()
    {
        (NatEngine engine, SessionRecord record, _) = Ipv6Record();
        engine.Lock(true);
        NatRule ipv4Rule = engine.ListRules().Single(rule => !rule.Rule.IsIpv6).Rule;
        IpFlow translated = record.Translated;

        SessionRecord[] refused =
        [
            // An external address the IPv6 rule does not own.
            record with { Translated = translated with { Source = Address("2001:db8::99") }, IpChecksumDelta = null, TransportChecksumDelta = null },
            // An IPv6 session under an IPv4 rule.
            record with { Rule = ipv4Rule },
            // Tuples of two families.
            record with { Translated = translated with { Destination = Remote4 } },
            record with { Original = new IpFlow(IpProtocol.Udp, Inside4, 40000, Remote4, 53) },
            // The unspecified address.
            record with { Original = record.Original with { Destination = Ipv6Address.Unspecified } },
        ];

        foreach (SessionRecord bad in refused)
        {
            NatControlException error = Assert.Throws<NatControlException>(() => engine.Put(bad, Now));
            Assert.Equal(NatErrno.EINVAL, error.Errno);
        }
        Assert.Equal(0, engine.Ipv6SessionCount);
        Assert.Equal(0, engine.SessionCount);
    }

    [Fact]
    public void A_put_under_an_ipv6_bimap_is_einval_since_prefix_translation_keeps_no_sessions()
    {
        NatEngine engine = Engine(Rules + "\nbimap wan0 fd00:88::/64 -> 2001:db8:88::/64\n");
        (_, SessionRecord record, _) = Ipv6Record();
        NatRule bimap = engine.ListRules().Single(rule => rule.Rule.Kind == NatRuleKind.Bidirectional).Rule;
        engine.Lock(true);
        NatControlException error = Assert.Throws<NatControlException>(() => engine.Put(record with { Rule = bimap }, Now));
        Assert.Equal(NatErrno.EINVAL, error.Errno);
        Assert.Contains("NPTv6", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Removing_a_rule_and_purging_removes_its_ipv6_sessions()
    {
        NatEngine engine = Engine();
        OneOfEach(engine);
        RuleInfo ipv6Map = engine.ListRules().First(rule => rule.Rule.IsIpv6 && rule.Sessions == 1);
        engine.RemoveRule(ipv6Map.Index);

        Assert.Equal(1, engine.Statistics().Orphans);
        Assert.Equal(1, engine.PurgeOrphans(Now));

        Assert.Equal((1, 0), (engine.SessionCount, engine.Ipv6SessionCount));
        NatEngine other = Engine();
        OneOfEach(other);
        Assert.Equal(1, other.PurgeSessionsOfRule(ipv6Map.Index, Now));
        Assert.Equal((1, 0), (other.SessionCount, other.Ipv6SessionCount));
    }

    [Fact]
    public void Saved_ipv6_sessions_come_back_in_a_new_engine_and_translate_alike()
    {
        NatEngine engine = Redirected();
        ushort externalPort = OneOfEach(engine);
        var saved = new MemoryStream();
        SessionStateFile.Save(saved, engine.ExportSessions(), DateTimeOffset.UnixEpoch);
        string header = System.Text.Encoding.UTF8.GetString(saved.ToArray()).Split('\n')[0];
        Assert.Contains("\"version\":2", header, StringComparison.Ordinal);

        saved.Position = 0;
        SavedSessions loaded = SessionStateFile.Load(saved);
        Assert.Equal(engine.ExportSessions().Select(record => (record.Original, record.Translated)), loaded.Sessions.Select(record => (record.Original, record.Translated)));
        NatEngine restored = Engine();
        RestoreReport report = restored.Restore(loaded.Sessions, Now);

        Assert.Empty(report.Failures);
        Assert.Equal((3, 1, 2), (report.Restored, restored.SessionCount, restored.Ipv6SessionCount));
        foreach (NatEngine each in new[] { engine, restored })
        {
            byte[] reply = Udp(Remote, External, 53, externalPort);
            Assert.Equal(Verdict.Forward, Send(each, reply).Verdict);
            Assert.Equal(Inside, Destination(reply));
            byte[] serverReply = Tcp(Server, Remote, 80, 33000);
            serverReply[Ipv6Packet.HeaderLength + 13] = (byte)(TcpFlags.Syn | TcpFlags.Ack);
            FixTcpChecksum(serverReply);
            Assert.Equal(Verdict.Forward, Send(each, serverReply).Verdict);
            Assert.Equal((External, (ushort)8080), (Source(serverReply), SourcePort(serverReply)));
        }
    }

    [Fact]
    public void A_version_1_file_holding_an_ipv6_flow_is_refused()
    {
        (NatEngine engine, SessionRecord record, _) = Ipv6Record();
        var saved = new MemoryStream();
        SessionStateFile.Save(saved, [record], DateTimeOffset.UnixEpoch);
        string[] lines = System.Text.Encoding.UTF8.GetString(saved.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string content = lines[0].Replace("\"version\":2", "\"version\":1", StringComparison.Ordinal) + "\n" + lines[1] + "\n";
        string digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(content)));
        var downgraded = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content + $"{{\"sha256\":\"{digest}\"}}\n"));

        StateFileException refused = Assert.Throws<StateFileException>(() => SessionStateFile.Load(downgraded));

        Assert.Contains("IPv6 session in a version 1 file", refused.Message, StringComparison.Ordinal);
        _ = engine;
    }

    [Fact]
    public void Random_nat66_traffic_exported_and_restored_into_a_new_engine_gives_the_same_sessions_under_every_mapping_behaviour()
    {
        Gen<(int Host, ushort Port, int Remote, ushort RemotePort, bool Tcp)> flow = Gen.Select(Gen.Int[2, 6], Gen.UShort[1024, 1040], Gen.Int[1, 4], Gen.UShort[50, 53], Gen.Bool);
        Gen.Select(flow.Array[1, 25], Gen.Enum<MappingBehavior>()).Sample((flows, mapping) =>
        {
            NatEngine Made()
            {
                var made = new NatEngine(new NatEngineOptions { RandomSeed = 7, Limits = new Core.Sessions.FlowTableLimits { MaximumSessions = 1024 } }, 0);
                made.LoadRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules.Select(rule => rule with { Policy = NatPolicy.Default with { Mapping = mapping } }));
                return made;
            }
            NatEngine engine = Made();
            foreach ((int host, ushort port, int remote, ushort remotePort, bool tcp) in flows)
            {
                Ipv6Address source = new(Inside.Upper, (ulong)host);
                Ipv6Address destination = new(Remote.Upper, (ulong)remote);
                byte[] packet = tcp ? Tcp(source, destination, port, remotePort) : Udp(source, destination, port, remotePort);
                if (tcp)
                {
                    packet[Ipv6Packet.HeaderLength + 13] = (byte)TcpFlags.Syn;
                    FixTcpChecksum(packet);
                }
                Send(engine, packet);
            }
            IReadOnlyList<SessionRecord> exported = engine.ExportSessions();
            Assert.Equal(engine.Ipv6SessionCount, exported.Count);

            NatEngine restored = Made();
            RestoreReport report = restored.Restore(exported, Now);

            Assert.Empty(report.Failures);
            Assert.Equal(Describe(exported), Describe(restored.ExportSessions()));
            Assert.Equal(engine.Statistics().Mappings, restored.Statistics().Mappings);
            Assert.Equal(exported.Count, restored.FlushSessions(Now));
            Assert.Equal(0, restored.Ipv6SessionCount);
        }, iter: 200);

        static string[] Describe(IEnumerable<SessionRecord> records)
            => [.. records.Select(record => $"{record.Original} => {record.Translated} {record.InMapping} {record.Mapping} {record.InitiatedOutside} {record.IpChecksumDelta} {record.TransportChecksumDelta}").Order(StringComparer.Ordinal)];
    }

    private static void FixTcpChecksum(byte[] packet)
    {
        Span<byte> segment = packet.AsSpan(Ipv6Packet.HeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(segment[16..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(segment[16..],
            TransportChecksum.ComputeIpv6(packet.AsSpan(Ipv6Packet.Field.SourceAddress, 16), packet.AsSpan(Ipv6Packet.Field.DestinationAddress, 16), IpProtocol.Tcp, segment));
    }
}
