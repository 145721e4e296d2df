using System.Globalization;
using NatGate.Core.Addressing;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using Tomlyn;
using Tomlyn.Model;

namespace NatGate.Configuration;

/// <summary>The daemon's configuration file: NetNat instances and static mappings, the hairpinning mode, and an optional ipnat.conf.</summary>
/// <param name="NetNat">The NetNat objects.</param>
/// <param name="RulesPath">The ipnat.conf to load as well, resolved against the configuration file's folder.</param>
/// <param name="Rules">That file's rules, parsed and checked with the configuration (empty without one).</param>
/// <param name="Daemon">The [Daemon] table: `natgate run`'s settings (all null without one).</param>
public sealed record GatewayConfiguration(NetNatModel NetNat, string? RulesPath, IpnatRules Rules, DaemonSettings Daemon);

/// <summary>A configuration that cannot be applied; <see cref="Problems"/> lists every reason, each with file and line where known.</summary>
public sealed class ConfigurationException : Exception
{
    public ConfigurationException(IReadOnlyList<string> problems)
        : base(string.Join(Environment.NewLine, problems)) => Problems = problems;

    public ConfigurationException()
        : this([])
    {
    }

    public ConfigurationException(string message)
        : this([message])
    {
    }

    public ConfigurationException(string message, Exception innerException)
        : base(message, innerException) => Problems = [message];

    public IReadOnlyList<string> Problems { get; }
}

/// <summary>
/// Reads the TOML configuration (docs/CONFIGURATION.md). Keys are the NetNat cmdlets' parameter
/// names, so a Windows operator's New-NetNat line reads across. The whole file is checked before
/// anything is returned; every problem is reported, not only the first.
/// </summary>
public static class GatewayConfigurationFile
{
    private static readonly HashSet<string> TopLevelKeys = ["Rules", "InterRoutingDomainHairpinningMode", "Nat", "StaticMapping", "Daemon"];
    private static readonly HashSet<string> DaemonKeys =
    [
        "Inside", "External", "OutsideInterface", "InsideInterfaces", "Tun", "Mapping", "Filtering",
        "UdpTimeout", "TcpEstablishedTimeout", "TcpTransitoryTimeout", "IcmpTimeout",
        "ControlDirectory", "StateFile", "StateDirectory", "Checkpoint", "Metrics",
        "LogLevel", "LogFormat", "LogSessions", "Queues", "BusyPoll", "Offload", "FastPath",
        "MaximumSessions", "MaximumSessionsPerHost", "Plumbing", "Pcp", "PcpMappingsPerHost",
        "SessionLog", "SessionLogSize", "SessionLogFiles", "SessionSyslog", "SessionIpfix",
    ];
    private static readonly HashSet<string> NatKeys =
    [
        "Name", "InternalIPInterfaceAddressPrefix", "ExternalIPInterfaceAddressPrefix", "ExternalAddress",
        "TcpEstablishedConnectionTimeout", "TcpTransientConnectionTimeout", "UdpIdleSessionTimeout", "IcmpQueryTimeout",
        "TcpFilteringBehavior", "UdpFilteringBehavior", "UdpInboundRefresh", "MappingBehavior", "PreservePortParity",
    ];
    private static readonly HashSet<string> ExternalAddressKeys = ["IPAddress", "PortStart", "PortEnd"];
    private static readonly HashSet<string> StaticMappingKeys =
    [
        "NatName", "StaticMappingID", "Protocol", "ExternalIPAddress", "ExternalPort", "InternalIPAddress", "InternalPort", "RemoteExternalIPAddressPrefix",
    ];

