using System.Globalization;
using System.Text.Json;
using NatGate.Linux.Processes;

namespace NatGate.Containers;

/// <summary>
/// The kernel side of attaching a namespace, all through iproute2 as the rest of NatGate does:
/// the NAT's bridge with its gateway address, a veth pair with one end on the bridge and the
/// other inside the namespace, and the namespace's address and default route. Inside a
/// namespace given by path, `ip` runs under `nsenter --net=PATH` (`ip -n` takes only names).
/// Everything happens in the network namespace of the calling process.
/// </summary>
internal static class ContainerNetwork
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Creates the bridge when missing and makes sure it holds GATEWAY/LENGTH and is up (the kernel then routes the prefix to it).</summary>
    public static void EnsureBridge(string bridge, string gateway, int length)
    {
        if (!LinkExists(bridge))
        {
            Check(Ip(["link", "add", bridge, "type", "bridge"]), $"ip link add {bridge} type bridge");
        }
        string address = $"{gateway}/{length.ToString(CultureInfo.InvariantCulture)}";
        Check(Ip(["addr", "replace", address, "dev", bridge]), $"ip addr replace {address} dev {bridge}");
        Check(Ip(["link", "set", bridge, "up"]), $"ip link set {bridge} up");
    }

    /// <summary>Deletes a link (a bridge, or a veth with its peer); false when it was already gone.</summary>
    public static bool DeleteLink(string name)
    {
        if (!LinkExists(name))
        {
            return false;
        }
        CommandResult result = Ip(["link", "del", name]);
        if (result.ExitCode != 0 && LinkExists(name))
        {
            Check(result, $"ip link del {name}");
        }
        return true;
    }

    public static bool LinkExists(string name) => Ip(["link", "show", "dev", name]).ExitCode == 0;

    /// <summary>
    /// A veth pair from <paramref name="hostInterface"/> (on the bridge, up) to
    /// <paramref name="interfaceName"/> inside the namespace at <paramref name="namespacePath"/>,
    /// which gets ADDRESS/LENGTH, lo and itself up, and a default route via the gateway. A step
    /// that fails undoes the pair.
    /// </summary>
    public static void Connect(string namespacePath, string interfaceName, string hostInterface, string bridge, string address, int length, string gateway)
    {
        if (!File.Exists(namespacePath))
        {
            throw new ContainerNetworkException($"{namespacePath}: no such network namespace");
        }
        Check(Ip(["link", "add", hostInterface, "type", "veth", "peer", "name", interfaceName, "netns", namespacePath]),
            $"ip link add {hostInterface} type veth peer name {interfaceName} netns {namespacePath}");
        try
        {
            Check(Ip(["link", "set", hostInterface, "master", bridge, "up"]), $"ip link set {hostInterface} master {bridge} up");
            string prefixLength = length.ToString(CultureInfo.InvariantCulture);
            string batch = string.Join('\n',
                "link set lo up",
                $"addr add {address}/{prefixLength} dev {interfaceName}",
                $"link set {interfaceName} up",
                $"route add default via {gateway} dev {interfaceName}") + "\n";
            Check(Inside(namespacePath, ["-batch", "-"], batch), $"ip -batch - in {namespacePath}");
        }
        catch
        {
            _ = Ip(["link", "del", hostInterface]);
            throw;
        }
    }

    /// <summary>The interface's MAC address inside the namespace; null when it cannot be read.</summary>
    public static string? MacAddress(string namespacePath, string interfaceName)
    {
        CommandResult result = Inside(namespacePath, ["-j", "link", "show", "dev", interfaceName]);
        if (result.ExitCode != 0)
        {
            return null;
        }
        using JsonDocument links = JsonDocument.Parse(result.Output);
        return links.RootElement.GetArrayLength() > 0 && links.RootElement[0].TryGetProperty("address", out JsonElement mac) ? mac.GetString() : null;
    }

    /// <summary>The host end's MAC address; null when it cannot be read.</summary>
    public static string? HostMacAddress(string hostInterface)
    {
        CommandResult result = Ip(["-j", "link", "show", "dev", hostInterface]);
        if (result.ExitCode != 0)
        {
            return null;
        }
        using JsonDocument links = JsonDocument.Parse(result.Output);
        return links.RootElement.GetArrayLength() > 0 && links.RootElement[0].TryGetProperty("address", out JsonElement mac) ? mac.GetString() : null;
    }

    /// <summary>
    /// What is missing of an attachment (CNI CHECK): the host end, the interface inside, its
    /// address, its default route via the gateway; null when all is there.
    /// </summary>
    public static string? Problem(string namespacePath, string interfaceName, string hostInterface, string address, int length, string gateway)
    {
        if (!LinkExists(hostInterface))
        {
            return $"the host end {hostInterface} is missing";
        }
        if (!File.Exists(namespacePath))
        {
            return $"the network namespace {namespacePath} is gone";
        }
        CommandResult addresses = Inside(namespacePath, ["-j", "addr", "show", "dev", interfaceName]);
        if (addresses.ExitCode != 0)
        {
            return $"{interfaceName} is missing in {namespacePath}";
        }
        bool found = false;
        bool up = false;
        using (JsonDocument document = JsonDocument.Parse(addresses.Output))
        {
            foreach (JsonElement link in document.RootElement.EnumerateArray())
            {
                up |= link.TryGetProperty("flags", out JsonElement flags) && flags.EnumerateArray().Any(flag => flag.GetString() == "UP");
                if (!link.TryGetProperty("addr_info", out JsonElement infos))
                {
                    continue;
                }
                found |= infos.EnumerateArray().Any(info => info.TryGetProperty("local", out JsonElement local) && local.GetString() == address
                    && info.TryGetProperty("prefixlen", out JsonElement prefix) && prefix.GetInt32() == length);
            }
        }
        if (!found)
        {
            return $"{interfaceName} in {namespacePath} does not hold {address}/{length.ToString(CultureInfo.InvariantCulture)}";
        }
        if (!up)
        {
            return $"{interfaceName} in {namespacePath} is down";
        }
        CommandResult routes = Inside(namespacePath, ["-j", "route", "show", "default"]);
        using (JsonDocument document = JsonDocument.Parse(routes.ExitCode == 0 ? routes.Output : "[]"))
        {
            bool routed = document.RootElement.EnumerateArray().Any(route => route.TryGetProperty("gateway", out JsonElement via) && via.GetString() == gateway
                && route.TryGetProperty("dev", out JsonElement dev) && dev.GetString() == interfaceName);
            if (!routed)
            {
                return $"{namespacePath} has no default route via {gateway} on {interfaceName}";
            }
        }
        return null;
    }

    private static CommandResult Ip(IReadOnlyList<string> arguments, string? input = null) => Run("ip", arguments, input);

    private static CommandResult Inside(string namespacePath, IReadOnlyList<string> arguments, string? input = null)
        => Run("nsenter", ["--net=" + namespacePath, "ip", .. arguments], input);

    private static void Check(CommandResult result, string what)
    {
        if (result.ExitCode != 0)
        {
            throw new ContainerNetworkException($"{what} failed: {result.Error}");
        }
    }

    private static CommandResult Run(string program, IReadOnlyList<string> arguments, string? input)
        => Command.Run(program, arguments, input, CommandTimeout)
            ?? throw new ContainerNetworkException($"cannot run {program}: install {(program == "ip" ? "iproute2" : "util-linux")}");
}

/// <summary>A step of the host side failed (an `ip` command refused); the message holds the command and what it printed.</summary>
internal sealed class ContainerNetworkException : Exception
{
    public ContainerNetworkException()
    {
    }

    public ContainerNetworkException(string message)
        : base(message)
    {
    }

    public ContainerNetworkException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
