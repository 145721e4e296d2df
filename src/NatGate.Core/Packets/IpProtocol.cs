namespace NatGate.Core.Packets;

/// <summary>IP protocol and IPv6 next-header numbers (IANA "Assigned Internet Protocol Numbers").</summary>
public enum IpProtocol : byte
{
    /// <summary>IPv6 Hop-by-Hop Options (RFC 8200 4.3).</summary>
    HopByHop = 0,

    /// <summary>ICMP for IPv4 (RFC 792).</summary>
    Icmp = 1,

    /// <summary>TCP (RFC 9293).</summary>
    Tcp = 6,

    /// <summary>UDP (RFC 768).</summary>
    Udp = 17,

    /// <summary>IPv6 Routing header (RFC 8200 4.4).</summary>
    Routing = 43,

    /// <summary>IPv6 Fragment header (RFC 8200 4.5).</summary>
    Fragment = 44,

    /// <summary>Encapsulating Security Payload (RFC 4303).</summary>
    Esp = 50,

    /// <summary>Authentication Header (RFC 4302).</summary>
    Ah = 51,

    /// <summary>ICMP for IPv6 (RFC 4443).</summary>
    Icmpv6 = 58,

    /// <summary>No next header (RFC 8200 4.7).</summary>
    NoNextHeader = 59,

    /// <summary>IPv6 Destination Options (RFC 8200 4.6).</summary>
    DestinationOptions = 60,
}

/// <summary>The names NatGate's listings give protocols: the lower-case keywords of /etc/protocols, else the number.</summary>
public static class IpProtocolNames
{
    public static string Of(IpProtocol protocol) => protocol switch
    {
        IpProtocol.Icmp => "icmp",
        IpProtocol.Tcp => "tcp",
        IpProtocol.Udp => "udp",
        IpProtocol.Icmpv6 => "ipv6-icmp",
        _ => ((byte)protocol).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
