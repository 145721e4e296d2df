using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using NatGate.Core.Control;
using NatGate.Core.Devices;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;
using Prometheus;

namespace NatGate.Daemon;

/// <summary>
/// Prometheus metrics (--metrics HOST:PORT, path /metrics). Nothing is counted on the packet
/// path: at each scrape the figures are read from the counters the engine keeps as sessions
/// are made, change state and end; no scrape walks the table.
/// </summary>
public sealed class GatewayMetrics : IAsyncDisposable
{
    private readonly WebApplication application;

    private GatewayMetrics(WebApplication application) => this.application = application;

    /// <summary>The tables the by-family figures name, in their label order.</summary>
    private static readonly SessionFamily[] Families = [SessionFamily.Ipv4, SessionFamily.Ipv6, SessionFamily.Nat64];

    public static async Task<GatewayMetrics> StartAsync(GatewayController controller, string endpoint, Func<IReadOnlyList<PacketQueueStatistics>>? queues, Func<long?>? spoofed,
        Func<FastPathFigures>? fastPath, Func<SessionLog.SessionLogFigures>? sessionLog, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(controller);
        (IPAddress address, int port) = ParseEndpoint(endpoint);
        CollectorRegistry registry = Metrics.NewCustomRegistry();
        Register(registry, controller, queues, spoofed, fastPath);
        if (sessionLog is not null)
        {
            SessionLog.SessionLogMetrics.Register(registry, sessionLog);
        }
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(address, port));
        WebApplication application = builder.Build();
        application.MapMetrics("/metrics", registry);
        await application.StartAsync(cancellation).ConfigureAwait(false);
        return new GatewayMetrics(application);
    }

    internal static (IPAddress Address, int Port) ParseEndpoint(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        string host = colon <= 0 ? "" : endpoint[..colon].Trim('[', ']');
        // "localhost" is loopback by definition (RFC 6761 6.3); no resolver is asked.
        IPAddress? address = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) ? IPAddress.Loopback : null;
        if (colon <= 0 || (address is null && !IPAddress.TryParse(host, out address))
            || !int.TryParse(endpoint[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
        {
            throw new Configuration.ConfigurationException($"--metrics {endpoint}: give ADDRESS:PORT, for example 127.0.0.1:9469, localhost:9469 or [::1]:9469.");
        }
        return (address, port);
    }

    /// <summary>
    /// Creates the metrics in <paramref name="registry"/> and fills them from the engine (and the
    /// TUN queues' own counters, when <paramref name="queues"/> is given, and the spoofing guard's,
    /// when <paramref name="spoofed"/> is, and the kernel fast path's, when <paramref name="fastPath"/> is) before each scrape.
    /// </summary>
    public static void Register(CollectorRegistry registry, GatewayController controller, Func<IReadOnlyList<PacketQueueStatistics>>? queues = null, Func<long?>? spoofed = null,
        Func<FastPathFigures>? fastPath = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(controller);
        MetricFactory factory = Metrics.WithCustomRegistry(registry);
        Gauge sessions = factory.CreateGauge("natgate_sessions", "Sessions in the tables (both families), by protocol and state.", "protocol", "state");
        Gauge sessionsByFamily = factory.CreateGauge("natgate_sessions_by_family", "Sessions in the tables, by table (ipv6: NAT66; nat64: IPv6 inside, IPv4 outside).", "family");
        Counter packets = factory.CreateCounter("natgate_packets_total", "Packets translated, by direction (out: inside to outside).", "direction");
        Counter bytes = factory.CreateCounter("natgate_bytes_total", "Bytes translated, by direction.", "direction");
        Counter drops = factory.CreateCounter("natgate_drops_total", "Packets dropped or refused, by reason.", "reason");
        Counter added = factory.CreateCounter("natgate_sessions_added_total", "Sessions created.");
        Counter expired = factory.CreateCounter("natgate_sessions_expired_total", "Sessions removed by their timers.");
        Counter addressGone = factory.CreateCounter("natgate_sessions_address_gone_total", "Sessions ended because their external address left the host (a DHCP renewal, a PPPoE reconnect).");
        Counter noMemory = factory.CreateCounter("natgate_sessions_refused_total", "New sessions refused by a table, host, bucket or port limit (ENOMEM).");
        Gauge ports = factory.CreateGauge("natgate_ports_allocated", "External ports (or ICMP identifiers) in use, by address and protocol.", "address", "protocol");
        Gauge portShare = factory.CreateGauge("natgate_port_utilisation_ratio", "External ports in use as a share of those available, by address and protocol.", "address", "protocol");
        Gauge capacity = factory.CreateGauge("natgate_sessions_capacity", "Sessions each table can hold, by table as natgate_sessions_by_family (a table not made yet is made this size).", "family");
        // Prometheus's build_info convention: constant 1, the facts in labels.
        factory.CreateGauge("natgate_build_info", "NatGate's version and the .NET runtime it runs on.", "version", "runtime")
            .WithLabels(BuildInformation.Version, BuildInformation.Runtime).Set(1);
        Gauge locked = factory.CreateGauge("natgate_table_locked", "1 while the table is locked (SIOCSTLCK).");
        Counter queuePackets = factory.CreateCounter("natgate_tun_packets_total", "Packets through each TUN queue, read from the kernel or written back (a super-packet counts once).", "queue", "direction");
        Counter spoofedPackets = factory.CreateCounter("natgate_spoofed_packets_total", "Packets with an inside source that arrived on an interface the inside does not live behind, dropped in the kernel before NatGate.");
        Gauge fastPathEnabled = factory.CreateGauge("natgate_fast_path_enabled", "1 while established flows are rewritten in the kernel (the tc program), 0 when every packet goes through the TUN.");
        Counter fastPathPackets = factory.CreateCounter("natgate_fast_path_packets_total",
            "Packets the kernel fast path looked at, by result: rewritten (carried without NatGate's process), and those it left to the TUN path: miss, tcp_control (SYN, FIN, RST), fragment, not_handled; rewrite_failed were dropped.", "result");
        Counter fastPathBytes = factory.CreateCounter("natgate_fast_path_bytes_total", "Bytes the kernel fast path rewrote (IP lengths).");
        Gauge fastPathSessions = factory.CreateGauge("natgate_fast_path_sessions", "Sessions the kernel fast path holds (two map entries each).");
        Counter fastPathRefused = factory.CreateCounter("natgate_fast_path_refused_total", "Sessions the kernel fast path's map refused (full): they stay on the TUN path.");
        Counter queueDrops = factory.CreateCounter("natgate_tun_drops_total", "Packets a TUN queue dropped: read too long, write refused for room, write rejected.", "queue", "reason");
        Gauge ftpControl = factory.CreateGauge("natgate_ftp_control_connections", "FTP control connections the FTP helper follows (ipnat proxy port ftp ftp/tcp).");
        Counter ftpLines = factory.CreateCounter("natgate_ftp_lines_total",
            "PORT, EPRT, 227 and 229 lines the FTP helper read, by result: rewritten, or left_alone (passed on untouched: another host, two in a segment, no room, no port).", "result");
        Gauge ftpExpected = factory.CreateGauge("natgate_ftp_expectations", "Data connections the FTP helper expects now.");
        Counter ftpData = factory.CreateCounter("natgate_ftp_data_connections_total", "Data connections an FTP expectation admitted.");
        Counter ftpTimedOut = factory.CreateCounter("natgate_ftp_expectations_timed_out_total", "FTP expectations no data connection came for in time.");

        var seen = new HashSet<(string, string)>();
        registry.AddBeforeCollectCallback(() =>
        {
            // Every figure is a counter the engine keeps as things change: a scrape walks no table.
            (NatStatistics statistics, IReadOnlyDictionary<(string Protocol, string State), int> counts, IReadOnlyList<PortUsage> usage, int[] capacities) =
                controller.Run(engine => (engine.Statistics(), engine.CountSessions(), engine.PortUsage(), Families.Select(engine.CapacityOf).ToArray()));
            foreach ((string protocol, string state) in seen)
            {
                sessions.WithLabels(protocol, state).Set(0);
            }
            foreach (((string protocol, string state), int count) in counts)
            {
                seen.Add((protocol, state));
                sessions.WithLabels(protocol, state).Set(count);
            }
            packets.WithLabels("out").IncTo(statistics.MappedOut);
            packets.WithLabels("in").IncTo(statistics.MappedIn);
            bytes.WithLabels("out").IncTo(statistics.BytesOut);
            bytes.WithLabels("in").IncTo(statistics.BytesIn);
            foreach ((string reason, long count) in statistics.Drops)
            {
                drops.WithLabels(reason).IncTo(count);
            }
            sessionsByFamily.WithLabels("ipv4").Set(statistics.InUse - statistics.InUseIpv6 - statistics.InUseNat64);
            sessionsByFamily.WithLabels("ipv6").Set(statistics.InUseIpv6);
            sessionsByFamily.WithLabels("nat64").Set(statistics.InUseNat64);
            added.IncTo(statistics.Added);
            expired.IncTo(statistics.Expired);
            addressGone.IncTo(statistics.AddressGone);
            noMemory.IncTo(statistics.NoMemory);
            foreach (PortUsage port in usage)
            {
                string address = port.Address.ToString();
                string protocol = IpProtocolNames.Of(port.Protocol);
                ports.WithLabels(address, protocol).Set(port.Allocated);
                portShare.WithLabels(address, protocol).Set(port.Capacity == 0 ? 0 : (double)port.Allocated / port.Capacity);
            }
            for (int family = 0; family < Families.Length; family++)
            {
                capacity.WithLabels(SessionFamilyNames.Of(Families[family])).Set(capacities[family]);
            }
            locked.Set(statistics.Locked ? 1 : 0);
            if (spoofed?.Invoke() is long spoofedCount)
            {
                spoofedPackets.IncTo(spoofedCount);
            }
            FastPathFigures kernel = fastPath?.Invoke() ?? default;
            fastPathEnabled.Set(kernel.Enabled ? 1 : 0);
            fastPathPackets.WithLabels("rewritten").IncTo(kernel.Rewritten);
            fastPathPackets.WithLabels("miss").IncTo(kernel.Missed);
            fastPathPackets.WithLabels("tcp_control").IncTo(kernel.TcpControl);
            fastPathPackets.WithLabels("fragment").IncTo(kernel.Fragments);
            fastPathPackets.WithLabels("not_handled").IncTo(kernel.NotHandled);
            fastPathPackets.WithLabels("rewrite_failed").IncTo(kernel.RewriteFailed);
            fastPathPackets.WithLabels("prefix_rewritten").IncTo(kernel.PrefixRewritten);
            fastPathPackets.WithLabels("prefix_to_engine").IncTo(kernel.PrefixToEngine);
            fastPathPackets.WithLabels("forwarded").IncTo(kernel.Forwarded);
            fastPathBytes.IncTo(kernel.RewrittenBytes);
            fastPathSessions.Set(kernel.Sessions);
            fastPathRefused.IncTo(kernel.Refused);
            IReadOnlyList<PacketQueueStatistics> queueStatistics = queues?.Invoke() ?? [];
            for (int queue = 0; queue < queueStatistics.Count; queue++)
            {
                string name = queue.ToString(CultureInfo.InvariantCulture);
                PacketQueueStatistics tun = queueStatistics[queue];
                queuePackets.WithLabels(name, "read").IncTo(tun.PacketsRead);
                queuePackets.WithLabels(name, "written").IncTo(tun.PacketsWritten);
                queueDrops.WithLabels(name, "read_too_long").IncTo(tun.ReadsDropped);
                queueDrops.WithLabels(name, "write_full").IncTo(tun.WritesDroppedFull);
                queueDrops.WithLabels(name, "write_rejected").IncTo(tun.WritesRejected);
            }
            Core.Helpers.Ftp.FtpHelperStatistics ftp = controller.Run(engine => engine.FtpStatistics);
            ftpControl.Set(ftp.ControlConnections);
            ftpLines.WithLabels("rewritten").IncTo(ftp.Rewritten);
            ftpLines.WithLabels("left_alone").IncTo(ftp.LeftAlone);
            ftpExpected.Set(ftp.PendingExpectations);
            ftpData.IncTo(ftp.DataConnections);
            ftpTimedOut.IncTo(ftp.ExpectationsTimedOut);
        });
    }

    public async ValueTask DisposeAsync() => await application.DisposeAsync().ConfigureAwait(false);
}

/// <summary>The kernel fast path's figures for metrics; default: off.</summary>
public readonly record struct FastPathFigures(bool Enabled, ulong Rewritten, ulong RewrittenBytes, ulong Missed, ulong TcpControl, ulong Fragments,
    ulong NotHandled, ulong RewriteFailed, long Sessions, long Refused)
{
    /// <summary>NPTv6: packets the prefix map translated, their bytes, and those it left to the engine.</summary>
    public ulong PrefixRewritten { get; init; }

    public ulong PrefixRewrittenBytes { get; init; }

    public ulong PrefixToEngine { get; init; }

    /// <summary>Of the packets rewritten, those the program handed to their egress device itself.</summary>
    public ulong Forwarded { get; init; }
}
