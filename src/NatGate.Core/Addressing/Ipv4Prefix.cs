using System.Globalization;
using NatGate.Core.Packets;

namespace NatGate.Core.Addressing;

/// <summary>An IPv4 network prefix such as 10.77.0.0/24; addresses are host-order <see cref="uint"/>s.</summary>
public readonly record struct Ipv4Prefix
{
    public Ipv4Prefix(Ipv4Address address, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, 32);
        Length = length;
        Network = address.Masked(MaskOf(length));
    }

    /// <summary>The network address (host bits cleared).</summary>
    public Ipv4Address Network { get; }

    /// <summary>The number of leading bits that are fixed, 0 to 32.</summary>
    public int Length { get; }

    public uint Mask => MaskOf(Length);

    /// <summary>0.0.0.0/0: every address.</summary>
    public static Ipv4Prefix Any => new(Ipv4Address.Any, 0);

    public static Ipv4Prefix Host(Ipv4Address address) => new(address, 32);

    public Ipv4Address First => Network;

    public Ipv4Address Last => new(Network.Value | ~Mask);

    /// <summary>The number of addresses in the prefix (2^32 for /0).</summary>
    public ulong Count => 1UL << (32 - Length);

    public bool Contains(Ipv4Address address) => address.Masked(Mask) == Network;

    public bool Overlaps(Ipv4Prefix other)
    {
        int shorter = Math.Min(Length, other.Length);
        uint mask = MaskOf(shorter);
        return Network.Masked(mask) == other.Network.Masked(mask);
    }

    public static uint MaskOf(int length) => length == 0 ? 0u : uint.MaxValue << (32 - length);

    /// <summary>Parses "a.b.c.d", "a.b.c.d/n" or "a.b.c.d/255.255.255.0".</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out Ipv4Prefix prefix)
    {
        prefix = default;
        int slash = text.IndexOf('/');
        ReadOnlySpan<char> addressText = slash < 0 ? text : text[..slash];
        if (!Ipv4Address.TryParse(addressText, out Ipv4Address address))
        {
            return false;
        }
        int length = 32;
        if (slash >= 0)
        {
            ReadOnlySpan<char> lengthText = text[(slash + 1)..];
            if (lengthText.Contains('.'))
            {
                if (!Ipv4Address.TryParse(lengthText, out Ipv4Address mask) || !TryMaskLength(mask.Value, out length))
                {
                    return false;
                }
            }
            else if (!int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > 32)
            {
                return false;
            }
        }
        prefix = new Ipv4Prefix(address, length);
        return true;
    }

    public static Ipv4Prefix Parse(string text)
        => TryParse(text, out Ipv4Prefix prefix) ? prefix : throw new FormatException($"'{text}' is not an IPv4 prefix (a.b.c.d/n).");

    /// <summary>The prefix length of a contiguous netmask, false if the mask has holes.</summary>
    public static bool TryMaskLength(uint mask, out int length)
    {
        length = System.Numerics.BitOperations.PopCount(mask);
        return MaskOf(length) == mask;
    }

    public override string ToString() => $"{Network.ToString()}/{Length.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// The fewest prefixes that cover exactly the addresses of <paramref name="prefixes"/>: those
    /// inside another are dropped and sibling halves merge, so thousands of rules' prefixes cost
    /// the routing a handful of policy rules. Sorted by network.
    /// </summary>
    public static IReadOnlyList<Ipv4Prefix> Aggregate(IEnumerable<Ipv4Prefix> prefixes)
    {
        ArgumentNullException.ThrowIfNull(prefixes);
        var sorted = prefixes.Distinct().OrderBy(prefix => prefix.Network).ThenBy(prefix => prefix.Length).ToList();
        var merged = new List<Ipv4Prefix>(sorted.Count);
        foreach (Ipv4Prefix prefix in sorted)
        {
            if (merged.Count > 0 && merged[^1].Overlaps(prefix))
            {
                continue; // sorted by network, then shorter first: the one before covers this one
            }
            Ipv4Prefix current = prefix;
            // Merge with the sibling half before it, as long as there is one.
            while (merged.Count > 0 && current.Length > 0 && merged[^1].Length == current.Length
                && merged[^1].Network.Value == (current.Network.Value ^ (1u << (32 - current.Length))))
            {
                current = new Ipv4Prefix(current.Network, current.Length - 1);
                merged.RemoveAt(merged.Count - 1);
            }
            merged.Add(current);
        }
        return merged;
    }
}
