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
internal sealed class AddressPools<TAddress>(ulong seed, long udpQuarantineTicks) : IMappingPorts<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    private readonly Dictionary<TAddress, ExternalAddressPool<TAddress>> pools = [];

    public ExternalAddressPool<TAddress> PoolOf(TAddress address)
    {
        if (!pools.TryGetValue(address, out ExternalAddressPool<TAddress>? pool))
        {
            pool = new ExternalAddressPool<TAddress>(address);
            pools[address] = pool;
        }
        return pool;
    }

    public PortAllocator AllocatorOf(ExternalAddressPool<TAddress> pool, IpProtocol protocol)
        => pool.For(protocol, protocol == IpProtocol.Udp ? udpQuarantineTicks : 0, seed ^ TAddress.Fold(pool.Address));

    /// <summary>
    /// A redirect to one address reserves its ports (change +1) so no dynamic mapping takes
    /// them, and gives them back when it goes (-1).
    /// </summary>
    public void ReferencePools(NatRule rule, int change)
    {
        // Only single-address redirects reserve ports: a prefix-wide redirect has no one address to reserve on.
        if (rule.Kind == NatRuleKind.Redirect && rule.IsIpv6 == (TAddress.Size == Ipv6Address.Size) && rule.Destination.Length == TAddress.Size * 8)
        {
            ExternalAddressPool<TAddress> pool = PoolOf(TAddress.From(rule.Destination.First));
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
                        allocator.Release((ushort)port, TAddress.Any, 0);
                    }
                }
            }
        }
    }

    /// <summary>Picks the external address and port for a new mapping from a map or map-block rule.</summary>
    public DropReason AllocateFromRule(RuleSlot slot, FlowKey<TAddress> key, long nowTicks, out TAddress address, out ushort port, out ExternalAddressPool<TAddress>? pool)
    {
        NatRule rule = slot.Rule;
        if (rule.Kind == NatRuleKind.MapBlock)
        {
            return AllocateFromBlock(slot, key, nowTicks, out address, out port, out pool);
        }
        ulong count = rule.TranslatedCount;
        // Paired pooling (RFC 4787 REQ-2): one inside host always starts from the same external address.
        ulong first = new FlowKey<TAddress>(0, key.Source, 0, TAddress.Any, 0).Hash(seed) % count;
        RuleAddresses<TAddress> addresses = slot.AddressesOf<TAddress>();
        ulong attempts = Math.Min(count, 64);
        for (ulong attempt = 0; attempt < attempts; attempt++)
        {
            TAddress candidate = TAddress.Offset(addresses.TranslatedFirst, (first + attempt) % count);
            if (AllocateOnAddress(PoolOf(candidate), slot.RangeFor(key.Protocol), key, nowTicks, rule.Policy.PreservePortParity, out address, out port, out pool) == DropReason.None)
            {
                return DropReason.None;
            }
        }
        address = TAddress.Any;
        port = 0;
        pool = null;
        return DropReason.PortsExhausted;
    }

    /// <summary>map-block: inside address number n owns the n-th block of ports (ipnat(5)).</summary>
    private DropReason AllocateFromBlock(RuleSlot slot, FlowKey<TAddress> key, long nowTicks, out TAddress address, out ushort port, out ExternalAddressPool<TAddress>? pool)
    {
        port = 0;
        pool = null;
        bool ported = key.Protocol is IpProtocol.Tcp or IpProtocol.Udp || key.Protocol == TAddress.IcmpProtocol;
        if (!TryBlockOf(slot, key.Source, key.Protocol, out address, out PortRange block))
        {
            return ported ? DropReason.PortsExhausted : DropReason.None;
        }
        if (!ported)
        {
            return DropReason.None;
        }
        return AllocateOnAddress(PoolOf(address), block, key, nowTicks, slot.Rule.Policy.PreservePortParity, out address, out port, out pool);
    }

    /// <summary>
    /// map-block's deterministic share (ipnat(5), RFC 7422): the external address and the block of
    /// ports the inside address <paramref name="inside"/> owns under the rule, for
    /// <paramref name="protocol"/>; false, with the address still set, when its block lies past
    /// the rule's range. The new-session path allocates from it, and put checks a session against it.
    /// </summary>
    public static bool TryBlockOf(RuleSlot slot, TAddress inside, IpProtocol protocol, out TAddress address, out PortRange block)
    {
        NatRule rule = slot.Rule;
        PortRange range = slot.RangeFor(protocol);
        if (range.First < 1024 && protocol != TAddress.IcmpProtocol)
        {
            range = new PortRange(1024, range.Last);
        }
        RuleAddresses<TAddress> ruleAddresses = slot.AddressesOf<TAddress>();
        ulong hosts = ruleAddresses.SourceCount;
        ulong addresses = rule.TranslatedCount;
        ulong hostsPerAddress = (hosts + addresses - 1) / addresses;
        int perHost = rule.PortsPerAddress > 0 ? rule.PortsPerAddress : (int)Math.Max(1, (ulong)range.Count / hostsPerAddress);
        ulong hostNumber = ruleAddresses.SourceOffsetOf(inside);
        address = TAddress.Offset(ruleAddresses.TranslatedFirst, hostNumber / hostsPerAddress);
        long blockFirst = range.First + (long)(hostNumber % hostsPerAddress) * perHost;
        long blockLast = Math.Min(blockFirst + perHost - 1, range.Last);
        if (blockFirst > range.Last)
        {
            block = default;
            return false;
        }
        block = new PortRange((ushort)blockFirst, (ushort)blockLast);
        return true;
    }

    public DropReason AllocateOnAddress(ExternalAddressPool<TAddress> candidatePool, PortRange range, FlowKey<TAddress> key, long nowTicks, bool preserveParity, out TAddress address, out ushort port, out ExternalAddressPool<TAddress>? pool)
    {
        address = candidatePool.Address;
        if (key.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp) && key.Protocol != TAddress.IcmpProtocol)
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

    public void ReleaseAllocation(ExternalAddressPool<TAddress>? pool, IpProtocol protocol, ushort port, TAddress insideAddress, long nowTicks)
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
        foreach (ExternalAddressPool<TAddress> pool in pools.Values)
        {
            foreach (IpProtocol protocol in (ReadOnlySpan<IpProtocol>)[IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmp])
            {
                if (pool.Find(protocol) is { } allocator)
                {
                    list.Add(new PortUsage(TAddress.ToIpAddress(pool.Address), protocol, allocator.AllocatedCount, allocator.Capacity));
                }
            }
        }
        return list;
    }

    /// <summary>
    /// A mapping's last session ended: its external port returns to the pool (UDP ports only
    /// after their quarantine, RFC 6888 REQ-8).
    /// </summary>
    public void MappingEnded(in Session<TAddress> endedMapping, long nowTicks)
    {
        if ((endedMapping.Attributes & SessionAttributes.PortAllocated) != 0)
        {
            Release(endedMapping.ExternalAddress, endedMapping.Original.Protocol, endedMapping.ExternalPort, endedMapping.InsideAddress, nowTicks);
        }
    }

    /// <summary>
    /// Gives an external port back to its address's allocator; the inside address may be of the
    /// other family (NAT64 takes IPv4 ports for IPv6 hosts).
    /// </summary>
    public void Release<TInside>(TAddress externalAddress, IpProtocol protocol, ushort port, TInside insideAddress, long nowTicks)
        where TInside : unmanaged, IFlowAddress<TInside>
    {
        if (pools.TryGetValue(externalAddress, out ExternalAddressPool<TAddress>? pool))
        {
            pool.Find(protocol)?.Release(port, insideAddress, nowTicks);
        }
    }
}
