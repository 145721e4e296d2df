using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// What the million-packet replay (<see cref="MutatedTrafficProperties"/>) found, each cut down to
/// the smallest packet sequence or table operation that shows it.
/// </summary>
public sealed class RobustnessFindings
{
    private static readonly long Now = TimeSpan.FromDays(400).Ticks;
    private static readonly Ipv4Address Inside = Ipv4Address.Parse("10.0.0.7");
    private static readonly Ipv4Address Remote = Ipv4Address.Parse("203.0.113.5");
    private static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");

    [Fact]
    public void A_batch_holding_a_header_longer_than_its_packet_drops_it_as_malformed()
    {
        // A GRE packet of 24 bytes whose header length says 60: Translate calls it malformed, and
        // so must a batch (whose first pass peeks at every packet's tuple before translating).
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1 }, Now);
        engine.AddRule(NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), External));
        byte[] slots = new byte[2048];
        Ipv4PacketWriter.WriteIpv4Header(slots, Inside, Remote, (IpProtocol)47, 4);
        slots[0] = 0x4F;
        PacketMutator.FixHeaderChecksum(slots, 24);
        var results = new TranslationResult[1];

        engine.TranslateBatch(slots, 2048, 0, [24], [], results, Now);

        Assert.Equal(TranslationResult.Dropped(DropReason.Malformed), results[0]);
    }

    [Fact]
    public void A_held_fragment_that_times_out_is_counted_as_a_drop()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1 }, Now);
        engine.AddRule(NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), External));
        byte[] buffer = new byte[2048];
        int header = Ipv4PacketWriter.WriteIpv4Header(buffer, Inside, Remote, IpProtocol.Udp, 16, identification: 77, fragmentOffset: 64);

        Assert.Equal(Verdict.Held, engine.Translate(buffer, header + 16, Now).Verdict);
        engine.ExpireSessions(Now + TimeSpan.FromMinutes(1).Ticks);

        Assert.Equal(0, engine.HeldFragments);
        Assert.Equal(1, engine.Statistics().Drops[nameof(DropReason.FragmentTimeout)]);
    }

    [Fact]
    public void A_host_that_pings_its_own_bimap_address_is_refused_rather_than_given_an_ambiguous_session()
    {
        // 10.0.0.7 pings 198.51.100.30, its own outside address: the request would come back to it
        // as 198.51.100.30 -> 10.0.0.7, and its reply 10.0.0.7 -> 198.51.100.30 would be both the
        // session's reply tuple and its original tuple (a bimap keeps the identifier), so no lookup
        // could tell a reply from a request. Such a session is refused (Conflict), counted, and
        // answered as every refusal is; the table stays consistent.
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1 }, Now);
        engine.LoadRules(IpnatParser("bimap out0 10.0.0.7/32 -> 198.51.100.30/32"));
        Ipv4Address published = Ipv4Address.Parse("198.51.100.30");
        byte[] buffer = new byte[2048];

        int length = Ipv4PacketWriter.WriteIcmpQuery(buffer, Inside, published, IcmpType.Echo, 7, 1, "ping"u8);
        TranslationResult request = engine.Translate(buffer, length, Now);
        Assert.Equal(DropReason.Conflict, request.Reason);
        Assert.NotEqual(Verdict.Forward, request.Verdict);
        Assert.Equal(0, engine.SessionCount);
        Assert.Equal(1, engine.Statistics().Drops[nameof(DropReason.Conflict)]);
        Assert.Empty(ReplayGateway.TableOf(engine).CheckConsistency(everySessionScheduled: true));
    }

    [Fact]
    public void A_mapping_handed_to_its_next_session_stays_in_both_mapping_indexes()
    {
        // When a mapping's representative ends, FlowTable.Remove takes its entries out of the two
        // mapping indexes (a backward-shift deletion, which may move the run's hole past the probe
        // limit) and inserts the heir's without asking whether there is room: TryInsert's false is
        // dropped, and the mapping is no longer found from inside, so its inside endpoint gets a
        // second mapping. A small probe limit makes it likely; the default of 256 makes it rare.
        var table = new FlowTable(new FlowTableLimits { MaximumSessions = 256, MaximumProbe = 2 }, 0, seed: 5);
        var representatives = new List<int>();
        // Mappings of one session fill the mapping indexes to about 40 %; thirty more have two.
        for (int host = 0; host < 240; host++)
        {
            Ipv4Address inside = Ipv4Address.Parse("10.0.0.0") + (uint)host;
            var first = new Session
            {
                Original = new FlowKey(IpProtocol.Udp, inside, 5000, Remote, 53),
                Translated = new FlowKey(IpProtocol.Udp, External, (ushort)(20000 + host), Remote, 53),
            };
            if (table.CheckRoom(first, startsMapping: true) != TableRefusal.None)
            {
                continue;
            }
            int representative = table.Add(first, -1, startsMapping: true);
            if (host % 7 != 0)
            {
                continue;
            }
            Session second = first with
            {
                Original = new FlowKey(IpProtocol.Udp, inside, 5000, Remote + 1, 53),
                Translated = new FlowKey(IpProtocol.Udp, External, (ushort)(20000 + host), Remote + 1, 53),
            };
            if (table.CheckRoom(second, startsMapping: false) == TableRefusal.None)
            {
                table.Add(second, representative, startsMapping: false);
                representatives.Add(representative);
            }
        }
        Assert.Empty(table.CheckConsistency());

        foreach (int representative in representatives)
        {
            table.Remove(representative, out _);
            IReadOnlyList<string> problems = table.CheckConsistency();
            Assert.True(problems.Count == 0, $"after removing representative {representative}:\n{string.Join("\n", problems)}");
        }
    }

    private static IReadOnlyList<NatRule> IpnatParser(string text) => Rules.Ipnat.IpnatParser.Parse(text, "finding.conf").Rules;
}
