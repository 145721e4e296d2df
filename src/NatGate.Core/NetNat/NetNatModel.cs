using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;

namespace NatGate.Core.NetNat;

/// <summary>An external address of a NAT instance with its port range (Add-NetNatExternalAddress); IPv4, or IPv6 for an IPv6 instance (NAT66).</summary>
public sealed record NatExternalAddress(IpAddress IPAddress, ushort PortStart = 1024, ushort PortEnd = 65535)
{
    public override string ToString() => $"{IPAddress.ToString()} ports {PortStart}-{PortEnd}";
}

/// <summary>
/// A NAT instance as New-NetNat and Set-NetNat describe it, with NatGate's RFC defaults
/// (DESIGN.md "Behaviour") rather than WinNAT's shorter ones: UDP idle 300 s (WinNAT 120),
/// TCP transient 240 s (WinNAT 120), TCP established 7440 s (WinNAT 1800), ICMP 60 s (WinNAT 30).
/// An instance is of one family, its internal prefix's: an IPv6 one (fd00::/64, say) makes the
/// NAT66 map and rdr rules an ipnat.conf would, and its external addresses and static mappings
/// are IPv6 too.
/// </summary>
public sealed record NatInstance
{
    public required string Name { get; init; }

    public required IpPrefix InternalIPInterfaceAddressPrefix { get; init; }

    /// <summary>The prefix of the outside interface; with no <see cref="ExternalAddresses"/>, its local addresses are used.</summary>
    public IpPrefix? ExternalIPInterfaceAddressPrefix { get; init; }

    /// <summary>True for an IPv6 instance (NAT66): its internal prefix is IPv6.</summary>
    public bool IsIpv6 => InternalIPInterfaceAddressPrefix.IsIpv6;

    public IReadOnlyList<NatExternalAddress> ExternalAddresses { get; init; } = [];

    public TimeSpan TcpEstablishedConnectionTimeout { get; init; } = NatPolicy.Default.TcpEstablishedTimeout;

    public TimeSpan TcpTransientConnectionTimeout { get; init; } = NatPolicy.Default.TcpTransitoryTimeout;

    public TimeSpan UdpIdleSessionTimeout { get; init; } = NatPolicy.Default.UdpIdleTimeout;

    public TimeSpan IcmpQueryTimeout { get; init; } = NatPolicy.Default.IcmpQueryTimeout;

    public FilteringBehavior TcpFilteringBehavior { get; init; } = NatPolicy.Default.TcpFiltering;

    public FilteringBehavior UdpFilteringBehavior { get; init; } = NatPolicy.Default.UdpFiltering;

    public bool UdpInboundRefresh { get; init; }

    /// <summary>NatGate's addition: the mapping behaviour (NetNat has only endpoint-independent).</summary>
    public MappingBehavior MappingBehavior { get; init; } = MappingBehavior.EndpointIndependent;

    /// <summary>
    /// NatGate's addition: a new mapping's external port has the parity of the inside port when one
    /// of that parity is free (RFC 4787 REQ-4, "port parity preservation"); off unless asked for.
    /// The class (below 1024 or not, REQ-3) is kept whatever this says.
    /// </summary>
    public bool PreservePortParity { get; init; }

    public NatPolicy Policy => new()
    {
        PreservePortParity = PreservePortParity,
        Mapping = MappingBehavior,
        TcpFiltering = TcpFilteringBehavior,
        UdpFiltering = UdpFilteringBehavior,
        UdpInboundRefresh = UdpInboundRefresh,
        UdpIdleTimeout = UdpIdleSessionTimeout,
        TcpEstablishedTimeout = TcpEstablishedConnectionTimeout,
        TcpTransitoryTimeout = TcpTransientConnectionTimeout,
        IcmpQueryTimeout = IcmpQueryTimeout,
    };
}

public enum StaticMappingProtocol
{
    TCP,
    UDP,
}

/// <summary>A static mapping (Add-NetNatStaticMapping): an external port forwarded to an internal endpoint.</summary>
public sealed record NatStaticMapping
{
    public required string NatName { get; init; }

    public int StaticMappingID { get; init; }

    public StaticMappingProtocol Protocol { get; init; } = StaticMappingProtocol.TCP;

    /// <summary>0.0.0.0 (or ::) means every external address of the instance, as in WinNAT.</summary>
    public IpAddress ExternalIPAddress { get; init; }

    public required ushort ExternalPort { get; init; }

