using NatGate.Control;
using NatGate.Linux.FastPath;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using NatGate.Configuration;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Devices;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;
using NatGate.Linux.Routing;
using NatGate.Linux.Tun;

namespace NatGate.Daemon;

/// <summary>
/// `natgate run`: the engine on a TUN device. Opens the device and serves each of its queues
/// with a <see cref="PacketWorker"/> on a thread of its own; runs the timers; installs the
/// routing that hands the kernel's packets to the TUN and removes it at stop; restores and saves
/// sessions.
/// </summary>
public sealed class GatewayDaemon : IAsyncDisposable
{
    private readonly GatewayRunOptions options;
    private readonly ILogger logger;
    private readonly TimeProvider clock;
    private IPacketDevice? device;
    private GatewayPlumbing? plumbing;
    private GatewayFastPath? fastPath;
    private string fastPathOffReason = "--fast-path off";
    private readonly List<Thread> threads = [];
    private volatile bool stopping;
    private readonly List<IAsyncDisposable> services = [];
    private NatGate.SessionLog.SessionLogPump? sessionLog;

    private GatewayDaemon(GatewayRunOptions options, GatewayController controller, ILogger logger, TimeProvider clock)
    {
        this.options = options;
        Controller = controller;
        this.logger = logger;
        this.clock = clock;
    }

    public GatewayController Controller { get; }

    /// <summary>The session log and event stream (--session-log, --session-syslog, --session-ipfix, `natgate sessions --watch`); null before the start.</summary>
    internal NatGate.SessionLog.SessionLogPump? SessionLog => sessionLog;

    /// <summary>
    /// Builds the model from the options and the files they name (all checked before anything
    /// is applied), then starts: state, TUN, plumbing, workers, timers.
    /// </summary>
    public static GatewayDaemon Start(GatewayRunOptions options, ILoggerFactory logs, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logs);
        clock ??= TimeProvider.System;
        ILogger logger = logs.CreateLogger("natgate");
        (NetNatModel model, IReadOnlyList<NatRule> ipnatRules) = LoadModel(options);
        CheckFiles(options);

        var engine = new NatEngine(new NatEngineOptions
        {
            Limits = new FlowTableLimits { MaximumSessions = options.MaximumSessions, MaximumSessionsPerHost = options.MaximumSessionsPerHost },
            Hairpinning = model.InterRoutingDomainHairpinningMode,
        }, clock.GetUtcNow().UtcTicks);
        GatewayController controller = NewController(engine, options, clock);
        var daemon = new GatewayDaemon(options, controller, logger, clock);
        try
        {
            // First of all: a second daemon on the same routing refuses here, having touched nothing.
            daemon.ClaimRouting();
            daemon.Configure(model, ipnatRules);
            daemon.OpenDataPath();
            daemon.OpenFastPath();
            daemon.StartThreads();
            // Created on this thread, so in its network namespace (the demo's gateway, say); the
            // handler runs on the watcher's own thread, which inherits it.
            daemon.routingChanges = RoutingChanges.Start(daemon.FollowHost);
            daemon.started = true;
        }
        catch
        {
            daemon.StopAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        return daemon;
    }

