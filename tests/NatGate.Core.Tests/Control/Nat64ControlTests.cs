using System.Buffers.Binary;
using System.Text;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.State;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Control;

/// <summary>
/// The /dev/ipnat operations on NAT64 sessions, beside IPv4's and NAT66's: listings with the
/// IPv6 inside and the IPv4 outside, ids, removal, flush, purge, events, statistics, put, save
/// and restore (the IPv4 port reserved again in the allocator NAT64 shares with IPv4 NAPT), lookup.
/// </summary>
public sealed class Nat64ControlTests
{
    // NAT64 and IPv4 NAPT share 203.0.113.10's ports; the NAT66 rule makes the NAT66 table when used.
    private const string Rules = """
        map wan0 fd00:77::/64 -> 203.0.113.10/32 portmap tcp/udp auto icmpidmap icmp 1024:65535
        map wan0 10.77.0.0/24 -> 203.0.113.10/32 portmap tcp/udp auto
        map wan0 fd00:66::/64 -> 2001:db8::10/128 portmap tcp/udp auto
        """;

    private static readonly Ipv6Address Inside = Ipv6Address.Parse("fd00:77::2", null);
    private static readonly Ipv4Address External = Ipv4Address.Parse("203.0.113.10");
    private static readonly Ipv4Address Server = Ipv4Address.Parse("198.51.100.20");
    private static readonly Ipv6Address ServerInPrefix = Nat64Prefix.WellKnown.Embed(Server);
    private static readonly Ipv4Address Inside4 = Ipv4Address.Parse("10.77.0.2");
    private static readonly byte[] Payload = "nat64 control"u8.ToArray();

    private const long Now = 1_000 * TimeSpan.TicksPerSecond;

