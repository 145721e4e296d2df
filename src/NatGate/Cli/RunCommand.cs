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
        var inside = new Option<string[]>("--inside") { Description = "An internal prefix to translate (repeatable), e.g. 10.77.0.0/24.", AllowMultipleArgumentsPerToken = false };
        var external = new Option<string[]>("--external") { Description = "An external address, optionally with its port range: 198.51.100.10[:1024-65535] (repeatable)." };
        var rules = new Option<FileInfo?>("--rules") { Description = "An ipnat.conf rule file." };
        var config = new Option<FileInfo?>("--config") { Description = "A configuration file (TOML; docs/natgate.example.toml)." };
        var tun = new Option<string>("--tun") { Description = "The TUN device's name.", DefaultValueFactory = _ => "natgate0" };
        var insideInterface = new Option<string[]>("--inside-interface") { Description = "An interface the inside prefixes live behind (repeatable); only packets arriving on one may carry an inside source. Default: read from the main table's routes." };
        var outside = new Option<string?>("--outside-interface") { Description = "The outside interface: rules naming it apply, and on-link external addresses get a proxy neighbour on it." };
        var mapping = new Option<string>("--mapping") { Description = "Mapping behaviour: eim (endpoint-independent), adm or apdm.", DefaultValueFactory = _ => "eim" };
        var filtering = new Option<string>("--filtering") { Description = "Filtering behaviour: eif (endpoint-independent), adf (address-dependent) or apdf.", DefaultValueFactory = _ => "adf" };
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
        var maximumSessions = new Option<int>("--max-sessions") { Description = "Sessions the table holds at most.", DefaultValueFactory = _ => 1 << 20 };
        var maximumSessionsPerHost = new Option<int>("--max-sessions-per-host") { Description = "Sessions one inside host may hold at most (RFC 6888 REQ-4); 0: no limit.", DefaultValueFactory = _ => new Core.Sessions.FlowTableLimits().MaximumSessionsPerHost };

        var command = new Command("run", "Run the gateway: translate what the kernel routes to the TUN device.")
        {
            inside, external, rules, config, tun, insideInterface, outside, mapping, filtering, udpTimeout, tcpTimeout, tcpTransitory, icmpTimeout,
            control, state, stateDirectory, checkpoint, metrics, noPlumbing, logSessions, maximumSessions, maximumSessionsPerHost, noOffload, queues, busyPoll,
        };
        command.SetAction(async (parseResult, cancellation) =>
        {
            GatewayRunOptions options;
            try
            {
                options = new GatewayRunOptions
                {
                    Inside = [.. (parseResult.GetValue(inside) ?? []).Select(text => Ipv4Prefix.TryParse(text, out Ipv4Prefix prefix) ? prefix : throw new ConfigurationException($"--inside {text}: not an IPv4 prefix (a.b.c.d/n)."))],
                    External = [.. (parseResult.GetValue(external) ?? []).Select(ParseExternal)],
                    RulesFile = parseResult.GetValue(rules)?.FullName,
                    ConfigFile = parseResult.GetValue(config)?.FullName,
                    TunName = parseResult.GetValue(tun)!,
                    OutsideInterface = parseResult.GetValue(outside),
                    InsideInterfaces = parseResult.GetValue(insideInterface) ?? [],
                    Mapping = ParseMapping(parseResult.GetValue(mapping)!),
                    Filtering = ParseFiltering(parseResult.GetValue(filtering)!),
                    UdpIdleTimeout = TimeSpan.FromSeconds(parseResult.GetValue(udpTimeout)),
                    TcpEstablishedTimeout = TimeSpan.FromSeconds(parseResult.GetValue(tcpTimeout)),
                    TcpTransitoryTimeout = TimeSpan.FromSeconds(parseResult.GetValue(tcpTransitory)),
                    IcmpQueryTimeout = TimeSpan.FromSeconds(parseResult.GetValue(icmpTimeout)),
                    ControlDirectory = parseResult.GetValue(control)!,
                    StateFile = parseResult.GetValue(state)?.FullName,
                    StateDirectory = Path.GetFullPath(parseResult.GetValue(stateDirectory)!),
                    Checkpoint = TimeSpan.FromSeconds(Math.Max(0, parseResult.GetValue(checkpoint))),
                    Metrics = parseResult.GetValue(metrics),
                    NoPlumbing = parseResult.GetValue(noPlumbing),
                    LogSessions = parseResult.GetValue(logSessions),
                    MaximumSessions = parseResult.GetValue(maximumSessions),
                    MaximumSessionsPerHost = parseResult.GetValue(maximumSessionsPerHost),
                    Offload = !parseResult.GetValue(noOffload),
                    Queues = parseResult.GetValue(queues),
                    BusyPoll = TimeSpan.FromMicroseconds(Math.Max(0, parseResult.GetValue(busyPoll))),
                };
            }
            catch (ConfigurationException error)
            {
                await Console.Error.WriteLineAsync(error.Message).ConfigureAwait(false);
                return ExitCodes.BadInput;
            }
            return await RunAsync(options, cancellation).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(GatewayRunOptions options, CancellationToken cancellation)
    {
        using ILoggerFactory logs = LoggerFactory.Create(builder =>
        {
            // People read a terminal; machines read JSON.
            if (Console.IsErrorRedirected || Console.IsOutputRedirected)
            {
                builder.AddJsonConsole(json => json.IncludeScopes = false);
            }
            else
            {
                builder.AddSimpleConsole(simple => simple.SingleLine = true);
            }
            builder.SetMinimumLevel(LogLevel.Information);
            // ASP.NET Core's own lines (four per control request) would let any local user fill
            // the disk through the read-only socket; the control server logs what matters itself.
            builder.AddFilter("Microsoft", LogLevel.Warning);
        });
        ILogger logger = logs.CreateLogger("natgate");
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
            await stop.Task.ConfigureAwait(false);
            GatewayLog.Stopping(logger);
            await daemon.StopAsync().ConfigureAwait(false);
        }
        return ExitCodes.Success;
    }

    internal static ExternalEndpointRange ParseExternal(string text)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        string addressText = colon < 0 ? text : text[..colon];
        if (!Ipv4Address.TryParse(addressText, out uint address))
        {
            throw new ConfigurationException($"--external {text}: '{addressText}' is not an IPv4 address.");
        }
        if (colon < 0)
        {
            return new ExternalEndpointRange(address, 1024, 65535);
        }
        string[] ports = text[(colon + 1)..].Split('-');
        if (ports.Length != 2
            || !ushort.TryParse(ports[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort low)
            || !ushort.TryParse(ports[1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort high)
            || low == 0 || low > high)
        {
            throw new ConfigurationException($"--external {text}: the port range must be LO-HI with 1 <= LO <= HI <= 65535.");
        }
        return new ExternalEndpointRange(address, low, high);
    }

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
