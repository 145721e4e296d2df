using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;

namespace NatGate.Containers.Cni;

/// <summary>
/// NatGate as a CNI plugin (containernetworking/cni SPEC.md, version 1.0.0, and 0.4.0): the
/// runtime names the operation and the container in CNI_* environment variables and hands the
/// network configuration on stdin; ADD attaches the container's namespace to the NAT named
/// by the configuration's "nat" (the same bridge and leases as `natgate attach`, keyed by
/// container id and interface) and publishes runtimeConfig.portMappings as NetNat static
/// mappings; DEL undoes it and succeeds when there is nothing left to undo; CHECK verifies it.
/// Results and errors are JSON on stdout; an error exits 1.
/// </summary>
internal sealed class CniPlugin
{
    public const string PluginType = "natgate-cni";
    public const string DefaultVersion = "1.0.0";
    public static readonly IReadOnlyList<string> SupportedVersions = ["0.4.0", "1.0.0"];

    private readonly Func<string, string?> environment;

    public CniPlugin(Func<string, string?> environment) => this.environment = environment;

    /// <summary>Runs one CNI call; writes the result or error to <paramref name="output"/> and returns the exit code.</summary>
    public async Task<int> RunAsync(string input, TextWriter output, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(output);
        string version = VersionOf(input) ?? DefaultVersion;
        try
        {
            string command = Environment("CNI_COMMAND") ?? throw new CniException(CniErrorCode.InvalidEnvironmentVariables, "CNI_COMMAND is not set (ADD, DEL, CHECK or VERSION)");
            if (command == "VERSION")
            {
                await output.WriteLineAsync(VersionReply(SupportedVersions.Contains(version) ? version : DefaultVersion)).ConfigureAwait(false);
                return 0;
            }
            NetworkConfig config = NetworkConfig.Parse(input);
            version = config.Version;
            switch (command)
            {
                case "ADD":
                    await output.WriteLineAsync(await AddAsync(config, token).ConfigureAwait(false)).ConfigureAwait(false);
                    return 0;
                case "DEL":
                    await DeleteAsync(config, token).ConfigureAwait(false);
                    return 0;
                case "CHECK":
                    await CheckAsync(config, token).ConfigureAwait(false);
                    return 0;
                default:
                    throw new CniException(CniErrorCode.InvalidEnvironmentVariables, $"CNI_COMMAND={command}: use ADD, DEL, CHECK or VERSION");
            }
        }
        catch (CniException refused)
        {
            await output.WriteLineAsync(ErrorReply(version, refused.Code, refused.Message, refused.Details)).ConfigureAwait(false);
        }
        catch (NatControlException refused)
        {
            await output.WriteLineAsync(ErrorReply(version, CniErrorCode.ErrnoBase + (int)refused.Errno, $"{refused.Errno}: {refused.Message}", null)).ConfigureAwait(false);
        }
        catch (Exception failure) when (failure is DaemonUnreachableException or TimeoutException)
        {
            await output.WriteLineAsync(ErrorReply(version, CniErrorCode.TryAgainLater, failure.Message, null)).ConfigureAwait(false);
        }
        catch (Exception failure) when (failure is ContainerNetworkException or ControlProtocolException)
        {
            await output.WriteLineAsync(ErrorReply(version, CniErrorCode.InterfaceFailure, failure.Message, null)).ConfigureAwait(false);
        }
        catch (Exception failure) when (failure is IOException or UnauthorizedAccessException)
        {
            await output.WriteLineAsync(ErrorReply(version, CniErrorCode.IoFailure, failure.Message, null)).ConfigureAwait(false);
        }
        return 1;
    }

    private string? Environment(string name) => environment(name) is { Length: > 0 } value ? value : null;

    private string Required(string name, string what)
        => Environment(name) ?? throw new CniException(CniErrorCode.InvalidEnvironmentVariables, $"{name} is not set: {what}");

    /// <summary>CNI_CONTAINERID and CNI_IFNAME, checked; the lease's owner key.</summary>
    private (string ContainerId, string InterfaceName, string Owner) Container()
    {
        string containerId = Required("CNI_CONTAINERID", "the container's id");
        string interfaceName = Required("CNI_IFNAME", "the interface to create in the container");
        if (interfaceName.Length > 15 || interfaceName is "." or ".." || interfaceName.Any(c => c is '/' or ':' || char.IsWhiteSpace(c)))
        {
            throw new CniException(CniErrorCode.InvalidEnvironmentVariables, $"CNI_IFNAME={interfaceName} is not a Linux interface name (at most 15 characters, no '/', ':' or spaces)");
        }
        if (containerId.Any(char.IsWhiteSpace))
        {
            throw new CniException(CniErrorCode.InvalidEnvironmentVariables, $"CNI_CONTAINERID='{containerId}' holds white space");
        }
        return (containerId, interfaceName, $"cni:{containerId}/{interfaceName}");
    }

