namespace NatGate.Configuration;

/// <summary>
/// The configuration file's [Daemon] table: the settings `natgate run` otherwise takes as flags,
/// each null when the file leaves it out. A flag given on the command line wins over the file
/// (issue 11, "The configuration file holds the daemon's settings"). Values are kept as the
/// flags' own texts where the flag parser already checks them, so both say the same.
/// </summary>
public sealed record DaemonSettings
{
    public IReadOnlyList<string>? Inside { get; init; }
    public IReadOnlyList<string>? External { get; init; }
    public string? OutsideInterface { get; init; }
    public IReadOnlyList<string>? InsideInterfaces { get; init; }
    public string? Tun { get; init; }
    public string? Mapping { get; init; }
    public string? Filtering { get; init; }
    public int? UdpTimeout { get; init; }
    public int? TcpEstablishedTimeout { get; init; }
    public int? TcpTransitoryTimeout { get; init; }
    public int? IcmpTimeout { get; init; }
    public string? ControlDirectory { get; init; }
    public string? StateFile { get; init; }
    public string? StateDirectory { get; init; }
    public int? Checkpoint { get; init; }
    public string? Metrics { get; init; }
    public string? LogLevel { get; init; }
    public string? LogFormat { get; init; }
    public bool? LogSessions { get; init; }

    /// <summary>The session log: a JSON lines file (a full path), its rotation size in MiB and files kept, a syslog target, an IPFIX collector.</summary>
    public string? SessionLog { get; init; }
    public int? SessionLogSize { get; init; }
    public int? SessionLogFiles { get; init; }
    public string? SessionSyslog { get; init; }
    public string? SessionIpfix { get; init; }
    public int? Queues { get; init; }
    public int? BusyPoll { get; init; }
    public string? FastPath { get; init; }
    public bool? Offload { get; init; }
    public int? MaximumSessions { get; init; }
    public int? MaximumSessionsPerHost { get; init; }
    public bool? Plumbing { get; init; }
    public bool? Pcp { get; init; }
    public int? PcpMappingsPerHost { get; init; }

    /// <summary>Where each key stands in the file ("natgate.toml:12:1"), for errors found after parsing, such as a bad --external text.</summary>
    public IReadOnlyDictionary<string, string> Locations { get; init; } = new Dictionary<string, string>();

    /// <summary>The place of <paramref name="key"/> in the file, or the file's name; for messages.</summary>
    public string Where(string key) => Locations.TryGetValue(key, out string? where) ? where : "";
}
