using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

/// <summary>Rule sets of operator size: 100,000 rules, replaced whole or not at all, numbers reused lowest first.</summary>
public sealed class RuleLoadTests
{
    private static readonly Ipv4Address ForwardedAddress = Ipv4Address.Parse("198.51.101.1");

    /// <summary>Rule n maps inside host 10.(n / 65536).(n / 256).(n) alone to 198.51.100.(n mod 200 + 1).</summary>
    private static NatRule HostMap(int number)
        => NatEngine.MapRule(Ipv4Prefix.Host(InsideHost(number)), Ipv4Address.Parse("198.51.100.1") + (uint)(number % 200), label: $"rules.conf:{number + 1}");

    private static Ipv4Address InsideHost(int number) => Ipv4Address.Parse("10.0.0.0") + (uint)number;

    /// <summary>A port forward: 198.51.101.1 port 1000 + n to 10.200.0.1 port 22.</summary>
    private static NatRule PortForward(int number) => new()
    {
        Kind = NatRuleKind.Redirect,
        Protocols = RuleProtocols.Tcp,
        Destination = Ipv4Prefix.Host(ForwardedAddress),
        DestinationPorts = PortMatch.Exactly((ushort)(1000 + number)),
        RedirectTargets = [Ipv4Address.Parse("10.200.0.1")],
        RedirectPort = 22,
    };

    [Fact]
    public void A_hundred_thousand_rules_load_and_the_last_ones_translate()
    {
        var lab = new Lab(addMapRule: false);
        const int Maps = 60_000;
        const int Forwards = 40_000;
        List<NatRule> rules = [.. Enumerable.Range(0, Maps).Select(HostMap), .. Enumerable.Range(0, Forwards).Select(PortForward)];

        IReadOnlyList<int> numbers = lab.Engine.LoadRules(rules);

        Assert.Equal(Enumerable.Range(0, Maps + Forwards), numbers);
        Assert.Equal(Maps + Forwards, lab.Engine.Statistics().Rules);
        // The last map rule's host leaves as its own external address; its session names rule 59,999.
        var outbound = Lab.Tuple(lab.Forward(Lab.Udp(InsideHost(Maps - 1), 5000, Lab.Remote, 53)));
        Assert.Equal(Ipv4Address.Parse("198.51.100.1") + (uint)((Maps - 1) % 200), outbound.Source);
        // The last port forward (rule 99,999, past what 16 bits can number) reaches its inside host.
        var inbound = Lab.Tuple(lab.Forward(Lab.Tcp(Lab.Remote, 40000, ForwardedAddress, 1000 + Forwards - 1, TcpFlags.Syn)));
        Assert.Equal((Ipv4Address.Parse("10.200.0.1"), (ushort)22), (inbound.Destination, inbound.DestinationPort));
        Assert.Equal([Maps - 1, Maps + Forwards - 1], lab.Engine.ListSessions().Select(session => session.Rule).Order());
        // The reply finds its session's rule by number on the packet path.
        Lab.Tuple(lab.Forward(Lab.Tcp(Ipv4Address.Parse("10.200.0.1"), 22, Lab.Remote, 40000, TcpFlags.Syn | TcpFlags.Ack)));
        Assert.Equal(1, lab.Engine.ListRules()[Maps + Forwards - 1].Sessions);

        // Removing half by content, then the rest, finds each rule without a walk over them all.
        Assert.Equal(Forwards, lab.Engine.RemoveRules(rules[Maps..]));
        Assert.Equal(Maps, lab.Engine.FlushRules());
        Assert.Equal(0, lab.Engine.Statistics().Rules);
        Assert.Equal(2, lab.Engine.Statistics().Orphans);
    }

