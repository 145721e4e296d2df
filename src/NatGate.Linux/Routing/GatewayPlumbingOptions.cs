using NatGate.Core.Addressing;

namespace NatGate.Linux.Routing;

/// <summary>What the gateway's policy routing is built from (DESIGN.md, "The data path on Linux").</summary>
public sealed record GatewayPlumbingOptions
{
    /// <summary>The TUN interface the daemon reads and writes.</summary>
    public required string TunName { get; init; }

    /// <summary>The MTU the TUN is set to when it is brought up.</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>The inside networks: traffic from them is steered into the TUN.</summary>
    public IReadOnlyList<Ipv4Prefix> InternalPrefixes { get; init; } = [];

    /// <summary>The NAT's external addresses (host order): traffic to them is steered into the TUN.</summary>
    public IReadOnlyList<uint> ExternalAddresses { get; init; } = [];

    /// <summary>The routing table holding the default route into the TUN.</summary>
    public int Table { get; init; } = 100;

    /// <summary>
    /// The interface toward the outside, if any: each external address on-link there gets a
    /// proxy neighbour entry so that the kernel answers ARP for it.
    /// </summary>
    public string? OutsideInterface { get; init; }

    /// <summary>The preference of the first rule (<c>iif TUN lookup main</c>); the two others follow it.</summary>
    public int FirstRulePreference { get; init; } = 999;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad option.</summary>
    public void Validate()
    {
        ValidateInterfaceName(TunName, nameof(TunName));
        if (OutsideInterface is not null)
        {
            ValidateInterfaceName(OutsideInterface, nameof(OutsideInterface));
        }
        if (Mtu is < 68 or > 65535)
        {
            throw new ArgumentException($"MTU {Mtu} is out of range: IPv4 needs 68 to 65535.", nameof(Mtu));
        }
        // 253 default, 254 main, 255 local and 0 unspec belong to the kernel.
        if (Table is < 1 or > 252 and < 256)
        {
            throw new ArgumentException($"routing table {Table} is reserved: pick 1 to 252, or 256 and above.", nameof(Table));
        }
        if (FirstRulePreference is < 1 or > 32763)
        {
            throw new ArgumentException($"rule preference {FirstRulePreference} is out of range: pick 1 to 32763, before the main table's 32766.", nameof(FirstRulePreference));
        }
    }

    private static void ValidateInterfaceName(string name, string parameter)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 15 || name.AsSpan().IndexOfAny("/ \t\n:") >= 0 || name is "." or "..")
        {
            throw new ArgumentException($"\"{name}\" is not a valid interface name: use 1 to 15 characters without '/', ':' or spaces.", parameter);
        }
    }
}
