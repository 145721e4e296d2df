using System.Globalization;

namespace NatGate.Core.Ports;

/// <summary>An inclusive range of ports (or ICMP query identifiers), <paramref name="First"/> to <paramref name="Last"/>.</summary>
/// <param name="First">The lowest port in the range.</param>
/// <param name="Last">The highest port in the range; a range with <c>Last &lt; First</c> is empty.</param>
public readonly record struct PortRange(ushort First, ushort Last)
{
    /// <summary>Every usable TCP or UDP port: port 0 is reserved (RFC 6335 section 6).</summary>
    public static PortRange All => new(1, 65535);

    /// <summary>How many ports the range holds; 0 when <see cref="Last"/> is below <see cref="First"/>.</summary>
    public int Count => Last >= First ? Last - First + 1 : 0;

    /// <summary>Whether <paramref name="port"/> lies in the range.</summary>
    public bool Contains(ushort port) => port >= First && port <= Last;

    /// <summary>The range as written in rules: "First-Last".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{First}-{Last}");
}
