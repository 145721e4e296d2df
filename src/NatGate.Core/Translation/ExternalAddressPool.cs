using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;

namespace NatGate.Core.Translation;

/// <summary>
/// The port allocators of one external address: one each for TCP, UDP and ICMP identifiers,
/// shared by every rule that translates to the address, so two rules never hand out one port.
/// </summary>
internal sealed class ExternalAddressPool<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    private readonly PortAllocator?[] allocators = new PortAllocator?[3];

    public ExternalAddressPool(TAddress address) => Address = address;

    public TAddress Address { get; }

    /// <summary>Rules that translate to this address (the pool goes when none do).</summary>
    public int RuleReferences { get; set; }

    private static int SlotOf(IpProtocol protocol) => protocol switch
    {
        IpProtocol.Tcp => 0,
        IpProtocol.Udp => 1,
        IpProtocol.Icmp or IpProtocol.Icmpv6 => 2,
        _ => -1,
    };

    public PortAllocator? Find(IpProtocol protocol)
    {
        int slot = SlotOf(protocol);
        return slot < 0 ? null : allocators[slot];
    }

    /// <summary>The allocator for a protocol, made on first use over the full range.</summary>
    public PortAllocator For(IpProtocol protocol, long quarantineTicks, ulong seed)
    {
        int slot = SlotOf(protocol);
        if (slot < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "Only TCP, UDP and ICMP have ports or identifiers.");
        }
        // Identifier 0 and port 0 are never handed out; rules narrow the choice with their own ranges.
        return allocators[slot] ??= new PortAllocator(new PortRange(1, 65535), quarantineTicks, seed + (ulong)slot);
    }
}
