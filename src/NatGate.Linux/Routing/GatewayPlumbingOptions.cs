using NatGate.Core.Addressing;

namespace NatGate.Linux.Routing;

/// <summary>
/// A service on the gateway itself that a redirect sends connections to (a transparent proxy on
/// the gateway's inside address): its replies must go back through NatGate to be translated,
/// while the rest of the host's own traffic does not. Null protocol or ports: all of them. An
/// IPv6 address is a NAT66 redirect's, and its rule goes into the IPv6 rule list.
/// </summary>
public sealed record LocalRedirect(IpAddress Address, string? Protocol, Core.Ports.PortRange? Ports);

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
    public IReadOnlyList<Ipv4Address> ExternalAddresses { get; init; } = [];

    /// <summary>
    /// The inside IPv6 networks: traffic from them is steered into the TUN (NPTv6, NAT66). IPv6
    /// prefixes only; the IPv6 plumbing is installed when this or <see cref="Ipv6ExternalPrefixes"/> is not empty.
    /// </summary>
    public IReadOnlyList<IpPrefix> Ipv6InternalPrefixes { get; init; } = [];

    /// <summary>
    /// The NAT's external IPv6 prefixes (an NPTv6 external /48, a NAT66 /128 address): traffic to
    /// them is steered into the TUN. IPv6 prefixes only.
    /// </summary>
    public IReadOnlyList<IpPrefix> Ipv6ExternalPrefixes { get; init; } = [];

    /// <summary>
    /// The NAT64 prefixes (RFC 6052, 64:ff9b::/96 or one of the operator's): traffic to them is
    /// steered into the TUN, where NAT64 makes it IPv4. Only the destination is steered, so the
    /// inside's other IPv6 traffic is routed as before; no proxy NDP (the inside routes the prefix
    /// to this host). IPv6 prefixes only.
    /// </summary>
    public IReadOnlyList<IpPrefix> Nat64Prefixes { get; init; } = [];

    /// <summary>
    /// The inside IPv6 networks of NAT64 rules: not steered (their NAT64 prefix is), but guarded
    /// as inside prefixes are, so that a packet with such a source arriving from elsewhere (the
    /// outside, spoofing an inside host) is dropped before it can use the NAT64. IPv6 prefixes only.
    /// </summary>
    public IReadOnlyList<IpPrefix> Nat64InsidePrefixes { get; init; } = [];

    /// <summary>
    /// The NAT's ports on each external address. Where an address is the host's own, only packets
    /// to these reach the TUN (an nftables mark and a rule ahead of the local table), the rest are
    /// the host's; elsewhere they are not needed (the whole address is the NAT's).
    /// </summary>
    public IReadOnlyList<SteeredPorts> ExternalPorts { get; init; } = [];

    /// <summary>Services on this host that redirects lead to: their replies are steered to the TUN.</summary>
    public IReadOnlyList<LocalRedirect> LocalRedirects { get; init; } = [];

    /// <summary>Whether any IPv6 prefix is given: the IPv6 half of the plan, and the host's IPv6 facts it is made from, are needed.</summary>
    public bool HasIpv6 => Ipv6InternalPrefixes.Count > 0 || Ipv6ExternalPrefixes.Count > 0 || Nat64Prefixes.Count > 0 || Nat64InsidePrefixes.Count > 0;

    public const string DefaultRecordDirectory = "/run/natgate";

    /// <summary>
    /// Where the record of the host's original settings is kept across crashes: the daemon's
    /// control directory, so a restart with the same directory finds it.
    /// </summary>
    public string RecordDirectory { get; init; } = DefaultRecordDirectory;

    /// <summary>The routing table holding the default route into the TUN.</summary>
    public int Table { get; init; } = 100;

    /// <summary>
    /// The interface toward the outside, if any: each external address on-link there gets a
    /// proxy neighbour entry so that the kernel answers ARP for it.
    /// </summary>
    public string? OutsideInterface { get; init; }

    /// <summary>
    /// The interfaces the inside prefixes live behind: only packets arriving on them may carry an
    /// inside source. Empty: each prefix's interfaces are read from the main table's routes.
    /// </summary>
    public IReadOnlyList<string> InsideInterfaces { get; init; } = [];

    /// <summary>
    /// The kernel fast path rewrites packets at the inside interfaces' ingress (DESIGN.md, "Two
    /// paths"), before routing: with an external address shared with the host, those interfaces
    /// then carry the host's own address as a source, as the TUN does.
    /// </summary>
    public bool KernelFastPath { get; init; }

    /// <summary>The preference of NatGate's first rule; its rules take this one and the five after it (<see cref="PlumbingPlan.Create"/>).</summary>
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
        if (FirstRulePreference is < 1 or > 32760)
        {
            throw new ArgumentException($"rule preference {FirstRulePreference} is out of range: pick 1 to 32760, so that NatGate's six come before the main table's 32766.", nameof(FirstRulePreference));
        }
        foreach (string inside in InsideInterfaces)
        {
            ValidateInterfaceName(inside, nameof(InsideInterfaces));
        }
        ValidateIpv6Prefixes(Ipv6InternalPrefixes, nameof(Ipv6InternalPrefixes), "inside", nameof(InternalPrefixes), wholeSpaceSteered: true);
        ValidateIpv6Prefixes(Ipv6ExternalPrefixes, nameof(Ipv6ExternalPrefixes), "external", nameof(ExternalAddresses));
        ValidateIpv6Prefixes(Nat64Prefixes, nameof(Nat64Prefixes), "NAT64", nameof(ExternalAddresses));
        ValidateIpv6Prefixes(Nat64InsidePrefixes, nameof(Nat64InsidePrefixes), "inside", nameof(InternalPrefixes));
        if (HasIpv6 && Mtu < 1280)
        {
            // Below 1280 the kernel takes IPv6 off the device (RFC 8200 section 5).
            throw new ArgumentException($"MTU {Mtu} is too small for IPv6, which needs 1280 or more: raise the MTU or give no IPv6 prefixes.", nameof(Mtu));
        }
    }

    /// <summary>Link-local (fe80::/10), multicast (ff00::/8) and loopback (::1): never steered, or neighbour discovery itself would be.</summary>
    private static readonly (IpPrefix Prefix, string Name)[] Ipv6Reserved =
    [
        (IpPrefix.Parse("fe80::/10", null), "the link-local fe80::/10"),
        (IpPrefix.Parse("ff00::/8", null), "the multicast ff00::/8"),
        (IpPrefix.Parse("::1/128", null), "the loopback ::1"),
    ];

    /// <summary>
    /// Each prefix is IPv6 and clear of the reserved ones. With <paramref name="wholeSpaceSteered"/>
    /// (the inside prefixes, steered by source) ::/0 passes, as IPv4's inside 0/0 does: its
    /// link-local, multicast and loopback traffic is delivered by the local table before
    /// NatGate's rules, and the host's own packets (iif lo) skip the steering. As a destination
    /// ::/0 would take all the host's IPv6, and is refused.
    /// </summary>
    private static void ValidateIpv6Prefixes(IReadOnlyList<IpPrefix> prefixes, string parameter, string role, string ipv4Option, bool wholeSpaceSteered = false)
    {
        foreach (IpPrefix prefix in prefixes)
        {
            if (!prefix.IsIpv6)
            {
                throw new ArgumentException($"{(prefix.IsAny ? "any" : prefix.ToString())} in the {role} IPv6 prefixes is not an IPv6 prefix: "
                    + $"write one such as {(role == "inside" ? "fd00:1::/64" : "2001:db8:1::/48")}; IPv4 goes in {ipv4Option}.", parameter);
            }
            if (wholeSpaceSteered && prefix.Length == 0)
            {
                continue;
            }
            foreach ((IpPrefix reserved, string name) in Ipv6Reserved)
            {
                if (prefix.Overlaps(reserved))
                {
                    throw new ArgumentException($"the {role} IPv6 prefix {prefix} overlaps {name}, which is never translated "
                        + "(neighbour discovery and the host's own traffic use it): give the global or unique local (fc00::/7) prefix instead.", parameter);
                }
            }
        }
    }

    private static void ValidateInterfaceName(string name, string parameter)
    {
        if (!InterfaceNames.IsValid(name))
        {
            throw new ArgumentException($"\"{name}\" is not a valid interface name: use 1 to 15 characters without '/', ':' or spaces.", parameter);
        }
    }
}
