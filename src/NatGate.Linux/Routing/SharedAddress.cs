using System.Globalization;
using System.Text;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;

namespace NatGate.Linux.Routing;

/// <summary>
/// Ports of an external address that belong to the NAT: its translated ports (and ICMP
/// identifiers), and the ports of redirects and static mappings to it. When the address is the
/// host's own, only packets to these are steered to the TUN, and the kernel keeps them out of
/// its own choice of ports (issue 11, "Sharing the host's own address").
/// </summary>
/// <param name="Address">The external address.</param>
/// <param name="Ports">The ports (or identifiers) of the NAT on it.</param>
/// <param name="Protocol">"tcp", "udp" or "icmp" (identifiers of echo queries).</param>
public sealed record SteeredPorts(Ipv4Address Address, string Protocol, PortRange Ports)
{
    public override string ToString()
        => $"{Address.ToString()} {Protocol} {SharedAddress.Format(Ports)}";
}

/// <summary>The nftables and sysctl vocabulary for a shared address.</summary>
public static class SharedAddress
{
    /// <summary>
    /// The firewall mark that takes a steered packet to NatGate's table, ahead of the local table.
    /// Only the upper 16 bits are NatGate's ("NG"); the lower ones are left to whoever else marks.
    /// </summary>
    public const uint Mark = 0x4e470000;

    public const uint MarkMask = 0xffff0000;

    /// <summary>The sysctl holding the ports the kernel never picks by itself (connect, bind to 0).</summary>
    public const string ReservedPortsPath = "net/ipv4/ip_local_reserved_ports";

    /// <summary>"LO-HI", or "P" for one port: as nftables and the kernel's sysctl both write ranges.</summary>
    public static string Format(PortRange ports)
        => ports.First == ports.Last
            ? ports.First.ToString(CultureInfo.InvariantCulture)
            : $"{ports.First.ToString(CultureInfo.InvariantCulture)}-{ports.Last.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// The union of the ranges in <paramref name="original"/> (the sysctl's text, "8080,61000-65535")
    /// and <paramref name="added"/>, written as the kernel writes it back: ascending, adjacent runs
    /// joined, so that reading it again compares equal.
    /// </summary>
    public static string MergeReserved(string original, IEnumerable<PortRange> added)
    {
        ArgumentNullException.ThrowIfNull(original);
        var ranges = new List<PortRange>(ParseReserved(original));
        ranges.AddRange(added);
        ranges.Sort((a, b) => a.First.CompareTo(b.First));
        var merged = new List<PortRange>();
        foreach (PortRange range in ranges)
        {
            if (merged.Count > 0 && range.First <= merged[^1].Last + 1)
            {
                merged[^1] = new PortRange(merged[^1].First, Math.Max(merged[^1].Last, range.Last));
            }
            else
            {
                merged.Add(range);
            }
        }
        var text = new StringBuilder();
        foreach (PortRange range in merged)
        {
            text.Append(text.Length == 0 ? "" : ",").Append(Format(range));
        }
        return text.ToString();
    }

    /// <summary>The ranges of the sysctl's text; what cannot be read is left out.</summary>
    public static IEnumerable<PortRange> ParseReserved(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] ends = part.Split('-');
            if (ushort.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort first)
                && ushort.TryParse(ends[^1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort last) && first <= last)
            {
                yield return new PortRange(first, last);
            }
        }
    }
}
