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

    /// <summary>An address of either family: dotted IPv4 or IPv6 text (no brackets, no zone).</summary>
    public static IpAddress AnyAddress(string? text, string what)
        => text is not null && IpAddress.TryParse(text, out IpAddress address)
            ? address
            : throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not an IP address (a.b.c.d, or IPv6 such as 2001:db8::1).");

    public static Ipv4Prefix Prefix(string? text, string what)
        => text is not null && Ipv4Prefix.TryParse(text, out Ipv4Prefix prefix)
            ? prefix
            : throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not an IPv4 prefix (a.b.c.d/n).");

    /// <summary>A prefix of either family: a.b.c.d/n, or an IPv6 prefix such as fd00:77::/64.</summary>
    public static IpPrefix AnyPrefix(string? text, string what)
        => text is not null && text.Contains('/', StringComparison.Ordinal) && IpPrefix.TryParse(text, out IpPrefix prefix)
            ? prefix
            : throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not a prefix (a.b.c.d/n, or IPv6 such as fd00:77::/64).");

    /// <summary>"a.b.c.d:port", or "[ipv6]:port" (RFC 5952 section 6: the brackets keep the port apart from the address's colons).</summary>
    public static (IpAddress Address, ushort Port) Endpoint(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.LastIndexOf(':');
        ReadOnlySpan<char> host = colon < 0 ? default : text.AsSpan(0, colon);
        bool bracketed = host.Length >= 2 && host[0] == '[' && host[^1] == ']';
        IpAddress? address = colon < 0 ? null
            : bracketed ? (Ipv6Address.TryParse(host[1..^1], out Ipv6Address ipv6) ? ipv6 : null)
            : Ipv4Address.TryParse(host, out Ipv4Address ipv4) ? ipv4 : null;
        if (address is null || !ushort.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
        {
            throw new NatControlException(NatErrno.EINVAL, $"{what} \"{text}\" is not an address and port (a.b.c.d:port, or [2001:db8::1]:port for IPv6).");
        }
        return (address.Value, port);
    }

    /// <summary>An endpoint as <see cref="Endpoint"/> reads it: IPv6 in brackets.</summary>
    public static string EndpointText(string address, ushort port)
        => address.Contains(':', StringComparison.Ordinal) ? $"[{address}]:{port}" : $"{address}:{port}";
}
