using System.Globalization;
using System.Text.Json;
using NatGate.Core.Addressing;
using NatGate.Core.Ports;

namespace NatGate.Linux.Routing;

/// <summary>What a policy rule does with a packet it matches.</summary>
public enum PolicyRuleAction
{
    /// <summary>Look the route up in a table (<c>lookup T</c>).</summary>
    Lookup,

    /// <summary>Go on with the rule at another preference (<c>goto P</c>).</summary>
    Goto,

    /// <summary>Drop the packet silently (<c>blackhole</c>).</summary>
    Blackhole,

    /// <summary>Nothing: a place for <see cref="Goto"/> to land (<c>nop</c>).</summary>
    Nop,

    /// <summary>A rule in NatGate's preferences that NatGate did not write; it is deleted by its preference alone.</summary>
    Other,
}

/// <summary>
/// One <c>ip rule</c> (or <c>ip -6 rule</c>): a preference, a selector (from, to, incoming
/// interface, protocol and source ports) and an action with its target (the table of a lookup,
/// the preference of a goto). Records compare by value, which is how the reconciler tells what
/// to add and remove.
/// </summary>
public sealed record PolicyRule(int Preference, IpPrefix? From, IpPrefix? To, string? InputInterface, PolicyRuleAction Action, int Target = 0,
    string? Protocol = null, PortRange? SourcePorts = null)
{
    /// <summary>
    /// Whether the rule is in the kernel's IPv6 rule list (<c>ip -6 rule</c>). Each family has its
    /// own list, so a rule without addresses (iif TUN, nop) needs the family named.
    /// </summary>
    public bool IsIpv6 { get; init; }

    /// <summary>The firewall mark the rule matches under <see cref="FirewallMask"/> (<c>fwmark M/MASK</c>); null: any.</summary>
    public uint? FirewallMark { get; init; }

    public uint FirewallMask { get; init; } = uint.MaxValue;

    /// <summary>The words after <c>ip rule add</c> or <c>ip rule del</c>.</summary>
    public IReadOnlyList<string> Arguments
    {
        get
        {
            var words = new List<string> { "pref", Preference.ToString(CultureInfo.InvariantCulture) };
            if (Action == PolicyRuleAction.Other)
            {
                return words;
            }
            if (From is { } from)
            {
                words.AddRange(["from", from.ToString()]);
            }
            if (To is { } to)
            {
                words.AddRange(["to", to.ToString()]);
            }
            if (InputInterface is { } input)
            {
                words.AddRange(["iif", input]);
            }
            if (FirewallMark is { } mark)
            {
                words.AddRange(["fwmark", string.Create(CultureInfo.InvariantCulture, $"0x{mark:x}/0x{FirewallMask:x}")]);
            }
            if (Protocol is { } protocol)
            {
                words.AddRange(["ipproto", protocol]);
            }
            if (SourcePorts is { } ports)
            {
                words.AddRange(["sport", ports.First == ports.Last
                    ? ports.First.ToString(CultureInfo.InvariantCulture)
                    : $"{ports.First.ToString(CultureInfo.InvariantCulture)}-{ports.Last.ToString(CultureInfo.InvariantCulture)}"]);
            }
            string target = Target.ToString(CultureInfo.InvariantCulture);
            words.AddRange(Action switch
            {
                PolicyRuleAction.Lookup => ["lookup", target],
                PolicyRuleAction.Goto => ["goto", target],
                PolicyRuleAction.Blackhole => ["blackhole"],
                _ => ["nop"],
            });
            return words;
        }
    }

    public override string ToString() => (IsIpv6 ? "ip -6 rule add " : "ip rule add ") + string.Join(' ', Arguments);

    /// <summary>
    /// Reads one element of <c>ip -j rule show</c> (<c>ip -6 -j rule show</c> with
    /// <paramref name="ipv6"/>); null for a rule with anything this type does not describe (a
    /// mark, an outgoing interface, a type NatGate never installs).
    /// </summary>
    internal static PolicyRule? FromJson(JsonElement rule, bool ipv6 = false)
    {
        int preference = 0;
        IpPrefix? from = null, to = null;
        string? input = null;
        PolicyRuleAction? action = null;
        int target = 0;
        // A host prefix comes without its length.
        int sourceLength = ipv6 ? 128 : 32, destinationLength = ipv6 ? 128 : 32;
        string? source = null, destination = null, protocol = null;
        int portFirst = -1, portLast = -1;
        uint? mark = null;
        uint mask = uint.MaxValue;
        foreach (JsonProperty property in rule.EnumerateObject())
        {
            switch (property.Name)
            {
                case "priority":
                    preference = property.Value.GetInt32();
                    break;
                case "src":
                    source = property.Value.GetString();
                    break;
                case "srclen":
                    sourceLength = property.Value.GetInt32();
                    break;
                case "dst":
                    destination = property.Value.GetString();
                    break;
                case "dstlen":
                    destinationLength = property.Value.GetInt32();
                    break;
                case "iif":
                    input = property.Value.GetString();
                    break;
                case "iif_detached":
                    break;
                case "fwmark":
                    mark = uint.Parse(property.Value.GetString().AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    break;
                case "fwmask":
                    mask = uint.Parse(property.Value.GetString().AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    break;
                case "ipproto":
                    protocol = property.Value.GetString();
                    break;
                case "sport":
                    portFirst = portLast = property.Value.GetInt32();
                    break;
                case "sport_start":
                    portFirst = property.Value.GetInt32();
                    break;
                case "sport_end":
                    portLast = property.Value.GetInt32();
                    break;
                case "table":
                    action = PolicyRuleAction.Lookup;
                    string? table = property.Value.GetString();
                    if (!int.TryParse(table, NumberStyles.None, CultureInfo.InvariantCulture, out target))
                    {
                        target = table switch { "main" => 254, "local" => 255, "default" => 253, _ => -1 };
                    }
                    break;
                case "goto":
                    action = PolicyRuleAction.Goto;
                    target = property.Value.GetInt32();
                    break;
                case "action" when property.Value.GetString() == "blackhole":
                    action = PolicyRuleAction.Blackhole;
                    break;
                case "nop":
                    action = PolicyRuleAction.Nop;
                    break;
                default:
                    return null;
            }
        }
        if (action is null || target < 0)
        {
            return null;
        }
        if (source is not null and not "all")
        {
            if (ReadPrefix(source, sourceLength, ipv6) is not { } parsed)
            {
                return null;
            }
            from = parsed;
        }
        if (destination is not null and not "all")
        {
            if (ReadPrefix(destination, destinationLength, ipv6) is not { } parsed)
            {
                return null;
            }
            to = parsed;
        }
        PortRange? ports = portFirst >= 0 && portLast >= portFirst ? new PortRange((ushort)portFirst, (ushort)portLast) : null;
        return new PolicyRule(preference, from, to, input, action.Value, target, protocol, ports) { FirewallMark = mark, FirewallMask = mask, IsIpv6 = ipv6 };
    }

    /// <summary>An address and a length, as <c>ip -j rule</c> gives them apart; null when not of the family.</summary>
    private static IpPrefix? ReadPrefix(string address, int length, bool ipv6)
    {
        if (ipv6)
        {
            return Ipv6Address.TryParse(address, out Ipv6Address parsed) && length is >= 0 and <= 128 ? new IpPrefix(parsed, length) : null;
        }
        return Ipv4Address.TryParse(address, out Ipv4Address network) && length is >= 0 and <= 32 ? new IpPrefix(new Ipv4Prefix(network, length)) : null;
    }
}