    private async Task<string> AddAsync(NetworkConfig config, CancellationToken token)
    {
        (_, string interfaceName, string owner) = Container();
        string netns = Required("CNI_NETNS", "the container's network namespace");
        using ControlClient client = ControlClient.Connect(config.Control);
        NatHostSide side = await ContainerAttachment.HostSideAsync(client, config.Nat, token).ConfigureAwait(false);
        var request = new AttachRequest(side.NatName, owner, netns, interfaceName, null, config.PortMappings, config.StateDirectory);
        ContainerLease lease = await ContainerAttachment.AttachAsync(client, side, request, token).ConfigureAwait(false);
        return Result(config.Version, lease, side.Prefix.Length, side.Gateway);
    }

    private async Task DeleteAsync(NetworkConfig config, CancellationToken token)
    {
        (_, _, string owner) = Container();
        using ControlClient client = ControlClient.Connect(config.Control);
        _ = await ContainerAttachment.DetachAsync(client, config.Nat, owner, config.StateDirectory, missingIsFine: true, token).ConfigureAwait(false);
    }

    private async Task CheckAsync(NetworkConfig config, CancellationToken token)
    {
        (string containerId, string interfaceName, string owner) = Container();
        string netns = Required("CNI_NETNS", "the container's network namespace");
        (ContainerLease? lease, LeaseBook? book) = ContainerAttachment.Find(config.Nat, owner, config.StateDirectory);
        if (lease is null || book is null)
        {
            throw new CniException(CniErrorCode.UnknownContainer, $"container {containerId} ({interfaceName}) holds no lease on NAT '{config.Nat}'");
        }
        if (!Ipv4Prefix.TryParse(book.Prefix, out Ipv4Prefix prefix))
        {
            throw new CniException(CniErrorCode.InterfaceFailure, $"the lease file's prefix '{book.Prefix}' is malformed");
        }
        if (config.PreviousAddresses is { } previous && !previous.Contains($"{lease.Address}/{prefix.Length.ToString(CultureInfo.InvariantCulture)}"))
        {
            throw new CniException(CniErrorCode.InterfaceFailure, $"prevResult names {string.Join(", ", previous)}, but the lease is {lease.Address}");
        }
        if (ContainerNetwork.Problem(netns, interfaceName, lease.HostInterface, lease.Address, prefix.Length, book.Gateway) is { } problem)
        {
            throw new CniException(CniErrorCode.InterfaceFailure, problem);
        }
        if (lease.Mappings.Count > 0)
        {
            using ControlClient client = ControlClient.Connect(config.Control);
            IReadOnlyList<StaticMappingView> mappings = await client.MappingsAsync(token).ConfigureAwait(false);
            foreach (LeaseMapping mapping in lease.Mappings)
            {
                if (!mappings.Any(made => made.StaticMappingID == mapping.StaticMappingId && string.Equals(made.NatName, book.Nat, StringComparison.OrdinalIgnoreCase)
                    && made.ExternalPort == mapping.ExternalPort && made.InternalIPAddress == lease.Address))
                {
                    throw new CniException(CniErrorCode.InterfaceFailure, $"static mapping {mapping.StaticMappingId.ToString(CultureInfo.InvariantCulture)} (port {mapping.ExternalPort.ToString(CultureInfo.InvariantCulture)} to {lease.Address}:{mapping.InternalPort.ToString(CultureInfo.InvariantCulture)}) is gone from NAT '{book.Nat}'");
                }
            }
        }
    }

    /// <summary>The ADD result ("Success" in SPEC.md): the two interfaces, the address, the default route.</summary>
    private static string Result(string version, ContainerLease lease, int length, string gateway)
    {
        var address = new JsonObject
        {
            ["address"] = $"{lease.Address}/{length.ToString(CultureInfo.InvariantCulture)}",
            ["gateway"] = gateway,
            ["interface"] = 1,
        };
        if (version != "1.0.0")
        {
            address["version"] = "4"; // 0.4.0 names the family; 1.0.0 dropped the field
        }
        var result = new JsonObject
        {
            ["cniVersion"] = version,
            ["interfaces"] = new JsonArray(
                Interface(lease.HostInterface, ContainerNetwork.HostMacAddress(lease.HostInterface), null),
                Interface(lease.Interface, ContainerNetwork.MacAddress(lease.Namespace, lease.Interface), lease.Namespace)),
            ["ips"] = new JsonArray(address),
            ["routes"] = new JsonArray(new JsonObject { ["dst"] = "0.0.0.0/0", ["gw"] = gateway }),
            ["dns"] = new JsonObject(),
        };
        return result.ToJsonString();
    }

    private static JsonObject Interface(string name, string? mac, string? sandbox)
    {
        var entry = new JsonObject { ["name"] = name };
        if (mac is not null)
        {
            entry["mac"] = mac;
        }
        if (sandbox is not null)
        {
            entry["sandbox"] = sandbox;
        }
        return entry;
    }

    public static string VersionReply(string version) => new JsonObject
    {
        ["cniVersion"] = version,
        ["supportedVersions"] = new JsonArray([.. SupportedVersions.Select(supported => (JsonNode)JsonValue.Create(supported))]),
    }.ToJsonString();

