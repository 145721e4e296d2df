using NatGate.Core.Addressing;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using NatGate.Core.Control;
using NatGate.Core.Rules;

namespace NatGate.Core.State;

/// <summary>
/// How the header's rules and the session lines are written: camelCase members, enums by name,
/// addresses and prefixes as text, and nothing unknown accepted on reading (a version 1 or 2
/// file has exactly these members). Built once: the serializer caches its contracts per options instance.
/// </summary>
internal static class StateFileJson
{
    /// <summary>For a rule in the header's "rules" array.</summary>
    public static JsonSerializerOptions Options { get; } = CreateOptions(ruleByIndex: false);

    /// <summary>For a session line: its "rule" is a number into the header's rules (<see cref="RuleIndexJsonConverter.Use"/>).</summary>
    public static JsonSerializerOptions SessionOptions { get; } = CreateOptions(ruleByIndex: true);

    private static JsonSerializerOptions CreateOptions(bool ruleByIndex)
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
            RespectNullableAnnotations = true,
            RespectRequiredConstructorParameters = true,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { SkipComputedProperties } },
        };
        if (ruleByIndex)
        {
            ((DefaultJsonTypeInfoResolver)options.TypeInfoResolver).Modifiers.Add(WriteRuleByIndex);
        }
        options.Converters.Add(new IpFlowJsonConverter());
        options.Converters.Add(Ipv4AddressJsonConverter.Instance);
        options.Converters.Add(IpAddressJsonConverter.Instance);
        options.Converters.Add(IpPrefixJsonConverter.Instance);
        options.Converters.Add(new Ipv4PrefixJsonConverter());
        options.Converters.Add(new JsonStringEnumConverter());
        options.MakeReadOnly();
        return options;
    }

    private static void WriteRuleByIndex(JsonTypeInfo typeInfo)
    {
        if (typeInfo.Type != typeof(SessionRecord))
        {
            return;
        }
        foreach (JsonPropertyInfo property in typeInfo.Properties)
        {
            if (property.PropertyType == typeof(NatRule))
            {
                property.CustomConverter = RuleIndexJsonConverter.Instance;
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

/// <summary>
/// A session's rule, written as its number in the header's rules. The table comes from
/// <see cref="Use"/> on the calling thread: the serializer offers converters no per-call state,
/// and building options per file would rebuild every contract.
/// </summary>
internal sealed class RuleIndexJsonConverter : JsonConverter<NatRule>
{
    [ThreadStatic]
    private static RuleTable? current;

    public static RuleIndexJsonConverter Instance { get; } = new();

    /// <summary>Makes <paramref name="table"/> the one this thread's session lines are written and read against, until disposed.</summary>
    public static Scope Use(RuleTable table)
    {
        RuleTable? previous = current;
        current = table;
        return new Scope(previous);
    }

    public override NatRule Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        IReadOnlyList<NatRule> rules = Table.Rules;
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long index))
        {
            throw new JsonException("\"rule\" must be a whole number, the position of the session's rule in the header's \"rules\" (from 0)");
        }
        if (index < 0 || index >= rules.Count)
        {
            throw new RuleIndexException(index, rules.Count);
        }
        return rules[(int)index];
    }

    public override void Write(Utf8JsonWriter writer, NatRule value, JsonSerializerOptions options)
    {
        int index = Table.IndexOf(value);
        if (index < 0)
        {
            throw new InvalidOperationException("A session's rule is not in the header: the sessions changed while they were being saved.");
        }
        writer.WriteNumberValue(index);
    }

    private static RuleTable Table => current ?? throw new InvalidOperationException("Session lines are written and read inside RuleIndexJsonConverter.Use.");

    public readonly struct Scope(RuleTable? previous) : IDisposable
    {
        public void Dispose() => current = previous;
    }
}

/// <summary>A session names a rule the header does not have; its message needs no JSON path.</summary>
internal sealed class RuleIndexException(long index, int count)
    : JsonException($"rule {index} does not exist; the header has {count} {(count == 1 ? "rule" : "rules")}");
