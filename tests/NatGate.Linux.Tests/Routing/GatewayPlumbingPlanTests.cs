using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Linux.Routing;

namespace NatGate.Linux.Tests.Routing;

/// <summary>The plan and the Apply/Remove bookkeeping, against a recording host: no root needed.</summary>
public sealed class GatewayPlumbingPlanTests
{
    private static readonly GatewayPlumbingOptions Options = new()
    {
        TunName = "natgate0",
        InternalPrefixes = [Ipv4Prefix.Parse("10.0.0.0/24"), Ipv4Prefix.Parse("172.16.5.0/24")],
        ExternalAddresses = [Ipv4Address.Parse("203.0.113.5"), Ipv4Address.Parse("198.51.100.7")],
        OutsideInterface = "eth0",
    };

    [Fact]
    public void Plan_lists_the_commands_of_the_design_in_order()
    {
        var notes = new List<string>();
        IReadOnlyList<PlumbingStep> steps = GatewayPlumbing.Plan(Options, [InterfaceAddress.Parse("203.0.113.1/24")], notes);
        Assert.Equal(
        [
            "ip link set dev natgate0 mtu 1500 up",
            "sysctl -w net.ipv4.conf.all.rp_filter=0",
            "sysctl -w net.ipv4.conf.natgate0.rp_filter=0",
            "ip rule add pref 999 iif natgate0 lookup main",
            "ip rule add pref 1000 from 10.0.0.0/24 lookup 100",
            "ip rule add pref 1000 from 172.16.5.0/24 lookup 100",
            "ip rule add pref 1001 to 203.0.113.5 lookup 100",
            "ip rule add pref 1001 to 198.51.100.7 lookup 100",
            "ip route add default dev natgate0 table 100",
            "ip neigh add proxy 203.0.113.5 dev eth0",
            "sysctl -w net.ipv4.neigh.eth0.proxy_delay=0",
            "sysctl -w net.ipv4.ip_forward=1",
        ], steps.Select(step => step.Command));
        Assert.Contains(notes, note => note.StartsWith("198.51.100.7 is not on-link on eth0", StringComparison.Ordinal));
    }

    [Fact]
    public void Plan_without_an_outside_interface_has_no_proxy_neighbours_and_honours_table_and_mtu()
    {
        GatewayPlumbingOptions options = Options with { OutsideInterface = null, Table = 7, Mtu = 1400, FirstRulePreference = 500 };
        string[] commands = [.. GatewayPlumbing.Plan(options, []).Select(step => step.Command)];
        Assert.DoesNotContain(commands, command => command.Contains("neigh", StringComparison.Ordinal));
        Assert.Contains("ip link set dev natgate0 mtu 1400 up", commands);
        Assert.Contains("ip rule add pref 500 iif natgate0 lookup main", commands);
        Assert.Contains("ip rule add pref 502 to 203.0.113.5 lookup 7", commands);
        Assert.Contains("ip route add default dev natgate0 table 7", commands);
    }

    [Fact]
    public void The_outside_interfaces_own_address_is_not_proxied_and_is_explained()
    {
        var notes = new List<string>();
        IReadOnlyList<PlumbingStep> steps = GatewayPlumbing.Plan(Options, [InterfaceAddress.Parse("203.0.113.5/24")], notes);
        Assert.DoesNotContain(steps, step => step.Command.StartsWith("ip neigh", StringComparison.Ordinal));
        Assert.Contains(notes, note => note.StartsWith("203.0.113.5 is eth0's own address", StringComparison.Ordinal));
    }

    [Fact]
    public void A_dot_in_an_interface_name_becomes_a_slash_in_the_sysctl_name()
    {
        var step = new SysctlStep("net/ipv4/conf/eth0.100/rp_filter", "0");
        Assert.Equal("net.ipv4.conf.eth0/100.rp_filter", step.Key);
        Assert.Equal("sysctl -w net.ipv4.conf.eth0/100.rp_filter=0", step.Command);
    }

    [Fact]
    public void Options_refuse_reserved_tables_and_bad_names()
    {
        Assert.Throws<ArgumentException>(() => GatewayPlumbing.Plan(Options with { Table = 254 }, []));
        Assert.Throws<ArgumentException>(() => GatewayPlumbing.Plan(Options with { TunName = "a/b" }, []));
        Assert.Throws<ArgumentException>(() => GatewayPlumbing.Plan(Options with { TunName = "sixteen-chars-xx" }, []));
    }

    [Fact]
    public void Steps_query_the_outside_interface_for_its_on_link_prefixes()
    {
        var host = new RecordingHost();
        host.Output["-4 -o addr show dev eth0"] =
            "2: eth0    inet 203.0.113.1/24 brd 203.0.113.255 scope global eth0\\       valid_lft forever preferred_lft forever\n";
        var plumbing = new GatewayPlumbing(Options, host);
        Assert.Contains(plumbing.Steps, step => step.Command == "ip neigh add proxy 203.0.113.5 dev eth0");
        Assert.DoesNotContain(plumbing.Steps, step => step.Command == "ip neigh add proxy 198.51.100.7 dev eth0");
    }

