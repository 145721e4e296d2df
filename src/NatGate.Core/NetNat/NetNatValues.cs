using NatGate.Core.Rules;

namespace NatGate.Core.NetNat;

/// <summary>
/// The words NetNat's parameters take, as Set-NetNat spells them (AddressDependentFiltering,
/// EndpointIndependentFiltering) and in the short form NatGate also accepts: one table each,
/// read by the TOML configuration and by natgate nat's options alike, case-insensitive, so a
/// value the file takes the command line takes too.
/// </summary>
public static class NetNatValues
{
    /// <summary>TcpFilteringBehavior and UdpFilteringBehavior (RFC 4787 section 5); AddressAndPortDependent is NatGate's addition.</summary>
    public static IReadOnlyList<(string Name, FilteringBehavior Value)> Filtering { get; } =
    [
        ("EndpointIndependentFiltering", FilteringBehavior.EndpointIndependent), ("EndpointIndependent", FilteringBehavior.EndpointIndependent),
        ("AddressDependentFiltering", FilteringBehavior.AddressDependent), ("AddressDependent", FilteringBehavior.AddressDependent),
        ("AddressAndPortDependentFiltering", FilteringBehavior.AddressAndPortDependent), ("AddressAndPortDependent", FilteringBehavior.AddressAndPortDependent),
    ];

    /// <summary>MappingBehavior, NatGate's addition (RFC 4787 section 4.1; NetNat maps endpoint-independently only).</summary>
    public static IReadOnlyList<(string Name, MappingBehavior Value)> Mapping { get; } =
    [
        ("EndpointIndependent", MappingBehavior.EndpointIndependent),
        ("AddressDependent", MappingBehavior.AddressDependent),
        ("AddressAndPortDependent", MappingBehavior.AddressAndPortDependent),
    ];

    /// <summary>UdpInboundRefresh and the other switches: true or false, and PowerShell's $true and $false.</summary>
    public static IReadOnlyList<(string Name, bool Value)> Switch { get; } =
    [
        ("true", true), ("false", false), ("$true", true), ("$false", false),
    ];

    /// <summary>The value named <paramref name="text"/> in <paramref name="choices"/>, in any case.</summary>
    public static bool TryRead<T>(IReadOnlyList<(string Name, T Value)> choices, string? text, out T value)
    {
        ArgumentNullException.ThrowIfNull(choices);
        foreach ((string name, T candidate) in choices)
        {
            if (string.Equals(name, text, StringComparison.OrdinalIgnoreCase))
            {
                value = candidate;
                return true;
            }
        }
        value = default!;
        return false;
    }

    /// <summary>The names a refusal lists: "A, B or C".</summary>
    public static string Names<T>(IReadOnlyList<(string Name, T Value)> choices)
    {
        ArgumentNullException.ThrowIfNull(choices);
        return choices.Count == 1 ? choices[0].Name
            : $"{string.Join(", ", choices.Take(choices.Count - 1).Select(choice => choice.Name))} or {choices[^1].Name}";
    }
}
