using System.Globalization;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;

namespace NatGate.Linux.Routing;

/// <summary>A default route in NatGate's table: into the TUN, or the blackhole route behind it.</summary>
public sealed record TableRoute(string Type, string? Device, long Metric)
{
    /// <summary>The metric of the route that keeps the inside off the outside while the TUN is gone (fail closed).</summary>
    public const long GuardMetric = uint.MaxValue;

    /// <summary>
    /// The metric of the IPv6 route into the TUN: IPv6 has no metric 0, the kernel makes it 1024
    /// (IP6_RT_PRIO_USER), so the plan asks for what the kernel reports back.
    /// </summary>
    public const long Ipv6TunMetric = 1024;

    /// <summary>Whether the route is in the IPv6 table (<c>ip -6 route</c>); each family has its own.</summary>
    public bool IsIpv6 { get; init; }

    /// <summary>The words after <c>ip route add</c> or <c>ip route del</c>.</summary>
    public IReadOnlyList<string> Arguments(int table)
    {
        string tableText = table.ToString(CultureInfo.InvariantCulture);
        string metric = Metric.ToString(CultureInfo.InvariantCulture);
        return Device is null
            ? [Type, "default", "table", tableText, "metric", metric]
            : ["default", "dev", Device, "table", tableText, "metric", metric];
    }
}

/// <summary>
/// A proxy neighbour entry: the kernel answers ARP (IPv4) or neighbour solicitations (IPv6, proxy
/// NDP) for <see cref="Address"/> on <see cref="Device"/>.
/// </summary>
public sealed record ProxyNeighbour(IpAddress Address, string Device)
{
    public IReadOnlyList<string> Arguments => ["proxy", Address.ToString(), "dev", Device];

    public override string ToString() => (Address.IsIpv6 ? "ip -6 neigh add " : "ip neigh add ") + string.Join(' ', Arguments);
}

/// <summary>
/// A kernel parameter under /proc/sys, to be set to <see cref="Value"/> unless it already holds
/// one of <see cref="AlsoAccepted"/>: an rp_filter of 0 (off) stays 0, and only 1 (strict)
/// becomes 2 (loose), so nothing is weakened more than the data path needs.
/// </summary>
public sealed record SysctlSetting(string Path, string Value, string? AlsoAccepted = null)
{
    /// <summary>The sysctl(8) name: '/' becomes '.', and a '.' inside an interface name becomes '/'.</summary>
    public string Key => string.Create(Path.Length, Path, static (destination, path) =>
    {
        for (int index = 0; index < path.Length; index++)
        {
            destination[index] = path[index] switch { '/' => '.', '.' => '/', char other => other };
        }
    });

    /// <summary>Whether <paramref name="current"/> already satisfies the setting.</summary>
    public bool IsSatisfiedBy(string current) => current == Value || current == AlsoAccepted;

    public override string ToString() => AlsoAccepted is null ? $"sysctl -w {Key}={Value}" : $"sysctl -w {Key}={Value} (unless {AlsoAccepted})";
}

/// <summary>
/// Packets from an inside prefix are admitted only from the interfaces it lives behind (and from
/// the host itself and the TUN); the rest are spoofed, dropped and counted (nftables, prerouting).
/// </summary>
public sealed record GuardRule(IpPrefix Source, IReadOnlyList<string> AllowedInterfaces)
{
    public override string ToString()
        => $"nft: drop and count packets from {Source} arriving on anything but {string.Join(", ", AllowedInterfaces)}";
}

/// <summary>
/// What the kernel is asked for, beside the plan: the outside interface's addresses, the main
/// table's routes, every address of the host, and the reserved ports as they were before NatGate.
/// </summary>
public sealed record PlumbingFacts(IReadOnlyList<InterfaceAddress> OutsideAddresses, IReadOnlyList<(Ipv4Prefix Destination, string Device)> MainRoutes)
{
    public static PlumbingFacts None { get; } = new([], []);

    /// <summary>The host's own IPv4 addresses, on any interface.</summary>
    public IReadOnlyList<Ipv4Address> LocalAddresses { get; init; } = [];

    /// <summary>net.ipv4.ip_local_reserved_ports before NatGate added to it.</summary>
    public string ReservedPorts { get; init; } = "";