    [Fact]
    public void A_refused_replacement_leaves_the_old_rules_loaded_and_translating()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2));
        IReadOnlyList<RuleInfo> before = lab.Engine.ListRules();
        NatRule good = NatEngine.MapRule(Ipv4Prefix.Parse("10.1.0.0/16"), Ipv4Address.Parse("198.51.100.99"));
        NatRule bad = new() { Kind = NatRuleKind.Redirect, Label = "nat.conf:7" };

        NatControlException refused = Assert.Throws<NatControlException>(() => lab.Engine.ReplaceRules([good, bad]));

        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.StartsWith("nat.conf:7: ", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before, lab.Engine.ListRules());
        Assert.Equal(Lab.External, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 1, Lab.Remote, 2))).Source);
        Assert.Equal(Ipv4Address.Parse("10.1.0.5"), Lab.Tuple(lab.Forward(Lab.Udp(Ipv4Address.Parse("10.1.0.5"), 1, Lab.Remote, 2))).Source);
    }

    [Fact]
    public void A_replacement_too_large_to_fit_beside_the_orphans_is_refused_whole()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2));
        // The old rule has a session, so it keeps its number as an orphan: one number fewer for the new set.
        NatRule[] tooMany = [.. Enumerable.Range(0, RuleSlotTable.MaximumRules).Select(i => NatEngine.MapRule(Ipv4Prefix.Host(Ipv4Address.Parse("10.0.0.0") + (uint)i), Lab.External))];

        NatControlException refused = Assert.Throws<NatControlException>(() => lab.Engine.ReplaceRules(tooMany));

        Assert.Equal(NatErrno.ENOMEM, refused.Errno);
        RuleInfo rule = Assert.Single(lab.Engine.ListRules());
        Assert.True(rule.Active);
        Assert.Equal(Lab.External, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 1, Lab.Remote, 2))).Source);
        Assert.Equal(RuleSlotTable.MaximumRules - 1, lab.Engine.ReplaceRules(tooMany[1..]).Count);
    }

    [Fact]
    public void A_replacement_swaps_the_whole_set_and_numbers_it_around_the_orphans()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2));
        Ipv4Address other = Ipv4Address.Parse("198.51.100.77");

        IReadOnlyList<int> numbers = lab.Engine.ReplaceRules([
            NatEngine.MapRule(Lab.InsidePrefix, other),
            NatEngine.MapRule(Ipv4Prefix.Parse("10.1.0.0/16"), other),
        ]);

        // Rule 0 lives on as an orphan for its session, so the new rules are 1 and 2.
        Assert.Equal([1, 2], numbers);
        Assert.Equal([false, true, true], lab.Engine.ListRules().Select(rule => rule.Active));
        Assert.Equal(other, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 1, Lab.Remote, 2))).Source);
    }

    [Fact]
    public async Task A_set_prepared_on_another_thread_keeps_its_first_match_when_numbered_around_orphans()
    {
        var lab = new Lab(addMapRule: false);
        NatRule wide = NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/8"), Ipv4Address.Parse("198.51.100.1"));
        // Equal in what they match, different in a timeout: a duplicate would be refused.
        lab.Engine.LoadRules([wide, wide with { Label = "second", Policy = NatPolicy.Default with { UdpIdleTimeout = TimeSpan.FromSeconds(301) } },
            wide with { Label = "third", Policy = NatPolicy.Default with { UdpIdleTimeout = TimeSpan.FromSeconds(302) } }]);
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2)); // through rule 0, the first of equals
        Assert.True(lab.Engine.RemoveRule(0));
        Assert.True(lab.Engine.RemoveRule(1));
        lab.Forward(Lab.Udp(Lab.InsideB, 1, Lab.Remote, 2)); // through rule 2
        Ipv4Address first = Ipv4Address.Parse("198.51.100.21");
        NatRule[] replacement = [.. Enumerable.Range(0, 3).Select(i => NatEngine.MapRule(Lab.InsidePrefix, first + (uint)i))];

        PreparedRuleSet prepared = await Task.Run(() => lab.Engine.PrepareReplacement(replacement), TestContext.Current.CancellationToken);
        IReadOnlyList<int> numbers = lab.Engine.ReplaceRules(prepared);

        // Rules 0 and 2 live on as orphans: the set is numbered 1, 3, 4, and its first rule still wins the tie.
        Assert.Equal([1, 3, 4], numbers);
        Assert.Equal(first, Lab.Tuple(lab.Forward(Lab.Udp(Ipv4Address.Parse("10.0.0.9"), 1, Lab.Remote, 2))).Source);
        Assert.True(prepared.Applied);
        Assert.Throws<InvalidOperationException>(() => lab.Engine.ReplaceRules(prepared));
    }

    [Fact]
    public void A_set_prepared_before_the_interfaces_changed_follows_the_new_interfaces()
    {
        var lab = new Lab(addMapRule: false);
        PreparedRuleSet prepared = lab.Engine.PrepareReplacement([NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { Interface = "wlan9" }]);
        lab.Engine.SetInterfaces(["natgate0", "eth0"]);

        lab.Engine.ReplaceRules(prepared);

        Assert.False(Assert.Single(lab.Engine.ListRules()).OnThisGateway);
        Assert.Equal(Lab.InsideA, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2))).Source);
    }

    [Fact]
    public void Finding_a_rule_by_content_follows_single_and_bulk_changes()
    {
        var lab = new Lab(addMapRule: false);
        NatRule first = NatEngine.MapRule(Lab.InsidePrefix, Lab.External);
        NatRule second = NatEngine.MapRule(Ipv4Prefix.Parse("10.1.0.0/16"), Lab.External);
        NatRule third = NatEngine.MapRule(Ipv4Prefix.Parse("10.2.0.0/16"), Lab.External);
        lab.Engine.LoadRules([first, second]);
        Assert.Equal(1, lab.Engine.FindRule(second));

        Assert.Equal(2, lab.Engine.AddRule(third));
        Assert.Equal(2, lab.Engine.FindRule(third));
        Assert.True(lab.Engine.RemoveRule(1));
        Assert.Equal(-1, lab.Engine.FindRule(second));
        Assert.Equal([1], lab.Engine.LoadRules([second]));
        // Equal first; failing that, the same translation under another policy (a rule read back from ipnat text).
        Assert.Equal(1, lab.Engine.FindRule(second with { Label = "elsewhere" }));
        Assert.Equal(0, lab.Engine.FindRule(first with { Policy = new NatPolicy { UdpInboundRefresh = true } }));
        Assert.Equal(3, lab.Engine.FlushRules());
        Assert.Equal(-1, lab.Engine.FindRule(first));
    }

    [Fact]
    public void Rules_removed_by_number_together_are_all_removed()
    {
        var lab = new Lab(addMapRule: false);
        lab.Engine.LoadRules([.. Enumerable.Range(0, 4).Select(i => NatEngine.MapRule(Lab.InsidePrefix, Lab.External + (uint)i))]);

        Assert.Equal(2, lab.Engine.RemoveRules([0, 2, 2, 17, -1]));

        Assert.Equal([1, 3], lab.Engine.ListRules().Select(info => info.Index));
    }

    [Fact]
    public void Rule_numbers_are_reused_lowest_first_including_an_orphans_once_its_sessions_end()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 1, Lab.Remote, 2));
        NatRule Rule(int i) => NatEngine.MapRule(Ipv4Prefix.Parse("10.9.0.0/16"), Lab.External + (uint)i);
        Assert.Equal([1, 2, 3, 4], lab.Engine.LoadRules([Rule(1), Rule(2), Rule(3), Rule(4)]));
        Assert.True(lab.Engine.RemoveRule(0)); // an orphan: its session holds number 0
        Assert.True(lab.Engine.RemoveRule(3));
        Assert.True(lab.Engine.RemoveRule(2));

        Assert.Equal([2, 3, 5], lab.Engine.LoadRules([Rule(5), Rule(6), Rule(7)]));
        Assert.Equal(1, lab.Engine.PurgeOrphans(lab.Now));
        Assert.Equal(0, lab.Engine.AddRule(Rule(8)));
    }
}
