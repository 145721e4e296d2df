using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>
/// The address pools part of the engine: every external address's port allocators (shared by
/// all the rules that translate to it, so two rules never hand out one port), the choice of an
/// external address and port for a new mapping (paired pooling, map-block's blocks, port
/// preservation and parity), the ports redirects reserve, and the ports that mappings give
/// back when they end.
/// </summary>
internal sealed class AddressPools(ulong seed, long udpQuarantineTicks)
{
    private readonly Dictionary<Ipv4Address, ExternalAddressPool> pools = [];

    public ExternalAddressPool PoolOf(Ipv4Address address)
    {
        if (!pools.TryGetValue(address, out ExternalAddressPool? pool))
        {
            pool = new ExternalAddressPool(address);
            pools[address] = pool;
        }
        return pool;
    }

    public PortAllocator AllocatorOf(ExternalAddressPool pool, IpProtocol protocol)
        => pool.For(protocol, protocol == IpProtocol.Udp ? udpQuarantineTicks : 0, seed ^ pool.Address.Value);

    /// <summary>
    /// A redirect to one address reserves its ports (change +1) so no dynamic mapping takes
    /// them, and gives them back when it goes (-1).
    /// </summary>
    public void ReferencePools(NatRule rule, int change)
    {
        // Only single-address redirects reserve ports: a prefix-wide redirect has no one address to reserve on.
        if (rule.Kind == NatRuleKind.Redirect && !rule.Destination.IsIpv6 && rule.Destination.Length == 32)
        {
            ExternalAddressPool pool = PoolOf(rule.Destination.First.AsIpv4);
            foreach (IpProtocol protocol in (ReadOnlySpan<IpProtocol>)[IpProtocol.Tcp, IpProtocol.Udp])
            {
                if (!rule.AppliesTo(protocol) || rule.DestinationPorts.IsAny)
                {
                    continue;
                }
                PortAllocator allocator = AllocatorOf(pool, protocol);
                for (int port = rule.DestinationPorts.First; port <= rule.DestinationPorts.Last; port++)
                {
                    if (change > 0)
                    {
                        allocator.TryReserve((ushort)port);
                    }
                    else
                    {
                        allocator.Release((ushort)port, Ipv4Address.Any, 0);
                    }
                }
            }
        }
    }

    /// <summary>Picks the external address and port for a new mapping from a map or map-block rule.</summary>
    public DropReason AllocateFromRule(RuleSlot slot, FlowKey key, long nowTicks, out Ipv4Address address, out ushort port, out ExternalAddressPool? pool)
    {
        NatRule rule = slot.Rule;
        if (rule.Kind == NatRuleKind.MapBlock)
        {
            return AllocateFromBlock(slot, key, nowTicks, out address, out port, out pool);
        }
        ulong count = rule.TranslatedCount;
        // Paired pooling (RFC 4787 REQ-2): one inside host always starts from the same external address.
        ulong first = new FlowKey(0, key.Source, 0, Ipv4Address.Any, 0).Hash(seed) % count;
        ulong attempts = Math.Min(count, 64);
        for (ulong attempt = 0; attempt < attempts; attempt++)
        {
            Ipv4Address candidate = slot.TranslatedFirst4 + (uint)((first + attempt) % count);
            if (AllocateOnAddress(PoolOf(candidate), slot.RangeFor(key.Protocol), key, nowTicks, rule.Policy.PreservePortParity, out address, out port, out pool) == DropReason.None)
            {
                return DropReason.None;
            }
        }
        address = Ipv4Address.Any;
        port = 0;
        pool = null;
        return DropReason.PortsExhausted;
    }

    /// <summary>map-block: inside address number n owns the n-th block of ports (ipnat(5)).</summary>
    private DropReason AllocateFromBlock(RuleSlot slot, FlowKey key, long nowTicks, out Ipv4Address address, out ushort port, out ExternalAddressPool? pool)
    {
        NatRule rule = slot.Rule;
        address = Ipv4Address.Any;
        port = 0;
        pool = null;
        PortRange range = slot.RangeFor(key.Protocol);
        if (range.First < 1024 && key.Protocol != IpProtocol.Icmp)
        {
            range = new PortRange(1024, range.Last);
        }
        ulong hosts = slot.Source4.Count;
        ulong addresses = rule.TranslatedCount;
        ulong hostsPerAddress = (hosts + addresses - 1) / addresses;
        int perHost = rule.PortsPerAddress > 0 ? rule.PortsPerAddress : (int)Math.Max(1, (ulong)range.Count / hostsPerAddress);
        ulong hostNumber = key.Source - slot.Source4.Network;
        address = slot.TranslatedFirst4 + (uint)(hostNumber / hostsPerAddress);
        long blockFirst = range.First + (long)(hostNumber % hostsPerAddress) * perHost;
        long blockLast = Math.Min(blockFirst + perHost - 1, range.Last);
        if (blockFirst > range.Last || key.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp))
        {
            return key.Protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp ? DropReason.PortsExhausted : DropReason.None;
        }
        return AllocateOnAddress(PoolOf(address), new PortRange((ushort)blockFirst, (ushort)blockLast), key, nowTicks, rule.Policy.PreservePortParity, out address, out port, out pool);
    }

    public DropReason AllocateOnAddress(ExternalAddressPool candidatePool, PortRange range, FlowKey key, long nowTicks, bool preserveParity, out Ipv4Address address, out ushort port, out ExternalAddressPool? pool)
    {
        address = candidatePool.Address;
        if (key.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp))
        {
            // Other protocols are translated by address only; the table refuses a clash.
            port = 0;
            pool = null;
            return DropReason.None;
        }
        PortAllocator allocator = AllocatorOf(candidatePool, key.Protocol);
        if (allocator.TryAllocate(key.SourcePort, key.Source, nowTicks, preserveParity, allowClassChange: true, range, out port))
        {
            pool = candidatePool;
            return DropReason.None;
        }
        pool = null;
        return DropReason.PortsExhausted;
    }

    public void ReleaseAllocation(ExternalAddressPool? pool, IpProtocol protocol, ushort port, Ipv4Address insideAddress, long nowTicks)
    {
        if (pool is not null)
        {
            AllocatorOf(pool, protocol).Release(port, insideAddress, nowTicks);
        }
    }

    /// <summary>Port utilisation per external address and protocol, for metrics.</summary>
    public IReadOnlyList<PortUsage> PortUsage()
    {
        var list = new List<PortUsage>();
        foreach (ExternalAddressPool pool in pools.Values)
        {
            foreach (IpProtocol protocol in (ReadOnlySpan<IpProtocol>)[IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmp])
            {
                if (pool.Find(protocol) is { } allocator)
                {
                    list.Add(new PortUsage(pool.Address, protocol, allocator.AllocatedCount, allocator.Capacity));
                }
            }
        }
        return list;
    }

    /// <summary>
    /// A mapping's last session ended: its external port returns to the pool (UDP ports only
    /// after their quarantine, RFC 6888 REQ-8).
    /// </summary>
    public void MappingEnded(in Session endedMapping, long nowTicks)
    {
        if ((endedMapping.Attributes & SessionAttributes.PortAllocated) != 0 && pools.TryGetValue(endedMapping.ExternalAddress, out ExternalAddressPool? pool))
        {
            pool.Find(endedMapping.Original.Protocol)?.Release(endedMapping.ExternalPort, endedMapping.InsideAddress, nowTicks);
        }
    }
}
