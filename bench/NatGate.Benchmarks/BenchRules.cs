using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// Rule sets of operator size that stay clear of <see cref="BenchLab"/>'s flows: half map rules,
/// each for an inside /24 of 172.16.0.0/12 (translated to <see cref="BenchLab"/>'s external
/// addresses), half port forwards (NetNat static mappings) on 198.51.101.0/24, 60,000 ports an address.
/// </summary>
internal static class BenchRules
{
    private static readonly Ipv4Address FirstInside = Ipv4Address.Parse("172.16.0.0");
    private static readonly Ipv4Address FirstForwarded = Ipv4Address.Parse("198.51.101.0");
    private static readonly Ipv4Address ForwardTarget = Ipv4Address.Parse("172.31.255.1");

    /// <summary><paramref name="count"/> rules: map rule n for 172.16.0.0/12's n-th /24, alternating with port forward n.</summary>
    public static NatRule[] Mixed(int count)
    {
        var rules = new NatRule[count];
        for (int i = 0; i < count; i++)
        {
            int n = i / 2;
            rules[i] = i % 2 == 0
                ? BenchLab.MapRule("0.0.0.0/0") with { Source = new Ipv4Prefix(FirstInside + ((uint)n << 8), 24) }
                : new NatRule
                {
                    Kind = NatRuleKind.Redirect,
                    Protocols = RuleProtocols.TcpUdp,
                    Destination = Ipv4Prefix.Host(FirstForwarded + (uint)(n / 60_000)),
                    DestinationPorts = PortMatch.Exactly((ushort)(1024 + (n % 60_000))),
                    RedirectTargets = [ForwardTarget],
                    RedirectPort = 22,
                };
        }
        return rules;
    }
}