    public required IpAddress InternalIPAddress { get; init; }

    /// <summary>Defaults to <see cref="ExternalPort"/>.</summary>
    public ushort? InternalPort { get; init; }

    /// <summary>Only remotes in this prefix may use the mapping.</summary>
    public IpPrefix RemoteExternalIPAddressPrefix { get; init; } = IpPrefix.Any;

    /// <summary>True when the mapping covers every external address of its instance (0.0.0.0 or ::).</summary>
    public bool CoversEveryExternalAddress => ExternalIPAddress.Value == UInt128.Zero;
}

/// <summary>
/// The NetNat view of a gateway: instances, static mappings and the global hairpinning mode.
/// Unlike WinNAT, several instances may coexist; <see cref="Validate"/> refuses overlaps and
/// double claims, naming both sides, and <see cref="Compile"/> turns the model into rules.
/// </summary>
public sealed record NetNatModel
{
    /// <summary>The longest NAT instance name accepted.</summary>
    public const int MaximumNameLength = 64;

    public IReadOnlyList<NatInstance> Instances { get; init; } = [];

    public IReadOnlyList<NatStaticMapping> StaticMappings { get; init; } = [];

    /// <summary>Set-NetNatGlobal -InterRoutingDomainHairpinningMode.</summary>
    public HairpinningMode InterRoutingDomainHairpinningMode { get; init; } = HairpinningMode.ExternalSource;

