using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.SessionLog;

namespace NatGate.SessionLog;

/// <summary>
/// A session log record as one JSON object, the shape of <see cref="Control.SessionEventView"/>:
/// the JSON lines file and the control API's event stream write it. Written straight into a
/// <see cref="Utf8JsonWriter"/> (no object per record); the rule's origin text is made once per rule.
/// </summary>
internal static class SessionEventJson
{
    // A rule's origin as text, made once per rule object and let go with it.
    private static readonly ConditionalWeakTable<NatRule, string> OriginTexts = new();

    public static void Write(Utf8JsonWriter writer, in SessionLogRecord record)
    {
        writer.WriteStartObject();
        Span<char> text = stackalloc char[48];
        writer.WriteString("time", TimeText(record.TimestampTicks, text));
        writer.WriteString("event", EventName(record.Kind));
        writer.WriteString("family", SessionFamilyNames.Of(record.Family));
        if (record.IsPortBlock)
        {
            WriteAddress(writer, "insideAddress", record.InsideAddress, text);
            WriteAddress(writer, "externalAddress", record.ExternalAddress, text);
            writer.WriteNumber("portFirst", record.PortBlock.First);
            writer.WriteNumber("portLast", record.PortBlock.Last);
        }
        else
        {
            writer.WriteString("protocol", IpProtocolNames.Of(record.Protocol));
            WriteAddress(writer, "insideAddress", record.InsideAddress, text);
            writer.WriteNumber("insidePort", record.InsidePort);
            WriteAddress(writer, "externalAddress", record.ExternalAddress, text);
            writer.WriteNumber("externalPort", record.ExternalPort);
            WriteAddress(writer, "remoteAddress", record.RemoteAddress, text);
            writer.WriteNumber("remotePort", record.RemotePort);
            writer.WriteString("state", record.State);
            writer.WriteNumber("session", record.SessionId);
            writer.WriteBoolean("initiatedOutside", record.InitiatedOutside);
        }
        writer.WriteNumber("rule", record.RuleIndex);
        if (OriginOf(record.Rule) is string origin)
        {
            writer.WriteString("ruleOrigin", origin);
        }
        if (record.Kind == SessionEventKind.Deleted)
        {
            writer.WriteString("reason", ReasonName(record.Reason));
        }
        if (!record.IsPortBlock)
        {
            writer.WriteNumber("packetsOut", record.PacketsOut);
            writer.WriteNumber("packetsIn", record.PacketsIn);
            writer.WriteNumber("bytesOut", record.BytesOut);
            writer.WriteNumber("bytesIn", record.BytesIn);
        }
        writer.WriteEndObject();
    }

    /// <summary>A line that says a reader missed <paramref name="count"/> events because it fell behind.</summary>
    public static void WriteLost(Utf8JsonWriter writer, long count, long nowTicks)
    {
        Span<char> text = stackalloc char[48];
        writer.WriteStartObject();
        writer.WriteString("time", TimeText(nowTicks, text));
        writer.WriteString("event", "lost");
        writer.WriteNumber("count", count);
        writer.WriteEndObject();
    }

    public static string EventName(SessionEventKind kind) => kind switch
    {
        SessionEventKind.Created => "created",
        SessionEventKind.Updated => "updated",
        SessionEventKind.Deleted => "deleted",
        SessionEventKind.PortBlockAllocated => "port-block-allocated",
        SessionEventKind.PortBlockReleased => "port-block-released",
        _ => "unknown",
    };

    public static string ReasonName(SessionEndReason reason) => reason switch
    {
        SessionEndReason.Expired => nameof(SessionEndReason.Expired),
        SessionEndReason.Flushed => nameof(SessionEndReason.Flushed),
        SessionEndReason.Purged => nameof(SessionEndReason.Purged),
        SessionEndReason.Removed => nameof(SessionEndReason.Removed),
        SessionEndReason.AddressGone => nameof(SessionEndReason.AddressGone),
        SessionEndReason.Stopped => nameof(SessionEndReason.Stopped),
        _ => nameof(SessionEndReason.None),
    };

    /// <summary>The rule's origin (FILE:LINE, "nat NAME", the command line), or null when the rule has none or is gone.</summary>
    public static string? OriginOf(NatRule? rule)
        => rule?.Origin is null ? null : OriginTexts.GetValue(rule, static known => known.Origin!.Text);

    /// <summary>ISO 8601 in UTC to the millisecond (RFC 3339, as RFC 5424's TIMESTAMP wants it too).</summary>
    public static ReadOnlySpan<char> TimeText(long utcTicks, Span<char> buffer)
    {
        var time = new DateTime(Math.Clamp(utcTicks, DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), DateTimeKind.Utc);
        return time.TryFormat(buffer, out int written, "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) ? buffer[..written] : [];
    }

    private static void WriteAddress(Utf8JsonWriter writer, string name, IpAddress address, Span<char> buffer)
        => writer.WriteString(name, Format(address, buffer, out int written) ? buffer[..written] : []);

    // A constrained call: the address is formatted through ISpanFormattable without being boxed.
    private static bool Format<T>(T value, Span<char> buffer, out int written)
        where T : ISpanFormattable
        => value.TryFormat(buffer, out written, default, CultureInfo.InvariantCulture);
}
