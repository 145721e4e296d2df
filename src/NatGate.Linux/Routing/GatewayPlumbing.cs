using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Linux.Processes;

namespace NatGate.Linux.Routing;

/// <summary>
/// The policy routing, the guard against spoofed inside sources, the proxy neighbours and the
/// sysctls that make the kernel hand the TUN exactly the packets to translate (DESIGN.md, "The
/// data path on Linux" and "What the plumbing must guarantee"). One reconciler: <see cref="Apply"/>
/// and <see cref="Update"/> read what the kernel holds, compare it with the plan for the options
/// (<see cref="PlumbingPlan.Create"/>) and change only the difference, in one <c>ip -batch</c>;
/// <see cref="Remove"/> takes everything away and puts back the sysctls as they were before the
/// first NatGate run, remembered across crashes in a record in the control directory. Only one
/// process manages the routing of a network namespace at a time (<see cref="IPlumbingHost.ClaimRouting"/>).
/// Everything happens in the network namespace of the calling thread. IPv6 goes through the same
/// steps in the kernel's IPv6 lists (<c>ip -6 -batch</c>, the table ip6 natgate), and leftovers of
/// either family are found and removed whether the plan has that family or not.
/// </summary>
/// <remarks>
/// The kernel answers ARP for a proxy neighbour entry (<c>ip neigh add proxy A dev OUT</c>)
/// without <c>proxy_arp</c> on OUT, provided forwarding is on and the route to A leaves by
/// another device (here the TUN, through the <c>to A</c> rule). <c>proxy_arp</c> stays
/// untouched: it would answer for every address routed elsewhere. Replies to broadcast
/// requests are delayed by a random 0 to <c>neigh.OUT.proxy_delay</c> (0.8 s by default),
/// so the plan sets that delay to 0. IPv6 is alike: the kernel answers neighbour solicitations
/// for <c>ip -6 neigh add proxy A dev OUT</c> with forwarding and <c>proxy_ndp</c> on OUT, after a
/// random 0 to <c>neigh.OUT.proxy_delay</c>.
/// </remarks>
public sealed class GatewayPlumbing : IDisposable
{
    /// <summary>The nftables table of the spoofing guard (one per network namespace, as the routing is).</summary>
    public const string GuardTable = "natgate";

    private readonly IPlumbingHost _host;
    private readonly List<string> _notes = [];
    private IDisposable? _claim;
    private PlumbingRecord _record = new();
    private bool _guardUncounted;

    /// <summary>Plumbing for the real system, in the calling thread's network namespace.</summary>
    public GatewayPlumbing(GatewayPlumbingOptions options)
        : this(options, new SystemPlumbingHost(options?.RecordDirectory ?? GatewayPlumbingOptions.DefaultRecordDirectory))
    {
    }