    /// <summary>Every problem with the model; empty when it can be applied.</summary>
    /// <param name="localAddresses">Resolves an ExternalIPInterfaceAddressPrefix to the gateway's addresses in it.</param>
    public IReadOnlyList<string> Validate(Func<IpPrefix, IEnumerable<IpAddress>>? localAddresses = null)
    {
        var problems = new List<string>();
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (NatInstance instance in Instances)
        {
            if (string.IsNullOrWhiteSpace(instance.Name))
            {
                problems.Add("A NAT instance has no Name.");
            }
            else if (instance.Name.Length > MaximumNameLength || instance.Name.Any(char.IsControl))
            {
                // Names go into labels, logs, listings and URLs: a long or control-laden one is refused
                // here rather than breaking those later.
                string shown = instance.Name.Length > 40 ? instance.Name[..40] + "..." : instance.Name;
                problems.Add($"The NAT instance name '{new string([.. shown.Select(c => char.IsControl(c) ? '?' : c)])}' is {instance.Name.Length} characters or holds control characters: use at most {MaximumNameLength} printable characters.");
            }
            else if (!names.Add(instance.Name))
            {
                problems.Add($"Two NAT instances are named '{instance.Name}'.");
            }
            if (ExternalAddressesOf(instance, localAddresses).Count == 0)
            {
                problems.Add($"NAT '{instance.Name}' has no external address: give ExternalAddresses, or an ExternalIPInterfaceAddressPrefix that holds one of this gateway's addresses.");
            }
            string family = instance.IsIpv6 ? "IPv6" : "IPv4";
            if (instance.ExternalIPInterfaceAddressPrefix is { IsAny: false } outsidePrefix && outsidePrefix.IsIpv6 != instance.IsIpv6)
            {
                problems.Add($"NAT '{instance.Name}' mixes families: its internal prefix {instance.InternalIPInterfaceAddressPrefix} is {family}, its external prefix {outsidePrefix} is not; an instance translates one family (make one instance per family).");
            }
            foreach (NatExternalAddress external in instance.ExternalAddresses)
            {
                if (external.IPAddress.IsIpv6 != instance.IsIpv6)
                {
                    problems.Add($"NAT '{instance.Name}' mixes families: its internal prefix {instance.InternalIPInterfaceAddressPrefix} is {family}, its external address {external.IPAddress} is not; an instance translates one family (make one instance per family).");
                    continue;
                }
                if (external.PortStart == 0 || external.PortStart > external.PortEnd)
                {
                    problems.Add($"NAT '{instance.Name}': external address {external} has an empty port range (PortStart must be 1 to PortEnd).");
                }
                if (instance.InternalIPInterfaceAddressPrefix.Contains(external.IPAddress))
                {
                    problems.Add($"NAT '{instance.Name}': external address {external.IPAddress.ToString()} lies inside its own internal prefix {instance.InternalIPInterfaceAddressPrefix}.");
                }
            }
            CheckTimeout(problems, instance, "UdpIdleSessionTimeout", instance.UdpIdleSessionTimeout, TimeSpan.FromSeconds(120), "RFC 4787 REQ-5");
            CheckTimeout(problems, instance, "TcpEstablishedConnectionTimeout", instance.TcpEstablishedConnectionTimeout, TimeSpan.FromSeconds(1), null);
            CheckTimeout(problems, instance, "TcpTransientConnectionTimeout", instance.TcpTransientConnectionTimeout, TimeSpan.FromSeconds(1), null);
            CheckTimeout(problems, instance, "IcmpQueryTimeout", instance.IcmpQueryTimeout, TimeSpan.FromSeconds(1), null);
        }
        for (int i = 0; i < Instances.Count; i++)
        {
            for (int j = i + 1; j < Instances.Count; j++)
            {
                NatInstance first = Instances[i];
                NatInstance second = Instances[j];
                if (first.InternalIPInterfaceAddressPrefix.Overlaps(second.InternalIPInterfaceAddressPrefix))
                {
                    problems.Add($"NAT '{first.Name}' internal prefix {first.InternalIPInterfaceAddressPrefix} overlaps NAT '{second.Name}' internal prefix {second.InternalIPInterfaceAddressPrefix}.");
                }
                foreach (NatExternalAddress a in ExternalAddressesOf(first, localAddresses))
                {
                    foreach (NatExternalAddress b in ExternalAddressesOf(second, localAddresses))
                    {
                        if (a.IPAddress == b.IPAddress && a.PortStart <= b.PortEnd && b.PortStart <= a.PortEnd)
                        {
                            problems.Add($"NAT '{first.Name}' external {a} and NAT '{second.Name}' external {b} claim the same ports.");
                        }
                    }
                }
            }
            foreach (NatInstance other in Instances)
            {
                foreach (NatExternalAddress external in ExternalAddressesOf(other, localAddresses))
                {
                    if (other != Instances[i] && Instances[i].InternalIPInterfaceAddressPrefix.Contains(external.IPAddress))
                    {
                        problems.Add($"NAT '{Instances[i].Name}' internal prefix {Instances[i].InternalIPInterfaceAddressPrefix} contains NAT '{other.Name}' external address {external.IPAddress.ToString()}.");
                    }
                }
            }
        }
        var claimed = new Dictionary<(StaticMappingProtocol, IpAddress, ushort), NatStaticMapping>();
        foreach (NatStaticMapping mapping in StaticMappings)
        {
            NatInstance? instance = Instances.FirstOrDefault(candidate => string.Equals(candidate.Name, mapping.NatName, StringComparison.OrdinalIgnoreCase));
            if (instance is null)
            {
                problems.Add($"Static mapping {Describe(mapping)} names NAT '{mapping.NatName}', which does not exist.");
                continue;
            }
            if (mapping.ExternalPort == 0 || mapping.InternalPort == 0)
            {
                problems.Add($"Static mapping {Describe(mapping)}: ports must be 1 to 65535.");
            }
            if (mapping.InternalIPAddress.IsIpv6 != instance.IsIpv6
                || (!mapping.CoversEveryExternalAddress && mapping.ExternalIPAddress.IsIpv6 != instance.IsIpv6)
                || (!mapping.RemoteExternalIPAddressPrefix.FitsFamily(instance.IsIpv6)))
            {
                problems.Add($"Static mapping {Describe(mapping)} mixes families: NAT '{instance.Name}' is {(instance.IsIpv6 ? "IPv6" : "IPv4")} ({instance.InternalIPInterfaceAddressPrefix}), and so must be its addresses and remote prefix.");
                continue;
            }
            if (!instance.InternalIPInterfaceAddressPrefix.Contains(mapping.InternalIPAddress))
            {
                problems.Add($"Static mapping {Describe(mapping)}: internal address {mapping.InternalIPAddress.ToString()} is outside NAT '{instance.Name}' internal prefix {instance.InternalIPInterfaceAddressPrefix}.");
            }
            IReadOnlyList<NatExternalAddress> externals = ExternalAddressesOf(instance, localAddresses);
            if (!mapping.CoversEveryExternalAddress && !externals.Any(external => external.IPAddress == mapping.ExternalIPAddress))
            {
                problems.Add($"Static mapping {Describe(mapping)}: {mapping.ExternalIPAddress.ToString()} is not an external address of NAT '{instance.Name}'.");
            }
            foreach (IpAddress address in mapping.CoversEveryExternalAddress ? externals.Select(external => external.IPAddress) : [mapping.ExternalIPAddress])
            {
                if (claimed.TryGetValue((mapping.Protocol, address, mapping.ExternalPort), out NatStaticMapping? earlier))
                {
                    problems.Add($"External {mapping.Protocol} port {address.ToString()}:{mapping.ExternalPort} is claimed by static mapping {Describe(earlier)} and by static mapping {Describe(mapping)}.");
                }
                else
                {
                    claimed[(mapping.Protocol, address, mapping.ExternalPort)] = mapping;
                }
            }
        }
        return problems;
    }

