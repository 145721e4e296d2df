using System.Globalization;

namespace NatGate.Core.Rules.Ipnat;

/// <summary>The service and protocol names ipnat.conf may use; a small fixed table, never /etc/services.</summary>
internal static class IpnatNames
{
    private static readonly Dictionary<string, ushort> Services = new(StringComparer.Ordinal)
    {
        ["ftp"] = 21,
        ["ssh"] = 22,
        ["telnet"] = 23,
        ["smtp"] = 25,
        ["domain"] = 53,
        ["tftp"] = 69,
        ["http"] = 80,
        ["pop3"] = 110,
        ["ntp"] = 123,
        ["imap"] = 143,
        ["snmp"] = 161,
        ["ldap"] = 389,
        ["https"] = 443,
        ["submission"] = 587,
        ["imaps"] = 993,
        ["pop3s"] = 995,
    };

    public static bool TryService(string name, out ushort port) => Services.TryGetValue(name, out port);

    /// <summary>
    /// A protocol word: tcp, udp, tcp/udp (or tcpudp), icmp, and ip for every protocol
    /// (IP Filter treats protocol 0 as "any").
    /// </summary>
    public static bool TryProtocol(string word, out RuleProtocols protocols)
    {
        protocols = word switch
        {
            "tcp" => RuleProtocols.Tcp,
            "udp" => RuleProtocols.Udp,
            "tcp/udp" or "tcpudp" => RuleProtocols.TcpUdp,
            "icmp" => RuleProtocols.Icmp,
            "ip" => RuleProtocols.Any,
            _ => RuleProtocols.None,
        };
        return protocols != RuleProtocols.None;
    }

    /// <summary>A protocol number NatGate can select by: 0 (every protocol), 1, 6 or 17.</summary>
    public static bool TryProtocolNumber(string text, out RuleProtocols protocols)
    {
        protocols = RuleProtocols.None;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int number))
        {
            return false;
        }
        protocols = number switch
        {
            0 => RuleProtocols.Any,
            1 => RuleProtocols.Icmp,
            6 => RuleProtocols.Tcp,
            17 => RuleProtocols.Udp,
            _ => RuleProtocols.None,
        };
        return protocols != RuleProtocols.None;
    }

    /// <summary>The word for a protocol set, or null when ipnat.conf has none (such as tcp and icmp together).</summary>
    public static string? ProtocolWord(RuleProtocols protocols) => protocols switch
    {
        RuleProtocols.Tcp => "tcp",
        RuleProtocols.Udp => "udp",
        RuleProtocols.TcpUdp => "tcp/udp",
        RuleProtocols.Icmp => "icmp",
        RuleProtocols.Any => "ip",
        _ => null,
    };
}