    public static string ErrorReply(string version, int code, string message, string? details)
    {
        var error = new JsonObject { ["cniVersion"] = version, ["code"] = code, ["msg"] = message };
        if (details is not null)
        {
            error["details"] = details;
        }
        return error.ToJsonString();
    }

    /// <summary>The configuration's cniVersion when it can be read, for the error form; null otherwise.</summary>
    private static string? VersionOf(string input)
    {
        try
        {
            return JsonNode.Parse(input) is JsonObject config && config["cniVersion"] is JsonValue value && value.TryGetValue(out string? version) ? version : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The network configuration's keys NatGate reads.</summary>
    private sealed record NetworkConfig(string Version, string Nat, string Control, string StateDirectory, IReadOnlyList<PortMapping> PortMappings, IReadOnlyList<string>? PreviousAddresses)
    {
        public static NetworkConfig Parse(string input)
        {
            JsonNode? root;
            try
            {
                root = JsonNode.Parse(input);
            }
            catch (JsonException malformed)
            {
                throw new CniException(CniErrorCode.DecodingFailure, "the network configuration on stdin is not JSON", malformed.Message);
            }
            if (root is not JsonObject config)
            {
                throw new CniException(CniErrorCode.DecodingFailure, "the network configuration on stdin is not a JSON object");
            }
            string version = Text(config, "cniVersion") ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "the network configuration has no cniVersion");
            if (!SupportedVersions.Contains(version))
            {
                throw new CniException(CniErrorCode.IncompatibleVersion, $"cniVersion {version} is not supported; natgate-cni speaks {string.Join(", ", SupportedVersions)}");
            }
            string? type = Text(config, "type");
            if (type is not null && type != PluginType)
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"type is '{type}', not '{PluginType}'");
            }
            string nat = Text(config, "nat") ?? throw new CniException(CniErrorCode.InvalidNetworkConfig, "the network configuration names no NAT instance: add \"nat\": \"NAME\"");
            string control = Text(config, "control") ?? ControlServer.DefaultDirectory;
            string stateDirectory = Text(config, "stateDirectory") ?? StateFilePolicy.DefaultDirectory;
            return new NetworkConfig(version, nat, control, stateDirectory, ReadPortMappings(config), ReadPreviousAddresses(config));
        }

        private static string? Text(JsonObject config, string key)
        {
            JsonNode? node = config[key];
            if (node is null)
            {
                return null;
            }
            if (node is not JsonValue value || !value.TryGetValue(out string? text))
            {
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"\"{key}\" must be a string");
            }
            return text.Length > 0 ? text : null;
        }

        /// <summary>runtimeConfig.portMappings (CONVENTIONS.md): hostPort, containerPort, protocol, hostIP. IPv6 host addresses are left to others.</summary>
        private static List<PortMapping> ReadPortMappings(JsonObject config)
        {
            var mappings = new List<PortMapping>();
            if (config["runtimeConfig"] is not JsonObject runtime || runtime["portMappings"] is not JsonArray entries)
            {
                return mappings;
            }
            foreach (JsonNode? entry in entries)
            {
                if (entry is not JsonObject mapping)
                {
                    throw new CniException(CniErrorCode.InvalidNetworkConfig, "runtimeConfig.portMappings holds something that is not an object");
                }
                ushort hostPort = Port(mapping, "hostPort");
                ushort containerPort = Port(mapping, "containerPort");
                string protocolText = Text(mapping, "protocol") ?? "tcp";
                StaticMappingProtocol protocol = protocolText.ToUpperInvariant() switch
                {
                    "TCP" => StaticMappingProtocol.TCP,
                    "UDP" => StaticMappingProtocol.UDP,
                    _ => throw new CniException(CniErrorCode.InvalidNetworkConfig, $"portMappings protocol '{protocolText}': NatGate publishes tcp and udp"),
                };
                string? hostAddress = Text(mapping, "hostIP");
                if (hostAddress is not null && hostAddress.Contains(':', StringComparison.Ordinal))
                {
                    continue;
                }
                if (hostAddress is not null && !Ipv4Address.TryParse(hostAddress, out _))
                {
                    throw new CniException(CniErrorCode.InvalidNetworkConfig, $"portMappings hostIP '{hostAddress}' is not an address");
                }
                mappings.Add(new PortMapping(hostPort, containerPort, protocol, hostAddress is "0.0.0.0" ? null : hostAddress));
            }
            return mappings;
        }

        private static ushort Port(JsonObject mapping, string key)
        {
            if (mapping[key] is JsonValue value && value.TryGetValue(out int port) && port is > 0 and <= 65535)
            {
                return (ushort)port;
            }
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"portMappings {key} must be a port number, 1 to 65535");
        }

        /// <summary>prevResult.ips[].address, for CHECK; null when there is no prevResult.</summary>
        private static List<string>? ReadPreviousAddresses(JsonObject config)
        {
            if (config["prevResult"] is not JsonObject previous || previous["ips"] is not JsonArray ips)
            {
                return null;
            }
            return [.. ips.OfType<JsonObject>().Select(ip => ip["address"] is JsonValue address && address.TryGetValue(out string? text) ? text : "").Where(text => text.Length > 0)];
        }
    }
}