    [Fact]
    public void Remove_undoes_in_reverse_order_and_restores_only_what_apply_changed()
    {
        var host = new RecordingHost();
        host.Sysctls["net/ipv4/ip_forward"] = "0";
        host.Sysctls["net/ipv4/conf/all/rp_filter"] = "2";
        host.Sysctls["net/ipv4/conf/natgate0/rp_filter"] = "0";
        var plumbing = new GatewayPlumbing(Options with { OutsideInterface = null }, host);

        plumbing.Apply();
        Assert.True(plumbing.IsApplied);
        Assert.Equal("1", host.Sysctls["net/ipv4/ip_forward"]);
        Assert.Equal("0", host.Sysctls["net/ipv4/conf/all/rp_filter"]);
        Assert.DoesNotContain(host.Writes, write => write.StartsWith("net/ipv4/conf/natgate0/rp_filter", StringComparison.Ordinal));
        string[] applied = [.. host.Commands];

        host.Commands.Clear();
        plumbing.Remove();
        Assert.False(plumbing.IsApplied);
        Assert.Equal("0", host.Sysctls["net/ipv4/ip_forward"]);
        Assert.Equal("2", host.Sysctls["net/ipv4/conf/all/rp_filter"]);
        string[] expectedUndo = [.. applied.Reverse().Select(command => command
            .Replace("rule add", "rule del", StringComparison.Ordinal)
            .Replace("route add", "route del", StringComparison.Ordinal)
            .Replace("mtu 1500 up", "down", StringComparison.Ordinal))];
        Assert.Equal(expectedUndo, host.Commands);

        host.Commands.Clear();
        plumbing.Remove();
        Assert.Empty(host.Commands);
    }

    [Fact]
    public void An_existing_rule_is_adopted_and_an_existing_route_replaced()
    {
        var host = new RecordingHost();
        host.Errors["rule add pref 999 iif natgate0 lookup main"] = "RTNETLINK answers: File exists";
        host.Errors["route add default dev natgate0 table 100"] = "RTNETLINK answers: File exists";
        var plumbing = new GatewayPlumbing(Options with { OutsideInterface = null }, host);
        plumbing.Apply();
        Assert.Contains("route replace default dev natgate0 table 100", host.Commands);
        Assert.Contains(plumbing.Notes, note => note.Contains("adopted", StringComparison.Ordinal));
        plumbing.Remove();
        Assert.Contains("rule del pref 999 iif natgate0 lookup main", host.Commands);
    }

    [Fact]
    public void A_failing_step_rolls_back_the_earlier_ones_and_names_the_command()
    {
        var host = new RecordingHost();
        host.Sysctls["net/ipv4/conf/all/rp_filter"] = "1";
        host.Errors["route add default dev natgate0 table 100"] = "Error: Nexthop device is not up.";
        var plumbing = new GatewayPlumbing(Options with { OutsideInterface = null }, host);
        PlumbingException failure = Assert.Throws<PlumbingException>(plumbing.Apply);
        Assert.Equal("ip route add default dev natgate0 table 100", failure.Command);
        Assert.Equal("Error: Nexthop device is not up.", failure.ErrorOutput);
        Assert.Contains("Nexthop device is not up", failure.Message, StringComparison.Ordinal);
        Assert.False(plumbing.IsApplied);
        Assert.Equal("1", host.Sysctls["net/ipv4/conf/all/rp_filter"]);
        Assert.Equal("link set dev natgate0 down", host.Commands[^1]);
        Assert.Contains("rule del pref 1001 to 198.51.100.7 lookup 100", host.Commands);
    }

    [Fact]
    public void Remove_tolerates_steps_already_gone()
    {
        var host = new RecordingHost();
        var plumbing = new GatewayPlumbing(Options with { OutsideInterface = null }, host);
        host.Sysctls["net/ipv4/conf/all/rp_filter"] = "1";
        plumbing.Apply();
        // The TUN closed first: its route, its rp_filter sysctl and the device are gone; a rule was deleted by hand.
        host.Errors["route del default dev natgate0 table 100"] = "RTNETLINK answers: No such process";
        host.Errors["link set dev natgate0 down"] = "Cannot find device \"natgate0\"";
        host.Errors["rule del pref 999 iif natgate0 lookup main"] = "RTNETLINK answers: No such file or directory";
        host.Sysctls.Remove("net/ipv4/conf/natgate0/rp_filter");
        plumbing.Remove();
        Assert.Equal("1", host.Sysctls["net/ipv4/conf/all/rp_filter"]);
        Assert.Equal(4, plumbing.Notes.Count(note => note.Contains("already gone", StringComparison.Ordinal)));
    }

    private sealed class RecordingHost : IPlumbingHost
    {
        public List<string> Commands { get; } = [];
        public List<string> Writes { get; } = [];
        public Dictionary<string, string> Output { get; } = [];
        public Dictionary<string, string> Errors { get; } = [];
        public Dictionary<string, string> Sysctls { get; } = new()
        {
            ["net/ipv4/ip_forward"] = "0",
            ["net/ipv4/conf/all/rp_filter"] = "0",
            ["net/ipv4/conf/natgate0/rp_filter"] = "2",
        };

        public CommandResult RunIp(IReadOnlyList<string> arguments)
        {
            string command = string.Join(' ', arguments);
            Commands.Add(command);
            return Errors.TryGetValue(command, out string? error)
                ? new CommandResult(2, string.Empty, error)
                : new CommandResult(0, Output.GetValueOrDefault(command, string.Empty), string.Empty);
        }

        public string? ReadSysctl(string path) => Sysctls.GetValueOrDefault(path);

        public void WriteSysctl(string path, string value)
        {
            Writes.Add(path + "=" + value);
            Sysctls[path] = value;
        }
    }
}
