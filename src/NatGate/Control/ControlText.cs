using System.Globalization;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;

namespace NatGate.Control;

/// <summary>Reading the text forms the API and the commands use: protocols, addresses, prefixes, endpoints.</summary>
public static class ControlText
{
    /// <summary>"tcp", "udp", "icmp" or a protocol number; null if it is none of these.</summary>
    public static IpProtocol? Protocol(string text) => text.Trim().ToUpperInvariant() switch
    {
        "TCP" => IpProtocol.Tcp,
        "UDP" => IpProtocol.Udp,
        "ICMP" => IpProtocol.Icmp,
        var number when byte.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out byte value) => (IpProtocol)value,
        _ => null,
    };

    public static IpProtocol RequireProtocol(string? text, string what)
        => text is not null && Protocol(text) is { } protocol
            ? protocol
            : throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not a protocol: use tcp, udp or icmp.");

    public static Ipv4Address Address(string? text, string what)
        => text is not null && Ipv4Address.TryParse(text, out Ipv4Address address)
            ? address
            : throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not an IPv4 address (a.b.c.d).");

    public static Ipv4Prefix Prefix(string? text, string what)
        => text is not null && Ipv4Prefix.TryParse(text, out Ipv4Prefix prefix)
            ? prefix
            : throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not an IPv4 prefix (a.b.c.d/n).");

    /// <summary>"a.b.c.d:port".</summary>
    public static (Ipv4Address Address, ushort Port) Endpoint(string text, string what)
    {
        int colon = text.LastIndexOf(':');
        if (colon < 0 || !Ipv4Address.TryParse(text.AsSpan(0, colon), out Ipv4Address address)
            || !ushort.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
        {
            throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not an address and port (a.b.c.d:port).");
        }
        return (address, port);
    }
}