    internal GatewayPlumbing(GatewayPlumbingOptions options, IPlumbingHost host)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _host = host;
    }

    public GatewayPlumbingOptions Options { get; private set; }

    /// <summary>What was decided along the way: addresses not proxied, leftovers adopted, steps already undone.</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>Whether <see cref="Apply"/> has run and <see cref="Remove"/> has not.</summary>
    public bool IsApplied { get; private set; }

    /// <summary>The plan for the current options on this host (reads the outside interface's addresses and the main table).</summary>
    public PlumbingPlan Plan() => PlumbingPlan.Create(Options, ReadFacts(Options), _notes);

    /// <summary>
    /// Claims the routing of this network namespace and makes the kernel match the plan. Whatever
    /// an earlier run left (a crash, kill -9) is adopted: its sysctls' original values are kept,
    /// and what the plan no longer needs is removed. A failure undoes everything and throws
    /// <see cref="PlumbingException"/> naming the command.
    /// </summary>
    public void Apply()
    {
        if (IsApplied)
        {
            throw new InvalidOperationException("The plumbing is already applied; use Update for changes.");
        }
        Claim();
        try
        {
            _record = PlumbingRecord.Parse(_host.ReadRecord());
            if (_record.Sysctls.Count > 0 || _record.ProxyNeighbours.Count > 0)
            {
                _notes.Add("adopted what an earlier run left (it did not stop cleanly): the host's original sysctls are kept from then");
            }
            IsApplied = true;
            Reconcile(Plan());
        }
        catch
        {
            try
            {
                Remove();
            }
            catch (PlumbingException rollback)
            {
                _notes.Add("rolling back: " + rollback.Message);
            }
            throw;
        }
    }

    /// <summary>
    /// Claims the routing of this network namespace without changing anything yet, so that a
    /// second daemon can refuse before it touches anything; <see cref="Remove"/> lets it go.
    /// Throws <see cref="PlumbingException"/> when another process holds it.
    /// </summary>
    public void Claim() => _claim ??= _host.ClaimRouting();

    /// <summary>
    /// Makes the kernel match the plan for <paramref name="options"/> (a rule load, a NAT added or
    /// removed): the same reconciliation as at start, so what the control API reports as done is
    /// done in the kernel too. The TUN, table and rule preferences cannot change.
    /// </summary>
    public void Update(GatewayPlumbingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.TunName != Options.TunName || options.Table != Options.Table || options.FirstRulePreference != Options.FirstRulePreference)
        {
            throw new ArgumentException("The TUN, the routing table and the rule preferences stay as they started.", nameof(options));
        }
        Options = options;
        if (IsApplied)
        {
            Reconcile(Plan());
        }
    }

    /// <summary>
    /// Takes away everything NatGate installed and writes back every sysctl it changed, to the
    /// value it had before the first run (forwarding first, so nothing is forwarded raw while
    /// the rules go). Parts already gone are noted and skipped; the first failure is thrown at the end.
    /// </summary>
    public void Remove()
    {
        if (!IsApplied)
        {
            _claim?.Dispose();
            _claim = null;
            return;
        }
        IsApplied = false;
        var failures = new List<PlumbingException>();
        foreach ((string path, string original) in _record.Sysctls.OrderBy(pair => IsForwarding(pair.Key) ? 0 : 1).ToList())
        {
            Try(() => RestoreSysctl(path, original));
        }
        Try(() =>
        {
            List<PolicyRule> rules = ReadRules();
            List<InstalledRoute> routes = ReadRoutes();
            List<ProxyNeighbour> proxies = [.. _record.ProxyNeighbours.Where(ReadProxyNeighbours().Contains)];
            foreach (bool ipv6 in Families)
            {
                RunBatch(DeletionsOf(
                    [.. rules.Where(rule => rule.IsIpv6 == ipv6)],
                    [.. routes.Where(route => route.Ipv6 == ipv6)],
                    proxies.Where(neighbour => neighbour.Address.IsIpv6 == ipv6)), ipv6);
            }
        });
        if (_record.SteeringRule)
        {
            Try(() => ReconcileSteeringRule(null));
            _record.SteeringRule = false;
        }
        Try(() => RemoveGuard(ipv6: false));
        Try(() => RemoveGuard(ipv6: true));
        // The TUN goes down as it came; gone already after a crash, which is fine.
        _host.RunIp(["link", "set", "dev", Options.TunName, "down"]);
        if (failures.Count == 0)
        {
            _host.DeleteRecord();
        }
        else
        {
            SaveRecord(); // what could not be restored stays remembered for the next run
        }
        _claim?.Dispose();
        _claim = null;
        if (failures.Count > 0)
        {
            throw failures[0];
        }

        void Try(Action step)
        {
            try
            {
                step();
            }
            catch (PlumbingException exception)
            {
                failures.Add(exception);
            }
        }
    }

    public void Dispose() => Remove();

    /// <summary>IPv4, then IPv6: each has its own rules, tables and neighbours, and its own <c>ip -batch</c> (which takes no -6 per line).</summary>
    private static readonly bool[] Families = [false, true];

    /// <summary>The switches that let packets through: restored first at stop, so nothing is forwarded raw while the rules go.</summary>
    private static bool IsForwarding(string path) => path is "net/ipv4/ip_forward" or "net/ipv6/conf/all/forwarding";

    /// <summary>A route in NatGate's table as the kernel holds it: what the plan calls it (null: not NatGate's kind), and how to delete it.</summary>
    private readonly record struct InstalledRoute(TableRoute? Route, bool Ipv6, string[] Delete);

    /// <summary>
    /// What a crash does: everything stays in the kernel and in the record, and the claim is let
    /// go. For tests of what the next run adopts.
    /// </summary>
    internal void Abandon()
    {
        IsApplied = false;
        _claim?.Dispose();
        _claim = null;
    }

    /// <summary>Packets with an inside source dropped because they arrived from elsewhere; null without nftables.</summary>
    public long? SpoofedPackets()
    {
        if (!IsApplied || _guardUncounted)
        {
            return null;
        }
        long? total = null;
        foreach ((string family, bool installed) in (ReadOnlySpan<(string, bool)>)[("ip", _record.Guard), ("ip6", _record.Ipv6Guard)])
        {
            if (!installed || _host.RunNft(["-j", "list", "counter", family, GuardTable, "spoofed"]) is not { ExitCode: 0 } listed)
            {
                continue;
            }
            using JsonDocument document = JsonDocument.Parse(listed.Output);
            foreach (JsonElement item in document.RootElement.GetProperty("nftables").EnumerateArray())
            {
                if (item.TryGetProperty("counter", out JsonElement counter))
                {
                    total = (total ?? 0) + counter.GetProperty("packets").GetInt64();
                    break;
                }
            }
        }
        return total;
    }

    private void Reconcile(PlumbingPlan plan)
    {
        List<PolicyRule> currentRules = ReadRules();
        List<InstalledRoute> currentRoutes = ReadRoutes();
        List<ProxyNeighbour> currentProxies = ReadProxyNeighbours();

        // Sysctls to change: remember each original before the first change, in the record,
        // written before anything else changes, so a crash from here on still knows them.
        var sysctlChanges = new List<SysctlSetting>();
        foreach (SysctlSetting sysctl in plan.Sysctls)
        {
            string current = _host.ReadSysctl(sysctl.Path)
                ?? throw new PlumbingException($"sysctl -w {sysctl.Key}={sysctl.Value}",
                    sysctl.Path.StartsWith("net/ipv6/", StringComparison.Ordinal) && _host.ReadSysctl("net/ipv6/conf/all/forwarding") is null
                        ? "this kernel runs without IPv6 (ipv6.disable=1): give no IPv6 prefixes, or start it with IPv6"
                        : $"/proc/sys/{sysctl.Path} does not exist (is the interface there?)");
            if (!sysctl.IsSatisfiedBy(current))
            {
                sysctlChanges.Add(sysctl);
                _record.Sysctls.TryAdd(sysctl.Path, current);
            }
        }
        List<ProxyNeighbour> proxiesToAdd = [.. plan.ProxyNeighbours.Where(neighbour => !currentProxies.Contains(neighbour))];
        foreach (ProxyNeighbour neighbour in plan.ProxyNeighbours.Where(currentProxies.Contains).Where(neighbour => !_record.ProxyNeighbours.Contains(neighbour)))
        {
            _notes.Add($"\"{neighbour}\" was there before NatGate; it is used and left in place at stop");
        }
        _record.ProxyNeighbours.AddRange(proxiesToAdd);
        SaveRecord();

        List<ProxyNeighbour> proxiesToRemove = [.. _record.ProxyNeighbours.Where(neighbour => !plan.ProxyNeighbours.Contains(neighbour))];
        foreach (bool ipv6 in Families)
        {
            // The TUN comes up in the IPv4 batch, before the IPv6 one routes into it.
            List<string> batch = ipv6 ? [] : [$"link set dev {plan.TunName} mtu {plan.Mtu.ToString(CultureInfo.InvariantCulture)} up"];
            List<PolicyRule> rulesToAdd = [.. plan.Rules.Where(rule => rule.IsIpv6 == ipv6 && !currentRules.Contains(rule))];
            List<PolicyRule> rulesToRemove = [.. currentRules.Where(rule => rule.IsIpv6 == ipv6 && !plan.Rules.Contains(rule))];
            // Additions before removals, so a change never opens a moment with neither the old rule
            // nor the new; except a rule that only changes its action, which the kernel would take
            // for a duplicate of the old one (its selector is the same): that one goes first.
            List<PolicyRule> replaced = [.. rulesToRemove.Where(old => rulesToAdd.Any(rule => rule with { Action = old.Action, Target = old.Target } == old))];
            batch.AddRange(DeletionsOf(replaced, [], []));
            batch.AddRange(plan.Routes.Where(route => route.IsIpv6 == ipv6 && !currentRoutes.Any(current => current.Route == route))
                .Select(route => "route add " + string.Join(' ', route.Arguments(plan.Table))));
            batch.AddRange(rulesToAdd.Select(rule => "rule add " + string.Join(' ', rule.Arguments)));
            batch.AddRange(proxiesToAdd.Where(neighbour => neighbour.Address.IsIpv6 == ipv6).Select(neighbour => "neigh add " + string.Join(' ', neighbour.Arguments)));
            batch.AddRange(DeletionsOf(
                rulesToRemove.Except(replaced).ToList(),
                currentRoutes.Where(current => current.Ipv6 == ipv6 && (current.Route is null || !plan.Routes.Contains(current.Route))).ToList(),
                proxiesToRemove.Where(neighbour => neighbour.Address.IsIpv6 == ipv6 && currentProxies.Contains(neighbour))));
            RunBatch(batch, ipv6);
        }
        _record.ProxyNeighbours.RemoveAll(proxiesToRemove.Contains);

        // The mark first, then the rule that acts on it: a marked packet never finds the rule missing.
        ApplyNftables(plan);
        ReconcileSteeringRule(plan.SteeringRule);

        foreach (SysctlSetting sysctl in sysctlChanges)
        {
            try
            {
                _host.WriteSysctl(sysctl.Path, sysctl.Value);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new PlumbingException($"sysctl -w {sysctl.Key}={sysctl.Value}", exception.Message, exception);
            }
        }
        // A sysctl the plan no longer needs (no proxy neighbour left, say) goes back as it was.
        foreach (string path in _record.Sysctls.Keys.Where(path => !plan.Sysctls.Any(sysctl => sysctl.Path == path)).ToList())
        {
            RestoreSysctl(path, _record.Sysctls[path]);
        }
        SaveRecord();
    }

    /// <summary>The <c>ip -batch</c> lines that delete rules (in NatGate's range), routes (in its table) and proxy neighbours.</summary>
    private static List<string> DeletionsOf(IReadOnlyList<PolicyRule> rules, IReadOnlyList<InstalledRoute> routes, IEnumerable<ProxyNeighbour> proxies)
    {
        var lines = new List<string>();
        lines.AddRange(rules.Select(rule => "rule del " + string.Join(' ', rule.Arguments)));
        lines.AddRange(routes.Select(route => "route del " + string.Join(' ', route.Delete)));
        lines.AddRange(proxies.Select(neighbour => "neigh del " + string.Join(' ', neighbour.Arguments)));
        return lines;
    }

    /// <summary>Runs <paramref name="lines"/> as one <c>ip -batch</c> (<c>ip -6 -batch</c> with <paramref name="ipv6"/>).</summary>
    private void RunBatch(List<string> lines, bool ipv6 = false)
    {
        if (lines.Count == 0)
        {
            return;
        }
        string input = string.Join('\n', lines) + "\n";
        CommandResult result = _host.RunIp(ipv6 ? ["-6", "-batch", "-"] : ["-batch", "-"], input);
        if (result.ExitCode == 0)
        {
            return;
        }
        // "Command failed -:3": name the line that failed.
        string program = ipv6 ? "ip -6 " : "ip ";
        string failed = program + "-batch -";
        int colon = result.Error.LastIndexOf("-:", StringComparison.Ordinal);
        if (colon >= 0 && int.TryParse(result.Error.AsSpan(colon + 2).TrimEnd(), NumberStyles.None, CultureInfo.InvariantCulture, out int line)
            && line >= 1 && line <= lines.Count)
        {
            failed = program + lines[line - 1];
        }
        throw new PlumbingException(failed, result.Error);
    }

    /// <summary>
    /// The rule that takes packets marked for a shared address to NatGate's table must come
    /// before the local table's rule, which holds preference 0 and which the kernel places ahead
    /// of any rule added later at the same preference. So the local rule is moved behind it, the
    /// way the kernel's VRF documentation moves it: a second copy at preference 1 first, so local
    /// delivery never lapses, then the original out, NatGate's rule and the local rule back in at
    /// 0 in that order, and the copy out. Everything else keeps its place.
    /// </summary>
    private void ReconcileSteeringRule(PolicyRule? wanted)
    {
        List<PolicyRule?> first = [.. ReadJson(["-j", "rule", "show"])
            .Where(rule => rule.TryGetProperty("priority", out JsonElement value) ? value.GetInt32() == 0 : true)
            .Select(rule => PolicyRule.FromJson(rule))];
        PolicyRule local = new(0, null, null, null, PolicyRuleAction.Lookup, 255);
        List<PolicyRule> ours = [.. first.OfType<PolicyRule>().Where(IsSteeringRule)];
        if (wanted is null)
        {
            RunBatch([.. ours.Select(rule => "rule del " + string.Join(' ', rule.Arguments))]);
            return;
        }
        int wantedAt = first.IndexOf(wanted);
        int localAt = first.IndexOf(local);
        if (wantedAt >= 0 && (localAt < 0 || wantedAt < localAt) && ours.Count == 1)
        {
            return;
        }
        var batch = new List<string>();
        batch.AddRange(ours.Select(rule => "rule del " + string.Join(' ', rule.Arguments)));
        if (localAt >= 0)
        {
            batch.Add("rule add pref 1 lookup local");
            batch.Add("rule del pref 0 lookup local");
        }
        batch.Add("rule add " + string.Join(' ', wanted.Arguments));
        if (localAt >= 0)
        {
            batch.Add("rule add pref 0 lookup local");
            batch.Add("rule del pref 1 lookup local");
        }
        _record.SteeringRule = true;
        SaveRecord();
        RunBatch(batch);
    }

    private static bool IsSteeringRule(PolicyRule rule)
        => rule.Preference == 0 && rule.FirewallMark == SharedAddress.Mark && rule.FirewallMask == SharedAddress.MarkMask;

    private void ApplyNftables(PlumbingPlan plan)
    {
        foreach (bool ipv6 in Families)
        {
            List<GuardRule> guards = [.. plan.Guard.Where(guard => guard.Source.IsIpv6 == ipv6)];
            bool steering = !ipv6 && plan.Steering.Count > 0;
            if (guards.Count == 0 && !steering)
            {
                RemoveGuard(ipv6);
                continue;
            }
            ApplyGuard(plan, guards, ipv6);
        }
    }

    /// <summary>The table ip (or ip6) natgate: the spoofing guard, and for IPv4 the steering of a shared address.</summary>
    private void ApplyGuard(PlumbingPlan plan, List<GuardRule> guards, bool ipv6)
    {
        // The nftables family, which is also the word before "saddr".
        string family = ipv6 ? "ip6" : "ip";
        // The counter is declared, never re-created, so a change keeps its count; the chain is
        // flushed and refilled in the same transaction, so no packet sees it half-written.
        var script = new StringBuilder();
        script.Append(CultureInfo.InvariantCulture, $"table {family} {GuardTable} {{\n  counter spoofed {{ }}\n  chain prerouting {{ type filter hook prerouting priority raw; policy accept; }}\n}}\n");
        script.Append(CultureInfo.InvariantCulture, $"flush chain {family} {GuardTable} prerouting\n");
        script.Append(CultureInfo.InvariantCulture, $"table {family} {GuardTable} {{\n  chain prerouting {{\n");
        foreach (GuardRule guard in guards)
        {
            string allowed = string.Join(", ", guard.AllowedInterfaces.Select(name => $"\"{name}\""));
            script.Append(CultureInfo.InvariantCulture, $"    {family} saddr {guard.Source} iifname != {{ {allowed} }} counter name \"spoofed\" drop\n");
        }
        script.Append("  }\n}\n");
        if (!ipv6)
        {
            AppendSteering(script, plan);
        }
        CommandResult? result = _host.RunNft(["-f", "-"], script.ToString());
        if (result is null && !ipv6 && plan.Steering.Count > 0)
        {
            throw new PlumbingException("nft -f -", "nftables (nft) is not installed, and sharing the host's address needs it to steer the NAT's ports");
        }
        if (result is null)
        {
            if (!_guardUncounted)
            {
                _notes.Add("nftables (nft) is not installed: spoofed inside sources are dropped by the blackhole rule, but not counted");
            }
            _guardUncounted = true;
            return;
        }
        if (result.Value.ExitCode != 0)
        {
            throw new PlumbingException($"nft -f - (the table {family} {GuardTable})", result.Value.Error);
        }
        if (ipv6)
        {
            _record.Ipv6Guard = true;
        }
        else
        {
            _record.Guard = true;
        }
    }

    /// <summary>
    /// The steer chain (mangle, before routing): packets to a shared address's NAT ports get
    /// NatGate's mark, which the rule ahead of the local table acts on. Not from lo (the host's
    /// own connections to itself) nor from the TUN (what NatGate wrote back). ICMP: echo replies
    /// to the NAT's identifiers, and errors quoting a packet the NAT sent (the quoted header's
    /// protocol at byte 17 of the ICMP message, its source port or identifier at 28 or 32, for a
    /// quoted header without options; RFC 792).
    /// </summary>
    private static void AppendSteering(StringBuilder script, PlumbingPlan plan)
    {
        script.Append(CultureInfo.InvariantCulture, $"table ip {GuardTable} {{\n  chain steer {{ type filter hook prerouting priority mangle; policy accept; }}\n}}\n");
        script.Append(CultureInfo.InvariantCulture, $"flush chain ip {GuardTable} steer\n");
        if (plan.Steering.Count == 0)
        {
            return;
        }
        string mark = string.Create(CultureInfo.InvariantCulture, $"meta mark set meta mark & 0x{~SharedAddress.MarkMask:x8} | 0x{SharedAddress.Mark:x8}");
        const string errors = "icmp type { destination-unreachable, time-exceeded, parameter-problem }";
        script.Append(CultureInfo.InvariantCulture, $"table ip {GuardTable} {{\n  chain steer {{\n    iifname {{ \"lo\", \"{plan.TunName}\" }} return\n");
        foreach (SteeredPorts steered in plan.Steering)
        {
            string address = steered.Address.ToString();
            string ports = SharedAddress.Format(steered.Ports);
            switch (steered.Protocol)
            {
                case "icmp":
                    script.Append(CultureInfo.InvariantCulture, $"    ip daddr {address} icmp type echo-reply icmp id {ports} {mark}\n");
                    script.Append(CultureInfo.InvariantCulture, $"    ip daddr {address} {errors} @th,136,8 1 @th,256,16 {ports} {mark}\n");
                    break;
                default:
                    int protocol = (int)(steered.Protocol == "tcp" ? IpProtocol.Tcp : IpProtocol.Udp);
                    script.Append(CultureInfo.InvariantCulture, $"    ip daddr {address} {steered.Protocol} dport {ports} {mark}\n");
                    script.Append(CultureInfo.InvariantCulture, $"    ip daddr {address} {errors} @th,136,8 {protocol} @th,224,16 {ports} {mark}\n");
                    break;
            }
        }
        script.Append("  }\n}\n");
    }

    private void RemoveGuard(bool ipv6)
    {
        if (!(ipv6 ? _record.Ipv6Guard : _record.Guard))
        {
            return;
        }
        string family = ipv6 ? "ip6" : "ip";
        CommandResult? result = _host.RunNft(["delete", "table", family, GuardTable]);
        if (result is { ExitCode: not 0 } failed && !failed.Error.Contains("No such file or directory", StringComparison.Ordinal))
        {
            throw new PlumbingException($"nft delete table {family} {GuardTable}", failed.Error);
        }
        if (ipv6)
        {
            _record.Ipv6Guard = false;
        }
        else
        {
            _record.Guard = false;
        }
    }

    private void RestoreSysctl(string path, string original)
    {
        if (_host.ReadSysctl(path) is null)
        {
            _notes.Add($"sysctl {path}: already gone with its interface");
        }
        else
        {
            try
            {
                _host.WriteSysctl(path, original);
            }
            catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
            {
                throw new PlumbingException($"sysctl -w {path}={original}", exception.Message, exception);
            }
        }
        _record.Sysctls.Remove(path);
    }

    private void SaveRecord()
    {
        try
        {
            _host.WriteRecord(_record.ToJson());
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            throw new PlumbingException($"write {Options.RecordDirectory}", exception.Message, exception);
        }
    }

    /// <summary>NatGate's rules as the kernel holds them (preferences First to First+5), IPv4's and IPv6's.</summary>
    private List<PolicyRule> ReadRules()
    {
        int first = Options.FirstRulePreference;
        var rules = new List<PolicyRule>();
        foreach (bool ipv6 in Families)
        {
            foreach (JsonElement rule in ReadJson(ipv6 ? ["-6", "-j", "rule", "show"] : ["-j", "rule", "show"]))
            {
                int preference = rule.TryGetProperty("priority", out JsonElement value) ? value.GetInt32() : 0;
                if (preference >= first && preference <= first + 5)
                {
                    // One this type cannot describe is deleted by its preference alone.
                    rules.Add(PolicyRule.FromJson(rule, ipv6) ?? new PolicyRule(preference, null, null, null, PolicyRuleAction.Other) { IsIpv6 = ipv6 });
                }
            }
        }
        return rules;
    }

    /// <summary>The routes in NatGate's table, IPv4's and IPv6's.</summary>
    private List<InstalledRoute> ReadRoutes()
    {
        string table = Options.Table.ToString(CultureInfo.InvariantCulture);
        var routes = new List<InstalledRoute>();
        foreach (bool ipv6 in Families)
        {
            foreach (JsonElement route in ReadJson(ipv6 ? ["-6", "-j", "route", "show", "table", table] : ["-j", "route", "show", "table", table]))
            {
                string type = route.TryGetProperty("type", out JsonElement typeValue) ? typeValue.GetString() ?? "unicast" : "unicast";
                string destination = route.TryGetProperty("dst", out JsonElement dst) ? dst.GetString() ?? "default" : "default";
                // An IPv6 blackhole route names lo as its device; it means nothing.
                string? device = route.TryGetProperty("dev", out JsonElement dev) && type == "unicast" ? dev.GetString() : null;
                long metric = route.TryGetProperty("metric", out JsonElement metricValue) ? metricValue.GetInt64() : 0;
                string metricText = metric.ToString(CultureInfo.InvariantCulture);
                string[] delete = [type, destination, "table", table, "metric", metricText];
                TableRoute? known = destination == "default" && (type != "unicast" || device is not null) ? new TableRoute(type, device, metric) { IsIpv6 = ipv6 } : null;
                routes.Add(new InstalledRoute(known, ipv6, delete));
            }
        }
        return routes;
    }

    private List<ProxyNeighbour> ReadProxyNeighbours()
    {
        var neighbours = new List<ProxyNeighbour>();
        foreach (JsonElement neighbour in ReadJson(["-j", "-4", "neigh", "show", "proxy"]))
        {
            if (neighbour.TryGetProperty("dst", out JsonElement dst) && neighbour.TryGetProperty("dev", out JsonElement dev)
                && Ipv4Address.TryParse(dst.GetString(), out Ipv4Address address))
            {
                neighbours.Add(new ProxyNeighbour(address, dev.GetString()!));
            }
        }
        foreach (JsonElement neighbour in ReadJson(["-6", "-j", "neigh", "show", "proxy"]))
        {
            if (neighbour.TryGetProperty("dst", out JsonElement dst) && neighbour.TryGetProperty("dev", out JsonElement dev)
                && Ipv6Address.TryParse(dst.GetString(), out Ipv6Address address))
            {
                neighbours.Add(new ProxyNeighbour(address, dev.GetString()!));
            }
        }
        return neighbours;
    }

    private PlumbingFacts ReadFacts(GatewayPlumbingOptions options)
    {
        var outside = new List<InterfaceAddress>();
        if (options.OutsideInterface is string device)
        {
            foreach (JsonElement link in ReadJson(["-j", "-4", "addr", "show", "dev", device]))
            {
                foreach (JsonElement address in link.GetProperty("addr_info").EnumerateArray())
                {
                    if (address.TryGetProperty("local", out JsonElement local) && Ipv4Address.TryParse(local.GetString(), out Ipv4Address value))
                    {
                        outside.Add(new InterfaceAddress(value, address.GetProperty("prefixlen").GetInt32()));
                    }
                }
            }
        }
        var routes = new List<(Ipv4Prefix, string)>();
        foreach (JsonElement route in ReadJson(["-j", "-4", "route", "show", "table", "main"]))
        {
            if (route.TryGetProperty("dst", out JsonElement dst) && route.TryGetProperty("dev", out JsonElement dev)
                && dst.GetString() is string text && text != "default" && Ipv4Prefix.TryParse(text, out Ipv4Prefix prefix))
            {
                routes.Add((prefix, dev.GetString()!));
            }
        }
        var hostAddresses = new List<Ipv4Address>();
        foreach (JsonElement link in ReadJson(["-j", "-4", "addr", "show"]))
        {
            foreach (JsonElement address in link.GetProperty("addr_info").EnumerateArray())
            {
                if (address.TryGetProperty("local", out JsonElement value) && Ipv4Address.TryParse(value.GetString(), out Ipv4Address parsed))
                {
                    hostAddresses.Add(parsed);
                }
            }
        }
        // The reserved ports are NatGate's additions to what the host had before the first run.
        string reserved = _record.Sysctls.TryGetValue(SharedAddress.ReservedPortsPath, out string? original)
            ? original
            : _host.ReadSysctl(SharedAddress.ReservedPortsPath) ?? "";
        Core.Ports.PortRange ephemeral = SharedAddress.ParseReserved((_host.ReadSysctl("net/ipv4/ip_local_port_range") ?? "").Replace('\t', '-').Replace(' ', '-'))
            .FirstOrDefault(new Core.Ports.PortRange(32768, 60999));
        var facts = new PlumbingFacts(outside, routes) { LocalAddresses = hostAddresses, ReservedPorts = reserved, EphemeralPorts = ephemeral };
        return options.HasIpv6 ? ReadIpv6Facts(options, facts) : facts;
    }

    /// <summary>The IPv6 side of the facts, read the same way: the outside's on-link prefixes, the main table, the host's addresses.</summary>
    private PlumbingFacts ReadIpv6Facts(GatewayPlumbingOptions options, PlumbingFacts facts)
    {
        var outside = new List<IpPrefix>();
        if (options.OutsideInterface is string device)
        {
            foreach ((Ipv6Address address, int length) in ReadIpv6Addresses(["-j", "-6", "addr", "show", "dev", device]))
            {
                outside.Add(new IpPrefix(address, length));
            }
        }
        var routes = new List<(IpPrefix, string)>();
        var advertised = new List<string>();
        foreach (JsonElement route in ReadJson(["-j", "-6", "route", "show", "table", "main"]))
        {
            if (!route.TryGetProperty("dev", out JsonElement dev) || dev.GetString() is not string name)
            {
                continue;
            }
            if (route.TryGetProperty("protocol", out JsonElement protocol) && protocol.GetString() == "ra")
            {
                advertised.Add(name);
            }
            // Unreachable and the like name lo: where nothing lives.
            bool unicast = !route.TryGetProperty("type", out JsonElement type) || type.GetString() == "unicast";
            if (unicast && name != "lo" && route.TryGetProperty("dst", out JsonElement dst) && dst.GetString() is string text && text != "default"
                && IpPrefix.TryParse(text, out IpPrefix prefix) && prefix.IsIpv6)
            {
                routes.Add((prefix, name));
            }
        }
        return facts with
        {
            Ipv6OutsidePrefixes = outside,
            Ipv6MainRoutes = routes,
            Ipv6LocalAddresses = [.. ReadIpv6Addresses(["-j", "-6", "addr", "show"]).Select(address => address.Address)],
            RouterAdvertisedInterfaces = advertised,
        };
    }

    private List<(Ipv6Address Address, int Length)> ReadIpv6Addresses(IReadOnlyList<string> arguments)
    {
        var addresses = new List<(Ipv6Address, int)>();
        foreach (JsonElement link in ReadJson(arguments))
        {
            if (!link.TryGetProperty("addr_info", out JsonElement info))
            {
                continue;
            }
            foreach (JsonElement address in info.EnumerateArray())
            {
                if (address.TryGetProperty("local", out JsonElement local) && Ipv6Address.TryParse(local.GetString(), out Ipv6Address value)
                    && address.TryGetProperty("prefixlen", out JsonElement length))
                {
                    addresses.Add((value, length.GetInt32()));
                }
            }
        }
        return addresses;
    }

    private List<JsonElement> ReadJson(IReadOnlyList<string> arguments)
    {
        CommandResult result = _host.RunIp(arguments);
        if (result.ExitCode != 0 && result.Error.Contains("table does not exist", StringComparison.Ordinal))
        {
            return []; // a routing table that holds nothing yet
        }
        if (result.ExitCode != 0 && arguments.Contains("-6") && result.Error.Contains("not supported", StringComparison.Ordinal))
        {
            return []; // a kernel without IPv6 (ipv6.disable=1) holds no IPv6 plumbing
        }
        if (result.ExitCode != 0)
        {
            throw new PlumbingException("ip " + string.Join(' ', arguments), result.Error);
        }
        if (string.IsNullOrWhiteSpace(result.Output))
        {
            return [];
        }
        using JsonDocument document = JsonDocument.Parse(result.Output);
        return [.. document.RootElement.EnumerateArray().Select(element => element.Clone())];
    }
}