    /// <summary>net.ipv4.ip_local_port_range: the ports the kernel picks for the host's own connections.</summary>
    public PortRange EphemeralPorts { get; init; } = new(32768, 60999);

    /// <summary>The on-link IPv6 prefixes of the outside interface's addresses (2001:db8:1::/64 for 2001:db8:1::1/64).</summary>
    public IReadOnlyList<IpPrefix> Ipv6OutsidePrefixes { get; init; } = [];

    /// <summary>The main table's IPv6 routes (not the default route), with the interface each leaves by.</summary>
    public IReadOnlyList<(IpPrefix Destination, string Device)> Ipv6MainRoutes { get; init; } = [];

    /// <summary>The host's own IPv6 addresses, on any interface.</summary>
    public IReadOnlyList<Ipv6Address> Ipv6LocalAddresses { get; init; } = [];

    /// <summary>The interfaces with a main-table IPv6 route learned from router advertisements ("proto ra").</summary>
    public IReadOnlyList<string> RouterAdvertisedInterfaces { get; init; } = [];
}

/// <summary>
/// The whole of what NatGate wants in the kernel for one rule set (DESIGN.md, "What the plumbing
/// must guarantee"). <see cref="GatewayPlumbing"/> makes the kernel match it, at start and after
/// every change, and removes it at stop.
/// </summary>
public sealed record PlumbingPlan(
    string TunName,
    int Mtu,
    int Table,
    IReadOnlyList<PolicyRule> Rules,
    IReadOnlyList<TableRoute> Routes,
    IReadOnlyList<ProxyNeighbour> ProxyNeighbours,
    IReadOnlyList<GuardRule> Guard,
    IReadOnlyList<SysctlSetting> Sysctls,
    IReadOnlyList<SteeredPorts> Steering)
{
    /// <summary>
    /// With <see cref="Steering"/>, the rule ahead of the local table (preference 0, before
    /// "lookup local") that takes marked packets to NatGate's table.
    /// </summary>
    public PolicyRule? SteeringRule => Steering.Count == 0 ? null : new PolicyRule(0, null, null, null, PolicyRuleAction.Lookup, Table)
    {
        FirewallMark = SharedAddress.Mark,
        FirewallMask = SharedAddress.MarkMask,
    };

    /// <summary>127.0.0.0/8 (RFC 1122 3.2.1.3).</summary>
    private static readonly Ipv4Prefix LoopbackNetwork = new(new Ipv4Address(0x7f000000), 8);

    /// <summary>Everything, as a person would type it (what <c>--no-plumbing</c> prints).</summary>
    public IReadOnlyList<string> Commands =>
    [
        $"ip link set dev {TunName} mtu {Mtu.ToString(CultureInfo.InvariantCulture)} up",
        .. FamilyCommands(ipv6: false),
        .. Steering.Select(steered => $"nft: mark packets to {steered} (not from lo or {TunName}) for the rule below"),
        .. SteeringRule is { } steeringRule ? [steeringRule + "   # ahead of 'lookup local', which stays at 0"] : Array.Empty<string>(),
        .. FamilyCommands(ipv6: true),
        .. Sysctls.Select(sysctl => sysctl.ToString()),
    ];

    /// <summary>Whether the plan steers IPv6 too (<see cref="GatewayPlumbingOptions.Ipv6InternalPrefixes"/> or <see cref="GatewayPlumbingOptions.Ipv6ExternalPrefixes"/>).</summary>
    public bool HasIpv6 => Rules.Any(rule => rule.IsIpv6);

    private IEnumerable<string> FamilyCommands(bool ipv6) =>
    [
        .. Routes.Where(route => route.IsIpv6 == ipv6).Select(route => (ipv6 ? "ip -6 route add " : "ip route add ") + string.Join(' ', route.Arguments(Table))),
        .. Rules.Where(rule => rule.IsIpv6 == ipv6).Select(rule => rule.ToString()),
        .. ProxyNeighbours.Where(neighbour => neighbour.Address.IsIpv6 == ipv6).Select(neighbour => neighbour.ToString()),
        .. Guard.Where(guard => guard.Source.IsIpv6 == ipv6).Select(guard => guard.ToString()),
    ];

    /// <summary>
    /// The plan for <paramref name="options"/> on a host described by <paramref name="facts"/>.
    /// Pure: touches nothing. The rules, from <see cref="GatewayPlumbingOptions.FirstRulePreference"/> F:
    /// <code>
    /// F    iif TUN goto F+5                  what NatGate wrote back is routed as the host routes it
    /// F+1  from INSIDE iif IFACE lookup T    the inside, from where it lives, goes to the TUN
    /// F+1  from LOCAL iif lo sport P lookup T  and so do the replies of a service a redirect leads to
    /// F+2  from INSIDE iif lo goto F+4       the host's own packets (its inside address) are its own
    /// F+3  from INSIDE blackhole             an inside source from anywhere else is spoofed
    /// F+4  to EXTERNAL lookup T              inbound to the NAT's addresses goes to the TUN
    /// F+5  nop                               the end of NatGate's rules; the host's own follow
    /// </code>
    /// Table T holds the TUN's default route and, behind it, a blackhole route: when the TUN is
    /// gone (a crash, kill -9) the inside meets the blackhole, never the main table. A blackhole
    /// rather than a prohibit route: an ICMP error would make new connections fail at once, while
    /// silence lets them retry into the restarted daemon, and established TCP rides it out.
    /// With IPv6 prefixes, the same rules and routes again in the IPv6 lists (<see cref="PlanIpv6"/>).
    /// </summary>
    public static PlumbingPlan Create(GatewayPlumbingOptions options, PlumbingFacts facts, ICollection<string>? notes = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(facts);
        options.Validate();
        string tun = options.TunName;
        int first = options.FirstRulePreference;
        int end = first + 5;
        IReadOnlyList<Ipv4Prefix> insides = Ipv4Prefix.Aggregate(options.InternalPrefixes);
        // An external address that is the host's own is shared: only the NAT's ports are steered
        // to the TUN; the rest stays the host's (its services, its own connections).
        HashSet<Ipv4Address> own = [.. facts.LocalAddresses, .. facts.OutsideAddresses.Select(address => address.Address)];
        HashSet<Ipv4Address> shared = [.. options.ExternalAddresses.Where(own.Contains)];
        IReadOnlyList<Ipv4Prefix> externals = Ipv4Prefix.Aggregate(options.ExternalAddresses.Where(address => !shared.Contains(address)).Select(Ipv4Prefix.Host));
        List<SteeredPorts> steering = [.. options.ExternalPorts.Where(ports => shared.Contains(ports.Address)).Distinct()
            .OrderBy(ports => ports.Address).ThenBy(ports => ports.Protocol, StringComparer.Ordinal).ThenBy(ports => ports.Ports.First)];
        foreach (Ipv4Address address in shared.Where(address => !steering.Any(ports => ports.Address == address)).Order())
        {
            notes?.Add($"{address.ToString()} is this host's own address, and no rule gives it ports of its own "
                + "(an address-only map or bimap cannot share it): nothing to it is translated");
        }
        List<PortRange> reserved = [.. steering.Where(ports => ports.Protocol != "icmp").Select(ports => ports.Ports).Distinct()];
        foreach (PortRange ports in reserved.Where(ports => ports.First <= facts.EphemeralPorts.Last && ports.Last >= facts.EphemeralPorts.First))
        {
            notes?.Add($"ports {SharedAddress.Format(ports)} overlap the host's own ephemeral ports {SharedAddress.Format(facts.EphemeralPorts)} "
                + "(net.ipv4.ip_local_port_range): they are reserved for the NAT, so the host has fewer for its own connections");
        }

        var rules = new List<PolicyRule> { new(first, null, null, tun, PolicyRuleAction.Goto, end) };
        var guard = new List<GuardRule>();
        foreach (Ipv4Prefix inside in insides)
        {
            IReadOnlyList<string> interfaces = options.InsideInterfaces is { Count: > 0 } named
                ? named
                : [.. facts.MainRoutes.Where(route => route.Device != tun && route.Destination.Length > 0 && route.Destination.Overlaps(inside))
                    .Select(route => route.Device).Distinct().Order(StringComparer.Ordinal)];
            if (interfaces.Count == 0)
            {
                notes?.Add($"no interface routes {inside} in the main table: nothing from it is translated until one does (or name it with --inside-interface)");
            }
            foreach (string device in interfaces)
            {
                rules.Add(new PolicyRule(first + 1, inside, null, device, PolicyRuleAction.Lookup, options.Table));
            }
            guard.Add(new GuardRule(inside, [.. interfaces.Append("lo").Append(tun).Distinct()]));
        }
        // The replies of a service that a redirect leads to on this host (a transparent proxy)
        // are translated back; the host's other packets are its own.
        foreach (LocalRedirect redirect in options.LocalRedirects.Where(redirect => !redirect.Address.IsIpv6).Distinct())
        {
            rules.Add(new PolicyRule(first + 1, Ipv4Prefix.Host(redirect.Address.AsIpv4), null, "lo", PolicyRuleAction.Lookup, options.Table, redirect.Protocol, redirect.Ports));
        }
        foreach (Ipv4Prefix inside in insides)
        {
            rules.Add(new PolicyRule(first + 2, inside, null, "lo", PolicyRuleAction.Goto, externals.Count > 0 ? first + 4 : end));
        }
        foreach (Ipv4Prefix inside in insides)
        {
            rules.Add(new PolicyRule(first + 3, inside, null, null, PolicyRuleAction.Blackhole));
        }
        foreach (Ipv4Prefix external in externals)
        {
            rules.Add(new PolicyRule(first + 4, null, external, null, PolicyRuleAction.Lookup, options.Table));
        }
        rules.Add(new PolicyRule(end, null, null, null, PolicyRuleAction.Nop));

        var proxies = new List<ProxyNeighbour>();
        if (options.OutsideInterface is string outside)
        {
            foreach (Ipv4Address address in options.ExternalAddresses.Distinct())
            {
                string text = address.ToString();
                if (shared.Contains(address))
                {
                    continue; // the host's own: shared, steered by port, answered by the host itself
                }
                if (facts.OutsideAddresses.Any(own => own.Prefix.Contains(address)))
                {
                    proxies.Add(new ProxyNeighbour(address, outside));
                }
                else
                {
                    notes?.Add($"{text} is not on-link on {outside}: no proxy neighbour; the upstream router must route it to this host");
                }
            }
        }

        var sysctls = new List<SysctlSetting>
        {
            // Translated packets come back from the TUN with sources routed elsewhere: the TUN needs
            // loose reverse-path filtering, and the kernel uses the higher of "all" and the device's.
            new("net/ipv4/conf/all/rp_filter", "2", AlsoAccepted: "0"),
            new($"net/ipv4/conf/{tun}/rp_filter", "2", AlsoAccepted: "0"),
        };
        if (proxies.Count > 0)
        {
            sysctls.Add(new SysctlSetting($"net/ipv4/neigh/{options.OutsideInterface}/proxy_delay", "0"));
        }
        if (steering.Count > 0)
        {
            // Translated packets come back from the TUN with the host's own address as their
            // source, which the kernel takes for a martian unless the TUN may carry local sources.
            sysctls.Add(new SysctlSetting($"net/ipv4/conf/{tun}/accept_local", "1"));
            if (options.KernelFastPath)
            {
                // The fast path rewrites at the inside interfaces' ingress, so they do too.
                foreach (string device in guard.SelectMany(rule => rule.AllowedInterfaces).Where(device => device != "lo" && device != tun).Distinct().Order(StringComparer.Ordinal))
                {
                    sysctls.Add(new SysctlSetting($"net/ipv4/conf/{device}/accept_local", "1"));
                }
            }
            sysctls.Add(new SysctlSetting(SharedAddress.ReservedPortsPath, SharedAddress.MergeReserved(facts.ReservedPorts, reserved)));
        }
        if (options.LocalRedirects.Any(redirect => !redirect.Address.IsIpv6 && LoopbackNetwork.Contains(redirect.Address.AsIpv4)))
        {
            // rdr ... -> 127.0.0.1: the kernel drops 127/8 destinations arriving on, and 127/8
            // sources leaving by, any device but lo unless route_localnet is on for that device.
            sysctls.Add(new SysctlSetting($"net/ipv4/conf/{tun}/route_localnet", "1"));
        }
        // Forwarding last: packets start to flow only once everything else is in place.
        sysctls.Add(new SysctlSetting("net/ipv4/ip_forward", "1"));

        List<TableRoute> routes = [new("unicast", tun, 0), new("blackhole", null, TableRoute.GuardMetric)];
        PlanIpv6(options, facts, notes, rules, routes, proxies, guard, sysctls);
        return new PlumbingPlan(tun, options.Mtu, options.Table, rules, routes, proxies, guard, sysctls, steering);
    }

    /// <summary>
    /// The IPv6 mirror of the rules, routes, proxy neighbours, guard and sysctls above (DESIGN.md,
    /// "IPv6"), in the kernel's IPv6 rule list at the same preferences and in the IPv6 side of
    /// the same table T; nothing when no IPv6 prefix is given. An external /128 on-link outside
    /// gets a proxy NDP entry; a shorter external prefix (an NPTv6 /48) must be routed to this
    /// host by the upstream router.
    /// </summary>
    private static void PlanIpv6(GatewayPlumbingOptions options, PlumbingFacts facts, ICollection<string>? notes,
        List<PolicyRule> rules, List<TableRoute> routes, List<ProxyNeighbour> proxies, List<GuardRule> guard, List<SysctlSetting> sysctls)
    {
        if (!options.HasIpv6)
        {
            return;
        }
        string tun = options.TunName;
        int first = options.FirstRulePreference;
        int end = first + 5;
        IReadOnlyList<IpPrefix> insides = AggregateIpv6(options.Ipv6InternalPrefixes);
        // The host's own address: the local table delivers it before any of NatGate's rules.
        HashSet<Ipv6Address> own = [.. facts.Ipv6LocalAddresses];
        var translated = new List<IpPrefix>();
        foreach (IpPrefix external in options.Ipv6ExternalPrefixes.Distinct())
        {
            if (external.Length == 128 && own.Contains(external.First.AsIpv6))
            {
                notes?.Add($"{external.First} is this host's own address: the host keeps it and nothing to it is translated "
                    + "(sharing the host's address by port is for IPv4 only); give the NAT an address of its own");
                continue;
            }
            translated.Add(external);
        }
        // NAT64 prefixes are steered as external prefixes are, by destination (never proxied).
        IReadOnlyList<IpPrefix> externals = AggregateIpv6(translated.Concat(options.Nat64Prefixes));

        rules.Add(new PolicyRule(first, null, null, tun, PolicyRuleAction.Goto, end) { IsIpv6 = true });
        IReadOnlyList<string> InterfacesOf(IpPrefix inside) => options.InsideInterfaces is { Count: > 0 } named
            ? named
            : [.. facts.Ipv6MainRoutes.Where(route => route.Device != tun && route.Destination.Length > 0 && route.Destination.Overlaps(inside))
                .Select(route => route.Device).Distinct().Order(StringComparer.Ordinal)];
        foreach (IpPrefix inside in insides)
        {
            IReadOnlyList<string> interfaces = InterfacesOf(inside);
            if (interfaces.Count == 0)
            {
                notes?.Add($"no interface routes {inside} in the main table: nothing from it is translated until one does (or name it with --inside-interface)");
            }
            foreach (string device in interfaces)
            {
                rules.Add(new PolicyRule(first + 1, inside, null, device, PolicyRuleAction.Lookup, options.Table) { IsIpv6 = true });
            }
            guard.Add(new GuardRule(inside, [.. interfaces.Append("lo").Append(tun).Distinct()]));
        }
        // A NAT64 inside is guarded alone: its traffic is steered by the NAT64 prefix, not by its source.
        foreach (IpPrefix inside in AggregateIpv6(options.Nat64InsidePrefixes).Where(nat64 => !insides.Any(steered => steered.Contains(nat64.First) && steered.Length <= nat64.Length)))
        {
            guard.Add(new GuardRule(inside, [.. InterfacesOf(inside).Append("lo").Append(tun).Distinct()]));
        }
        // The replies of a service on this host that an IPv6 redirect leads to (a transparent
        // proxy on the gateway's inside address) go back through NatGate, as IPv4's do.
        foreach (LocalRedirect redirect in options.LocalRedirects.Where(redirect => redirect.Address.IsIpv6).Distinct())
        {
            rules.Add(new PolicyRule(first + 1, IpPrefix.Host(redirect.Address), null, "lo", PolicyRuleAction.Lookup, options.Table, redirect.Protocol, redirect.Ports) { IsIpv6 = true });
        }
        foreach (IpPrefix inside in insides)
        {
            rules.Add(new PolicyRule(first + 2, inside, null, "lo", PolicyRuleAction.Goto, externals.Count > 0 ? first + 4 : end) { IsIpv6 = true });
        }
        foreach (IpPrefix inside in insides)
        {
            rules.Add(new PolicyRule(first + 3, inside, null, null, PolicyRuleAction.Blackhole) { IsIpv6 = true });
        }
        foreach (IpPrefix external in externals)
        {
            rules.Add(new PolicyRule(first + 4, null, external, null, PolicyRuleAction.Lookup, options.Table) { IsIpv6 = true });
        }
        rules.Add(new PolicyRule(end, null, null, null, PolicyRuleAction.Nop) { IsIpv6 = true });

        int proxiesBefore = proxies.Count;
        if (options.OutsideInterface is string outside)
        {
            foreach (IpPrefix external in translated)
            {
                if (external.Length != 128)
                {
                    notes?.Add($"{external} is a prefix, and proxy NDP answers for single addresses: the upstream router must route it to this host");
                }
                else if (facts.Ipv6OutsidePrefixes.Any(onLink => onLink.Contains(external.First)))
                {
                    proxies.Add(new ProxyNeighbour(external.First, outside));
                }
                else
                {
                    notes?.Add($"{external.First} is not on-link on {outside}: no proxy NDP entry; the upstream router must route it to this host");
                }
            }
        }
        if (proxies.Count > proxiesBefore)
        {
            // The kernel answers solicitations for a proxy entry only with proxy_ndp on the
            // interface (and forwarding), after a random delay of up to proxy_delay (0.8 s).
            sysctls.Add(new SysctlSetting($"net/ipv6/conf/{options.OutsideInterface}/proxy_ndp", "1"));
            sysctls.Add(new SysctlSetting($"net/ipv6/neigh/{options.OutsideInterface}/proxy_delay", "0"));
        }
        // Turning forwarding on makes the kernel drop the default routes learned from router
        // advertisements and ignore further ones (accept_ra 1 means "unless forwarding"): the
        // host would lose its own IPv6 route. 2 keeps accepting them; 0 (off) stays off.
        foreach (string device in facts.RouterAdvertisedInterfaces.Where(device => device != tun).Distinct().Order(StringComparer.Ordinal))
        {
            sysctls.Add(new SysctlSetting($"net/ipv6/conf/{device}/accept_ra", "2", AlsoAccepted: "0"));
        }
        // Forwarding last: packets start to flow only once everything else is in place.
        sysctls.Add(new SysctlSetting("net/ipv6/conf/all/forwarding", "1"));

        routes.Add(new TableRoute("unicast", tun, TableRoute.Ipv6TunMetric) { IsIpv6 = true });
        routes.Add(new TableRoute("blackhole", null, TableRoute.GuardMetric) { IsIpv6 = true });
    }

    /// <summary>
    /// IPv6 prefixes with those inside others left out and sibling halves joined (as
    /// <see cref="Ipv4Prefix.Aggregate"/> does for IPv4), so that many rules cost few policy rules.
    /// </summary>
    internal static IReadOnlyList<IpPrefix> AggregateIpv6(IEnumerable<IpPrefix> prefixes)
    {
        var sorted = prefixes.Distinct().OrderBy(prefix => prefix.Network).ThenBy(prefix => prefix.Length).ToList();
        var merged = new List<IpPrefix>(sorted.Count);
        foreach (IpPrefix prefix in sorted)
        {
            if (merged.Count > 0 && merged[^1].Overlaps(prefix))
            {
                continue; // sorted by network, then shorter first: the one before covers this one
            }
            IpPrefix current = prefix;
            while (merged.Count > 0 && current.Length > 0 && merged[^1].Length == current.Length
                && merged[^1].Network == (current.Network ^ (UInt128.One << (128 - current.Length))))
            {
                current = new IpPrefix(merged[^1].First.AsIpv6, current.Length - 1);
                merged.RemoveAt(merged.Count - 1);
            }
            merged.Add(current);
        }
        return merged;
    }
}