    public static GatewayConfiguration Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException($"{path}: cannot read the configuration: {error.Message}");
        }
        return Parse(text, path);
    }

    public static GatewayConfiguration Parse(string text, string fileName)
    {
        TomlTable document;
        try
        {
            document = TomlSerializer.Deserialize<TomlTable>(text) ?? new TomlTable();
        }
        catch (TomlException error)
        {
            throw new ConfigurationException($"{fileName}:{error.Line}:{error.Column}: {FirstLine(error.Message)}");
        }
        var reader = new Reader(text, fileName);
        reader.CheckKeys(document, TopLevelKeys, "the top level");

        string? rules = reader.String(document, "Rules");
        if (rules is not null)
        {
            rules = Path.GetFullPath(rules, Path.GetDirectoryName(Path.GetFullPath(fileName)) ?? ".");
        }
        HairpinningMode hairpinning = reader.Choice(document, "InterRoutingDomainHairpinningMode", HairpinningMode.ExternalSource,
            ("Enabled", HairpinningMode.ExternalSource), ("ExternalSource", HairpinningMode.ExternalSource), ("Disabled", HairpinningMode.Disabled));

        DaemonSettings daemon = ReadDaemon(reader, document, fileName);

        var instances = new List<NatInstance>();
        foreach (TomlTable table in reader.Tables(document, "Nat"))
        {
            reader.CheckKeys(table, NatKeys, "[[Nat]]");
            string name = reader.String(table, "Name") ?? "";
            if (name.Length == 0)
            {
                reader.Problem("[[Nat]]", "Name", "every [[Nat]] needs a Name");
            }
            IpPrefix? internalPrefix = reader.Prefix(table, "InternalIPInterfaceAddressPrefix");
            if (internalPrefix is null && !table.ContainsKey("InternalIPInterfaceAddressPrefix"))
            {
                reader.Problem($"[[Nat]] '{name}'", "InternalIPInterfaceAddressPrefix", "is required (the inside prefix, a.b.c.d/n)");
            }
            var externals = new List<NatExternalAddress>();
            foreach (TomlTable external in reader.Tables(table, "ExternalAddress"))
            {
                reader.CheckKeys(external, ExternalAddressKeys, "[[Nat.ExternalAddress]]");
                IpAddress? address = reader.Address(external, "IPAddress");
                if (address is null && !external.ContainsKey("IPAddress"))
                {
                    reader.Problem($"[[Nat.ExternalAddress]] of '{name}'", "IPAddress", "is required");
                }
                ushort start = reader.Port(external, "PortStart") ?? 1024;
                ushort end = reader.Port(external, "PortEnd") ?? 65535;
                if (address is { } value)
                {
                    externals.Add(new NatExternalAddress(value, start, end));
                }
            }
            NatPolicy defaults = NatPolicy.Default;
            instances.Add(new NatInstance
            {
                Name = name,
                InternalIPInterfaceAddressPrefix = internalPrefix ?? Ipv4Prefix.Any,
                ExternalIPInterfaceAddressPrefix = reader.Prefix(table, "ExternalIPInterfaceAddressPrefix"),
                ExternalAddresses = externals,
                TcpEstablishedConnectionTimeout = reader.Seconds(table, "TcpEstablishedConnectionTimeout") ?? defaults.TcpEstablishedTimeout,
                TcpTransientConnectionTimeout = reader.Seconds(table, "TcpTransientConnectionTimeout") ?? defaults.TcpTransitoryTimeout,
                UdpIdleSessionTimeout = reader.Seconds(table, "UdpIdleSessionTimeout") ?? defaults.UdpIdleTimeout,
                IcmpQueryTimeout = reader.Seconds(table, "IcmpQueryTimeout") ?? defaults.IcmpQueryTimeout,
                TcpFilteringBehavior = reader.Filtering(table, "TcpFilteringBehavior", defaults.TcpFiltering),
                UdpFilteringBehavior = reader.Filtering(table, "UdpFilteringBehavior", defaults.UdpFiltering),
                UdpInboundRefresh = reader.Boolean(table, "UdpInboundRefresh") ?? false,
                MappingBehavior = reader.Choice(table, "MappingBehavior", MappingBehavior.EndpointIndependent, [.. NetNatValues.Mapping]),
                PreservePortParity = reader.Boolean(table, "PreservePortParity") ?? false,
            });
        }

        var mappings = new List<NatStaticMapping>();
        int nextId = 1;
        foreach (TomlTable table in reader.Tables(document, "StaticMapping"))
        {
            reader.CheckKeys(table, StaticMappingKeys, "[[StaticMapping]]");
            string natName = reader.String(table, "NatName") ?? (instances.Count == 1 ? instances[0].Name : "");
            ushort? externalPort = reader.Port(table, "ExternalPort");
            IpAddress? internalAddress = reader.Address(table, "InternalIPAddress");
            if (externalPort is null && !table.ContainsKey("ExternalPort"))
            {
                reader.Problem("[[StaticMapping]]", "ExternalPort", "is required");
            }
            if (internalAddress is null && !table.ContainsKey("InternalIPAddress"))
            {
                reader.Problem("[[StaticMapping]]", "InternalIPAddress", "is required");
            }
            int id = (int?)reader.Integer(table, "StaticMappingID", 0, int.MaxValue) ?? nextId;
            nextId = Math.Max(nextId, id + 1);
            mappings.Add(new NatStaticMapping
            {
                NatName = natName,
                StaticMappingID = id,
                Protocol = reader.Choice(table, "Protocol", StaticMappingProtocol.TCP, ("TCP", StaticMappingProtocol.TCP), ("UDP", StaticMappingProtocol.UDP)),
                ExternalIPAddress = reader.Address(table, "ExternalIPAddress") ?? Ipv4Address.Any,
                ExternalPort = externalPort ?? 0,
                InternalIPAddress = internalAddress ?? Ipv4Address.Any,
                InternalPort = reader.Port(table, "InternalPort"),
                RemoteExternalIPAddressPrefix = reader.Prefix(table, "RemoteExternalIPAddressPrefix") ?? Ipv4Prefix.Any,
            });
        }

        var model = new NetNatModel { Instances = instances, StaticMappings = mappings, InterRoutingDomainHairpinningMode = hairpinning };
        IpnatRules ipnat = new([], []);
        if (rules is not null)
        {
            try
            {
                ipnat = IpnatParser.ParseFile(rules);
            }
            catch (RuleSyntaxException error)
            {
                reader.Problems.Add(error.Message);
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                reader.Problems.Add($"{fileName}: Rules: cannot read {rules}: {error.Message}");
            }
        }
        if (reader.Problems.Count == 0)
        {
            foreach (string problem in model.Validate())
            {
                reader.Problems.Add($"{fileName}: {problem}");
            }
        }
        if (reader.Problems.Count > 0)
        {
            throw new ConfigurationException(reader.Problems);
        }
        return new GatewayConfiguration(model, rules, ipnat, daemon);
    }

    /// <summary>
    /// The [Daemon] table. Paths are resolved against the file's folder; choices and numbers are
    /// checked here so that a mistake names the file, line and key, like every other.
    /// </summary>
    private static DaemonSettings ReadDaemon(Reader reader, TomlTable document, string fileName)
    {
        if (!document.TryGetValue("Daemon", out object? value))
        {
            return new DaemonSettings();
        }
        if (value is not TomlTable table)
        {
            reader.Problem("the top level", "Daemon", "must be a table ([Daemon])");
            return new DaemonSettings();
        }
        reader.CheckKeys(table, DaemonKeys, "[Daemon]");
        string folder = Path.GetDirectoryName(Path.GetFullPath(fileName)) ?? ".";
        string? FullPath(string key) => reader.String(table, key) is string path ? Path.GetFullPath(path, folder) : null;
        int? Number(string key, int minimum) => (int?)reader.Integer(table, key, minimum, int.MaxValue);
        string? Word(string key, params string[] choices)
        {
            string? text = reader.String(table, key);
            if (text is not null && !choices.Contains(text, StringComparer.OrdinalIgnoreCase))
            {
                reader.Problem("[Daemon]", key, $"'{text}' is not one of {string.Join(", ", choices)}");
                return null;
            }
            return text;
        }
        var locations = new Dictionary<string, string>();
        foreach (string key in table.Keys)
        {
            locations[key] = reader.Where(key);
        }
        return new DaemonSettings
        {
            Inside = reader.Strings(table, "Inside"),
            External = reader.Strings(table, "External"),
            OutsideInterface = reader.String(table, "OutsideInterface"),
            InsideInterfaces = reader.Strings(table, "InsideInterfaces"),
            Tun = reader.String(table, "Tun"),
            Mapping = Word("Mapping", "eim", "adm", "apdm", "endpoint-independent", "address-dependent", "address-and-port-dependent"),
            Filtering = Word("Filtering", "eif", "adf", "apdf", "endpoint-independent", "address-dependent", "address-and-port-dependent"),
            UdpTimeout = Number("UdpTimeout", 1),
            TcpEstablishedTimeout = Number("TcpEstablishedTimeout", 1),
            TcpTransitoryTimeout = Number("TcpTransitoryTimeout", 1),
            IcmpTimeout = Number("IcmpTimeout", 1),
            ControlDirectory = FullPath("ControlDirectory"),
            StateFile = FullPath("StateFile"),
            StateDirectory = FullPath("StateDirectory"),
            Checkpoint = Number("Checkpoint", 0),
            Metrics = reader.String(table, "Metrics"),
            LogLevel = Word("LogLevel", "Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"),
            LogFormat = Word("LogFormat", "auto", "systemd", "simple", "json"),
            LogSessions = reader.Boolean(table, "LogSessions"),
            Queues = Number("Queues", 1),
            BusyPoll = Number("BusyPoll", 0),
            Offload = reader.Boolean(table, "Offload"),
            FastPath = Word("FastPath", "auto", "on", "off"),
            MaximumSessions = Number("MaximumSessions", 1),
            MaximumSessionsPerHost = Number("MaximumSessionsPerHost", 0),
            Plumbing = reader.Boolean(table, "Plumbing"),
            Pcp = reader.Boolean(table, "Pcp"),
            PcpMappingsPerHost = Number("PcpMappingsPerHost", 0),
            SessionLog = FullPath("SessionLog"),
            SessionLogSize = Number("SessionLogSize", 1),
            SessionLogFiles = Number("SessionLogFiles", 1),
            SessionSyslog = reader.String(table, "SessionSyslog"),
            SessionIpfix = reader.String(table, "SessionIpfix"),
            Locations = locations,
        };
    }

    private static string FirstLine(string message)
    {
        int newline = message.IndexOf('\n', StringComparison.Ordinal);
        return (newline < 0 ? message : message[..newline]).Trim();
    }

    /// <summary>Reads typed values, collecting problems with the line (and column) of the offending key.</summary>
    private sealed class Reader(string text, string fileName)
    {
        private readonly string[] lines = text.Split('\n');

        public List<string> Problems { get; } = [];

        public void Problem(string where, string key, string what)
            => Problems.Add(where.Length == 0 ? $"{Locate(key)}: {key} {what}." : $"{Locate(key)}: {where}: {key} {what}.");

        /// <summary>file:line:column of <paramref name="key"/>'s first assignment, or the file's name.</summary>
        public string Where(string key) => Locate(key);

        private string Locate(string key)
        {
            for (int line = 0; line < lines.Length; line++)
            {
                string trimmed = lines[line].TrimStart();
                if (trimmed.StartsWith(key, StringComparison.Ordinal) && trimmed[key.Length..].TrimStart().StartsWith('='))
                {
                    return $"{fileName}:{line + 1}:{lines[line].Length - trimmed.Length + 1}";
                }
            }
            return fileName;
        }

        public void CheckKeys(TomlTable table, HashSet<string> allowed, string where)
        {
            foreach (string key in table.Keys)
            {
                if (!allowed.Contains(key))
                {
                    string? near = allowed.FirstOrDefault(candidate => string.Equals(candidate, key, StringComparison.OrdinalIgnoreCase));
                    Problem(where, key, near is null
                        ? $"is not a known key (known: {string.Join(", ", allowed.Order(StringComparer.Ordinal))})"
                        : $"is not a known key; keys are case-sensitive: did you mean {near}?");
                }
            }
        }

        public List<TomlTable> Tables(TomlTable table, string key)
        {
            if (!table.TryGetValue(key, out object? value))
            {
                return [];
            }
            if (value is TomlTableArray array)
            {
                return [.. array];
            }
            if (value is TomlTable single)
            {
                return [single];
            }
            Problem("the top level", key, $"must be a table ([[{key}]]), not a {value.GetType().Name}");
            return [];
        }

        public string? String(TomlTable table, string key)
        {
            if (!table.TryGetValue(key, out object? value))
            {
                return null;
            }
            if (value is string text)
            {
                return text;
            }
            Problem("", key, "must be a string in quotes");
            return null;
        }

        public IReadOnlyList<string>? Strings(TomlTable table, string key)
        {
            if (!table.TryGetValue(key, out object? value))
            {
                return null;
            }
            if (value is string single)
            {
                return [single];
            }
            if (value is TomlArray array && array.All(item => item is string))
            {
                return [.. array.Cast<string>()];
            }
            Problem("", key, "must be a string or a list of strings in quotes, such as [\"a\", \"b\"]");
            return null;
        }

        public long? Integer(TomlTable table, string key, long minimum, long maximum)
        {
            if (!table.TryGetValue(key, out object? value))
            {
                return null;
            }
            if (value is long number && number >= minimum && number <= maximum)
            {
                return number;
            }
            Problem("", key, $"must be a whole number from {minimum} to {maximum}, not {Show(value)}");
            return null;
        }

        public ushort? Port(TomlTable table, string key) => (ushort?)Integer(table, key, 1, 65535);

        public TimeSpan? Seconds(TomlTable table, string key)
            => Integer(table, key, 1, int.MaxValue) is { } seconds ? TimeSpan.FromSeconds(seconds) : null;

        public bool? Boolean(TomlTable table, string key)
        {
            if (!table.TryGetValue(key, out object? value))
            {
                return null;
            }
            if (value is bool flag)
            {
                return flag;
            }
            Problem("", key, $"must be true or false, not {Show(value)}");
            return null;
        }

        /// <summary>An address of either family (an IPv6 instance's are IPv6).</summary>
        public IpAddress? Address(TomlTable table, string key)
        {
            string? text = String(table, key);
            if (text is null)
            {
                return null;
            }
            if (IpAddress.TryParse(text, out IpAddress address))
            {
                return address;
            }
            Problem("", key, $"'{text}' is not an IP address (a.b.c.d, or IPv6 such as 2001:db8::10)");
            return null;
        }

        /// <summary>A prefix of either family.</summary>
        public IpPrefix? Prefix(TomlTable table, string key)
        {
            string? text = String(table, key);
            if (text is null)
            {
                return null;
            }
            if (text.Contains('/', StringComparison.Ordinal) && IpPrefix.TryParse(text, out IpPrefix prefix))
            {
                return prefix;
            }
            Problem("", key, $"'{text}' is not a prefix (a.b.c.d/n, or IPv6 such as fd00:77::/64)");
            return null;
        }

        public FilteringBehavior Filtering(TomlTable table, string key, FilteringBehavior fallback)
            => Choice(table, key, fallback, [.. NetNatValues.Filtering]);

        public T Choice<T>(TomlTable table, string key, T fallback, params (string Name, T Value)[] choices)
        {
            string? text = String(table, key);
            if (text is null)
            {
                return fallback;
            }
            foreach ((string name, T value) in choices)
            {
                if (string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
                {
                    return value;
                }
            }
            Problem("", key, $"'{text}' is not one of {string.Join(", ", choices.Select(choice => choice.Name))}");
            return fallback;
        }

        private static string Show(object value) => value switch
        {
            string text => $"\"{text}\"",
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
    }
}
