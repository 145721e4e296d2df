using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Control;

/// <summary>
/// A five-tuple of either family, as the control operations carry it (a saved or inserted
/// session, a listing): IP Filter's nat_save names its addresses with <c>i6addr_t</c> and the
/// version beside them, so one record shape serves both families. The packet path never sees
/// this type; the engine takes its family's <see cref="FlowKey{TAddress}"/> out of it once.
/// </summary>
public readonly record struct IpFlow(IpProtocol Protocol, IpAddress Source, ushort SourcePort, IpAddress Destination, ushort DestinationPort)
{
    /// <summary>True when both addresses are IPv6 (a flow of mixed families is neither, and is refused where it is used).</summary>
    public bool IsIpv6 => Source.IsIpv6 && Destination.IsIpv6;

    /// <summary>True when the two addresses are of different families: no packet has such a tuple.</summary>
    public bool MixesFamilies => Source.IsIpv6 != Destination.IsIpv6;

    /// <summary>The IPv4 flow key; throws for an IPv6 flow.</summary>
    public FlowKey<Ipv4Address> AsIpv4 => As<Ipv4Address>();

    /// <summary>The IPv6 flow key; throws for an IPv4 flow.</summary>
    public FlowKey<Ipv6Address> AsIpv6 => As<Ipv6Address>();

    /// <summary>The flow key in <typeparamref name="TAddress"/>'s family; throws for the other family.</summary>
    public FlowKey<TAddress> As<TAddress>()
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => new(Protocol, TAddress.From(Source), SourcePort, TAddress.From(Destination), DestinationPort);

    /// <summary>The flow of a family's key.</summary>
    public static IpFlow Of<TAddress>(in FlowKey<TAddress> key)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => new(key.Protocol, TAddress.ToIpAddress(key.Source), key.SourcePort, TAddress.ToIpAddress(key.Destination), key.DestinationPort);

    public static implicit operator IpFlow(FlowKey<Ipv4Address> key) => Of(key);

    public static implicit operator IpFlow(FlowKey<Ipv6Address> key) => Of(key);

    /// <summary>The same flow seen from the other end.</summary>
    public IpFlow Reverse() => new(Protocol, Destination, DestinationPort, Source, SourcePort);

    public override string ToString()
        => Source.IsIpv6 || Destination.IsIpv6
            ? $"{IpProtocolNames.Of(Protocol)} [{Source}]:{SourcePort} -> [{Destination}]:{DestinationPort}"
            : $"{IpProtocolNames.Of(Protocol)} {Source}:{SourcePort} -> {Destination}:{DestinationPort}";
}
