using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace NatGate.Control;

/// <summary>
/// A five-tuple as {"protocol":6,"source":"10.0.0.5","sourcePort":40000,"destination":"…","destinationPort":80}.
/// The protocol is written as its number (as in state files) and read as a number or "tcp", "udp", "icmp".
/// </summary>
public sealed class FlowViewJsonConverter : JsonConverter<FlowView>
{
    public override FlowView Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("a flow is an object with protocol, source, sourcePort, destination and destinationPort");
        }
        byte protocol = 0;
        string source = "0.0.0.0", destination = "0.0.0.0";
        ushort sourcePort = 0, destinationPort = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string name = reader.GetString()!;
            reader.Read();
            switch (name.ToUpperInvariant())
            {
                case "PROTOCOL":
                    protocol = reader.TokenType == JsonTokenType.Number
                        ? reader.GetByte()
                        : FlowView.ProtocolNumber(reader.GetString() ?? "") is { } named ? named
                        : throw new JsonException($"\"{reader.GetString()}\" is not a protocol (tcp, udp, icmp or a number)");
                    break;
                case "SOURCE": source = ReadAddress(ref reader); break;
                case "SOURCEPORT": sourcePort = reader.GetUInt16(); break;
                case "DESTINATION": destination = ReadAddress(ref reader); break;
                case "DESTINATIONPORT": destinationPort = reader.GetUInt16(); break;
                default: throw new JsonException($"a flow has no member \"{name}\"");
            }
        }
        return new FlowView(protocol, source, sourcePort, destination, destinationPort);
    }

    public override void Write(Utf8JsonWriter writer, FlowView value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WriteNumber("protocol", value.Protocol);
        writer.WriteString("source", value.Source);
        writer.WriteNumber("sourcePort", value.SourcePort);
        writer.WriteString("destination", value.Destination);
        writer.WriteNumber("destinationPort", value.DestinationPort);
        writer.WriteEndObject();
    }

    /// <summary>
    /// Dotted quad, each part 0-255 in decimal, or IPv6 text without brackets or a zone (a NAT66
    /// session's): what the engine's addresses print as, and all it reads.
    /// </summary>
    private static string ReadAddress(ref Utf8JsonReader reader)
    {
        string? text = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        return text is not null && (IsDottedQuad(text) || IsIpv6(text))
            ? text
            : throw new JsonException($"{(text is null ? reader.TokenType.ToString() : $"\"{text}\"")} is not an IP address (a.b.c.d, or IPv6 such as 2001:db8::1)");
    }

    private static bool IsDottedQuad(string text)
    {
        string[] parts = text.Split('.');
        return parts.Length == 4 && parts.All(part => part.Length is > 0 and <= 3
            && int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value <= 255);
    }

    private static bool IsIpv6(string text)
        => text.Contains(':', StringComparison.Ordinal) && !text.Contains('%', StringComparison.Ordinal) && !text.Contains('[', StringComparison.Ordinal)
        && System.Net.IPAddress.TryParse(text, out System.Net.IPAddress? address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
}