    /// <summary>
    /// The control directory and the state file must be root's and writable by no one else
    /// (issue 10, "Trust nothing on disk"): a local user who could write either could plant a
    /// socket or a port forward. The control directory is created (0755) when missing.
    /// </summary>
    private static void CheckFiles(GatewayRunOptions options)
    {
        if (!Directory.Exists(options.ControlDirectory) && OperatingSystem.IsLinux())
        {
            Directory.CreateDirectory(options.ControlDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
        if (Linux.Files.FileTrust.Problem(options.ControlDirectory, directory: true) is string directory)
        {
            throw new ConfigurationException($"--control: refused: {directory}.");
        }
        if (options.StateFile is string state && Linux.Files.FileTrust.Look(state).Exists
            && Linux.Files.FileTrust.Problem(state) is string file)
        {
            throw new ConfigurationException($"--state: refused, and left as it is: {file}.");
        }
    }

    /// <summary>
    /// The daemon's controller, which gives every ipnat rule the command line's policy
    /// (<see cref="CommandLinePolicy"/>), whether it comes at start or later through the control
    /// API (ipnat -f): reloading the --rules file must not quietly change behaviours and timeouts.
    /// </summary>
    internal static GatewayController NewController(NatEngine engine, GatewayRunOptions options, TimeProvider clock)
        => new(engine, clock) { IpnatPolicy = CommandLinePolicy(options) };

    /// <summary>
    /// The behaviour and timeout flags (or the [Daemon] table's) as a rule's policy: the command
    /// line's NAT (--inside/--external) and every ipnat rule, either family, since ipnat.conf has
    /// no words for them. The NetNat objects of --config carry their own.
    /// </summary>
    internal static NatPolicy CommandLinePolicy(GatewayRunOptions options) => new()
    {
        Mapping = options.Mapping,
        TcpFiltering = options.Filtering,
        UdpFiltering = options.Filtering,
        UdpIdleTimeout = options.UdpIdleTimeout,
        TcpEstablishedTimeout = options.TcpEstablishedTimeout,
        TcpTransitoryTimeout = options.TcpTransitoryTimeout,
        IcmpQueryTimeout = options.IcmpQueryTimeout,
    };

    /// <summary>The NetNat model from --inside/--external and --config, and the ipnat rules from --rules and the config.</summary>
    internal static (NetNatModel Model, IReadOnlyList<NatRule> Rules) LoadModel(GatewayRunOptions options)
    {
        NatPolicy policy = CommandLinePolicy(options);
        NetNatModel model = new();
        var rules = new List<NatRule>();
        if (options.ConfigFile is not null)
        {
            GatewayConfiguration configuration = options.Configuration ?? GatewayConfigurationFile.Load(options.ConfigFile);
            model = configuration.NetNat;
            rules.AddRange(configuration.Rules.Rules);
        }
        if (options.Inside.Count > 0 || options.External.Count > 0)
        {
            if (options.Inside.Count == 0 || options.External.Count == 0)
            {
                throw new ConfigurationException("--inside and --external go together: name the inside prefix(es) and at least one external address.");
            }
            // The command line is one NAT: every inside prefix maps to the external addresses.
            Ipv4Address[] local = LocalAddresses();
            ExternalEndpointRange[] externals = [.. options.External.Select(ResolveExternal)];
            CheckFamilies(options.Inside, externals);
            foreach (IpPrefix inside in options.Inside)
            {
                // Each inside prefix maps to the external addresses of its family (IPv6: NAT66).
                foreach (ExternalEndpointRange external in externals.Where(external => external.Address.IsIpv6 == inside.IsIpv6))
                {
                    // Without a range, an address the host uses itself gets the shared range, above the
                    // kernel's ephemeral ports, so the host keeps its own connections.
                    bool hostsOwn = !external.Address.IsIpv6 && local.Contains(external.Address.AsIpv4);
                    Core.Ports.PortRange ports = external.PortsGiven ? new Core.Ports.PortRange(external.PortStart, external.PortEnd)
                        : hostsOwn || external.Interface is not null ? SharedPorts : new Core.Ports.PortRange(1024, 65535);
                    rules.Add(NetNatRules.Map(inside, external.Address, ports, policy,
                        new RuleOrigin.CommandLine(inside, external.Interface ?? external.Address.ToString()),
                        externalInterface: external.Interface));
                }
            }
        }
        if (options.RulesFile is not null)
        {
            IpnatRules parsed = IpnatParser.ParseFile(options.RulesFile);
            rules.AddRange(parsed.Rules.Select(rule => GatewayController.UnderPolicy(rule, policy)));
        }
        if (model.Instances.Count == 0 && rules.Count == 0)
        {
            throw new ConfigurationException("Nothing to translate: give --inside and --external, --rules FILE or --config FILE.");
        }
        return (model, rules);
    }

    /// <summary>
    /// The command line is one NAT per family: an inside prefix with no external address of its
    /// family, or an external address with no inside prefix of its family, would be a half-made
    /// NAT, refused with both named.
    /// </summary>
    private static void CheckFamilies(IReadOnlyList<IpPrefix> inside, IReadOnlyList<ExternalEndpointRange> externals)
    {
        foreach (IpPrefix prefix in inside.Where(prefix => !externals.Any(external => external.Address.IsIpv6 == prefix.IsIpv6)))
        {
            throw new ConfigurationException($"--inside {prefix} is {(prefix.IsIpv6 ? "IPv6" : "IPv4")}, but no --external address is: each inside prefix maps to external addresses of its own family ({(prefix.IsIpv6 ? "add --external 2001:db8::10, say" : "add --external 198.51.100.10, say")}).");
        }
        foreach (ExternalEndpointRange external in externals.Where(external => !inside.Any(prefix => prefix.IsIpv6 == external.Address.IsIpv6)))
        {
            throw new ConfigurationException($"{external.Where}{external.Address} is {(external.Address.IsIpv6 ? "IPv6" : "IPv4")}, but no --inside prefix is: it would translate nothing.");
        }
    }

    /// <summary>
    /// The NAT's ports on an address shared with the host when no range is given: above the
    /// kernel's default ephemeral range (32768-60999), so reserving them takes nothing the host's
    /// own connections would pick.
    /// </summary>
    internal static readonly Core.Ports.PortRange SharedPorts = new(61000, 65535);

    /// <summary>An --external naming an interface stands for that interface's first IPv4 address now.</summary>
    private static ExternalEndpointRange ResolveExternal(ExternalEndpointRange external)
    {
        if (external.Interface is not string name)
        {
            return external;
        }
        Ipv4Address? address = InterfaceAddressOf(name);
        if (address is null)
        {
            throw new ConfigurationException(NetworkInterface.GetAllNetworkInterfaces().Any(candidate => candidate.Name == name)
                ? $"{external.Where}{name}: {name} has no IPv4 address."
                : $"{external.Where}{name}: there is no interface {name}.");
        }
        return external with { Address = address.Value };
    }

    /// <summary>The first IPv4 address of the interface, as the kernel lists them (its primary); null when it has none or does not exist.</summary>
    private static Ipv4Address? InterfaceAddressOf(string name)
    {
        NetworkInterface? found = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(candidate => candidate.Name == name);
        System.Net.IPAddress? address = found?.GetIPProperties().UnicastAddresses
            .Select(unicast => unicast.Address).FirstOrDefault(candidate => candidate.AddressFamily == AddressFamily.InterNetwork);
        if (address is null)
        {
            return null;
        }
        byte[] bytes = address.GetAddressBytes();
        return Ipv4Address.Read(bytes);
    }

    /// <summary>
    /// What a rule leaves to the host, filled in (<see cref="GatewayController.ResolveRule"/>):
    /// "-> 0/32" and --external IFACE become the interface's address now (the one last seen while
    /// it has none, so that the rule keeps its place until a new one comes); a map to an address
    /// the host uses itself, with no port range, gets the shared range, since every port would be
    /// every port of the host.
    /// </summary>
    private NatRule Resolve(NatRule rule)
    {
        if (rule.Kind is not (NatRuleKind.Map or NatRuleKind.MapBlock))
        {
            return rule;
        }
        if (rule.TranslatedInterface is string name)
        {
            Ipv4Address address = InterfaceAddressOf(name) ?? rule.TranslatedFirst.AsIpv4;
            if (address == Ipv4Address.Any)
            {
                throw new NatControlException(NatErrno.EINVAL, $"'-> 0/32' stands for {name}'s address, and {name} has none now.");
            }
            rule = rule with { TranslatedFirst = address, TranslatedLast = address };
        }
        bool shared = rule.TranslatedFirst == rule.TranslatedLast && !rule.TranslatedFirst.IsIpv6 && localAddresses.Contains(rule.TranslatedFirst.AsIpv4);
        if (shared && rule.Kind == NatRuleKind.Map && (rule.TranslatedPorts is null || rule.PortmapAuto))
        {
            rule = rule with { TranslatedPorts = SharedPorts, PortmapAuto = false, TranslatedIcmpIdentifiers = rule.TranslatedIcmpIdentifiers ?? SharedPorts };
        }
        return rule;
    }

    private void ClaimRouting()
    {
        if (options.NoPlumbing)
        {
            return;
        }
        plumbing = new GatewayPlumbing(PlumbingOptions([]));
        plumbing.Claim();
        // Every rule change is followed into the kernel before the change is reported done.
        Controller.RulesChanged = FollowRules;
    }

    /// <summary>Reconciles the routing with the rules as they now are (a load, a removal, a NAT instance added).</summary>
    private void FollowRules()
    {
        lock (plumbingGate)
        {
            if (plumbing is null || stopping)
            {
                return;
            }
            plumbing.Update(PlumbingOptions(Controller.Rules()));
            fastPath?.Follow(GatewayFastPath.InterfacesOf(plumbing.Plan(), options));
            foreach (string note in plumbing.Notes.Skip(notesLogged))
            {
                GatewayLog.PlumbingNote(logger, note);
            }
            notesLogged = plumbing.Notes.Count;
        }
    }

    private RoutingChanges? routingChanges;
    private readonly HashSet<Ipv4Address> goneAddresses = [];

    /// <summary>
    /// The host's links, addresses or routes changed (issue 11, "following a changing address"):
    /// the engine learns the host's addresses again; a rule on an interface's address ("-> 0/32",
    /// --external IFACE) whose address went ends the sessions on the old address (counted as
    /// AddressGone) and moves to the new one; and the routing is reconciled (new inside routes,
    /// a shared address, proxy neighbours), all before the next change is looked at.
    /// </summary>
    private void FollowHost()
    {
        if (stopping)
        {
            return;
        }
        GatewayLog.FollowingHost(logger);
        try
        {
            Ipv4Address[] local = LocalAddresses();
            Ipv6Address[] local6 = LocalIpv6Addresses();
            Controller.Run(engine =>
            {
                engine.SetLocalAddresses(local);
                engine.SetLocalAddresses(local6);
                return 0;
            });
            localIpv6Addresses = local6;
            localAddresses = local;
            foreach (RuleInfo rule in Controller.Rules().Where(rule => rule.Active && rule.Rule.TranslatedInterface is not null))
            {
                string name = rule.Rule.TranslatedInterface!;
                Ipv4Address old = rule.Rule.TranslatedFirst.AsIpv4;
                Ipv4Address? now = InterfaceAddressOf(name);
                if (now == old || local.Contains(old) || !goneAddresses.Add(old))
                {
                    continue;
                }
                int ended = Controller.FlushSessionsOn(old);
                GatewayLog.AddressGone(logger, name, old.ToString(), now is { } next ? next.ToString() : "none yet", ended);
            }
            if (!Controller.ResolveAgain())
            {
                FollowRules();
            }
            goneAddresses.RemoveWhere(local.Contains);
        }
        catch (Exception error) when (error is NatControlException or PlumbingException or InvalidOperationException)
        {
            GatewayLog.FollowFailed(logger, error.Message);
        }
    }

    private readonly Lock plumbingGate = new();
    private int notesLogged;
    private bool started;

    private readonly TaskCompletionSource handOver = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool handingOver;

    /// <summary>Completes when a hand-over was asked for (<see cref="RequestHandOver"/>): the caller stops the daemon then.</summary>
    public Task HandOverRequested => handOver.Task;

    /// <summary>
    /// A restart that never interrupts traffic (natgate handover, before an upgrade): the stop
    /// that follows saves the state as always but leaves the kernel as it is: the fast path
    /// attached and carrying the established flows, its maps, and the routing (which fails
    /// closed while no TUN reads). The next start takes them over. False without a fast path,
    /// where nothing could carry the flows meanwhile.
    /// </summary>
    public bool RequestHandOver()
    {
        if (fastPath is null || stopping)
        {
            return false;
        }
        handingOver = true;
        handOver.TrySetResult();
        return true;
    }

    /// <summary>The routing the rules need: their inside prefixes and the external addresses on this gateway.</summary>
    private GatewayPlumbingOptions PlumbingOptions(IReadOnlyList<RuleInfo> rules) => PlumbingOptionsOf(options, rules, localAddresses, localIpv6Addresses);

    /// <summary>
    /// <see cref="PlumbingOptions(IReadOnlyList{RuleInfo})"/> from the run's options, the rules and
    /// the host's own addresses. An IPv6 prefix of length 0 (::/0) is taken as IPv4's 0/0 (which
    /// a rule reads as "any"): an inside ::/0 is steered by source as an inside 0/0 is, while as
    /// a destination, an external range or a NAT64 inside it steers nothing. A "to ::/0" rule
    /// would send the host's own IPv6 into the TUN.
    /// </summary>
    internal static GatewayPlumbingOptions PlumbingOptionsOf(GatewayRunOptions options, IReadOnlyList<RuleInfo> rules, Ipv4Address[] localAddresses, Ipv6Address[] localIpv6Addresses) => new()
    {
        TunName = options.TunName,
        KernelFastPath = options.FastPath != FastPathMode.Off,
        InternalPrefixes = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway && !rule.Rule.IsIpv6 && rule.Rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional)
            .Select(rule => rule.Rule.Source.AsIpv4)
            .Distinct()],
        ExternalAddresses = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway)
            .SelectMany(rule => ExternalAddressesOf(rule.Rule))
            .Distinct()],
        // IPv6 rules: the inside prefixes of maps and bimaps (NAT66, NPTv6), and the external
        // prefixes and addresses the outside sends here (a bimap's prefix, a map's addresses, a redirect's).
        Ipv6InternalPrefixes = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway && rule.Rule.IsIpv6 && !rule.Rule.IsNat64 && rule.Rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional)
            .Select(rule => rule.Rule.Source)
            .Distinct()],
        Ipv6ExternalPrefixes = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway && rule.Rule.IsIpv6 && !rule.Rule.IsNat64)
            .SelectMany(rule => Ipv6ExternalsOf(rule.Rule))
            .Distinct()],
        // NAT64 maps: traffic to their prefix comes in (their IPv4 addresses are among ExternalAddresses).
        Nat64Prefixes = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway && rule.Rule.IsNat64)
            .Select(rule => Nat64Prefix.Of(rule.Rule).Prefix)
            .Distinct()],
        Nat64InsidePrefixes = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway && rule.Rule.IsNat64 && !CoversAll(rule.Rule.Source) && !rule.Rule.SourceNegated)
            .Select(rule => rule.Rule.Source)
            .Distinct()],
        ExternalPorts = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway)
            .SelectMany(rule => ExternalPortsOf(rule.Rule))
            .Distinct()],
        LocalRedirects = [.. rules
            .Where(rule => rule.Active && rule.OnThisGateway && rule.Rule.Kind == NatRuleKind.Redirect)
            .SelectMany(rule => LocalRedirectsOf(rule.Rule, localAddresses, localIpv6Addresses))],
        Table = options.RoutingTable,
        RecordDirectory = options.ControlDirectory,
        OutsideInterface = options.OutsideInterface,
        InsideInterfaces = options.InsideInterfaces,
        Mtu = options.Mtu,
    };

    /// <summary>The services on this host a redirect leads to: the target address, protocol and ports.</summary>
    private static IEnumerable<LocalRedirect> LocalRedirectsOf(NatRule rule, Ipv4Address[] local, Ipv6Address[] local6)
    {
        PortMatch matched = rule.DestinationPorts;
        Core.Ports.PortRange? ports = rule.RedirectPort == 0 || matched.Excluding
            ? null
            : new Core.Ports.PortRange(rule.RedirectPort, (ushort)Math.Min(65535, rule.RedirectPort + (matched.Last - matched.First)));
        string?[] protocols = rule.Protocols switch
        {
            RuleProtocols.Tcp => ["tcp"],
            RuleProtocols.Udp => ["udp"],
            RuleProtocols.TcpUdp => ["tcp", "udp"],
            _ => [null],
        };
        foreach (IpAddress target in rule.RedirectTargets.Where(target => target.IsIpv6 ? local6.Contains(target.AsIpv6) : local.Contains(target.AsIpv4)).Distinct())
        {
            foreach (string? protocol in protocols)
            {
                yield return new LocalRedirect(target, protocol, protocol is null ? null : ports);
            }
        }
    }

    private Ipv4Address[] localAddresses = [];
    private Ipv6Address[] localIpv6Addresses = [];

    private void Configure(NetNatModel model, IReadOnlyList<NatRule> ipnatRules)
    {
        NatEngine engine = Controller.Engine;
        Ipv4Address[] local = LocalAddresses();
        localAddresses = local;
        engine.SetLocalAddresses(local);
        // NAT66's too: an IPv6 redirect to a proxy on the gateway keeps the real client, so the proxy's lookup finds it.
        localIpv6Addresses = LocalIpv6Addresses();
        engine.SetLocalAddresses(localIpv6Addresses);
        Controller.ResolveRule = Resolve;
        engine.SetInterfaces(options.OutsideInterface is null ? [options.TunName] : [options.TunName, options.OutsideInterface]);
        Controller.ApplyNetNat(model, prefix => prefix.IsIpv6 ? Control.ControlServer.LocalAddresses(prefix) : local.Where(prefix.Contains).Select(address => (IpAddress)address));
        if (ipnatRules.Count > 0)
        {
            Controller.LoadRules(ipnatRules);
        }
        if (options.LogSessions || logger.IsEnabled(LogLevel.Debug))
        {
            LogLevel level = options.LogSessions ? LogLevel.Information : LogLevel.Debug;
            engine.SessionChanged += change =>
            {
                SessionInfo session = change.Session;
                GatewayLog.Session(logger, level, change.Kind, session.Protocol, session.InternalSourceAddress, session.InternalSourcePort,
                    session.ExternalSourceAddress, session.ExternalSourcePort, session.ExternalDestinationAddress, session.ExternalDestinationPort, change.Reason);
            };
        }
        // Before the restore: restored sessions are logged as created again, and map-block blocks counted from them.
        sessionLog = NatGate.SessionLog.SessionLogPump.Open(engine, options.SessionLog, logger);
        if (options.StateFile is not null && File.Exists(options.StateFile))
        {
            RestoreReport report = Controller.RestoreState(options.StateFile);
            GatewayLog.Restored(logger, report.Restored, options.StateFile, report.Failures.Count);
            foreach (RestoreFailure failure in report.Failures.Take(10))
            {
                GatewayLog.RestoreRefused(logger, failure.Entry, failure.Errno, failure.Message);
            }
        }
        int ruleCount = Controller.Rules().Count;
        GatewayLog.RulesLoaded(logger, ruleCount);
    }

    /// <summary>The host's IPv6 addresses but link-local ones (which no rule translates to or from).</summary>
    private static Ipv6Address[] LocalIpv6Addresses()
        => [.. NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(networkInterface => networkInterface.GetIPProperties().UnicastAddresses)
            .Where(unicast => unicast.Address.AddressFamily == AddressFamily.InterNetworkV6 && !unicast.Address.IsIPv6LinkLocal)
            .Select(unicast => Ipv6Address.Read(unicast.Address.GetAddressBytes()))
            .Distinct()];

    private static Ipv4Address[] LocalAddresses()
    {
        var addresses = new List<Ipv4Address>();
        foreach (NetworkInterface networkInterface in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (UnicastIPAddressInformation unicast in networkInterface.GetIPProperties().UnicastAddresses)
            {
                if (unicast.Address.AddressFamily == AddressFamily.InterNetwork)
                {
                    byte[] bytes = unicast.Address.GetAddressBytes();
                    addresses.Add(Ipv4Address.Read(bytes));
                }
            }
        }
        return [.. addresses];
    }

    private void OpenDataPath()
    {
        // With offloads the kernel hands over 64 KiB super-packets and leaves checksums partial:
        // one translation stands for a whole burst of segments (DESIGN.md "TUN facts").
        device = TunDevice.Open(new TunOptions
        {
            Name = options.TunName,
            Mtu = options.Mtu,
            Queues = options.Queues,
            VirtioHeader = options.Offload,
            Offloads = options.Offload ? TunOffloads.All : TunOffloads.None,
        });
        lock (plumbingGate)
        {
            GatewayPlumbing planner = plumbing ?? new GatewayPlumbing(PlumbingOptions([]));
            planner.Update(PlumbingOptions(Controller.Rules()));
            string plan = string.Join(Environment.NewLine, planner.Plan().Commands.Select(command => "  " + command));
            if (options.NoPlumbing)
            {
                GatewayLog.NoPlumbing(logger, plan);
            }
            else
            {
                planner.Apply();
                GatewayLog.PlumbingInstalled(logger, plan);
            }
            foreach (string note in planner.Notes.Distinct())
            {
                GatewayLog.PlumbingNote(logger, note);
            }
            notesLogged = planner.Notes.Count;
        }
    }

    /// <summary>
    /// The kernel fast path (DESIGN.md, "Two paths"), after the routing is in place and the state
    /// restored: the engine hands it the table's decided sessions and every later one. Where it
    /// cannot load (no CAP_BPF, an old kernel, the program not built) --fast-path auto runs on the
    /// TUN alone and says so once; --fast-path on refuses to start.
    /// </summary>
    private void OpenFastPath()
    {
        if (options.FastPath == FastPathMode.Off || (options.NoPlumbing && options.FastPath == FastPathMode.Auto))
        {
            fastPathOffReason = options.NoPlumbing ? "--no-plumbing (the fast path is plumbing too; --fast-path on overrides)" : "--fast-path off";
            GatewayLog.FastPathUnavailable(logger, fastPathOffReason);
            return;
        }
        try
        {
            GatewayFastPath kernel;
            lock (plumbingGate)
            {
                GatewayPlumbing planner = plumbing ?? new GatewayPlumbing(PlumbingOptions(Controller.Rules()));
                IReadOnlyList<string> interfaces = GatewayFastPath.InterfacesOf(planner.Plan(), options);
                kernel = fastPath = GatewayFastPath.Open(options, interfaces, logger);
                // Attached first (replacing an earlier run's program in one step, BPF_TC_F_REPLACE,
                // on the same maps when they were adopted), so that a refusal here leaves the
                // engine untouched; then the sessions the maps carry come into the table.
                kernel.Follow(interfaces);
                (int adopted, int refused, int stale) = Controller.Run(engine => kernel.TakeOver(engine, clock.GetUtcNow().UtcTicks));
                if (kernel.Program.AdoptedMaps)
                {
                    GatewayLog.FastPathTookOver(logger, adopted, refused, stale);
                }
            }
            string attachedTo = string.Join(", ", kernel.Interfaces);
            GatewayLog.FastPathOn(logger, attachedTo, kernel.PinDirectory);
        }
        catch (FastPathException error) when (options.FastPath == FastPathMode.Auto)
        {
            fastPath?.Dispose();
            fastPath = null;
            fastPathOffReason = error.Message;
            GatewayLog.FastPathUnavailable(logger, error.Message);
        }
    }

    /// <summary>The kernel fast path for the control API (GET /v1/fastpath); with <paramref name="check"/>, its map compared with the table.</summary>
    public FastPathView FastPathView(bool check)
    {
        GatewayFastPath? kernel = fastPath;
        if (kernel is null)
        {
            return new FastPathView { Reason = fastPathOffReason };
        }
        FastPathFigures figures = FastPathFigures();
        return new FastPathView
        {
            Enabled = true,
            Interfaces = [.. kernel.Interfaces],
            PinDirectory = kernel.PinDirectory,
            Sessions = figures.Sessions,
            Refused = figures.Refused,
            Rewritten = figures.Rewritten,
            RewrittenBytes = figures.RewrittenBytes,
            Missed = figures.Missed,
            TcpControl = figures.TcpControl,
            Fragments = figures.Fragments,
            NotHandled = figures.NotHandled,
            RewriteFailed = figures.RewriteFailed,
            Forwarded = figures.Forwarded,
            PrefixRewritten = figures.PrefixRewritten,
            PrefixRewrittenBytes = figures.PrefixRewrittenBytes,
            PrefixToEngine = figures.PrefixToEngine,
            Check = check ? Controller.Run(kernel.Check) : null,
        };
    }

    /// <summary>The kernel fast path's figures for metrics.</summary>
    public FastPathFigures FastPathFigures()
    {
        GatewayFastPath? kernel = fastPath;
        if (kernel is null)
        {
            return default;
        }
        FastPathStatistics statistics = kernel.Program.ReadStatistics();
        (int sessions, long refused) = Controller.Run(engine => (engine.OffloadedSessionCount, engine.OffloadRefusedCount));
        return new FastPathFigures(true, statistics.Rewritten, statistics.RewrittenBytes, statistics.Missed, statistics.TcpControl, statistics.Fragments,
            statistics.NotHandled, statistics.RewriteFailed, sessions, refused)
        {
            PrefixRewritten = statistics.PrefixRewritten,
            PrefixRewrittenBytes = statistics.PrefixRewrittenBytes,
            PrefixToEngine = statistics.PrefixToEngine,
            Forwarded = statistics.Forwarded,
        };
    }

    /// <summary>The NAT's ports on each external address of a rule: what is steered when the address is shared with the host.</summary>
    private static IEnumerable<SteeredPorts> ExternalPortsOf(NatRule rule)
    {
        if (rule.IsIpv6 && !rule.IsNat64)
        {
            yield break; // the IPv4 routing plan's
        }
        bool tcp = (rule.Protocols & RuleProtocols.Tcp) != 0;
        bool udp = (rule.Protocols & RuleProtocols.Udp) != 0;
        bool icmp = (rule.Protocols & RuleProtocols.Icmp) != 0;
        switch (rule.Kind)
        {
            case NatRuleKind.Map or NatRuleKind.MapBlock when rule.TranslatedCount <= 256 && rule.TranslatedPorts is { } ports:
                for (Ipv4Address address = rule.TranslatedFirst.AsIpv4; address <= rule.TranslatedLast.AsIpv4 && address >= rule.TranslatedFirst.AsIpv4; address += 1u)
                {
                    if (tcp)
                    {
                        yield return new SteeredPorts(address, "tcp", ports);
                    }
                    if (udp)
                    {
                        yield return new SteeredPorts(address, "udp", ports);
                    }
                    if (icmp)
                    {
                        yield return new SteeredPorts(address, "icmp", rule.TranslatedIcmpIdentifiers ?? ports);
                    }
                }
                break;
            case NatRuleKind.Redirect when rule.Destination.Length == 32 && !rule.DestinationPorts.Excluding:
                var matched = new Core.Ports.PortRange(Math.Max((ushort)1, rule.DestinationPorts.First), rule.DestinationPorts.Last);
                if (tcp)
                {
                    yield return new SteeredPorts(rule.Destination.First.AsIpv4, "tcp", matched);
                }
                if (udp)
                {
                    yield return new SteeredPorts(rule.Destination.First.AsIpv4, "udp", matched);
                }
                break;
            default:
                break;
        }
    }

    /// <summary>An IPv6 rule's external side, as prefixes: a bimap's or a map's range (one prefix when it is one, else each address), a redirect's destination.</summary>
    private static IEnumerable<IpPrefix> Ipv6ExternalsOf(NatRule rule)
    {
        if (rule.Kind == NatRuleKind.Redirect)
        {
            if (!CoversAll(rule.Destination) && !rule.DestinationNegated)
            {
                yield return rule.Destination;
            }
            yield break;
        }
        UInt128 count = IpAddress.CountFrom(rule.TranslatedFirst, rule.TranslatedLast);
        if (count == UInt128.MaxValue)
        {
            yield break; // every IPv6 address (the count saturates): as IPv4's largest ranges, nothing is steered by it
        }
        if (UInt128.IsPow2(count) && rule.TranslatedFirst.Value % count == 0)
        {
            yield return IpPrefix.Covering(rule.TranslatedFirst, rule.TranslatedLast);
            yield break;
        }
        for (IpAddress address = rule.TranslatedFirst; address <= rule.TranslatedLast && IpAddress.CountFrom(rule.TranslatedFirst, address) <= 256; address += 1)
        {
            yield return IpPrefix.Host(address);
        }
    }

    /// <summary>"any", or a prefix of length 0 of either family (::/0 stays an IPv6 prefix where 0/0 becomes "any").</summary>
    private static bool CoversAll(IpPrefix prefix) => prefix.IsAny || prefix.Length == 0;

    private static IEnumerable<Ipv4Address> ExternalAddressesOf(NatRule rule)
    {
        if (rule.IsIpv6 && !rule.IsNat64)
        {
            yield break; // the IPv4 routing plan's
        }
        switch (rule.Kind)
        {
            case NatRuleKind.Map or NatRuleKind.MapBlock or NatRuleKind.Bidirectional when rule.TranslatedCount <= 256:
                for (Ipv4Address address = rule.TranslatedFirst.AsIpv4; address <= rule.TranslatedLast.AsIpv4 && address >= rule.TranslatedFirst.AsIpv4; address += 1u)
                {
                    yield return address;
                }
                break;
            case NatRuleKind.Redirect when rule.Destination.Length == 32:
                yield return rule.Destination.First.AsIpv4;
                break;
            default:
                break;
        }
    }

    /// <summary>Packets with an inside source that arrived from elsewhere, dropped by the guard; null without plumbing or nftables.</summary>
    public long? SpoofedPackets()
    {
        lock (plumbingGate)
        {
            return plumbing?.SpoofedPackets();
        }
    }

    /// <summary>Each TUN queue's counters, in queue order; empty before the device is open.</summary>
    public IReadOnlyList<PacketQueueStatistics> QueueStatistics()
    {
        IPacketDevice? open = device;
        if (open is null)
        {
            return [];
        }
        var statistics = new PacketQueueStatistics[open.QueueCount];
        for (int queue = 0; queue < statistics.Length; queue++)
        {
            statistics[queue] = open.Queue(queue).Statistics;
        }
        return statistics;
    }

    /// <summary>One per device queue, each on a thread of its own; empty until the threads start.</summary>
    private PacketWorker[] workers = [];

    /// <summary>When the timer thread last went round its loop (Stopwatch ticks).</summary>
    private long timerBeat;

    /// <summary>
    /// True when every packet worker and the timer thread went round its loop within
    /// <paramref name="within"/> (each wakes at least once a second even when idle): what the
    /// systemd watchdog keeps alive.
    /// </summary>
    public bool IsAlive(TimeSpan within)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        long limit = (long)(within.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        PacketWorker[] running = workers;
        if (stopping || running.Length == 0 || now - Volatile.Read(ref timerBeat) > limit)
        {
            return false;
        }
        foreach (PacketWorker worker in running)
        {
            if (now - worker.LastBeat > limit)
            {
                return false;
            }
        }
        return true;
    }

    private void StartThreads()
    {
        Volatile.Write(ref timerBeat, System.Diagnostics.Stopwatch.GetTimestamp());
        var started = new PacketWorker[device!.QueueCount];
        for (int queue = 0; queue < started.Length; queue++)
        {
            var worker = new PacketWorker(device.Queue(queue), Controller)
            {
                OwnsEngine = started.Length == 1,
                BusyPoll = options.BusyPoll,
                Clock = clock,
                Fault = WorkerFault,
            };
            started[queue] = worker;
            var thread = new Thread(worker.Run) { IsBackground = true, Name = $"natgate-queue{queue}" };
            threads.Add(thread);
            thread.Start();
        }
        workers = started;
        var timers = new Thread(RunTimers) { IsBackground = true, Name = "natgate-timers" };
        threads.Add(timers);
        timers.Start();
    }

    private long workerFaults;

    /// <summary>A packet that made the engine throw (a bug): logged the first times, counted always.</summary>
    private void WorkerFault(Exception error)
    {
        long faults = Interlocked.Increment(ref workerFaults);
        if (faults <= 10)
        {
            GatewayLog.PacketFault(logger, faults, error);
        }
    }

    private readonly ManualResetEventSlim stopSignal = new();

    private void RunTimers()
    {
        while (!stopping)
        {
            Volatile.Write(ref timerBeat, System.Diagnostics.Stopwatch.GetTimestamp());
            // Wakes at once on stop, so a restart's gap is not a timer tick longer than it need be.
            if (stopSignal.Wait(1000))
            {
                break;
            }
            try
            {
                Controller.Run(engine => engine.ExpireSessions(clock.GetUtcNow().UtcTicks));
            }
            catch (Exception error) when (error is NatControlException or InvalidOperationException)
            {
                GatewayLog.TimerFailed(logger, error);
            }
            Checkpoint();
        }
    }

    private long lastCheckpoint = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>
    /// With --state, saves the sessions every --checkpoint interval, so that a restart after a
    /// crash (kill -9, which saves nothing) finds the long-lived sessions and their external ports
    /// again: inbound segments of a download match once more, which no outbound packet could
    /// re-create on its own. The file is replaced atomically.
    /// </summary>
    private void Checkpoint()
    {
        if (options.StateFile is null || options.Checkpoint <= TimeSpan.Zero
            || System.Diagnostics.Stopwatch.GetElapsedTime(lastCheckpoint) < options.Checkpoint)
        {
            return;
        }
        lastCheckpoint = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            int saved = Controller.SaveState(options.StateFile);
            GatewayLog.Checkpointed(logger, saved, options.StateFile);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or Core.State.StateFileException or NatControlException)
        {
            GatewayLog.SaveFailed(logger, options.StateFile, error.Message);
        }
    }

    public void AddService(IAsyncDisposable service) => services.Add(service);

    /// <summary>
    /// Stops the workers, saves sessions (with --state), removes the routing, closes the device,
    /// then the side services. The synchronous part runs on the calling thread before any await:
    /// the routing lives in the calling thread's network namespace.
    /// </summary>
    public ValueTask StopAsync()
    {
        if (stopping)
        {
            return ValueTask.CompletedTask;
        }
        stopping = true;
        stopSignal.Set();
        routingChanges?.Dispose();
        foreach (PacketWorker worker in workers)
        {
            worker.Stop();
        }
        foreach (Thread thread in threads)
        {
            thread.Join(TimeSpan.FromSeconds(5));
        }
        // Only a daemon that started saves: one that failed to start (a state file it could not
        // read, a busy TUN) must not write an empty table over the file it was given.
        if (options.StateFile is not null && started)
        {
            try
            {
                int saved = Controller.SaveState(options.StateFile);
                GatewayLog.Saved(logger, saved, options.StateFile);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException or Core.State.StateFileException)
            {
                GatewayLog.SaveFailed(logger, options.StateFile, error.Message);
            }
        }
        // Every live session's end in the log, with the fast path's counters still there to read.
        sessionLog?.Stop(Controller, clock.GetUtcNow().UtcTicks);
        lock (plumbingGate)
        {
            if (handingOver && fastPath is not null)
            {
                // A hand-over: the program keeps rewriting, the routing stays (failing closed
                // until the next start reads the TUN again); only this process's hold goes.
                fastPath.Leave();
                fastPath = null;
                plumbing = null;
                GatewayLog.HandedOver(logger);
            }
            // The kernel's rewriting goes before the routing: no packet is rewritten by a program
            // whose engine has gone, nor routed by rules that are being taken away.
            fastPath?.Dispose();
            fastPath = null;
            try
            {
                plumbing?.Remove();
            }
            catch (PlumbingException error)
            {
                GatewayLog.PlumbingRemovalFailed(logger, error.Message);
            }
        }
        device?.Dispose();
        stopSignal.Dispose();
        return DisposeServicesAsync();
    }

    private async ValueTask DisposeServicesAsync()
    {
        foreach (IAsyncDisposable service in services)
        {
            await service.DisposeAsync().ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => StopAsync();
}
