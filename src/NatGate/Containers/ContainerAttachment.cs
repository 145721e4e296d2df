using System.Globalization;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;

namespace NatGate.Containers;

/// <summary>What to attach: a network namespace to a NAT instance, under an owner's name.</summary>
/// <param name="Owner">The lease's key: "netns:NAME", "pid:PID" or "cni:CONTAINERID/IFNAME".</param>
/// <param name="Address">The address asked for; null for the lowest free one.</param>
internal sealed record AttachRequest(string NatName, string Owner, string NamespacePath, string InterfaceName, string? Address, IReadOnlyList<PortMapping> PortMappings, string StateDirectory);

/// <summary>A port published for a container (the CNI portMappings capability): HOSTPORT on the NAT's external address(es) to CONTAINERPORT.</summary>
internal sealed record PortMapping(ushort HostPort, ushort ContainerPort, StaticMappingProtocol Protocol, string? HostAddress);

/// <summary>The host side of a NAT instance: its internal prefix, the gateway address (the prefix's first host) and its bridge.</summary>
internal sealed record NatHostSide(string NatName, Ipv4Prefix Prefix, string Gateway, string Bridge)
{
    public string PrefixText => $"{Prefix.Network.ToString()}/{Prefix.Length.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>
/// Attaching and detaching network namespaces to a NAT instance, shared by `natgate attach`,
/// `natgate detach` and the CNI plugin: the daemon names the NAT's prefix, the lease file hands
/// out the address (under its lock for the whole change), <see cref="ContainerNetwork"/> does
/// the kernel's part, and static mappings go to the daemon through the control API.
/// </summary>
internal static class ContainerAttachment
{
    /// <summary>How long a call waits for another attach, detach or CNI call on the same NAT.</summary>
    public static readonly TimeSpan LockWait = TimeSpan.FromSeconds(30);

    /// <summary>The NAT instance NAME as the daemon knows it; ESRCH when it has none, EINVAL when its prefix cannot hold containers.</summary>
    public static async Task<NatHostSide> HostSideAsync(ControlClient client, string natName, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(client);
        IReadOnlyList<NatInstanceView> instances = await client.NatInstancesAsync(token).ConfigureAwait(false);
        NatInstanceView instance = instances.FirstOrDefault(nat => string.Equals(nat.Name, natName, StringComparison.OrdinalIgnoreCase))
            ?? throw new NatControlException(NatErrno.ESRCH, $"the daemon has no NAT instance named '{natName}' ({(instances.Count == 0 ? "it has none" : "it has " + string.Join(", ", instances.Select(nat => nat.Name)))}); add one with natgate nat add or [[Nat]] in its configuration");
        string natNameAsKnown = instance.Name ?? natName;
        if (instance.InternalIPInterfaceAddressPrefix is not { } prefixText || !Ipv4Prefix.TryParse(prefixText, out Ipv4Prefix prefix))
        {
            throw new NatControlException(NatErrno.EINVAL, $"NAT '{natNameAsKnown}' has no internal prefix (InternalIPInterfaceAddressPrefix) to hand addresses out from");
        }
        if (prefix.Length > 30)
        {
            throw new NatControlException(NatErrno.EINVAL, $"NAT '{natNameAsKnown}' has internal prefix {prefixText}: a /{prefix.Length.ToString(CultureInfo.InvariantCulture)} leaves no address beside the gateway's; use a /30 or larger");
        }
        return new NatHostSide(natNameAsKnown, prefix, (prefix.Network + 1).ToString(), ContainerNames.BridgeFor(natNameAsKnown));
    }