    private static void CheckTimeout(List<string> problems, NatInstance instance, string name, TimeSpan value, TimeSpan minimum, string? source)
    {
        if (value < minimum)
        {
            problems.Add($"NAT '{instance.Name}': {name} is {value.TotalSeconds} s; it must be at least {minimum.TotalSeconds} s{(source is null ? "" : $" ({source})")}.");
        }
    }

    private static string Describe(NatStaticMapping mapping)
        => $"'{mapping.NatName}' #{mapping.StaticMappingID} ({mapping.Protocol} {(mapping.CoversEveryExternalAddress ? "*" : Endpoint(mapping.ExternalIPAddress, mapping.ExternalPort))} -> {Endpoint(mapping.InternalIPAddress, mapping.InternalPort ?? mapping.ExternalPort)})";

    private static string Endpoint(IpAddress address, ushort port) => address.IsIpv6 ? $"[{address}]:{port}" : $"{address}:{port}";

    private static IReadOnlyList<NatExternalAddress> ExternalAddressesOf(NatInstance instance, Func<IpPrefix, IEnumerable<IpAddress>>? localAddresses)
    {
        if (instance.ExternalAddresses.Count > 0 || instance.ExternalIPInterfaceAddressPrefix is not { } prefix || localAddresses is null)
        {
            return instance.ExternalAddresses;
        }
        return [.. localAddresses(prefix).Where(prefix.Contains).Select(address => new NatExternalAddress(address))];
    }

    /// <summary>
    /// The rules the model stands for: per instance one map rule per external address (its port
    /// range for TCP, UDP and ICMP identifiers), and per static mapping one redirect per external
    /// address it covers. Each rule's origin names the object it came from. Throws if the model is invalid.
    /// </summary>
    public IReadOnlyList<NatRule> Compile(Func<IpPrefix, IEnumerable<IpAddress>>? localAddresses = null)
    {
        IReadOnlyList<string> problems = Validate(localAddresses);
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems));
        }
        var rules = new List<NatRule>();
        foreach (NatInstance instance in Instances)
        {
            NatPolicy policy = instance.Policy;
            foreach (NatExternalAddress external in ExternalAddressesOf(instance, localAddresses))
            {
                var ports = new PortRange(external.PortStart, external.PortEnd);
                rules.Add(NetNatRules.Map(instance.InternalIPInterfaceAddressPrefix, external.IPAddress, ports, policy, new RuleOrigin.NetNatInstance(instance.Name)));
            }
        }
        foreach (NatStaticMapping mapping in StaticMappings)
        {
            NatInstance instance = Instances.First(candidate => string.Equals(candidate.Name, mapping.NatName, StringComparison.OrdinalIgnoreCase));
            IEnumerable<IpAddress> addresses = mapping.CoversEveryExternalAddress
                ? ExternalAddressesOf(instance, localAddresses).Select(external => external.IPAddress)
                : [mapping.ExternalIPAddress];
            foreach (IpAddress address in addresses)
            {
                rules.Add(new NatRule
                {
                    Kind = NatRuleKind.Redirect,
                    Protocols = mapping.Protocol == StaticMappingProtocol.TCP ? RuleProtocols.Tcp : RuleProtocols.Udp,
                    Source = mapping.RemoteExternalIPAddressPrefix,
                    Destination = IpPrefix.Host(address),
                    DestinationPorts = PortMatch.Exactly(mapping.ExternalPort),
                    RedirectTargets = [mapping.InternalIPAddress],
                    RedirectPort = mapping.InternalPort ?? mapping.ExternalPort,
                    Policy = instance.Policy,
                    Origin = new RuleOrigin.NetNatStaticMapping(instance.Name, mapping.StaticMappingID),
                });
            }
        }
        return rules;
    }
}
