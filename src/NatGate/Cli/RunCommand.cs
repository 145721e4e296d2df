using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using NatGate.Configuration;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Daemon;
using NatGate.Linux.Routing;
using NatGate.Linux.Tun;

namespace NatGate.Cli;

/// <summary>natgate run: the gateway daemon.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var inside = new Option<string[]>("--inside") { Description = "An internal prefix to translate (repeatable), e.g. 10.77.0.0/24, or fd00:77::/64 for NAT66.", AllowMultipleArgumentsPerToken = false };
        var external = new Option<string[]>("--external") { Description = "An external address, optionally with its port range: 198.51.100.10[:1024-65535], or 2001:db8::10 / [2001:db8::10]:1024-65535 for NAT66 (repeatable). Each --inside maps to the external addresses of its family." };
        var rules = new Option<FileInfo?>("--rules") { Description = "An ipnat.conf rule file." };
        var config = new Option<FileInfo?>("--config") { Description = "A configuration file (TOML; docs/natgate.example.toml)." };
        var tun = new Option<string>("--tun") { Description = "The TUN device's name.", DefaultValueFactory = _ => "natgate0" };
        var insideInterface = new Option<string[]>("--inside-interface") { Description = "An interface the inside prefixes live behind (repeatable); only packets arriving on one may carry an inside source. Default: read from the main table's routes." };
        var outside = new Option<string?>("--outside-interface") { Description = "The outside interface: rules naming it apply, and on-link external addresses get a proxy neighbour on it." };
        var mapping = new Option<string>("--mapping") { Description = "Mapping behaviour of --inside/--external and of the rules in --rules: eim (endpoint-independent), adm or apdm.", DefaultValueFactory = _ => "eim" };
        var filtering = new Option<string>("--filtering") { Description = "Filtering behaviour of --inside/--external and of the rules in --rules: eif (endpoint-independent), adf (address-dependent) or apdf.", DefaultValueFactory = _ => "adf" };
        var udpTimeout = new Option<int>("--udp-timeout") { Description = "UDP idle timeout, seconds (RFC 4787: at least 120).", DefaultValueFactory = _ => 300 };
        var tcpTimeout = new Option<int>("--tcp-established-timeout") { Description = "TCP established idle timeout, seconds.", DefaultValueFactory = _ => 7440 };
        var tcpTransitory = new Option<int>("--tcp-transitory-timeout") { Description = "TCP transitory timeout, seconds.", DefaultValueFactory = _ => 240 };
        var icmpTimeout = new Option<int>("--icmp-timeout") { Description = "ICMP query timeout, seconds.", DefaultValueFactory = _ => 60 };
        var control = new Option<string>("--control") { Description = "The control directory (control.sock, control.ro.sock).", DefaultValueFactory = _ => "/run/natgate" };
        var state = new Option<FileInfo?>("--state") { Description = "Restore sessions from this file at start (when present) and save them to it at stop." };
        var stateDirectory = new Option<string>("--state-directory") { Description = "The directory `natgate state save` may write to (besides that of --state); created if missing.", DefaultValueFactory = _ => NatGate.Control.StateFilePolicy.DefaultDirectory };
        var checkpoint = new Option<int>("--checkpoint") { Description = "With --state, save the sessions every this many seconds too, so a restart after a crash finds them (0: only at stop).", DefaultValueFactory = _ => 30 };
        var metrics = new Option<string?>("--metrics") { Description = "Serve Prometheus metrics on HOST:PORT, e.g. 127.0.0.1:9469." };
        var noPlumbing = new Option<bool>("--no-plumbing") { Description = "Install no routing; print what would have been done." };
        var logSessions = new Option<bool>("--log-sessions") { Description = "Log every session created and deleted at information level." };
        var noOffload = new Option<bool>("--no-offload") { Description = "Turn off checksum and segmentation offload on the TUN (one packet per read, checksums complete)." };
        var queues = new Option<int>("--queues") { Description = "TUN queues, one worker thread each (the two directions of a session may meet on different queues: the table is shared).", DefaultValueFactory = _ => 1 };
        var busyPoll = new Option<int>("--busy-poll") { Description = "Microseconds a worker keeps reading after traffic before it sleeps: less latency for a little CPU while traffic flows (0: off).", DefaultValueFactory = _ => 100 };
        var fastPath = new Option<string>("--fast-path") { Description = "Rewrite established flows in the kernel (a tc eBPF program NatGate programs): auto (where BPF loads, else the TUN alone, said in the log), on (or do not start) or off.", DefaultValueFactory = _ => "auto" };
        var maximumSessions = new Option<int>("--max-sessions") { Description = "Sessions the table holds at most.", DefaultValueFactory = _ => 1 << 20 };
        var maximumSessionsPerHost = new Option<int>("--max-sessions-per-host") { Description = "Sessions one inside host may hold at most (RFC 6888 REQ-4); 0: no limit.", DefaultValueFactory = _ => new Core.Sessions.FlowTableLimits().MaximumSessionsPerHost };

        var pcp = new Option<bool>("--pcp") { Description = "Answer PCP (RFC 6887) and NAT-PMP (RFC 6886) port mapping requests on UDP 5351 of the inside addresses." };
        var pcpPerHost = new Option<int>("--pcp-mappings-per-host") { Description = "Port mappings (PCP, NAT-PMP) one inside host may hold; 0: no limit.", DefaultValueFactory = _ => Core.PortMappings.PortMappingLimits.DefaultMaximumPerHost };
        var sessionLog = new Option<string?>("--session-log") { Description = "Log every session's creation and deletion (a map-block rule's port blocks instead) as JSON lines to FILE, rotated by size." };
        var sessionLogSize = new Option<int>("--session-log-size") { Description = "Rotate the --session-log file when it reaches this many MiB.", DefaultValueFactory = _ => NatGate.SessionLog.SessionLogOptions.DefaultFileMegabytes };
        var sessionLogFiles = new Option<int>("--session-log-files") { Description = "Session log files kept, the one being written included.", DefaultValueFactory = _ => NatGate.SessionLog.SessionLogOptions.DefaultFilesKept };
        var sessionSyslog = new Option<string?>("--session-syslog") { Description = "Send the session log to syslog (RFC 5424): unix:/dev/log, or udp:ADDRESS[:PORT] (514 by default)." };
        var sessionIpfix = new Option<string?>("--session-ipfix") { Description = "Export the session log as IPFIX (RFC 7011 with RFC 8158's NAT events) over UDP to ADDRESS[:PORT] (4739 by default)." };

        var logLevel = new Option<string?>("--log-level") { Description = "The least level logged: Trace, Debug, Information, Warning, Error, Critical or None (default Information; also Logging__LogLevel__Default)." };
        var logFormat = new Option<string?>("--log-format") { Description = "auto (systemd's priorities under journald, otherwise lines with timestamps), systemd, simple or json." };

        var command = new Command("run", "Run the gateway: translate what the kernel routes to the TUN device.")
        {
            inside, external, rules, config, tun, insideInterface, outside, mapping, filtering, udpTimeout, tcpTimeout, tcpTransitory, icmpTimeout,
            control, state, stateDirectory, checkpoint, metrics, noPlumbing, logSessions, maximumSessions, maximumSessionsPerHost, noOffload, queues, busyPoll,
            fastPath, logLevel, logFormat, pcp, pcpPerHost, sessionLog, sessionLogSize, sessionLogFiles, sessionSyslog, sessionIpfix,
        };
        command.SetAction(async (parseResult, cancellation) =>
        {
            GatewayRunOptions options;
            try
            {
                // The file first, then every flag given on the command line over it.
                FileInfo? configFile = parseResult.GetValue(config);
                GatewayConfiguration? configuration = configFile is null ? null : GatewayConfigurationFile.Load(configFile.FullName);
                var file = new SettingsSource(parseResult, configuration?.Daemon ?? new DaemonSettings(), configFile?.FullName);
                options = new GatewayRunOptions
                {
                    Configuration = configuration,
                    Inside = [.. file.Pick(inside, settings => settings.Inside, "Inside").Select(item => ParseInside(item.Value, item.Where))],
                    External = [.. file.Pick(external, settings => settings.External, "External").Select(item => ParseExternal(item.Value, item.Where))],
                    RulesFile = parseResult.GetValue(rules)?.FullName,
                    ConfigFile = configFile?.FullName,
                    TunName = file.Pick(tun, settings => settings.Tun),
                    OutsideInterface = file.PickOptional(outside, settings => settings.OutsideInterface),
                    InsideInterfaces = [.. file.Pick(insideInterface, settings => settings.InsideInterfaces, "InsideInterfaces").Select(item => item.Value)],
                    Mapping = ParseMapping(file.Pick(mapping, settings => settings.Mapping)!),
                    Filtering = ParseFiltering(file.Pick(filtering, settings => settings.Filtering)!),
                    UdpIdleTimeout = Seconds(file.Pick(udpTimeout, settings => settings.UdpTimeout), "--udp-timeout"),
                    TcpEstablishedTimeout = Seconds(file.Pick(tcpTimeout, settings => settings.TcpEstablishedTimeout), "--tcp-established-timeout"),
                    TcpTransitoryTimeout = Seconds(file.Pick(tcpTransitory, settings => settings.TcpTransitoryTimeout), "--tcp-transitory-timeout"),
                    IcmpQueryTimeout = Seconds(file.Pick(icmpTimeout, settings => settings.IcmpTimeout), "--icmp-timeout"),
                    ControlDirectory = Path.GetFullPath(file.Pick(control, settings => settings.ControlDirectory)!),
                    StateFile = parseResult.GetResult(state) is { Implicit: false } ? parseResult.GetValue(state)?.FullName : configuration?.Daemon.StateFile,
                    StateDirectory = Path.GetFullPath(file.Pick(stateDirectory, settings => settings.StateDirectory)!),
                    Checkpoint = TimeSpan.FromSeconds(AtLeast(file.Pick(checkpoint, settings => settings.Checkpoint), 0, "--checkpoint")),
                    Metrics = CheckMetrics(file.PickOptional(metrics, settings => settings.Metrics)),
                    NoPlumbing = file.Given(noPlumbing) ? parseResult.GetValue(noPlumbing) : configuration?.Daemon.Plumbing is false,
                    LogSessions = file.Given(logSessions) ? parseResult.GetValue(logSessions) : configuration?.Daemon.LogSessions is true,
                    SessionLog = new NatGate.SessionLog.SessionLogOptions
                    {
                        File = file.Given(sessionLog) ? Path.GetFullPath(parseResult.GetValue(sessionLog)!) : configuration?.Daemon.SessionLog,
                        FileMaximumBytes = AtLeast(file.Pick(sessionLogSize, settings => settings.SessionLogSize), 1, "--session-log-size") * 1024L * 1024,
                        FilesKept = AtLeast(file.Pick(sessionLogFiles, settings => settings.SessionLogFiles), 1, "--session-log-files"),
                    }
                    .WithSyslog(file.PickOptional(sessionSyslog, settings => settings.SessionSyslog), file.WhereOf(sessionSyslog, "SessionSyslog"))
                    .WithIpfix(file.PickOptional(sessionIpfix, settings => settings.SessionIpfix), file.WhereOf(sessionIpfix, "SessionIpfix")),
                    MaximumSessions = AtLeast(file.Pick(maximumSessions, settings => settings.MaximumSessions), 1, "--max-sessions"),
                    MaximumSessionsPerHost = AtLeast(file.Pick(maximumSessionsPerHost, settings => settings.MaximumSessionsPerHost), 0, "--max-sessions-per-host"),
                    Offload = file.Given(noOffload) ? !parseResult.GetValue(noOffload) : configuration?.Daemon.Offload ?? true,
                    Queues = AtLeast(file.Pick(queues, settings => settings.Queues), 1, "--queues"),
                    BusyPoll = TimeSpan.FromMicroseconds(AtLeast(file.Pick(busyPoll, settings => settings.BusyPoll), 0, "--busy-poll")),
                    FastPath = ParseFastPath(file.Pick(fastPath, settings => settings.FastPath)!),
                    PortMapping = file.Given(pcp) ? parseResult.GetValue(pcp) : configuration?.Daemon.Pcp is true,
                    PortMappingsPerHost = AtLeast(file.Pick(pcpPerHost, settings => settings.PcpMappingsPerHost), 0, "--pcp-mappings-per-host"),
                    LogLevel = GatewayLogging.ParseLevel(parseResult.GetValue(logLevel)),
                    LogLevelInFile = GatewayLogging.ParseLevel(configuration?.Daemon.LogLevel),
                    LogFormat = GatewayLogging.ParseFormat(file.PickOptional(logFormat, settings => settings.LogFormat)),
                };
            }
            catch (ConfigurationException error)
            {
                foreach (string problem in error.Problems)
                {
                    await Console.Error.WriteLineAsync(problem).ConfigureAwait(false);
                }
                return ExitCodes.BadInput;
            }
            return await RunAsync(options, cancellation).ConfigureAwait(false);
        });
        return command;
    }

    private static TimeSpan Seconds(int seconds, string flag) => TimeSpan.FromSeconds(AtLeast(seconds, 1, flag));

    private static int AtLeast(int value, int minimum, string flag)
        => value >= minimum ? value : throw new ConfigurationException($"{flag} {value}: must be at least {minimum}.");

    /// <summary>Checked before anything starts: a bad --metrics must not stop a daemon that is already translating.</summary>
    private static string? CheckMetrics(string? endpoint)
    {
        if (endpoint is not null)
        {
            GatewayMetrics.ParseEndpoint(endpoint);
        }
        return endpoint;
    }

    private static IpPrefix ParseInside(string text, string where)
        => IpPrefix.TryParse(text, out IpPrefix prefix)
            ? prefix
            : throw new ConfigurationException($"{where}{text}: not a prefix (a.b.c.d/n, or an IPv6 prefix such as fd00:77::/64).");

    /// <summary>
    /// One setting from the command line when the flag was given, else from the [Daemon] table,
    /// else the flag's default. Errors in a value from the file name the file, line and key.
    /// </summary>
    private sealed class SettingsSource(ParseResult parse, DaemonSettings settings, string? file)
    {
        public bool Given(Option option) => parse.GetResult(option) is { Implicit: false };

        /// <summary>How an error about the setting starts: "--flag " when given on the command line, else "natgate.toml:3:1: Key: ".</summary>
        public string WhereOf(Option option, string key)
            => Given(option) ? $"{option.Name} " : $"{(settings.Where(key) is { Length: > 0 } place ? place : file ?? "")}: {key}: ";

        public string Pick(Option<string> option, Func<DaemonSettings, string?> fromFile)
            => Given(option) ? parse.GetValue(option)! : fromFile(settings) ?? parse.GetValue(option)!;

        public int Pick(Option<int> option, Func<DaemonSettings, int?> fromFile)
            => Given(option) ? parse.GetValue(option) : fromFile(settings) ?? parse.GetValue(option);

        public string? PickOptional(Option<string?> option, Func<DaemonSettings, string?> fromFile)
            => Given(option) ? parse.GetValue(option) : fromFile(settings) ?? parse.GetValue(option);

        /// <summary>A list, each item with the prefix its error message starts with ("--inside " or "natgate.toml:3:1: Inside: ").</summary>
        public IEnumerable<(string Value, string Where)> Pick(Option<string[]> option, Func<DaemonSettings, IReadOnlyList<string>?> fromFile, string key)
        {
            if (Given(option) || fromFile(settings) is not { } values)
            {
                return (parse.GetValue(option) ?? []).Select(value => (value, $"{option.Name} "));
            }
            string where = settings.Where(key) is { Length: > 0 } place ? place : file ?? "";
            return values.Select(value => (value, $"{where}: {key}: "));
        }
    }

    private static async Task<int> RunAsync(GatewayRunOptions options, CancellationToken cancellation)
    {
        using ILoggerFactory logs = GatewayLogging.Create(options.LogLevelInFile, options.LogLevel, options.LogFormat);
        ILogger logger = logs.CreateLogger("natgate");
        GatewayLog.Starting(logger, BuildInformation.Version);
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using PosixSignalRegistration terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.TrySetResult();
        });
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            stop.TrySetResult();
        });
        using CancellationTokenRegistration cancelled = cancellation.Register(() => stop.TrySetResult());

        GatewayDaemon daemon;
        try
        {
            daemon = GatewayDaemon.Start(options, logs);
        }
        catch (Exception error) when (error is ConfigurationException or RuleSyntaxException or Core.Control.NatControlException or ArgumentException)
        {
            GatewayLog.StartFailed(logger, error.Message);
            return ExitCodes.BadInput;
        }
        catch (Core.State.StateFileException error)
        {
            // A state file that cannot be read is kept as it is; nothing was saved over it.
            GatewayLog.StartFailed(logger, $"--state: {error.Message} The file is left as it is; move it aside to start without it.");
            return ExitCodes.BadInput;
        }
        catch (Exception error) when (error is TunException or PlumbingException or IOException or UnauthorizedAccessException)
        {
            GatewayLog.StartFailed(logger, error.Message);
            return ExitCodes.Failure;
        }
        catch (Linux.FastPath.FastPathException error)
        {
            // Only with --fast-path on: auto runs on the TUN alone instead.
            GatewayLog.StartFailed(logger, $"--fast-path on: {error.Message}");
            return ExitCodes.BadInput;
        }
        await using (daemon.ConfigureAwait(false))
        {
            try
            {
                await GatewayServices.StartAsync(daemon, options, logs, cancellation).ConfigureAwait(false);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
            {
                GatewayLog.StartFailed(logger, error.Message);
                await daemon.StopAsync().ConfigureAwait(false);
                return ExitCodes.Failure;
            }
            GatewayLog.Running(logger, options.TunName, options.ControlDirectory);
            // Only now, with the routing installed, the TUN read and the control socket answering.
            using var systemd = new SystemdService(daemon, logger);
            systemd.Ready($"translating for {daemon.Controller.Rules().Count} rule(s) on {options.TunName}");
            await Task.WhenAny(stop.Task, daemon.HandOverRequested).ConfigureAwait(false);
            systemd.Stopping();
            GatewayLog.Stopping(logger);
            await daemon.StopAsync().ConfigureAwait(false);
        }
        return ExitCodes.Success;
    }

    internal static ExternalEndpointRange ParseExternal(string text) => ParseExternal(text, "--external ");

    /// <summary>
    /// ADDRESS[:LO-HI] or INTERFACE[:LO-HI]: an interface name stands for that interface's IPv4
    /// address at the time, followed as it changes (IP Filter's "-> 0/32"). Without a range the
    /// ports are 1024-65535, or 61000-65535 when the address turns out to be the host's own. An
    /// IPv6 address is written bare (2001:db8::10), or in brackets before a range
    /// ([2001:db8::10]:1024-65535, RFC 5952 section 6).
    /// </summary>
    internal static ExternalEndpointRange ParseExternal(string text, string where)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || !Ipv6Address.TryParse(text.AsSpan(1, close - 1), out Ipv6Address bracketed)
                || (close + 1 < text.Length && text[close + 1] != ':'))
            {
                throw new ConfigurationException($"{where}{text}: not an IPv6 address in brackets, optionally with a range ([2001:db8::10]:1024-65535).");
            }
            return close + 1 == text.Length
                ? new ExternalEndpointRange(bracketed, 1024, 65535) { PortsGiven = false, Where = where }
                : WithPorts(new ExternalEndpointRange(bracketed, 1024, 65535) { Where = where }, text, text[(close + 2)..], where);
        }
        if (text.Count(character => character == ':') > 1)
        {
            return Ipv6Address.TryParse(text, out Ipv6Address bare)
                ? new ExternalEndpointRange(bare, 1024, 65535) { PortsGiven = false, Where = where }
                : throw new ConfigurationException($"{where}{text}: not an IPv6 address (give a range as [2001:db8::10]:1024-65535).");
        }
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string name = colon < 0 ? text : text[..colon];
        string? interfaceName = null;
        if (!Ipv4Address.TryParse(name, out Ipv4Address address))
        {
            if (!Linux.Routing.InterfaceNames.IsValid(name) || name.All(character => char.IsAsciiDigit(character) || character == '.'))
            {
                throw new ConfigurationException($"{where}{text}: '{name}' is neither an IPv4 address nor an interface name.");
            }
            interfaceName = name;
        }
        if (colon < 0)
        {
            return new ExternalEndpointRange(address, 1024, 65535) { Interface = interfaceName, PortsGiven = false, Where = where };
        }
        return WithPorts(new ExternalEndpointRange(address, 1024, 65535) { Interface = interfaceName, Where = where }, text, text[(colon + 1)..], where);
    }

    private static ExternalEndpointRange WithPorts(ExternalEndpointRange external, string text, string range, string where)
    {
        string[] ports = range.Split('-');
        if (ports.Length != 2
            || !ushort.TryParse(ports[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort low)
            || !ushort.TryParse(ports[1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort high)
            || low == 0 || low > high)
        {
            throw new ConfigurationException($"{where}{text}: the port range must be LO-HI with 1 <= LO <= HI <= 65535.");
        }
        return external with { PortStart = low, PortEnd = high };
    }

    internal static FastPathMode ParseFastPath(string text) => text.ToLowerInvariant() switch
    {
        "auto" => FastPathMode.Auto,
        "on" => FastPathMode.On,
        "off" => FastPathMode.Off,
        _ => throw new ConfigurationException($"--fast-path {text}: use auto, on or off."),
    };

    internal static MappingBehavior ParseMapping(string text) => text.ToLowerInvariant() switch
    {
        "eim" or "endpoint-independent" => MappingBehavior.EndpointIndependent,
        "adm" or "address-dependent" => MappingBehavior.AddressDependent,
        "apdm" or "address-and-port-dependent" => MappingBehavior.AddressAndPortDependent,
        _ => throw new ConfigurationException($"--mapping {text}: use eim, adm or apdm."),
    };

    internal static FilteringBehavior ParseFiltering(string text) => text.ToLowerInvariant() switch
    {
        "eif" or "endpoint-independent" => FilteringBehavior.EndpointIndependent,
        "adf" or "address-dependent" => FilteringBehavior.AddressDependent,
        "apdf" or "address-and-port-dependent" => FilteringBehavior.AddressAndPortDependent,
        _ => throw new ConfigurationException($"--filtering {text}: use eif, adf or apdf."),
    };
}