/// <summary>
/// What NatGate changed in a network namespace and must give back: each sysctl's value before
/// the first run, the proxy neighbours it added, whether the guard table is there. Kept in a
/// file so that a run after a crash knows the host's originals.
/// </summary>
internal sealed class PlumbingRecord
{
    public Dictionary<string, string> Sysctls { get; } = new(StringComparer.Ordinal);

    public List<ProxyNeighbour> ProxyNeighbours { get; } = [];

    public bool Guard { get; set; }

    /// <summary>Whether the table ip6 natgate (the IPv6 spoofing guard) is there.</summary>
    public bool Ipv6Guard { get; set; }

    /// <summary>Whether NatGate's rule may be ahead of the local table (a shared address); removed at stop.</summary>
    public bool SteeringRule { get; set; }

    public static PlumbingRecord Parse(string? text)
    {
        var record = new PlumbingRecord();
        if (string.IsNullOrWhiteSpace(text))
        {
            return record;
        }
        try
        {
            JsonNode root = JsonNode.Parse(text) ?? throw new JsonException("empty");
            foreach ((string path, JsonNode? value) in root["sysctls"]?.AsObject() ?? [])
            {
                record.Sysctls[path] = value!.GetValue<string>();
            }
            foreach (JsonNode? neighbour in root["proxyNeighbours"]?.AsArray() ?? [])
            {
                record.ProxyNeighbours.Add(new ProxyNeighbour(IpAddress.Parse(neighbour!["address"]!.GetValue<string>()), neighbour["device"]!.GetValue<string>()));
            }
            record.Guard = root["guard"]?.GetValue<bool>() ?? false;
            record.Ipv6Guard = root["ipv6Guard"]?.GetValue<bool>() ?? false;
            record.SteeringRule = root["steeringRule"]?.GetValue<bool>() ?? false;
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new PlumbingException($"NatGate's record of the host's settings cannot be read: {exception.Message}; "
                + "check the sysctls by hand and remove the file", exception);
        }
        return record;
    }

    public string ToJson()
    {
        var sysctls = new JsonObject();
        foreach ((string path, string value) in Sysctls)
        {
            sysctls[path] = value;
        }
        var neighbours = new JsonArray();
        foreach (ProxyNeighbour neighbour in ProxyNeighbours)
        {
            neighbours.Add(new JsonObject { ["address"] = neighbour.Address.ToString(), ["device"] = neighbour.Device });
        }
        var root = new JsonObject { ["version"] = 1, ["sysctls"] = sysctls, ["proxyNeighbours"] = neighbours, ["guard"] = Guard, ["ipv6Guard"] = Ipv6Guard, ["steeringRule"] = SteeringRule };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
