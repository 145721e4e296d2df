namespace NatGate.Control;

/// <summary>A five-tuple on the wire: addresses as text, dotted IPv4 or IPv6 (see <see cref="FlowViewJsonConverter"/>).</summary>
public readonly record struct FlowView(byte Protocol, string Source, ushort SourcePort, string Destination, ushort DestinationPort)
{
    /// <summary>"tcp", "udp", "icmp" (any case) or a protocol number; null if it is none of these.</summary>
    public static byte? ProtocolNumber(string text) => text.Trim().ToUpperInvariant() switch
    {
        "TCP" => 6,
        "UDP" => 17,
        "ICMP" => 1,
        var number when byte.TryParse(number, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out byte value) => value,
        _ => null,
    };
}
