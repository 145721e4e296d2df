using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using NatGate.Core.Rules;

namespace NatGate.Core.State;

/// <summary>
/// How one session line is written: camelCase members, enums by name, addresses and prefixes as
/// dotted text, and nothing unknown accepted on reading (a version 1 file has exactly these members).
/// </summary>
internal static class StateFileJson
{
    /// <summary>Built once: the serializer caches its contracts per options instance.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions();

    private static JsonSerializerOptions CreateOptions()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { WriteAddressesAsText, SkipComputedProperties } },
        };
        options.Converters.Add(new FlowKeyJsonConverter());
        options.Converters.Add(new Ipv4PrefixJsonConverter());
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly();
        return options;
    }

    /// <summary>In a rule every uint is an address (TranslatedFirst, TranslatedLast, RedirectTargets): write them dotted.</summary>
    private static void WriteAddressesAsText(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Type != typeof(NatRule))
        {
            return;
        }
        foreach (JsonPropertyInfo property in typeInfo.Properties)
        {
            if (property.PropertyType == typeof(uint))
            {
                property.CustomConverter = Ipv4AddressJsonConverter.Instance;
            }
            else if (property.PropertyType == typeof(IReadOnlyList<uint>))
            {
                property.CustomConverter = Ipv4AddressListJsonConverter.Instance;
            }
        }
    }

    /// <summary>Get-only members (NatRule.TranslatedCount, PortRange.Count, PortMatch.IsAny) are derived, not state.</summary>
    private static void SkipComputedProperties(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }
        for (int i = typeInfo.Properties.Count - 1; i >= 0; i--)
        {
            JsonPropertyInfo property = typeInfo.Properties[i];
            if (property.Set is null && property.AssociatedParameter is null)
            {
                typeInfo.Properties.RemoveAt(i);
            }
        }
    }
}
