using System.Globalization;
using System.Numerics;
using System.Text;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;

namespace NatGate.Core.Rules.Ipnat;

/// <summary>
/// Writes rules in the canonical ipnat.conf form, as "ipnat -l" lists them: one rule a line, addresses with /n,
/// ports as numbers, every field that differs from its default. <see cref="IpnatParser"/> reads the result back
/// to an equal rule. The policy (NetNat behaviour settings) and the label have no ipnat words and are not printed.
/// </summary>
public static class IpnatPrinter
{
    /// <summary>One rule, without a line end; throws <see cref="ArgumentException"/> for a rule ipnat.conf cannot express.</summary>
    public static string Print(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var text = new StringBuilder();
        text.Append(rule.Kind switch
        {
            NatRuleKind.Map => "map",
            NatRuleKind.Redirect => "rdr",
            NatRuleKind.Bidirectional => "bimap",
            _ => "map-block",
        });
        text.Append(' ');
        if (rule.InsideInterface is not null)
        {
            text.Append(rule.InsideInterface).Append(',');
        }
        text.Append(rule.Interface ?? "*");
        if (rule.Kind == NatRuleKind.Redirect)
        {
            AppendRedirect(text, rule);
        }
        else
        {
            AppendMap(text, rule);
        }
        if (rule.Fragments)
        {
            text.Append(" frag");
        }
        if (rule.AgeSeconds is { } age)
        {
            text.Append(CultureInfo.InvariantCulture, $" age {age}");
            if (rule.AgeClosingSeconds is { } closing)
            {
                text.Append(CultureInfo.InvariantCulture, $"/{closing}");
            }
        }
        else if (rule.AgeClosingSeconds is not null)
        {
            throw Unexpressible(rule, "AgeClosingSeconds without AgeSeconds ('age n/m' sets both)");
        }
        if (rule.Policy.PreservePortParity && rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock)
        {
            text.Append(" parity");
        }
        if (rule.MssClamp != 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" mssclamp {rule.MssClamp}");
        }
        if (rule.Proxy is { } proxy)
        {
            text.Append(CultureInfo.InvariantCulture, $" proxy port {proxy.Port} {proxy.Name}/{proxy.Protocol}");
        }
        return text.ToString();
    }

    /// <summary>Each rule on its own line, each line ended by "\n".</summary>
    public static string Print(IEnumerable<NatRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var text = new StringBuilder();
        foreach (NatRule rule in rules)
        {
            text.Append(Print(rule)).Append('\n');
        }
        return text.ToString();
    }

    private static void AppendMap(StringBuilder text, NatRule rule)
    {
        bool simple = !rule.SourceNegated && !rule.DestinationNegated && rule.SourcePorts.IsAny
            && rule.DestinationPorts.IsAny && rule.Destination.IsAny;
        if (simple)
        {
            text.Append(' ').Append(rule.Source);
        }
        else
        {
            AppendFromTo(text, rule);
        }
        if (rule.TranslatedLast < rule.TranslatedFirst)
        {
            throw Unexpressible(rule, "no external address (TranslatedLast is below TranslatedFirst)");
        }
        // "-> 0/32": the interface's address, whichever it is now.
        text.Append(" -> ").Append(rule.TranslatedInterface is not null ? "0/32" : Addresses(rule.TranslatedFirst, rule.TranslatedLast));

        RuleProtocols mapped = RuleProtocols.None;
        if (rule.TranslatedPorts is not null || rule.PortmapAuto)
        {
            RuleProtocols portmapped = rule.Protocols & RuleProtocols.TcpUdp;
            if (rule.Kind != NatRuleKind.Map || portmapped == RuleProtocols.None || (rule.TranslatedPorts is not null && rule.PortmapAuto))
            {
                throw Unexpressible(rule, "a port map outside a map rule, without tcp or udp, or both a range and auto");
            }
            text.Append(" portmap ").Append(IpnatNames.ProtocolWord(portmapped)).Append(' ')
                .Append(rule.TranslatedPorts is { } ports ? Range(ports) : "auto");
            mapped |= portmapped;
        }
        if (rule.TranslatedIcmpIdentifiers is { } identifiers)
        {
            if (rule.Kind != NatRuleKind.Map)
            {
                throw Unexpressible(rule, "an ICMP identifier map outside a map rule");
            }
            text.Append(" icmpidmap icmp ").Append(Range(identifiers));
            mapped |= RuleProtocols.Icmp;
        }
        if (mapped != RuleProtocols.None)
        {
            // IP Filter limits a rule with portmap or icmpidmap to the protocols they name.
            if (mapped != rule.Protocols)
            {
                throw Unexpressible(rule, $"protocols {rule.Protocols} with port or identifier maps that limit the rule to {mapped}");
            }
        }
        else if (rule.Protocols != RuleProtocols.Any)
        {
            text.Append(' ').Append(ProtocolWord(rule));
        }
        if (rule.Kind == NatRuleKind.MapBlock && rule.PortsPerAddress > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" ports {rule.PortsPerAddress}");
        }
        if (rule.Kind != NatRuleKind.Redirect && (rule.RoundRobin || rule.Sticky || rule.RedirectTargets.Count > 0 || rule.RedirectPort != 0))
        {
            throw Unexpressible(rule, "redirect fields on a map rule");
        }
    }

    private static void AppendRedirect(StringBuilder text, NatRule rule)
    {
        bool simple = !rule.SourceNegated && !rule.DestinationNegated && rule.SourcePorts.IsAny
            && rule.Source.IsAny && !rule.DestinationPorts.Excluding;
        if (simple)
        {
            text.Append(' ').Append(rule.Destination);
            PortMatch ports = rule.DestinationPorts;
            if (!ports.IsAny)
            {
                text.Append(CultureInfo.InvariantCulture, $" port {ports.First}");
                if (ports.Last != ports.First)
                {
                    text.Append(CultureInfo.InvariantCulture, $"-{ports.Last}");
                }
            }
        }
        else
        {
            AppendFromTo(text, rule);
        }
        if (rule.RedirectTargets.Count == 0)
        {
            throw Unexpressible(rule, "a redirect without internal addresses");
        }
        text.Append(" ->");
        for (int index = 0; index < rule.RedirectTargets.Count; index++)
        {
            text.Append(index == 0 ? ' ' : ',').Append(rule.RedirectTargets[index].ToString());
        }
        if (rule.RedirectPort != 0)
        {
            text.Append(CultureInfo.InvariantCulture, $" port {rule.RedirectPort}");
        }
        if (rule.Protocols != RuleProtocols.Tcp)
        {
            text.Append(' ').Append(ProtocolWord(rule));
        }
        if (rule.RoundRobin)
        {
            text.Append(" round-robin");
        }
        if (rule.Sticky)
        {
            text.Append(" sticky");
        }
        if (rule.TranslatedPorts is not null || rule.TranslatedIcmpIdentifiers is not null || rule.PortmapAuto || rule.PortsPerAddress != 0)
        {
            throw Unexpressible(rule, "map fields on a redirect");
        }
    }

    private static void AppendFromTo(StringBuilder text, NatRule rule)
    {
        text.Append(" from ");
        AppendObject(text, rule.Source, rule.SourceNegated, rule.SourcePorts);
        text.Append(" to ");
        AppendObject(text, rule.Destination, rule.DestinationNegated, rule.DestinationPorts);
    }

    private static void AppendObject(StringBuilder text, IpPrefix prefix, bool negated, PortMatch ports)
    {
        if (negated)
        {
            text.Append('!');
        }
        if (prefix.IsAny)
        {
            text.Append("any");
        }
        else
        {
            text.Append(prefix);
        }
        if (ports.IsAny)
        {
            return;
        }
        text.Append(" port ");
        if (ports.Excluding)
        {
            text.Append(ports.First == ports.Last
                ? string.Create(CultureInfo.InvariantCulture, $"!= {ports.First}")
                : string.Create(CultureInfo.InvariantCulture, $"{ports.First} <> {ports.Last}"));
        }
        else if (ports.First == ports.Last)
        {
            text.Append(CultureInfo.InvariantCulture, $"= {ports.First}");
        }
        else if (ports.First == 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"<= {ports.Last}");
        }
        else if (ports.Last == 65535)
        {
            text.Append(CultureInfo.InvariantCulture, $">= {ports.First}");
        }
        else
        {
            text.Append(CultureInfo.InvariantCulture, $"{ports.First}:{ports.Last}");
        }
    }

    /// <summary>A prefix when the addresses form one, otherwise "range a-b".</summary>
    private static string Addresses(IpAddress first, IpAddress last)
    {
        UInt128 count = IpAddress.CountFrom(first, last);
        if (UInt128.IsPow2(count) && first.Value % count == 0)
        {
            int hostBits = (int)UInt128.Log2(count);
            return first.IsIpv6
                ? new IpPrefix(first.AsIpv6, 128 - hostBits).ToString()
                : new Ipv4Prefix(first.AsIpv4, 32 - hostBits).ToString();
        }
        return $"range {first}-{last}";
    }

    private static string Range(PortRange range) => string.Create(CultureInfo.InvariantCulture, $"{range.First}:{range.Last}");

    private static string ProtocolWord(NatRule rule)
        => IpnatNames.ProtocolWord(rule.Protocols) ?? throw Unexpressible(rule, $"protocols {rule.Protocols}: ipnat.conf names tcp, udp, tcp/udp, icmp or ip (every protocol)");

    private static ArgumentException Unexpressible(NatRule rule, string what)
        => new($"The rule {rule.Label ?? rule.Kind.ToString()} has {what}, which ipnat.conf cannot express.", nameof(rule));
}