    /// <summary>
    /// Leases an address, makes sure the bridge exists, connects the namespace, and publishes its
    /// ports. EEXIST when the owner already holds a lease or the address asked for is taken,
    /// EINVAL when it is outside the prefix, ENOMEM when no address is left. Nothing is left
    /// behind when a step fails.
    /// </summary>
    public static async Task<ContainerLease> AttachAsync(ControlClient client, NatHostSide side, AttachRequest request, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(side);
        ArgumentNullException.ThrowIfNull(request);
        using LeaseStore store = LeaseStore.Open(request.StateDirectory, side.NatName, LockWait);
        LeaseBook book = store.Book ?? new LeaseBook { Nat = side.NatName, Prefix = side.PrefixText, Gateway = side.Gateway, Bridge = side.Bridge };
        if (book.Prefix != side.PrefixText && book.Leases.Count > 0)
        {
            throw new NatControlException(NatErrno.EINVAL, $"the leases of NAT '{side.NatName}' ({store.FilePath}) are in {book.Prefix}, but the NAT's prefix is now {side.PrefixText}; detach those first");
        }
        if (book.Leases.Find(lease => lease.Owner == request.Owner) is { } held)
        {
            throw new NatControlException(NatErrno.EEXIST, $"{Describe(request.Owner)} is already attached to NAT '{side.NatName}' with {held.Address}; detach it first");
        }
        Ipv4Address address = ChooseAddress(side, book, request.Address);
        string addressText = address.ToString();
        string hostInterface = ContainerNames.HostInterfaceFor(side.NatName, request.Owner);

        bool bridgeBefore = ContainerNetwork.LinkExists(side.Bridge);
        ContainerNetwork.EnsureBridge(side.Bridge, side.Gateway, side.Prefix.Length);
        var mappings = new List<LeaseMapping>();
        try
        {
            ContainerNetwork.Connect(request.NamespacePath, request.InterfaceName, hostInterface, side.Bridge, addressText, side.Prefix.Length, side.Gateway);
            foreach (PortMapping port in request.PortMappings)
            {
                StaticMappingView made = await client.AddMappingAsync(new StaticMappingView
                {
                    NatName = side.NatName,
                    Protocol = (NatStaticMappingProtocol)port.Protocol,
                    ExternalIPAddress = port.HostAddress,
                    ExternalPort = port.HostPort,
                    InternalIPAddress = addressText,
                    InternalPort = port.ContainerPort,
                }, token).ConfigureAwait(false);
                mappings.Add(new LeaseMapping(made.StaticMappingID, port.Protocol.ToString(), port.HostAddress, port.HostPort, port.ContainerPort));
            }
            var lease = new ContainerLease
            {
                Owner = request.Owner,
                Address = addressText,
                Namespace = request.NamespacePath,
                Interface = request.InterfaceName,
                HostInterface = hostInterface,
                Created = DateTimeOffset.UtcNow,
                Mappings = mappings,
            };
            book = book with { Prefix = side.PrefixText, Gateway = side.Gateway, Bridge = side.Bridge, Leases = [.. book.Leases, lease] };
            store.Save(book);
            return lease;
        }
        catch
        {
            await RemoveMappingsAsync(client, side.NatName, mappings, CancellationToken.None).ConfigureAwait(false);
            ContainerNetwork.DeleteLink(hostInterface);
            if (!bridgeBefore && book.Leases.Count == 0)
            {
                ContainerNetwork.DeleteLink(side.Bridge);
            }
            throw;
        }
    }

    /// <summary>
    /// Undoes an attach: the static mappings, the veth pair, the lease, and the bridge with the
    /// last lease. Returns the lease it freed; without one, ESRCH, or (with
    /// <paramref name="missingIsFine"/>, for CNI DEL) null after removing a veth left behind.
    /// A daemon that cannot be reached does not stop the rest (its mappings die with it).
    /// </summary>
    public static async Task<(ContainerLease? Freed, IReadOnlyList<string> Warnings)> DetachAsync(ControlClient? client, string natName, string owner, string stateDirectory, bool missingIsFine, CancellationToken token)
    {
        var warnings = new List<string>();
        using LeaseStore store = LeaseStore.Open(stateDirectory, natName, LockWait);
        ContainerLease? lease = store.Book?.Leases.Find(held => held.Owner == owner);
        if (lease is null || store.Book is not { } book)
        {
            if (!missingIsFine)
            {
                throw new NatControlException(NatErrno.ESRCH, $"{Describe(owner)} is not attached to NAT '{natName}' (no lease in {store.FilePath})");
            }
            ContainerNetwork.DeleteLink(ContainerNames.HostInterfaceFor(natName, owner));
            return (null, warnings);
        }
        if (client is not null)
        {
            try
            {
                await RemoveMappingsAsync(client, natName, lease.Mappings, token).ConfigureAwait(false);
            }
            catch (DaemonUnreachableException unreachable)
            {
                warnings.Add($"static mappings {string.Join(", ", lease.Mappings.Select(mapping => mapping.StaticMappingId))} not removed: {unreachable.Message}");
            }
        }
        ContainerNetwork.DeleteLink(lease.HostInterface);
        book = book with { Leases = [.. book.Leases.Where(held => held.Owner != owner)] };
        store.Save(book);
        if (book.Leases.Count == 0)
        {
            ContainerNetwork.DeleteLink(book.Bridge);
        }
        return (lease, warnings);
    }