    private static NatEngine Engine(int maximumSessions = 4096)
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 7, Limits = new FlowTableLimits { MaximumSessions = maximumSessions } }, 0);
        engine.LoadRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules);
        return engine;
    }

    private static (TranslationResult Result, byte[] Packet) Send(NatEngine engine, byte[] packet, long now = Now)
    {
        var buffer = new byte[packet.Length + 64];
        packet.CopyTo(buffer, 0);
        TranslationResult result = engine.Translate(buffer, packet.Length, now);
        return (result, buffer[..result.Length]);
    }

    /// <summary>A NAT64 UDP session from <see cref="Inside"/>:<paramref name="port"/> to <see cref="Server"/>:53; returns its external port.</summary>
    private static ushort Nat64Udp(NatEngine engine, ushort port = 40000)
    {
        (TranslationResult result, byte[] sent) = Send(engine, Ipv6(Inside, ServerInPrefix, IpProtocol.Udp, Udp(port, 53, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        return BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(20));
    }

    [Fact]
    public void Flush_removes_nat64_sessions_with_the_others()
    {
        NatEngine engine = Engine();
        Nat64Udp(engine);
        Assert.Equal(Verdict.Forward, Send(engine, Ipv4(Inside4, Server, IpProtocol.Udp, Udp(41000, 53, Payload))).Result.Verdict);

        int removed = engine.FlushSessions(Now);

        Assert.Equal(2, removed);
        Assert.Equal((0, 0), (engine.SessionCount, engine.Nat64SessionCount));
        // The flushed mapping's port went back: a new flow from the same inside port keeps it again.
        Assert.Equal((ushort)40000, Nat64Udp(engine));
    }

    [Fact]
    public void The_listing_shows_the_ipv6_inside_and_the_ipv4_outside_never_a_mapped_address()
    {
        NatEngine engine = Engine();
        ushort externalPort = Nat64Udp(engine);

        SessionInfo session = Assert.Single(engine.ListSessions());

        Assert.Equal(SessionFamily.Nat64, session.Family);
        Assert.False(session.IsIpv6);
        Assert.Equal((Inside.ToString(), (ushort)40000, ServerInPrefix.ToString(), (ushort)53),
            (session.InternalSourceAddress, session.InternalSourcePort, session.InternalDestinationAddress, session.InternalDestinationPort));
        Assert.Equal(("203.0.113.10", externalPort, "198.51.100.20", (ushort)53),
            (session.ExternalSourceAddress, session.ExternalSourcePort, session.ExternalDestinationAddress, session.ExternalDestinationPort));
        Assert.Equal(new IpFlow(IpProtocol.Udp, Inside, 40000, ServerInPrefix, 53), session.Original);
        Assert.Equal(new IpFlow(IpProtocol.Udp, External, externalPort, Server, 53), session.Translated);
        Assert.Equal(1, session.PacketsOut);
        Assert.InRange(session.Id, engine.CapacityOf(SessionFamily.Ipv4) + engine.CapacityOf(SessionFamily.Ipv6), engine.SessionSlots - 1);

        // Filters find it by either side's address, IPv4 ones included, and by the IPv4 side's protocol name.
        Assert.Equal(session.Id, Assert.Single(engine.ListSessions(External)).Id);
        Assert.Equal(session.Id, Assert.Single(engine.ListSessions(Server, IpProtocol.Udp)).Id);
        Assert.Equal(session.Id, Assert.Single(engine.ListSessions(Inside)).Id);
        Assert.Empty(engine.ListSessions(Server, IpProtocol.Tcp));
        Assert.Empty(engine.ListSessions(Ipv4Address.Parse("198.51.100.99")));
    }

    [Fact]
    public void A_session_admitted_from_outside_lists_the_remote_in_the_prefix_inside_and_in_ipv4_outside()
    {
        NatEngine engine = Engine();
        ushort externalPort = Nat64Udp(engine);
        // Address-dependent filtering (the default) lets the server in from another port.
        Assert.Equal(Verdict.Forward, Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(5353, externalPort, Payload))).Result.Verdict);

        SessionInfo admitted = Assert.Single(engine.ListSessions(), session => session.InitiatedOutside);

        Assert.Equal(new IpFlow(IpProtocol.Udp, Server, 5353, External, externalPort), admitted.Original);
        Assert.Equal(new IpFlow(IpProtocol.Udp, ServerInPrefix, 5353, Inside, 40000), admitted.Translated);
        Assert.Equal((Inside.ToString(), ServerInPrefix.ToString(), "203.0.113.10", "198.51.100.20"),
            (admitted.InternalSourceAddress, admitted.InternalDestinationAddress, admitted.ExternalSourceAddress, admitted.ExternalDestinationAddress));
        Assert.Equal((1, 0), (admitted.PacketsIn, admitted.PacketsOut));
    }

    [Fact]
    public void A_nat64_session_is_removed_by_its_listed_id_which_stays_when_the_nat66_table_comes_later()
    {
        NatEngine engine = Engine();
        Nat64Udp(engine);
        int id = Assert.Single(engine.ListSessions()).Id;
        // The NAT66 table is made after NAT64's: NAT64's ids must not move.
        byte[] nat66 = Nat66Udp();
        Assert.Equal(Verdict.Forward, Send(engine, nat66).Result.Verdict);
        Assert.Equal(1, engine.Ipv6SessionCount);
        Assert.Equal(id, Assert.Single(engine.ListSessions(), session => session.Family == SessionFamily.Nat64).Id);

        engine.RemoveSession(id, Now);

        Assert.Equal((0, 1), (engine.Nat64SessionCount, engine.Ipv6SessionCount));
        Assert.Equal(NatErrno.ESRCH, Assert.Throws<NatControlException>(() => engine.RemoveSession(id, Now)).Errno);
        Assert.Equal(NatErrno.ESRCH, Assert.Throws<NatControlException>(() => engine.RemoveSession(engine.SessionSlots, Now)).Errno);
    }

    private static byte[] Nat66Udp()
        => Ipv6(Ipv6Address.Parse("fd00:66::2", null), Ipv6Address.Parse("2001:db8:ff::5", null), IpProtocol.Udp, Udp(40000, 53, Payload));

    [Fact]
    public void Statistics_and_counts_include_nat64_sessions()
    {
        NatEngine engine = Engine();
        Nat64Udp(engine);
        Send(engine, Ipv4(Inside4, Server, IpProtocol.Udp, Udp(41000, 53, Payload)));
        Send(engine, Nat66Udp());

        NatStatistics statistics = engine.Statistics();

        Assert.Equal((3, 1, 1, 3), (statistics.InUse, statistics.InUseIpv6, statistics.InUseNat64, statistics.Mappings));
        Assert.Equal(3, engine.CountSessions()[("udp", "Active")]);
        var walked = new Dictionary<(string Protocol, string State), int>();
        for (int slot = 0; slot < engine.SessionSlots;)
        {
            slot = engine.CountSessions(slot, 1000, walked);
        }
        Assert.Equal(engine.CountSessions(), walked);
        Assert.Equal(4096, engine.CapacityOf(SessionFamily.Nat64));
    }

    [Fact]
    public void Session_events_describe_nat64_sessions_whether_the_listener_came_first_or_the_table()
    {
        foreach (bool listenFirst in new[] { true, false })
        {
            NatEngine engine = Engine();
            var events = new List<SessionEvent>();
            if (listenFirst)
            {
                engine.SessionChanged += events.Add;
            }
            Nat64Udp(engine, 40001);
            if (!listenFirst)
            {
                engine.SessionChanged += events.Add;
            }
            ushort externalPort = Nat64Udp(engine, 40002);
            engine.FlushSessions(Now);

            SessionEvent[] nat64 = [.. events.Where(change => change.Session.Family == SessionFamily.Nat64)];
            Assert.Equal(listenFirst ? 4 : 3, nat64.Length);
            SessionEvent created = nat64.Single(change => change.Kind == SessionEventKind.Created && change.Session.InternalSourcePort == 40002);
            Assert.Equal((Inside.ToString(), "203.0.113.10", externalPort), (created.Session.InternalSourceAddress, created.Session.ExternalSourceAddress, created.Session.ExternalSourcePort));
            Assert.Equal(created.Session.Id, nat64.Single(change => change.Kind == SessionEventKind.Deleted && change.Session.InternalSourcePort == 40002).Session.Id);
            Assert.All(nat64.Where(change => change.Kind == SessionEventKind.Deleted), change => Assert.Equal(SessionEndReason.Flushed, change.Reason));
        }
    }

    [Fact]
    public void Removing_the_nat64_rule_and_purging_removes_its_sessions()
    {
        NatEngine engine = Engine();
        Nat64Udp(engine);
        Send(engine, Ipv4(Inside4, Server, IpProtocol.Udp, Udp(41000, 53, Payload)));
        RuleInfo nat64Rule = engine.ListRules().Single(rule => rule.Rule.IsNat64);
        Assert.Equal(1, nat64Rule.Sessions);
        engine.RemoveRule(nat64Rule.Index);

        Assert.Equal(1, engine.Statistics().Orphans);
        Assert.Equal(1, engine.PurgeOrphans(Now));
        Assert.Equal((1, 0), (engine.SessionCount, engine.Nat64SessionCount));

        NatEngine other = Engine();
        Nat64Udp(other);
        Assert.Equal(1, other.PurgeSessionsOfRule(nat64Rule.Index, Now));
        Assert.Equal(0, other.Nat64SessionCount);
    }

    [Fact]
    public void An_external_ipv4_address_that_leaves_ends_the_nat64_sessions_on_it()
    {
        NatEngine engine = Engine();
        Nat64Udp(engine);
        Assert.Equal(0, engine.FlushSessionsOn(Ipv4Address.Parse("203.0.113.11"), Now));

        Assert.Equal(1, engine.FlushSessionsOn(External, Now));

        Assert.Equal(0, engine.Nat64SessionCount);
    }

    [Fact]
    public void Locked_the_table_keeps_nat64_sessions_from_flush_and_removal()
    {
        NatEngine engine = Engine();
        Nat64Udp(engine);
        int id = Assert.Single(engine.ListSessions()).Id;
        engine.Lock(true);

        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => engine.FlushSessions(Now)).Errno);
        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => engine.RemoveSession(id, Now)).Errno);
        Assert.Equal(0, engine.ExpireSessions(Now + TimeSpan.FromHours(1).Ticks));
        Assert.Equal(1, engine.Nat64SessionCount);
    }

    /// <summary>A UDP session, an echo and a TCP connection from the inside, and one admitted from outside: every kind a NAT64 table holds.</summary>
    private static (NatEngine Engine, ushort UdpPort, ushort EchoIdentifier, ushort TcpPort) Busy()
    {
        NatEngine engine = Engine();
        ushort udpPort = Nat64Udp(engine);
        Assert.Equal(Verdict.Forward, Send(engine, Ipv4(Server, External, IpProtocol.Udp, Udp(5353, udpPort, Payload))).Result.Verdict);
        (TranslationResult result, byte[] echo) = Send(engine, Ipv6(Inside, ServerInPrefix, IpProtocol.Icmpv6, Echo(Icmpv6Type.EchoRequest, 0x1234, 1, Payload)));
        Assert.Equal(Verdict.Forward, result.Verdict);
        byte[] syn = Tcp(40010, 80, []);
        syn[13] = (byte)TcpFlags.Syn;
        (result, byte[] sentSyn) = Send(engine, Ipv6(Inside, ServerInPrefix, IpProtocol.Tcp, syn));
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(4, engine.Nat64SessionCount);
        return (engine, udpPort, BinaryPrimitives.ReadUInt16BigEndian(echo.AsSpan(24)), BinaryPrimitives.ReadUInt16BigEndian(sentSyn.AsSpan(20)));
    }

    /// <summary>The replies the IPv4 side sends to each of <see cref="Busy"/>'s sessions.</summary>
    private static byte[][] Replies(ushort udpPort, ushort echoIdentifier, ushort tcpPort)
    {
        byte[] synAck = Tcp(80, tcpPort, []);
        synAck[13] = (byte)(TcpFlags.Syn | TcpFlags.Ack);
        return
        [
            Ipv4(Server, External, IpProtocol.Udp, Udp(53, udpPort, Payload)),
            Ipv4(Server, External, IpProtocol.Udp, Udp(5353, udpPort, Payload)),
            Ipv4(Server, External, IpProtocol.Icmp, Echo(IcmpType.EchoReply, echoIdentifier, 1, Payload)),
            Ipv4(Server, External, IpProtocol.Tcp, synAck),
        ];
    }

    [Fact]
    public void Saved_nat64_sessions_come_back_in_a_new_engine_translate_alike_and_hold_their_ipv4_ports()
    {
        (NatEngine engine, ushort udpPort, ushort echoIdentifier, ushort tcpPort) = Busy();
        var saved = new MemoryStream();
        SessionStateFile.Save(saved, engine.ExportSessions(), DateTimeOffset.UnixEpoch);
        string text = Encoding.UTF8.GetString(saved.ToArray());
        Assert.Contains("\"version\":3", text.Split('\n')[0], StringComparison.Ordinal);
        Assert.DoesNotContain("::ffff:", text, StringComparison.OrdinalIgnoreCase);

        saved.Position = 0;
        SavedSessions loaded = SessionStateFile.Load(saved);
        SessionRecord echoRecord = loaded.Sessions.Single(record => record.Original.Protocol == IpProtocol.Icmpv6);
        Assert.Equal(new IpFlow(IpProtocol.Icmp, External, echoIdentifier, Server, echoIdentifier), echoRecord.Translated);
        NatEngine restored = Engine();
        RestoreReport report = restored.Restore(loaded.Sessions, Now);

        Assert.Empty(report.Failures);
        Assert.Equal((4, 4), (report.Restored, restored.Nat64SessionCount));
        Assert.Equal(
            engine.ListSessions().Select(session => $"{session.Original} {session.Translated} {session.InitiatedOutside}").Order(StringComparer.Ordinal),
            restored.ListSessions().Select(session => $"{session.Original} {session.Translated} {session.InitiatedOutside}").Order(StringComparer.Ordinal));
        foreach (byte[] reply in Replies(udpPort, echoIdentifier, tcpPort))
        {
            (TranslationResult before, byte[] translatedBefore) = Send(engine, reply);
            (TranslationResult after, byte[] translatedAfter) = Send(restored, reply);
            Assert.Equal(Verdict.Forward, before.Verdict);
            Assert.Equal(Verdict.Forward, after.Verdict);
            Assert.Equal(Hex(translatedBefore), Hex(translatedAfter));
            Assert.True(Ipv6ChecksumValid(translatedAfter));
        }

        // The UDP port is NAT64's again in the allocator it shares with IPv4 NAPT: an IPv4 host
        // asking for the same port gets another, and the IPv4 port counts show it.
        (TranslationResult ipv4Result, byte[] ipv4Sent) = Send(restored, Ipv4(Inside4, Server, IpProtocol.Udp, Udp(udpPort, 53, Payload)));
        Assert.Equal(Verdict.Forward, ipv4Result.Verdict);
        Assert.NotEqual(udpPort, BinaryPrimitives.ReadUInt16BigEndian(ipv4Sent.AsSpan(20)));
        Assert.Equal(2, restored.PortUsage().Single(usage => usage.Address == External && usage.Protocol == IpProtocol.Udp).Allocated);
    }

    [Fact]
    public void A_file_without_nat64_sessions_keeps_its_older_version_and_a_version_2_file_holding_one_is_refused()
    {
        NatEngine engine = Engine();
        Send(engine, Nat66Udp());
        var nat66Only = new MemoryStream();
        SessionStateFile.Save(nat66Only, engine.ExportSessions(), DateTimeOffset.UnixEpoch);
        Assert.Contains("\"version\":2", Encoding.UTF8.GetString(nat66Only.ToArray()).Split('\n')[0], StringComparison.Ordinal);

        Nat64Udp(engine);
        var both = new MemoryStream();
        SessionStateFile.Save(both, engine.ExportSessions(), DateTimeOffset.UnixEpoch);
        string[] lines = Encoding.UTF8.GetString(both.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string content = lines[0].Replace("\"version\":3", "\"version\":2", StringComparison.Ordinal) + "\n" + string.Join("\n", lines[1..^1]) + "\n";
        string digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(content)));
        var downgraded = new MemoryStream(Encoding.UTF8.GetBytes(content + $"{{\"sha256\":\"{digest}\"}}\n"));

        StateFileException refused = Assert.Throws<StateFileException>(() => SessionStateFile.Load(downgraded));

        Assert.Contains("NAT64 session", refused.Message, StringComparison.Ordinal);
        Assert.Contains("version 3", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>The UDP session's record, taken from the table, which is then flushed and locked.</summary>
    private static (NatEngine Engine, SessionRecord Record) Nat64Record()
    {
        NatEngine engine = Engine();
        Nat64Udp(engine);
        SessionRecord record = Assert.Single(engine.ExportSessions());
        engine.FlushSessions(Now);
        engine.Lock(true);
        return (engine, record);
    }

    [Fact]
    public void A_nat64_session_put_back_gets_an_id_of_nat64_and_refuses_a_second_copy()
    {
        (NatEngine engine, SessionRecord record) = Nat64Record();
        engine.Lock(false);
        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => engine.Put(record, Now)).Errno);
        engine.Lock(true);

        int id = engine.Put(record, Now);

        SessionInfo listed = Assert.Single(engine.ListSessions());
        Assert.Equal((id, SessionFamily.Nat64), (listed.Id, listed.Family));
        Assert.Equal(NatErrno.EEXIST, Assert.Throws<NatControlException>(() => engine.Put(record, Now)).Errno);
        // Another inside port asking for the same external one: taken.
        SessionRecord sameExternal = record with { Original = record.Original with { SourcePort = 40001 }, IpChecksumDelta = null, TransportChecksumDelta = null };
        Assert.Equal(NatErrno.EEXIST, Assert.Throws<NatControlException>(() => engine.Put(sameExternal, Now)).Errno);
        Assert.Equal(1, engine.Nat64SessionCount);
    }

    [Fact]
    public void A_nat64_put_that_its_rules_could_not_have_made_is_einval()
    {
        (NatEngine engine, SessionRecord record) = Nat64Record();
        NatRule nat66Rule = engine.ListRules().Single(rule => rule.Rule.IsIpv6 && !rule.Rule.IsNat64).Rule;
        NatRule ipv4Rule = engine.ListRules().Single(rule => !rule.Rule.IsIpv6).Rule;
        IpFlow original = record.Original;
        IpFlow translated = record.Translated;
        SessionRecord loose = record with { IpChecksumDelta = null, TransportChecksumDelta = null };

        SessionRecord[] refused =
        [
            // Under rules that are not NAT64 maps.
            record with { Rule = nat66Rule },
            record with { Rule = ipv4Rule },
            // A NAT64 rule with two IPv6 tuples, or two IPv4 ones.
            loose with { Translated = new IpFlow(IpProtocol.Udp, Ipv6Address.MapIpv4(External), translated.SourcePort, Ipv6Address.MapIpv4(Server), 53) },
            loose with { Original = new IpFlow(IpProtocol.Udp, Inside4, 40000, Server, 53) },
            // Said to have begun outside, with the inside's tuple first.
            record with { InitiatedOutside = true },
            // To an IPv4 host other than the one its destination embeds.
            loose with { Translated = translated with { Destination = Ipv4Address.Parse("198.51.100.21") } },
            // From an external address the rule does not have.
            loose with { Translated = translated with { Source = Ipv4Address.Parse("203.0.113.11") } },
            // From an inside the rule does not translate.
            loose with { Original = original with { Source = Ipv6Address.Parse("fd00:78::2", null) } },
            // A port forward planted from outside: no mapping holds the port.
            loose with
            {
                InitiatedOutside = true,
                Original = new IpFlow(IpProtocol.Udp, Server, 53, External, 45000),
                Translated = new IpFlow(IpProtocol.Udp, ServerInPrefix, 53, Inside, 22),
            },
            // ICMPv6 on the IPv4 side.
            loose with { Original = original with { Protocol = IpProtocol.Icmpv6, SourcePort = 7, DestinationPort = 7 }, Translated = translated with { Protocol = IpProtocol.Icmpv6, SourcePort = 7, DestinationPort = 7 } },
            // Deltas from another translation.
            record with { TransportChecksumDelta = (ushort)(record.TransportChecksumDelta!.Value + 1) },
        ];

        foreach (SessionRecord bad in refused)
        {
            NatControlException error = Assert.Throws<NatControlException>(() => engine.Put(bad, Now));
            Assert.Equal(NatErrno.EINVAL, error.Errno);
            Assert.DoesNotContain("::ffff:", error.Message, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal((0, 0, 0), (engine.SessionCount, engine.Ipv6SessionCount, engine.Nat64SessionCount));
        // And the record as it was still goes in.
        engine.Put(record, Now);
        Assert.Equal(1, engine.Nat64SessionCount);
    }

    [Fact]
    public void A_lookup_of_a_nat64_connection_is_einval_saying_there_is_no_redirect()
    {
        NatEngine engine = Engine();
        byte[] syn = Tcp(40010, 80, []);
        syn[13] = (byte)TcpFlags.Syn;
        Assert.Equal(Verdict.Forward, Send(engine, Ipv6(Inside, ServerInPrefix, IpProtocol.Tcp, syn)).Result.Verdict);

        NatControlException error = Assert.Throws<NatControlException>(() => engine.Lookup(IpProtocol.Tcp, ServerInPrefix, 80, Inside, 40010, findForward: false));

        Assert.Equal(NatErrno.EINVAL, error.Errno);
        Assert.Contains("NAT64", error.Message, StringComparison.Ordinal);
        Assert.Contains("198.51.100.20:80", error.Message, StringComparison.Ordinal);
        // Another client port is no session at all.
        Assert.Equal(NatErrno.ESRCH, Assert.Throws<NatControlException>(() => engine.Lookup(IpProtocol.Tcp, ServerInPrefix, 80, Inside, 40011, findForward: false)).Errno);
    }

    [Fact]
    public void Random_nat64_traffic_saved_and_restored_into_a_new_engine_gives_the_same_sessions_under_every_behaviour()
    {
        // Inside hosts and ports, IPv4 servers and ports, TCP or UDP or echo, and now and then the
        // server answering from another port (a session admitted by filtering).
        Gen<(int Host, ushort Port, int Server, ushort ServerPort, int Kind, bool Answer)> flow =
            Gen.Select(Gen.Int[2, 6], Gen.UShort[1024, 1040], Gen.Int[1, 4], Gen.UShort[50, 53], Gen.Int[0, 2], Gen.Bool);
        Gen.Select(flow.Array[1, 25], Gen.Enum<MappingBehavior>(), Gen.Enum<FilteringBehavior>()).Sample((flows, mapping, filtering) =>
        {
            NatEngine Made()
            {
                var made = new NatEngine(new NatEngineOptions { RandomSeed = 7, Limits = new FlowTableLimits { MaximumSessions = 1024 } }, 0);
                made.LoadRules(IpnatParser.Parse(Rules, "ipnat.conf").Rules
                    .Select(rule => rule with { Policy = NatPolicy.Default with { Mapping = mapping, UdpFiltering = filtering, TcpFiltering = filtering } }));
                return made;
            }
            NatEngine engine = Made();
            foreach ((int host, ushort port, int server, ushort serverPort, int kind, bool answer) in flows)
            {
                Ipv6Address source = new(Inside.Upper, (ulong)host);
                var server4 = new Ipv4Address(Server.Value + (uint)server);
                IpProtocol protocol = kind switch { 0 => IpProtocol.Udp, 1 => IpProtocol.Tcp, _ => IpProtocol.Icmpv6 };
                byte[] transport = kind switch
                {
                    0 => Udp(port, serverPort, Payload),
                    1 => Tcp(port, serverPort, []),
                    _ => Echo(Icmpv6Type.EchoRequest, port, 1, Payload),
                };
                if (kind == 1)
                {
                    transport[13] = (byte)TcpFlags.Syn;
                }
                (TranslationResult result, byte[] sent) = Send(engine, Ipv6(source, Nat64Prefix.WellKnown.Embed(server4), protocol, transport));
                if (answer && kind == 0 && result.Verdict == Verdict.Forward)
                {
                    Send(engine, Ipv4(server4, External, IpProtocol.Udp, Udp((ushort)(serverPort + 100), BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(20)), Payload)));
                }
            }
            var saved = new MemoryStream();
            SessionStateFile.Save(saved, engine.ExportSessions(), DateTimeOffset.UnixEpoch);
            saved.Position = 0;
            IReadOnlyList<SessionRecord> loaded = SessionStateFile.Load(saved).Sessions;
            Assert.Equal(engine.Nat64SessionCount, loaded.Count);

            NatEngine restored = Made();
            RestoreReport report = restored.Restore(loaded, Now);

            Assert.Empty(report.Failures);
            Assert.Equal(Describe(engine.ExportSessions()), Describe(restored.ExportSessions()));
            Assert.Equal(engine.Statistics().Mappings, restored.Statistics().Mappings);
            Assert.Equal(
                engine.PortUsage().Select(usage => usage.ToString()).Order(StringComparer.Ordinal),
                restored.PortUsage().Select(usage => usage.ToString()).Order(StringComparer.Ordinal));
            Assert.Equal(loaded.Count, restored.FlushSessions(Now));
            Assert.Equal(0, restored.Nat64SessionCount);
            Assert.All(restored.PortUsage().Where(usage => usage.Protocol != IpProtocol.Udp), usage => Assert.Equal(0, usage.Allocated));
        }, iter: 200);

        static string[] Describe(IEnumerable<SessionRecord> records)
            => [.. records.Select(record => $"{record.Original} => {record.Translated} {record.InMapping} {record.Mapping} {record.InitiatedOutside} {record.IpChecksumDelta} {record.TransportChecksumDelta} {record.Tcp}").Order(StringComparer.Ordinal)];
    }
}
