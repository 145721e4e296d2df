using System.Buffers.Binary;
using NatGate.Core.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class RuleOperationTests
{
    private static byte[] SynWithOptions(byte[] options)
    {
        // A SYN whose options are given; data offset covers them.
        byte[] packet = new byte[20 + 20 + options.Length];
        Ipv4PacketWriter.WriteIpv4Header(packet, Lab.InsideA, Lab.Remote, IpProtocol.Tcp, 20 + options.Length);
        Span<byte> tcp = packet.AsSpan(20);
        BinaryPrimitives.WriteUInt16BigEndian(tcp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 80);
        tcp[12] = (byte)((20 + options.Length) / 4 << 4);
        tcp[13] = (byte)TcpFlags.Syn;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 65535);
        options.CopyTo(tcp[20..]);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[16..], TransportChecksum.ComputeIpv4(Lab.InsideA, Lab.Remote, IpProtocol.Tcp, tcp));
        return packet;
    }

    [Theory]
    [InlineData(new byte[] { 2, 4, 0x05, 0xB4 }, 0)] // MSS 1460 first
    [InlineData(new byte[] { 1, 2, 4, 0x05, 0xB4, 1, 1, 1 }, 1)] // after a no-op: the value straddles checksum words
    public void Mssclamp_lowers_the_mss_of_syns_and_keeps_the_checksum_valid(byte[] options, int mssOffset)
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { MssClamp = 1400 });
        byte[] output = lab.Forward(SynWithOptions(options));
        Assert.Equal(1400, BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(40 + mssOffset + 2)));
    }

    [Fact]
    public void Mssclamp_leaves_a_smaller_mss_alone()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { MssClamp = 1400 });
        byte[] output = lab.Forward(SynWithOptions([2, 4, 0x04, 0x00]));
        Assert.Equal(1024, BinaryPrimitives.ReadUInt16BigEndian(output.AsSpan(42)));
    }

    [Fact]
    public void A_rule_for_another_interface_is_loaded_but_inactive()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.SetInterfaces(["natgate0", "eth0"]);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { Interface = "wlan9" });
        Assert.False(Assert.Single(lab.Engine.ListRules()).OnThisGateway);
        Assert.Equal(Lab.InsideA, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2))).Source);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { Interface = "eth0" });
        Assert.Equal(Lab.External, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2))).Source);
    }

    [Fact]
    public void Loading_is_all_or_nothing()
    {
        var lab = new Lab(addMapRule: false);
        NatRule good = NatEngine.MapRule(Lab.InsidePrefix, Lab.External);
        NatRule bad = new() { Kind = NatRuleKind.Redirect, Label = "nat.conf:2" };
        NatControlException refused = Assert.Throws<NatControlException>(() => lab.Engine.LoadRules([good, bad]));
        Assert.StartsWith("nat.conf:2: ", refused.Message, StringComparison.Ordinal);
        Assert.Empty(lab.Engine.ListRules());
        Assert.Equal(2, lab.Engine.LoadRules([good, good with { Source = Addressing.Ipv4Prefix.Parse("10.1.0.0/16") }]).Count);
    }

    [Fact]
    public void The_most_specific_source_wins_then_load_order()
    {
        var lab = new Lab(addMapRule: false);
        Ipv4Address wide = Ipv4Address.Parse("198.51.100.1");
        Ipv4Address narrow = Ipv4Address.Parse("198.51.100.2");
        Ipv4Address later = Ipv4Address.Parse("198.51.100.3");
        lab.Engine.LoadRules([
            NatEngine.MapRule(Addressing.Ipv4Prefix.Parse("10.0.0.0/8"), wide),
            NatEngine.MapRule(Addressing.Ipv4Prefix.Parse("10.0.0.0/24"), narrow),
            NatEngine.MapRule(Addressing.Ipv4Prefix.Parse("10.0.0.0/24"), later),
        ]);
        Assert.Equal(narrow, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2))).Source);
        Assert.Equal(wide, Lab.Tuple(lab.Forward(Lab.Udp(Ipv4Address.Parse("10.9.0.1"), 1, Lab.Remote, 2))).Source);
    }

    [Fact]
    public void Removing_rules_by_content_and_purging_their_orphans()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2));
        Assert.Equal(1, lab.Engine.RemoveRules([NatEngine.MapRule(Lab.InsidePrefix, Lab.External)]));
        Assert.Equal(1, lab.Engine.Statistics().Orphans);
        Assert.Equal(1, lab.Engine.PurgeOrphans(lab.Now));
        Assert.Equal(0, lab.Engine.SessionCount);
    }

    [Fact]
    public void Age_overrides_the_policy_timeouts()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { AgeSeconds = 30 });
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2));
        lab.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, lab.Engine.ExpireSessions(lab.Now));
        lab.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(1, lab.Engine.ExpireSessions(lab.Now));
    }

    [Fact]
    public void A_restored_session_keeps_its_times_in_an_engine_started_later()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2));
        lab.Advance(TimeSpan.FromSeconds(100));
        SessionRecord saved = Assert.Single(lab.Engine.ExportSessions());
        var restarted = new NatEngine(new NatEngineOptions { RandomSeed = 9 }, lab.Now);
        restarted.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External));
        restarted.Restore([saved], lab.Now);
        SessionInfo session = Assert.Single(restarted.ListSessions());
        Assert.Equal(new DateTimeOffset(Lab.Start, TimeSpan.Zero), session.CreationTime);
        // Idle since the start: 300 s after it, not 300 s after the restart.
        Assert.Equal(0, restarted.ExpireSessions(lab.Now + TimeSpan.FromSeconds(199).Ticks));
        Assert.Equal(1, restarted.ExpireSessions(lab.Now + TimeSpan.FromSeconds(202).Ticks));
    }

    [Fact]
    public void Loading_a_duplicate_rule_says_so_and_loads_nothing()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.LoadRules(Rules.Ipnat.IpnatParser.Parse("map * 10.0.0.0/24 -> 198.51.100.10/32\n", "first.conf").Rules);
        NatControlException again = Assert.Throws<NatControlException>(
            () => lab.Engine.LoadRules(Rules.Ipnat.IpnatParser.Parse("rdr * 198.51.100.10/32 port 80 -> 10.0.0.3 port 80 tcp\nmap * 10.0.0.0/24 -> 198.51.100.10/32\n", "second.conf").Rules));
        Assert.Equal(NatErrno.EEXIST, again.Errno);
        Assert.Contains("second.conf:2", again.Message, StringComparison.Ordinal);
        Assert.Contains("first.conf:1", again.Message, StringComparison.Ordinal);
        Assert.Single(lab.Engine.ListRules());

        NatControlException twice = Assert.Throws<NatControlException>(
            () => lab.Engine.ReplaceRules(Rules.Ipnat.IpnatParser.Parse("map * 10.0.1.0/24 -> 198.51.100.11/32\nmap * 10.0.1.0/24 -> 198.51.100.11/32\n", "twice.conf").Rules));
        Assert.Equal(NatErrno.EEXIST, twice.Errno);
        Assert.Contains("twice.conf:2", twice.Message, StringComparison.Ordinal);
        Assert.Equal("10.0.0.0/24", Assert.Single(lab.Engine.ListRules()).Rule.Source.ToString());
    }

    [Fact]
    public void A_map_rule_with_a_destination_port_applies_only_to_that_port()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.LoadRules(Rules.Ipnat.IpnatParser.Parse("map * from 10.0.0.0/24 to any port = 80 -> 198.51.100.10/32 portmap tcp/udp auto", "web.conf").Rules);
        Assert.Equal(Lab.External, Lab.Tuple(lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn))).Source);
        Assert.Equal(Lab.InsideA, Lab.Tuple(lab.Forward(Lab.Tcp(Lab.InsideA, 40001, Lab.Remote, 443, TcpFlags.Syn))).Source);
    }
}
