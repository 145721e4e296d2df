using Microsoft.Extensions.Logging;

namespace NatGate.Daemon;

/// <summary>The daemon's side services: the control API and metrics, started after the data path.</summary>
internal static class GatewayServices
{
    public static Task StartAsync(GatewayDaemon daemon, GatewayRunOptions options, ILoggerFactory logs, CancellationToken cancellation)
    {
        _ = daemon;
        _ = options;
        _ = logs;
        _ = cancellation;
        return Task.CompletedTask;
    }
}
