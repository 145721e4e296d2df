using System.Globalization;
using Microsoft.Extensions.Hosting.Systemd;
using Microsoft.Extensions.Logging;

namespace NatGate.Daemon;

/// <summary>
/// The daemon's side of a Type=notify unit (sd_notify(3), through Microsoft.Extensions.Hosting.Systemd's
/// notifier): READY=1 once the routing is installed, the TUN is read and the control socket
/// answers; WATCHDOG=1 every half WatchdogSec while the packet workers and the timers are seen
/// to go round, so a wedged daemon is restarted (and fails closed meanwhile); STOPPING=1 as the
/// stop begins. Without NOTIFY_SOCKET (not under systemd) it does nothing.
/// </summary>
internal sealed class SystemdService : IDisposable
{
    private readonly SystemdNotifier notifier = new();
    private readonly GatewayDaemon daemon;
    private readonly ILogger logger;
    private readonly CancellationTokenSource stopped = new();
    private readonly Thread? watchdog;
    private readonly TimeSpan watchdogInterval;

    public SystemdService(GatewayDaemon daemon, ILogger logger)
    {
        this.daemon = daemon;
        this.logger = logger;
        watchdogInterval = WatchdogInterval();
        if (notifier.IsEnabled && watchdogInterval > TimeSpan.Zero)
        {
            watchdog = new Thread(RunWatchdog) { IsBackground = true, Name = "natgate-watchdog" };
        }
    }

    public bool IsEnabled => notifier.IsEnabled;

    /// <summary>Everything is in place: the service is up for systemd, and the watchdog starts.</summary>
    public void Ready(string status)
    {
        if (!notifier.IsEnabled)
        {
            return;
        }
        notifier.Notify(new ServiceState($"READY=1\nSTATUS={status}\nMAINPID={Environment.ProcessId}"));
        watchdog?.Start();
    }

    public void Stopping()
    {
        stopped.Cancel();
        if (notifier.IsEnabled)
        {
            notifier.Notify(new ServiceState("STOPPING=1\nSTATUS=stopping: saving sessions and removing the routing"));
        }
    }

    /// <summary>WATCHDOG_USEC, when WATCHDOG_PID is unset or names this process; zero otherwise.</summary>
    private static TimeSpan WatchdogInterval()
    {
        string? pid = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        if (!string.IsNullOrEmpty(pid) && pid != Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
        {
            return TimeSpan.Zero;
        }
        return long.TryParse(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), NumberStyles.None, CultureInfo.InvariantCulture, out long microseconds) && microseconds > 0
            ? TimeSpan.FromMicroseconds(microseconds)
            : TimeSpan.Zero;
    }

    private void RunWatchdog()
    {
        // Half the interval, as sd_watchdog_enabled(3) advises, so one late tick is not fatal.
        TimeSpan tick = watchdogInterval / 2;
        bool complained = false;
        while (!stopped.Token.WaitHandle.WaitOne(tick))
        {
            if (daemon.IsAlive(watchdogInterval))
            {
                notifier.Notify(new ServiceState("WATCHDOG=1"));
                complained = false;
            }
            else if (!complained)
            {
                // No keep-alive: systemd restarts the service when the interval runs out, and the
                // routing's blackhole keeps the inside from leaking untranslated meanwhile.
                GatewayLog.WatchdogWithheld(logger, watchdogInterval.TotalSeconds);
                complained = true;
            }
        }
    }

    public void Dispose()
    {
        stopped.Cancel();
        if (watchdog is { IsAlive: true })
        {
            watchdog.Join(TimeSpan.FromSeconds(2));
        }
        stopped.Dispose();
    }
}
