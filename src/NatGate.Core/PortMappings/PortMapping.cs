using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;

namespace NatGate.Core.PortMappings;

/// <summary>Which protocol asked for a port mapping.</summary>
public enum PortMappingClient
{
    /// <summary>PCP's MAP (RFC 6887 11).</summary>
    Pcp,

    /// <summary>NAT-PMP (RFC 6886), whose mappings carry no nonce (all zeros here).</summary>
    NatPmp,
}

/// <summary>
/// A port mapping an inside host asked for: a redirect from an external address and port to the
/// host's internal port (<see cref="Rule"/>), with the nonce that owns it (RFC 6887 11.2) and the
/// time it ends. Saved with the sessions, so that a restart keeps it and its sessions.
/// </summary>
public sealed record PortMapping
{
    /// <summary>The redirect: its destination is the external address and port, its target the internal ones.</summary>
    public required NatRule Rule { get; init; }

    /// <summary>The 96-bit mapping nonce in hex (24 digits); NAT-PMP's is all zeros.</summary>
    public required string Nonce { get; init; }

    /// <summary>When the mapping ends, in ticks on the engine's clock (UTC).</summary>
    public required long ExpiresTicks { get; init; }

    public PortMappingClient RequestedWith { get; init; }

    public IpProtocol Protocol => Rule.Protocols == RuleProtocols.Tcp ? IpProtocol.Tcp : IpProtocol.Udp;

    public Ipv4Address InternalAddress => Rule.RedirectTargets[0].AsIpv4;

    public ushort InternalPort => Rule.RedirectPort;

    public Ipv4Address ExternalAddress => Rule.Destination.First.AsIpv4;

    public ushort ExternalPort => Rule.DestinationPorts.First;

    /// <summary>The nonce NAT-PMP's mappings carry: it has none, and no PCP client picks 96 zero bits.</summary>
    public const string NoNonce = "000000000000000000000000";

    /// <summary>The seconds left at <paramref name="nowTicks"/>, 0 once ended.</summary>
    public uint SecondsLeft(long nowTicks) => (uint)Math.Clamp((ExpiresTicks - nowTicks + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond, 0, uint.MaxValue);

    /// <summary>The redirect for a mapping of <paramref name="internalAddress"/>:<paramref name="internalPort"/> to <paramref name="external"/>:<paramref name="externalPort"/>.</summary>
    public static NatRule RuleFor(IpProtocol protocol, Ipv4Address internalAddress, ushort internalPort, Ipv4Address external, ushort externalPort, NatPolicy policy, PortMappingClient client)
        => new()
        {
            Kind = NatRuleKind.Redirect,
            Protocols = protocol == IpProtocol.Tcp ? RuleProtocols.Tcp : RuleProtocols.Udp,
            Destination = IpPrefix.Host(external),
            DestinationPorts = PortMatch.Exactly(externalPort),
            RedirectTargets = [internalAddress],
            RedirectPort = internalPort,
            Policy = policy,
            Origin = new RuleOrigin.PortMappingRequest(protocol == IpProtocol.Tcp ? "tcp" : "udp", internalAddress, internalPort, client == PortMappingClient.Pcp ? "pcp" : "nat-pmp"),
        };
}
