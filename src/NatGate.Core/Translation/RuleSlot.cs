using NatGate.Core.Ports;
using NatGate.Core.Rules;

namespace NatGate.Core.Translation;

/// <summary>A loaded rule with its engine-side state. Its index is stored in every session it made.</summary>
internal sealed class RuleSlot(int index, NatRule rule)
{
    public int Index { get; } = index;

    public NatRule Rule { get; } = rule;

    /// <summary>False once removed (ipnat -r): no new sessions, existing ones live on as orphans until purged or expired.</summary>
    public bool Active { get; set; } = true;

    /// <summary>Sessions that name this rule; a removed rule's slot is reused only when this is zero.</summary>
    public int Sessions { get; set; }

    /// <summary>Next target for round-robin redirects.</summary>
    public int NextTarget { get; set; }

    /// <summary>Copied from the policy so the per-packet path reads one field.</summary>
    public bool UdpInboundRefresh { get; } = rule.Policy.UdpInboundRefresh;

    public long UdpTimeoutTicks { get; } = rule.Policy.UdpIdleTimeout.Ticks;

    public long TcpEstablishedTimeoutTicks { get; } = rule.Policy.TcpEstablishedTimeout.Ticks;

    public long TcpTransitoryTimeoutTicks { get; } = rule.Policy.TcpTransitoryTimeout.Ticks;

    public long IcmpTimeoutTicks { get; } = rule.Policy.IcmpQueryTimeout.Ticks;

    public long OtherTimeoutTicks { get; } = rule.Policy.OtherIdleTimeout.Ticks;

    /// <summary>The port range for a protocol's external ports or identifiers.</summary>
    public PortRange RangeFor(byte protocol)
        => protocol == 1 ? Rule.TranslatedIcmpIdentifiers ?? PortRange.All : Rule.TranslatedPorts ?? PortRange.All;
}
