using NatGate.Core.Addressing;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Daemon;

/// <summary>An external address (IPv4, or IPv6 for NAT66) and its port range from --external ADDR[:LO-HI], [IPV6][:LO-HI] or INTERFACE[:LO-HI].</summary>
public readonly record struct ExternalEndpointRange(IpAddress Address, ushort PortStart, ushort PortEnd)
{
    /// <summary>The interface whose address this is, followed as it changes; null for a fixed address.</summary>
    public string? Interface { get; init; }

    /// <summary>False when no range was given: 1024-65535, or the shared range when the address is the host's own.</summary>
    public bool PortsGiven { get; init; } = true;

    /// <summary>Where it was given, as messages start: "--external " or "natgate.toml:3:1: External: ".</summary>
    public string Where { get; init; } = "--external ";
}

/// <summary>Whether established flows are rewritten in the kernel (DESIGN.md, "Two paths").</summary>
public enum FastPathMode
{
    /// <summary>The kernel fast path where BPF can be loaded; the TUN path alone otherwise, said once in the log.</summary>
    Auto,

    /// <summary>The kernel fast path or no start (exit 2).</summary>
    On,

    /// <summary>The TUN path alone.</summary>
    Off,
}

/// <summary>What `natgate run` was told.</summary>
public sealed record GatewayRunOptions
{
    /// <summary>Inside prefixes of either family: each maps to the external addresses of its own family.</summary>
    public IReadOnlyList<IpPrefix> Inside { get; init; } = [];
    public IReadOnlyList<ExternalEndpointRange> External { get; init; } = [];
    public string? RulesFile { get; init; }
    public string? ConfigFile { get; init; }

    /// <summary>The configuration file as read at start (--config), so that it is read once.</summary>
    public Configuration.GatewayConfiguration? Configuration { get; init; }

    /// <summary>The least level logged by --log-level, over Logging__LogLevel__Default; null when not given.</summary>
    public Microsoft.Extensions.Logging.LogLevel? LogLevel { get; init; }

    /// <summary>The least level logged by the [Daemon] table's LogLevel, under the variables; null: Information.</summary>
    public Microsoft.Extensions.Logging.LogLevel? LogLevelInFile { get; init; }

    /// <summary>How log lines look (--log-format).</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Auto;
    public string TunName { get; init; } = "natgate0";

    /// <summary>--fast-path auto|on|off.</summary>
    public FastPathMode FastPath { get; init; } = FastPathMode.Auto;
    public string? OutsideInterface { get; init; }

    /// <summary>The interfaces the inside lives behind (--inside-interface); empty: read from the main table.</summary>
    public IReadOnlyList<string> InsideInterfaces { get; init; } = [];
    public MappingBehavior Mapping { get; init; } = MappingBehavior.EndpointIndependent;
    public FilteringBehavior Filtering { get; init; } = FilteringBehavior.AddressDependent;
    public TimeSpan UdpIdleTimeout { get; init; } = NatPolicy.Default.UdpIdleTimeout;
    public TimeSpan TcpEstablishedTimeout { get; init; } = NatPolicy.Default.TcpEstablishedTimeout;
    public TimeSpan TcpTransitoryTimeout { get; init; } = NatPolicy.Default.TcpTransitoryTimeout;
    public TimeSpan IcmpQueryTimeout { get; init; } = NatPolicy.Default.IcmpQueryTimeout;
    public string ControlDirectory { get; init; } = "/run/natgate";
    public string? StateFile { get; init; }

    /// <summary>Where `natgate state save` (ipfs -W) may write through the control API (--state-directory).</summary>
    public string StateDirectory { get; init; } = Control.StateFilePolicy.DefaultDirectory;
    public string? Metrics { get; init; }
    public bool NoPlumbing { get; init; }
    public bool LogSessions { get; init; }

    /// <summary>Where the session log goes (--session-log, --session-syslog, --session-ipfix); none by default.</summary>
    public NatGate.SessionLog.SessionLogOptions SessionLog { get; init; } = new();
    public int MaximumSessions { get; init; } = 1 << 20;

    /// <summary>Sessions one inside host may hold (--max-sessions-per-host; RFC 6888 REQ-4); 0: no limit.</summary>
    public int MaximumSessionsPerHost { get; init; } = new FlowTableLimits().MaximumSessionsPerHost;
    public int RoutingTable { get; init; } = 100;
    public int Mtu { get; init; } = 1500;

    /// <summary>Checksum and segmentation offload on the TUN (virtio headers, 64 KiB super-packets).</summary>
    public bool Offload { get; init; } = true;

    /// <summary>After a batch, how long a worker keeps reading instead of sleeping (0: never busy-poll).</summary>
    public TimeSpan BusyPoll { get; init; } = TimeSpan.FromMicroseconds(100);

    /// <summary>With --state: how often the sessions are saved while running (--checkpoint), for a restart after a crash; zero: only at stop.</summary>
    public TimeSpan Checkpoint { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>TUN queues (IFF_MULTI_QUEUE), one worker thread each; the workers share the table under one lock per batch.</summary>
    public int Queues { get; init; } = 1;

    /// <summary>--pcp: answer PCP (RFC 6887) and NAT-PMP (RFC 6886) on UDP 5351 of the inside addresses.</summary>
    public bool PortMapping { get; init; }

    /// <summary>--pcp-mappings-per-host: port mappings one inside host may hold; 0: no limit.</summary>
    public int PortMappingsPerHost { get; init; } = Core.PortMappings.PortMappingLimits.DefaultMaximumPerHost;
}
