using Microsoft.Extensions.Logging;
using NatGate.Control;

namespace NatGate.Daemon;

/// <summary>The daemon's side services: the control API and metrics, started after the data path.</summary>
internal static class GatewayServices
{
    public static async Task StartAsync(GatewayDaemon daemon, GatewayRunOptions options, ILoggerFactory logs, CancellationToken cancellation)
    {
        // Saves through the API go to --state-directory, or beside the --state file.
        string?[] stateDirectories = [options.StateDirectory, options.StateFile is null ? null : Path.GetDirectoryName(options.StateFile)];
        var stateFiles = new StateFilePolicy(stateDirectories.OfType<string>());
        ControlServer control = await ControlServer.StartAsync(daemon.Controller, options.ControlDirectory, logs, cancellation, stateFiles).ConfigureAwait(false);
        control.FastPath = daemon.FastPathView;
        control.HandOver = daemon.RequestHandOver;
        control.SessionEvents = daemon.SessionLog?.Hub;
        daemon.AddService(control);
        if (options.PortMapping)
        {
            daemon.AddService(PortMappings.PortMappingService.Start(daemon.Controller,
                new Core.PortMappings.PortMappingLimits { MaximumPerHost = options.PortMappingsPerHost }, logs, TimeProvider.System));
        }
        if (options.Metrics is not null)
        {
            Func<SessionLog.SessionLogFigures>? sessionLog = daemon.SessionLog is { } pump ? () => pump.Figures : null;
            daemon.AddService(await GatewayMetrics.StartAsync(daemon.Controller, options.Metrics, daemon.QueueStatistics, daemon.SpoofedPackets, daemon.FastPathFigures, sessionLog, cancellation).ConfigureAwait(false));
        }
    }
}
