using System.Globalization;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Linux.Routing;

/// <summary>An address assigned to an interface and the length of its on-link prefix (203.0.113.1/24).</summary>
public readonly record struct InterfaceAddress(Ipv4Address Address, int PrefixLength)
{
    /// <summary>The on-link network.</summary>
    public Ipv4Prefix Prefix => new(Address, PrefixLength);

    /// <summary>Parses "203.0.113.1/24".</summary>
    public static InterfaceAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !Ipv4Address.TryParse(text.AsSpan(0, slash), out Ipv4Address address)
            || !int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out int length) || length > 32)
        {
            throw new FormatException($"\"{text}\" is not an interface address such as 203.0.113.1/24.");
        }
        return new InterfaceAddress(address, length);
    }

    public override string ToString() => $"{Address.ToString()}/{PrefixLength.ToString(CultureInfo.InvariantCulture)}";
}
