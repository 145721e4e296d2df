using System.Globalization;
using NatGate.Core.Packets;

namespace NatGate.Linux.Routing;

/// <summary>
/// The policy routing, sysctls and proxy neighbours that make the kernel hand the TUN exactly
/// the packets to translate (DESIGN.md, "The data path on Linux"). <see cref="Steps"/> is
/// the plan (what <c>--no-plumbing</c> prints); <see cref="Apply"/> carries it out, rolling
/// back if a step fails; <see cref="Remove"/> undoes exactly what Apply did, in reverse.
/// Everything happens in the network namespace of the calling thread.
/// </summary>
/// <remarks>
/// The kernel answers ARP for a proxy neighbour entry (<c>ip neigh add proxy A dev OUT</c>)
/// without <c>proxy_arp</c> on OUT, provided forwarding is on and the route to A leaves by
/// another device (here the TUN, through the <c>to A</c> rule). <c>proxy_arp</c> stays
/// untouched: it would answer for every address routed elsewhere. Replies to broadcast
/// requests are delayed by a random 0 to <c>neigh.OUT.proxy_delay</c> (0.8 s by default),
/// so the plan sets that delay to 0.
/// </remarks>
public sealed class GatewayPlumbing
{
    private readonly IPlumbingHost _host;
    private readonly List<AppliedStep> _applied = [];
    private readonly List<string> _notes = [];
    private IReadOnlyList<PlumbingStep>? _steps;

    /// <summary>Plumbing for the real system, in the calling thread's network namespace.</summary>
    public GatewayPlumbing(GatewayPlumbingOptions options)
        : this(options, SystemPlumbingHost.Instance)
    {
    }

