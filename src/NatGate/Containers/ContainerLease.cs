using System.Text.Json.Serialization;

namespace NatGate.Containers;

/// <summary>
/// The leases of one NAT instance, as kept in STATE/leases/NAT.json: the prefix they were handed
/// out from, its gateway address and bridge, and one entry per attached namespace or CNI
/// container interface.
/// </summary>
internal sealed record LeaseBook
{
    public const string FormatName = "natgate-leases";
    public const int CurrentVersion = 1;

    public string Format { get; init; } = FormatName;

    public int Version { get; init; } = CurrentVersion;

    public required string Nat { get; init; }

    /// <summary>The NAT's internal prefix when the first lease was made, a.b.c.d/n.</summary>
    public required string Prefix { get; init; }

    public required string Gateway { get; init; }

    public required string Bridge { get; init; }

    public List<ContainerLease> Leases { get; init; } = [];
}

/// <summary>One address handed out: to whom, where its interface lives, and the static mappings made for it.</summary>
internal sealed record ContainerLease
{
    /// <summary>Who holds it: "netns:NAME", "pid:PID" (natgate attach) or "cni:CONTAINERID/IFNAME" (the CNI plugin).</summary>
    public required string Owner { get; init; }

    public required string Address { get; init; }

    /// <summary>The network namespace's path when the lease was made (/run/netns/NAME, /proc/PID/ns/net, CNI_NETNS).</summary>
    public required string Namespace { get; init; }

    /// <summary>The interface's name inside the namespace.</summary>
    public required string Interface { get; init; }

    /// <summary>The host end of the veth pair, on the NAT's bridge.</summary>
    public required string HostInterface { get; init; }

    public DateTimeOffset Created { get; init; }

    /// <summary>Static mappings added on the NAT for this lease (CNI portMappings), removed with it.</summary>
    public List<LeaseMapping> Mappings { get; init; } = [];
}

/// <summary>A NetNat static mapping made for a lease: its id on the NAT and what it publishes.</summary>
internal sealed record LeaseMapping(int StaticMappingId, string Protocol, string? ExternalAddress, ushort ExternalPort, ushort InternalPort);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LeaseBook))]
internal sealed partial class LeaseJson : JsonSerializerContext;