    /// <summary>The lease <paramref name="owner"/> holds on NAT <paramref name="natName"/>, read under the lock; null when none.</summary>
    public static (ContainerLease? Lease, LeaseBook? Book) Find(string natName, string owner, string stateDirectory)
    {
        using LeaseStore store = LeaseStore.Open(stateDirectory, natName, LockWait);
        return (store.Book?.Leases.Find(held => held.Owner == owner), store.Book);
    }

    private static async Task RemoveMappingsAsync(ControlClient client, string natName, IEnumerable<LeaseMapping> mappings, CancellationToken token)
    {
        foreach (LeaseMapping mapping in mappings)
        {
            try
            {
                await client.RemoveMappingAsync(natName, mapping.StaticMappingId, token).ConfigureAwait(false);
            }
            catch (NatControlException gone) when (gone.Errno == NatErrno.ESRCH)
            {
                // Already removed (by hand, or with the NAT): what a detach wants.
            }
        }
    }

    private static Ipv4Address ChooseAddress(NatHostSide side, LeaseBook book, string? asked)
    {
        var taken = new HashSet<Ipv4Address>(book.Leases.Select(lease => Ipv4Address.Parse(lease.Address)));
        Ipv4Address gateway = side.Prefix.Network + 1;
        Ipv4Address first = side.Prefix.Network + 2;
        Ipv4Address last = side.Prefix.Last - 1u;
        if (asked is not null)
        {
            if (!Ipv4Address.TryParse(asked, out Ipv4Address address))
            {
                throw new NatControlException(NatErrno.EINVAL, $"'{asked}' is not an IPv4 address");
            }
            if (!side.Prefix.Contains(address) || address == side.Prefix.Network || address == side.Prefix.Last)
            {
                throw new NatControlException(NatErrno.EINVAL, $"{asked} is not a host address of NAT '{side.NatName}''s prefix {side.PrefixText}");
            }
            if (address == gateway)
            {
                throw new NatControlException(NatErrno.EEXIST, $"{asked} is the gateway's address on {side.Bridge}");
            }
            if (taken.Contains(address))
            {
                string holder = book.Leases.First(lease => lease.Address == asked).Owner;
                throw new NatControlException(NatErrno.EEXIST, $"{asked} is taken by {Describe(holder)}");
            }
            return address;
        }
        for (Ipv4Address candidate = first; candidate <= last; candidate += 1u)
        {
            if (!taken.Contains(candidate))
            {
                return candidate;
            }
        }
        throw new NatControlException(NatErrno.ENOMEM, $"every address of NAT '{side.NatName}''s prefix {side.PrefixText} is leased ({taken.Count.ToString(CultureInfo.InvariantCulture)}); detach one or give the NAT a larger prefix");
    }

    /// <summary>"network namespace X", "the network namespace of process N", "container C (eth0)".</summary>
    public static string Describe(string owner) => owner.Split(':', 2) switch
    {
        ["netns", string name] => $"network namespace {name}",
        ["pid", string pid] => $"the network namespace of process {pid}",
        ["cni", string container] => $"CNI container {container}",
        _ => owner,
    };
}