    internal GatewayPlumbing(GatewayPlumbingOptions options, IPlumbingHost host)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _host = host;
    }

    public GatewayPlumbingOptions Options { get; }

    /// <summary>The plan: looks up the outside interface's addresses once, to know which external addresses are on-link there.</summary>
    public IReadOnlyList<PlumbingStep> Steps => _steps ??= Plan(Options, OutsideAddresses(), _notes);

    /// <summary>What was decided along the way: addresses not proxied, rules adopted, steps already undone.</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>Whether <see cref="Apply"/> has run and <see cref="Remove"/> has not.</summary>
    public bool IsApplied { get; private set; }

    /// <summary>
    /// The plan for <paramref name="options"/>, given the addresses of the outside interface
    /// (empty when there is none). Pure: touches nothing.
    /// </summary>
    public static IReadOnlyList<PlumbingStep> Plan(GatewayPlumbingOptions options, IReadOnlyList<InterfaceAddress> outsideAddresses, ICollection<string>? notes = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(outsideAddresses);
        options.Validate();
        string tun = options.TunName;
        string table = options.Table.ToString(CultureInfo.InvariantCulture);
        string mtu = options.Mtu.ToString(CultureInfo.InvariantCulture);
        string Preference(int offset) => (options.FirstRulePreference + offset).ToString(CultureInfo.InvariantCulture);

        var steps = new List<PlumbingStep>
        {
            new IpStep(["link", "set", "dev", tun, "mtu", mtu, "up"], ["link", "set", "dev", tun, "down"]),
            // Translated packets come back from the TUN with sources the TUN does not route to.
            new SysctlStep("net/ipv4/conf/all/rp_filter", "0"),
            new SysctlStep($"net/ipv4/conf/{tun}/rp_filter", "0"),
            // What the daemon writes back is routed normally, never into the TUN again.
            Rule(["pref", Preference(0), "iif", tun, "lookup", "main"]),
        };
        foreach (Core.Addressing.Ipv4Prefix prefix in options.InternalPrefixes)
        {
            steps.Add(Rule(["pref", Preference(1), "from", prefix.ToString(), "lookup", table]));
        }
        foreach (uint address in options.ExternalAddresses)
        {
            steps.Add(Rule(["pref", Preference(2), "to", Ipv4Address.Format(address), "lookup", table]));
        }
        string[] route = ["default", "dev", tun, "table", table];
        steps.Add(new IpStep(["route", "add", .. route], ["route", "del", .. route], ["route", "replace", .. route]));

        bool proxied = false;
        if (options.OutsideInterface is string outside)
        {
            foreach (uint address in options.ExternalAddresses)
            {
                string text = Ipv4Address.Format(address);
                if (outsideAddresses.Any(own => own.Address == address))
                {
                    notes?.Add($"{text} is {outside}'s own address: the local table delivers it to the host before any rule, so NatGate never sees it; "
                        + "use an address of its own, or reserve a port range for sharing the host's address");
                }
                else if (outsideAddresses.Any(own => own.Prefix.Contains(address)))
                {
                    steps.Add(new IpStep(["neigh", "add", "proxy", text, "dev", outside], ["neigh", "del", "proxy", text, "dev", outside]));
                    proxied = true;
                }
                else
                {
                    notes?.Add($"{text} is not on-link on {outside}: no proxy neighbour; the upstream router must route it to this host");
                }
            }
            if (proxied)
            {
                steps.Add(new SysctlStep($"net/ipv4/neigh/{outside}/proxy_delay", "0"));
            }
        }
        // Forwarding last: packets start to flow only once every rule is in place.
        steps.Add(new SysctlStep("net/ipv4/ip_forward", "1"));
        return steps;

        static IpStep Rule(string[] selector) => new(["rule", "add", .. selector], ["rule", "del", .. selector]);
    }

    /// <summary>
    /// Carries out <see cref="Steps"/>. A rule or route that already exists is adopted (and
    /// removed later); a failing step undoes the ones before it and throws
    /// <see cref="PlumbingException"/> naming the command and its error output.
    /// </summary>
    public void Apply()
    {
        if (IsApplied)
        {
            throw new InvalidOperationException("The plumbing is already applied; call Remove first.");
        }
        foreach (PlumbingStep step in Steps)
        {
            try
            {
                _applied.Add(ApplyStep(step));
            }
            catch
            {
                try
                {
                    UndoAll();
                }
                catch (Exception rollback) when (rollback is PlumbingException or AggregateException)
                {
                    // The step that failed is what the caller needs to see; the rollback's trouble is noted.
                    _notes.Add("rolling back: " + rollback.Message);
                }
                throw;
            }
        }
        IsApplied = true;
    }

    /// <summary>
    /// Undoes what <see cref="Apply"/> did, in reverse order, restoring each sysctl to its old
    /// value. Steps already gone (the TUN closed, a rule deleted by hand) are noted and
    /// skipped; other failures are collected and thrown together at the end.
    /// </summary>
    public void Remove()
    {
        if (!IsApplied)
        {
            return;
        }
        IsApplied = false;
        UndoAll();
    }

    private AppliedStep ApplyStep(PlumbingStep step)
    {
        switch (step)
        {
            case IpStep ip:
                {
                    CommandResult result = _host.RunIp(ip.Arguments);
                    if (result.ExitCode == 0)
                    {
                        return new AppliedStep(step, null);
                    }
                    if (!result.Error.Contains("File exists", StringComparison.Ordinal))
                    {
                        throw new PlumbingException(ip.Command, result.Error);
                    }
                    if (ip.ReplaceArguments is { } replace)
                    {
                        CommandResult replaced = _host.RunIp(replace);
                        if (replaced.ExitCode != 0)
                        {
                            throw new PlumbingException("ip " + string.Join(' ', replace), replaced.Error);
                        }
                        _notes.Add($"\"{ip.Command}\": already present, replaced");
                    }
                    else
                    {
                        _notes.Add($"\"{ip.Command}\": already present (left by an earlier run?), adopted");
                    }
                    return new AppliedStep(step, null);
                }
            case SysctlStep sysctl:
                {
                    string old = _host.ReadSysctl(sysctl.Path)
                        ?? throw new PlumbingException(sysctl.Command, $"/proc/sys/{sysctl.Path} does not exist (is the interface there?)");
                    if (old == sysctl.Value)
                    {
                        return new AppliedStep(step, null);
                    }
                    try
                    {
                        _host.WriteSysctl(sysctl.Path, sysctl.Value);
                    }
                    catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
                    {
                        throw new PlumbingException(sysctl.Command, exception.Message, exception);
                    }
                    return new AppliedStep(step, old);
                }
            default:
                throw new ArgumentException($"unknown plumbing step {step.GetType().Name}", nameof(step));
        }
    }

    private void UndoAll()
    {
        var failures = new List<Exception>();
        for (int index = _applied.Count - 1; index >= 0; index--)
        {
            try
            {
                Undo(_applied[index]);
            }
            catch (PlumbingException exception)
            {
                failures.Add(exception);
            }
        }
        _applied.Clear();
        if (failures.Count == 1)
        {
            throw failures[0];
        }
        if (failures.Count > 1)
        {
            throw new AggregateException("Several plumbing steps could not be undone.", failures);
        }
    }

    private void Undo(AppliedStep applied)
    {
        switch (applied.Step)
        {
            case IpStep ip:
                {
                    CommandResult result = _host.RunIp(ip.UndoArguments);
                    if (result.ExitCode == 0)
                    {
                        return;
                    }
                    if (IsAlreadyGone(result.Error))
                    {
                        _notes.Add($"\"{ip.UndoCommand}\": already gone ({result.Error})");
                        return;
                    }
                    throw new PlumbingException(ip.UndoCommand, result.Error);
                }
            case SysctlStep sysctl when applied.OldValue is string old:
                {
                    if (_host.ReadSysctl(sysctl.Path) is null)
                    {
                        _notes.Add($"sysctl {sysctl.Key}: already gone with its interface");
                        return;
                    }
                    try
                    {
                        _host.WriteSysctl(sysctl.Path, old);
                    }
                    catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
                    {
                        throw new PlumbingException($"sysctl -w {sysctl.Key}={old}", exception.Message, exception);
                    }
                    return;
                }
            default:
                return; // a sysctl that already had its value: nothing to restore
        }
    }

    // ENOENT (a rule), ESRCH (a route), a deleted interface.
    private static bool IsAlreadyGone(string error) =>
        error.Contains("No such file or directory", StringComparison.Ordinal)
        || error.Contains("No such process", StringComparison.Ordinal)
        || error.Contains("Cannot find device", StringComparison.Ordinal)
        || error.Contains("does not exist", StringComparison.Ordinal);

    private List<InterfaceAddress> OutsideAddresses()
    {
        var addresses = new List<InterfaceAddress>();
        if (Options.OutsideInterface is not string outside)
        {
            return addresses;
        }
        string[] arguments = ["-4", "-o", "addr", "show", "dev", outside];
        CommandResult result = _host.RunIp(arguments);
        if (result.ExitCode != 0)
        {
            throw new PlumbingException("ip " + string.Join(' ', arguments), result.Error);
        }
        // "2: eth0    inet 203.0.113.1/24 brd 203.0.113.255 scope global eth0\       valid_lft ..."
        foreach (string line in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            int inet = Array.IndexOf(words, "inet");
            if (inet >= 0 && inet + 1 < words.Length)
            {
                addresses.Add(InterfaceAddress.Parse(words[inet + 1]));
            }
        }
        return addresses;
    }

    private sealed record AppliedStep(PlumbingStep Step, string? OldValue);
}
