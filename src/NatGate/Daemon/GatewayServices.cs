using Microsoft.Extensions.Logging;
using NatGate.Control;

namespace NatGate.Daemon;

/// <summary>The daemon's side services: the control API and metrics, started after the data path.</summary>
internal static class GatewayServices
{
    public static async Task StartAsync(GatewayDaemon daemon, GatewayRunOptions options, ILoggerFactory logs, CancellationToken cancellation)
    {
        daemon.AddService(await ControlServer.StartAsync(daemon.Controller, options.ControlDirectory, logs, cancellation).ConfigureAwait(false));
        if (options.Metrics is not null)
        {
            daemon.AddService(await GatewayMetrics.StartAsync(daemon.Controller, options.Metrics, daemon.QueueStatistics, daemon.SpoofedPackets, cancellation).ConfigureAwait(false));
        }
    }
}
