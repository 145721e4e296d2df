using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.State;

/// <summary>An IPv4 address held as a host-order <see cref="uint"/>, written as "a.b.c.d".</summary>
internal sealed class Ipv4AddressJsonConverter : JsonConverter<Ipv4Address>
{
    public static Ipv4AddressJsonConverter Instance { get; } = new();

    public override Ipv4Address Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => ReadAddress(ref reader);

    public override void Write(Utf8JsonWriter writer, Ipv4Address value, JsonSerializerOptions options) => WriteAddress(writer, value);

    internal static Ipv4Address ReadAddress(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"expected an IPv4 address as a string such as \"10.0.0.5\", found {reader.TokenType}");
        }
        Span<char> text = stackalloc char[Ipv4Address.MaximumFormattedLength];
        int length = reader.HasValueSequence || reader.ValueSpan.Length > Ipv4Address.MaximumFormattedLength ? -1 : reader.CopyString(text);
        if (length < 0 || !Ipv4Address.TryParse(text[..length], out Ipv4Address address))
        {
            throw new JsonException($"\"{reader.GetString()}\" is not an IPv4 address (a.b.c.d)");
        }
        return address;
    }

    internal static void WriteAddress(Utf8JsonWriter writer, Ipv4Address address)
    {
        Span<char> text = stackalloc char[Ipv4Address.MaximumFormattedLength];
        address.TryFormat(text, out int written);
        writer.WriteStringValue(text[..written]);
    }
}

/// <summary>An address of either family (a rule's), written as "a.b.c.d" or "2001:db8::1".</summary>
internal sealed class IpAddressJsonConverter : JsonConverter<IpAddress>
{
    public static IpAddressJsonConverter Instance { get; } = new();

    public override IpAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        if (text is null || !IpAddress.TryParse(text, out IpAddress address))
        {
            throw new JsonException($"{(text is null ? reader.TokenType.ToString() : $"\"{text}\"")} is not an IP address (a.b.c.d or an IPv6 address)");
        }
        return address;
    }

    public override void Write(Utf8JsonWriter writer, IpAddress value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

/// <summary>A prefix of either family (a rule's), written as "a.b.c.d/n" or "fd00::/64"; "any" is 0.0.0.0/0.</summary>
internal sealed class IpPrefixJsonConverter : JsonConverter<IpPrefix>
{
    public static IpPrefixJsonConverter Instance { get; } = new();

    public override IpPrefix Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        if (text is null || !text.Contains('/', StringComparison.Ordinal) || !IpPrefix.TryParse(text, out IpPrefix prefix))
        {
            throw new JsonException($"{(text is null ? reader.TokenType.ToString() : $"\"{text}\"")} is not a prefix (a.b.c.d/n or an IPv6 prefix)");
        }
        return prefix;
    }

    public override void Write(Utf8JsonWriter writer, IpPrefix value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

/// <summary>A prefix written as "a.b.c.d/n".</summary>
internal sealed class Ipv4PrefixJsonConverter : JsonConverter<Ipv4Prefix>
{
    public override Ipv4Prefix Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        string? text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        if (text is null || !text.Contains('/', StringComparison.Ordinal) || !Ipv4Prefix.TryParse(text, out Ipv4Prefix prefix))
        {
            throw new JsonException($"{(text is null ? reader.TokenType.ToString() : $"\"{text}\"")} is not an IPv4 prefix (a.b.c.d/n)");
        }
        return prefix;
    }

    public override void Write(Utf8JsonWriter writer, Ipv4Prefix value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

/// <summary>
/// A five-tuple as {"protocol":6,"source":"10.0.0.5","sourcePort":40000,"destination":...,"destinationPort":80};
/// every member is required, and no other is allowed. Addresses are of one family: dotted IPv4
/// (all a version 1 file holds) or IPv6 text (version 2 on).
/// </summary>
internal sealed class IpFlowJsonConverter : JsonConverter<IpFlow>
{
    private const string ProtocolName = "protocol";
    private const string SourceName = "source";
    private const string SourcePortName = "sourcePort";
    private const string DestinationName = "destination";
    private const string DestinationPortName = "destinationPort";

    public override IpFlow Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException($"expected a flow object ({ProtocolName}, {SourceName}, {SourcePortName}, {DestinationName}, {DestinationPortName}), found {reader.TokenType}");
        }
        IpProtocol protocol = 0;
        IpAddress source = Ipv4Address.Any, destination = Ipv4Address.Any;
        ushort sourcePort = 0, destinationPort = 0;
        int seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            reader.Read();
            int bit = name switch
            {
                ProtocolName => 1,
                SourceName => 2,
                SourcePortName => 4,
                DestinationName => 8,
                DestinationPortName => 16,
                _ => throw new JsonException($"a flow has no member \"{name}\""),
            };
            if ((seen & bit) != 0)
            {
                throw new JsonException($"a flow names \"{name}\" twice");
            }
            seen |= bit;
            switch (bit)
            {
                case 1: protocol = (IpProtocol)ReadNumber<byte>(ref reader, name); break;
                case 2: source = IpAddressJsonConverter.Instance.Read(ref reader, typeof(IpAddress), options); break;
                case 4: sourcePort = ReadNumber<ushort>(ref reader, name); break;
                case 8: destination = IpAddressJsonConverter.Instance.Read(ref reader, typeof(IpAddress), options); break;
                default: destinationPort = ReadNumber<ushort>(ref reader, name); break;
            }
        }
        if (reader.TokenType != JsonTokenType.EndObject)
        {
            throw new JsonException("a flow object is not closed");
        }
        if (seen != 31)
        {
            throw new JsonException($"a flow needs all of {ProtocolName}, {SourceName}, {SourcePortName}, {DestinationName} and {DestinationPortName}");
        }
        if (source.IsIpv6 != destination.IsIpv6)
        {
            throw new JsonException($"a flow's source {source} and destination {destination} are of different families");
        }
        return new IpFlow(protocol, source, sourcePort, destination, destinationPort);
    }

    public override void Write(Utf8JsonWriter writer, IpFlow value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteNumber(ProtocolName, (byte)value.Protocol);
        writer.WriteString(SourceName, value.Source.ToString());
        writer.WriteNumber(SourcePortName, value.SourcePort);
        writer.WriteString(DestinationName, value.Destination.ToString());
        writer.WriteNumber(DestinationPortName, value.DestinationPort);
        writer.WriteEndObject();
    }

    private static T ReadNumber<T>(ref Utf8JsonReader reader, string name)
        where T : struct, System.Numerics.IBinaryInteger<T>
    {
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out long value) && value >= 0 && value <= long.CreateTruncating(T.AllBitsSet))
        {
            return T.CreateTruncating(value);
        }
        throw new JsonException($"a flow's \"{name}\" must be a whole number from 0 to {T.AllBitsSet}");
    }
}
