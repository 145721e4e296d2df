using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Tests.Translation;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Control;

public sealed class ControlOperationTests
{
    private static readonly Ipv4Address Proxy = Ipv4Address.Parse("10.0.0.1");

    private static (Lab Lab, int Redirect) ProxyLab()
    {
        var lab = new Lab();
        int redirect = lab.Engine.AddRule(new NatRule
        {
            Kind = NatRuleKind.Redirect,
            Protocols = RuleProtocols.Tcp,
            Destination = Ipv4Prefix.Host(Lab.External),
            DestinationPorts = PortMatch.Exactly(80),
            RedirectTargets = [Proxy],
            RedirectPort = 3128,
        });
        lab.Engine.SetLocalAddresses([Proxy]);
        return (lab, redirect);
    }

    [Fact]
    public void Lookup_gives_a_transparent_proxy_the_real_destination()
    {
        var (lab, _) = ProxyLab();
        lab.Forward(Lab.Tcp(Lab.Remote, 40000, Lab.External, 80, TcpFlags.Syn));
        LookupResult result = lab.Engine.Lookup(IpProtocol.Tcp, Proxy, 3128, Lab.Remote, 40000, findForward: true);
        Assert.Equal((Lab.External, (ushort)80), (result.RealAddress, result.RealPort));
        Assert.True(result.ForwardPossible);
    }

    [Fact]
    public void Lookup_of_an_unknown_connection_is_esrch()
    {
        var (lab, _) = ProxyLab();
        var error = Assert.Throws<NatControlException>(() => lab.Engine.Lookup(IpProtocol.Tcp, Proxy, 3128, Lab.Remote, 40001, findForward: false));
        Assert.Equal(NatErrno.ESRCH, error.Errno);
        Assert.Contains("203.0.113.5:40001", error.Message, StringComparison.Ordinal);
    }

    private static SessionRecord RecordFrom(Lab lab)
    {
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        SessionRecord record = Assert.Single(lab.Engine.ExportSessions());
        lab.Engine.FlushSessions(lab.Now);
        return record;
    }

    [Fact]
    public void A_planted_port_forward_is_refused_even_under_a_loaded_rule()
    {
        // Issue 10: a state file edited to forward the external port 2222 to an inside SSH port.
        var lab = new Lab();
        SessionRecord real = RecordFrom(lab);
        lab.Engine.Lock(true);
        SessionRecord planted = real with
        {
            Original = new FlowKey(IpProtocol.Tcp, Lab.Remote, 4444, Lab.External, 2222),
            Translated = new FlowKey(IpProtocol.Tcp, Lab.Remote, 4444, Lab.InsideA, 22),
            InitiatedOutside = true,
            InMapping = false,
            IpChecksumDelta = null,
            TransportChecksumDelta = null,
        };
        NatControlException refused = Assert.Throws<NatControlException>(() => lab.Engine.Put(planted, lab.Now));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Contains("no mapping holds 198.51.100.10:2222", refused.Message, StringComparison.Ordinal);
        Assert.Empty(lab.Engine.ListSessions());
    }

    [Fact]
    public void A_put_session_must_carry_the_translation_its_rule_gives()
    {
        var lab = new Lab(policy: null);
        SessionRecord real = RecordFrom(lab);
        lab.Engine.Lock(true);
        // An external address the rule does not own.
        FlowKey translated = real.Translated.AsIpv4;
        SessionRecord elsewhere = real with { Translated = new FlowKey(translated.Protocol, Ipv4Address.Parse("198.51.100.99"), translated.SourcePort, translated.Destination, translated.DestinationPort), IpChecksumDelta = null, TransportChecksumDelta = null };
        NatControlException notOwned = Assert.Throws<NatControlException>(() => lab.Engine.Put(elsewhere, lab.Now));
        Assert.Equal(NatErrno.EINVAL, notOwned.Errno);
        Assert.Contains("198.51.100.99", notOwned.Message, StringComparison.Ordinal);
        Assert.Matches(@"outside the addresses and ports of rule \d+ \(map ", notOwned.Message);
        // A destination rewritten with no redirect behind it.
        SessionRecord redirected = real with { Translated = new FlowKey(translated.Protocol, translated.Source, translated.SourcePort, Lab.OtherRemote, translated.DestinationPort), IpChecksumDelta = null, TransportChecksumDelta = null };
        Assert.Contains("no rule translates its destination", Assert.Throws<NatControlException>(() => lab.Engine.Put(redirected, lab.Now)).Message, StringComparison.Ordinal);
        // A tuple no rule would translate at all.
        FlowKey original = real.Original.AsIpv4;
        SessionRecord stranger = real with { Original = new FlowKey(original.Protocol, Lab.Router, original.SourcePort, original.Destination, original.DestinationPort), IpChecksumDelta = null, TransportChecksumDelta = null };
        Assert.Equal(NatErrno.EINVAL, Assert.Throws<NatControlException>(() => lab.Engine.Put(stranger, lab.Now)).Errno);
        // The real one goes in.
        lab.Engine.Put(real, lab.Now);
        Assert.Single(lab.Engine.ListSessions());
    }

