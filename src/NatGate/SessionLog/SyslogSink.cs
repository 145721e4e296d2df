using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.SessionLog;

namespace NatGate.SessionLog;

/// <summary>
/// The session log as syslog messages (RFC 5424), one a datagram: over a Unix datagram socket
/// (/dev/log, where rsyslog or journald listen) or UDP (RFC 5426). Each carries its facts as
/// structured data, [natgate@32473 ...] (32473 is the enterprise number RFC 5612 sets aside for
/// documentation: a private SD-ID, RFC 5424 section 6.3.2), so a collector needs no parsing of
/// the free text. Facility local0, severity informational: PRI 134.
/// </summary>
internal sealed class SyslogSink : ISessionLogSink
{
    /// <summary>local0 (16) * 8 + informational (6), RFC 5424 section 6.2.1.</summary>
    public const int Priority = 134;

    /// <summary>The SD-ID of NatGate's structured data.</summary>
    public const string StructuredDataId = "natgate@32473";

    private readonly Socket socket;
    private readonly EndPoint endpoint;
    private readonly StringBuilder message = new(512);
    private byte[] bytes = new byte[1024];
    private readonly string header;

    public SyslogSink(SyslogTarget target, string? hostName = null)
    {
        ArgumentNullException.ThrowIfNull(target);
        Target = target;
        endpoint = target.EndPoint;
        socket = target.IsUnix
            ? new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified)
            : new Socket(target.EndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        // HOSTNAME, APP-NAME and PROCID do not change (RFC 5424 section 6.2.4 to 6.2.6).
        string host = HeaderField(hostName ?? Environment.MachineName, 255);
        header = string.Create(CultureInfo.InvariantCulture, $" {host} natgate {Environment.ProcessId} ");
    }

    public SyslogTarget Target { get; }

    public string Name => $"syslog {Target}";

    public void Write(in SessionLogRecord record)
    {
        Format(record, message, header);
        string text = message.ToString();
        int length = Encoding.UTF8.GetByteCount(text);
        if (bytes.Length < length)
        {
            bytes = new byte[length * 2];
        }
        int written = Encoding.UTF8.GetBytes(text, bytes);
        socket.SendTo(bytes.AsSpan(0, written), SocketFlags.None, endpoint);
    }

    public void Flush(long nowTicks)
    {
    }

    public void Dispose() => socket.Dispose();

    /// <summary>
    /// One RFC 5424 message: &lt;PRI&gt;1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG, where MSGID
    /// is the event (created, deleted, port-block-allocated, port-block-released).
    /// </summary>
    internal static void Format(in SessionLogRecord record, StringBuilder message, string header)
    {
        Span<char> time = stackalloc char[48];
        CultureInfo invariant = CultureInfo.InvariantCulture;
        message.Clear();
        message.Append(invariant, $"<{Priority}>1 ").Append(SessionEventJson.TimeText(record.TimestampTicks, time)).Append(header)
            .Append(SessionEventJson.EventName(record.Kind)).Append(" [").Append(StructuredDataId);
        Parameter(message, "family", SessionFamilyNames.Of(record.Family));
        if (record.IsPortBlock)
        {
            message.Append(invariant, $" insideAddress=\"{record.InsideAddress}\" externalAddress=\"{record.ExternalAddress}\" portFirst=\"{record.PortBlock.First}\" portLast=\"{record.PortBlock.Last}\"");
        }
        else
        {
            Parameter(message, "protocol", IpProtocolNames.Of(record.Protocol));
            message.Append(invariant, $" insideAddress=\"{record.InsideAddress}\" insidePort=\"{record.InsidePort}\"")
                .Append(invariant, $" externalAddress=\"{record.ExternalAddress}\" externalPort=\"{record.ExternalPort}\"")
                .Append(invariant, $" remoteAddress=\"{record.RemoteAddress}\" remotePort=\"{record.RemotePort}\"")
                .Append(invariant, $" session=\"{record.SessionId}\"");
            Parameter(message, "state", record.State ?? "");
        }
        message.Append(invariant, $" rule=\"{record.RuleIndex}\"");
        if (SessionEventJson.OriginOf(record.Rule) is string origin)
        {
            Parameter(message, "ruleOrigin", origin);
        }
        if (record.Kind == SessionEventKind.Deleted)
        {
            Parameter(message, "reason", SessionEventJson.ReasonName(record.Reason));
            message.Append(invariant, $" packetsOut=\"{record.PacketsOut}\" packetsIn=\"{record.PacketsIn}\" bytesOut=\"{record.BytesOut}\" bytesIn=\"{record.BytesIn}\"");
        }
        message.Append("] ");
        // MSG: the same facts for a person reading the plain log.
        if (record.IsPortBlock)
        {
            message.Append(invariant, $"{record.InsideAddress} ports {record.ExternalAddress}:{record.PortBlock.First}-{record.PortBlock.Last} {SessionEventJson.EventName(record.Kind)}");
        }
        else
        {
            message.Append(invariant, $"{IpProtocolNames.Of(record.Protocol)} {record.InsideAddress}:{record.InsidePort} as {record.ExternalAddress}:{record.ExternalPort} with {record.RemoteAddress}:{record.RemotePort} {SessionEventJson.EventName(record.Kind)}");
        }
    }

    /// <summary>PARAM-NAME="PARAM-VALUE" with '"', '\' and ']' escaped (RFC 5424 section 6.3.3).</summary>
    private static void Parameter(StringBuilder message, string name, string value)
    {
        message.Append(' ').Append(name).Append("=\"");
        foreach (char character in value)
        {
            if (character is '"' or '\\' or ']')
            {
                message.Append('\\');
            }
            message.Append(character);
        }
        message.Append('"');
    }

    /// <summary>A header field: printable US-ASCII without spaces, at most <paramref name="limit"/> characters; "-" when empty.</summary>
    private static string HeaderField(string text, int limit)
    {
        var field = new StringBuilder(Math.Min(text.Length, limit));
        foreach (char character in text)
        {
            if (character is > (char)32 and < (char)127 && field.Length < limit)
            {
                field.Append(character);
            }
        }
        return field.Length == 0 ? "-" : field.ToString();
    }
}

/// <summary>Where syslog messages go: unix:PATH (a datagram socket such as /dev/log) or udp:HOST[:PORT] (RFC 5426, port 514 by default).</summary>
internal sealed record SyslogTarget(bool IsUnix, EndPoint EndPoint, string Text)
{
    public const int DefaultPort = 514;

    public override string ToString() => Text;

    /// <summary>Reads unix:/dev/log, udp:192.0.2.1, udp:192.0.2.1:514 or udp:[2001:db8::1]:514; null with the reason when it is none of them.</summary>
    public static SyslogTarget? TryParse(string text, out string? problem)
    {
        problem = null;
        if (text.StartsWith("unix:", StringComparison.Ordinal) && text.Length > 5 && text[5] == '/')
        {
            return new SyslogTarget(true, new UnixDomainSocketEndPoint(text[5..]), text);
        }
        if (text.StartsWith("udp:", StringComparison.Ordinal))
        {
            if (Endpoints.TryParse(text[4..], DefaultPort, out IPEndPoint? endpoint))
            {
                return new SyslogTarget(false, endpoint, $"udp {endpoint}");
            }
            problem = $"'{text[4..]}' is not ADDRESS or ADDRESS:PORT (192.0.2.1:514, [2001:db8::1]:514)";
            return null;
        }
        problem = "give unix:PATH (such as unix:/dev/log) or udp:ADDRESS[:PORT]";
        return null;
    }
}
