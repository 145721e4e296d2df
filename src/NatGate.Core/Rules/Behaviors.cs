using NatGate.Core.Packets;
namespace NatGate.Core.Rules;

/// <summary>How external endpoints are reused for one internal endpoint (RFC 4787 section 4.1).</summary>
public enum MappingBehavior : byte
{
    /// <summary>One external endpoint per internal endpoint, whatever the destination (RFC 4787 REQ-1).</summary>
    EndpointIndependent,

    /// <summary>A new external endpoint per destination address.</summary>
    AddressDependent,

    /// <summary>A new external endpoint per destination address and port.</summary>
    AddressAndPortDependent,
}

/// <summary>Which inbound packets an existing mapping admits (RFC 4787 section 5).</summary>
public enum FilteringBehavior : byte
{
    /// <summary>Any remote may send to the mapping.</summary>
    EndpointIndependent,

    /// <summary>Only remote addresses the internal endpoint has sent to (RFC 4787 REQ-8 recommends this or the above).</summary>
    AddressDependent,

    /// <summary>Only remote address and port pairs the internal endpoint has sent to.</summary>
    AddressAndPortDependent,
}

/// <summary>Per-NAT behaviour: the NetNat settings, with NatGate's RFC defaults (DESIGN.md "Behaviour").</summary>
public sealed record NatPolicy
{
    /// <summary>The defaults DESIGN.md lists: RFC minimums or recommendations, not WinNAT's shorter ones.</summary>
    public static NatPolicy Default { get; } = new();

    public MappingBehavior Mapping { get; init; } = MappingBehavior.EndpointIndependent;

    public FilteringBehavior TcpFiltering { get; init; } = FilteringBehavior.AddressDependent;

    public FilteringBehavior UdpFiltering { get; init; } = FilteringBehavior.AddressDependent;

    /// <summary>Whether inbound UDP refreshes the session timer (RFC 4787 REQ-6; NetNat UdpInboundRefresh, default false).</summary>
    public bool UdpInboundRefresh { get; init; }

    /// <summary>RFC 4787 REQ-5: at least 120 s, 300 s recommended.</summary>
    public TimeSpan UdpIdleTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>RFC 5382 REQ-5: at least 2 h 4 min.</summary>
    public TimeSpan TcpEstablishedTimeout { get; init; } = TimeSpan.FromSeconds(7440);

    /// <summary>RFC 5382 REQ-5 and RFC 7857 section 2.2: 4 minutes for partially open or closing connections.</summary>
    public TimeSpan TcpTransitoryTimeout { get; init; } = TimeSpan.FromSeconds(240);

    /// <summary>RFC 5508 REQ-2: at least 60 s.</summary>
    public TimeSpan IcmpQueryTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Timeout for protocols other than TCP, UDP and ICMP (address-only sessions).</summary>
    public TimeSpan OtherIdleTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Keep the parity of the internal port (RFC 4787 REQ-4, optional).</summary>
    public bool PreservePortParity { get; init; }

    public FilteringBehavior FilteringFor(IpProtocol protocol) => protocol == IpProtocol.Tcp ? TcpFiltering : UdpFiltering;
}

/// <summary>How the NAT treats a packet from one inside host to another host's external endpoint (RFC 4787 REQ-9).</summary>
public enum HairpinningMode : byte
{
    /// <summary>Hairpinning is refused; such packets are dropped.</summary>
    Disabled,

    /// <summary>Translated on both addresses; the target sees the sender's external address and port (RFC 4787 REQ-9).</summary>
    ExternalSource,
}