    [Fact]
    public void Put_needs_the_table_locked()
    {
        var lab = new Lab();
        SessionRecord record = RecordFrom(lab);
        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => lab.Engine.Put(record, lab.Now)).Errno);
        lab.Engine.Lock(true);
        lab.Engine.Put(record, lab.Now);
        lab.Engine.Lock(false);
        // The inserted session translates the reply like the original did.
        Assert.Equal(Lab.InsideA, Lab.Tuple(lab.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, 5000))).Destination);
    }

    [Fact]
    public void Put_refuses_duplicates_unknown_rules_bad_deltas_and_bad_fields()
    {
        var lab = new Lab();
        SessionRecord record = RecordFrom(lab);
        Assert.False(lab.Engine.Lock(true));
        lab.Engine.Put(record, lab.Now);
        Assert.Equal(NatErrno.EEXIST, Assert.Throws<NatControlException>(() => lab.Engine.Put(record, lab.Now)).Errno);
        var otherRule = record with { Rule = record.Rule with { TranslatedFirst = new Ipv4Address(1), TranslatedLast = new Ipv4Address(1) } };
        Assert.Equal(NatErrno.ESRCH, Assert.Throws<NatControlException>(() => lab.Engine.Put(otherRule with { Original = new FlowKey(IpProtocol.Udp, Lab.InsideB, 1, Lab.Remote, 2) }, lab.Now)).Errno);
        var badDelta = record with { Original = new FlowKey(IpProtocol.Udp, Lab.InsideB, 9, Lab.Remote, 53), Translated = new FlowKey(IpProtocol.Udp, Lab.External, 9, Lab.Remote, 53), IpChecksumDelta = 0x1234 };
        NatControlException deltaError = Assert.Throws<NatControlException>(() => lab.Engine.Put(badDelta, lab.Now));
        Assert.Equal(NatErrno.EINVAL, deltaError.Errno);
        Assert.Contains("checksum", deltaError.Message, StringComparison.Ordinal);
        var zeroPort = record with { Original = new FlowKey(IpProtocol.Udp, Lab.InsideB, 0, Lab.Remote, 53), IpChecksumDelta = null, TransportChecksumDelta = null };
        Assert.Equal(NatErrno.EINVAL, Assert.Throws<NatControlException>(() => lab.Engine.Put(zeroPort, lab.Now)).Errno);
    }

    [Fact]
    public void Put_into_a_full_table_is_enomem()
    {
        var lab = new Lab(options: new NatEngineOptions { RandomSeed = 5, Limits = new FlowTableLimits { MaximumSessions = 1 } });
        SessionRecord record = RecordFrom(lab);
        lab.Forward(Lab.Udp(Lab.InsideB, 1, Lab.Remote, 2));
        lab.Engine.Lock(true);
        Assert.Equal(NatErrno.ENOMEM, Assert.Throws<NatControlException>(() => lab.Engine.Put(record, lab.Now)).Errno);
    }

    [Fact]
    public void A_locked_table_refuses_new_sessions_keeps_old_ones_flowing_and_expires_nothing()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        Assert.False(lab.Engine.Lock(true));
        Assert.Equal(DropReason.Locked, lab.Dropped(Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53)));
        lab.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, 5000));
        lab.Advance(TimeSpan.FromSeconds(400));
        Assert.Equal(0, lab.Engine.ExpireSessions(lab.Now));
        Assert.Equal(1, lab.Engine.SessionCount);
        Assert.Equal(NatErrno.EACCES, Assert.Throws<NatControlException>(() => lab.Engine.FlushSessions(lab.Now)).Errno);
        Assert.True(lab.Engine.Lock(false));
        lab.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, lab.Engine.ExpireSessions(lab.Now));
    }

    [Fact]
    public void Removing_a_rule_leaves_orphans_until_purged()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        Assert.True(lab.Engine.RemoveRule(lab.MapRuleIndex));
        NatStatistics stats = lab.Engine.Statistics();
        Assert.Equal((1, 0), (stats.Orphans, stats.Rules));
        // The orphan still translates its flow; new flows find no rule and pass untranslated.
        Assert.Equal(Lab.External, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53))).Source);
        Assert.Equal(Lab.InsideB, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53))).Source);
        Assert.Equal(1, lab.Engine.PurgeSessionsOfRule(lab.MapRuleIndex, lab.Now));
        Assert.Equal(0, lab.Engine.Statistics().Orphans);
        Assert.Empty(lab.Engine.ListRules());
    }

    [Fact]
    public void Flushing_rules_and_sessions()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Forward(Lab.Echo(Lab.InsideA, Lab.Remote, 1));
        Assert.Equal(2, lab.Engine.FlushSessions(lab.Now));
        Assert.Equal(0, lab.Engine.SessionCount);
        Assert.Equal(1, lab.Engine.FlushRules());
        Assert.Equal(0, lab.Engine.Statistics().Rules);
    }

    [Fact]
    public void Sessions_are_listed_by_address_and_protocol()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Forward(Lab.Tcp(Lab.InsideB, 5000, Lab.Remote, 80, TcpFlags.Syn));
        Assert.Equal(2, lab.Engine.ListSessions().Count);
        Assert.Equal("udp", Assert.Single(lab.Engine.ListSessions(address: Lab.InsideA)).Protocol);
        Assert.Equal("10.0.0.3", Assert.Single(lab.Engine.ListSessions(protocol: IpProtocol.Tcp)).InternalSourceAddress);
        Assert.Equal(2, lab.Engine.ListSessions(address: Lab.External).Count);
    }

    [Fact]
    public void Session_events_report_creation_and_deletion_with_a_reason()
    {
        var lab = new Lab();
        var events = new List<SessionEvent>();
        lab.Engine.SessionChanged += events.Add;
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Advance(TimeSpan.FromSeconds(302));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal([SessionEventKind.Created, SessionEventKind.Deleted], events.Select(e => e.Kind));
        Assert.Equal(SessionEndReason.Expired, events[1].Reason);
        Assert.Equal("10.0.0.2", events[1].Session.InternalSourceAddress);
    }

    [Fact]
    public void Statistics_count_what_happened()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        lab.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, 5000));
        lab.Dropped(Lab.Udp(Lab.Remote, 53, Lab.External, 5001));
        NatStatistics stats = lab.Engine.Statistics();
        Assert.Equal((1L, 1L, 1L, 1, 1), (stats.MappedOut, stats.MappedIn, stats.Added, stats.InUse, stats.Rules));
        Assert.Equal(1, stats.Drops["NoSession"]);
    }

    [Fact]
    public void Bad_rules_are_refused_with_einval()
    {
        var lab = new Lab(addMapRule: false);
        Assert.Equal(NatErrno.EINVAL, Assert.Throws<NatControlException>(() => lab.Engine.AddRule(new NatRule { Kind = NatRuleKind.Redirect })).Errno);
        Assert.Equal(NatErrno.EINVAL, Assert.Throws<NatControlException>(() => lab.Engine.AddRule(new NatRule { Kind = NatRuleKind.Map, TranslatedFirst = new Ipv4Address(5), TranslatedLast = new Ipv4Address(4) })).Errno);
    }

    [Fact]
    public void Put_finds_a_rule_with_its_own_policy_from_the_rule_as_ipnat_text()
    {
        var lab = new Lab(addMapRule: false);
        NatRule loaded = NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { Policy = new NatPolicy { UdpIdleTimeout = TimeSpan.FromSeconds(900) } };
        lab.Engine.AddRule(loaded);
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        SessionRecord record = Assert.Single(lab.Engine.ExportSessions());
        lab.Engine.FlushSessions(lab.Now);
        lab.Engine.Lock(true);
        // The rule as it comes back from text: same translation, default policy.
        lab.Engine.Put(record with { Rule = loaded with { Policy = NatPolicy.Default } }, lab.Now);
        lab.Engine.Lock(false);
        lab.Advance(TimeSpan.FromSeconds(400));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(1, lab.Engine.SessionCount); // the loaded rule's 900 s applies
    }
}
