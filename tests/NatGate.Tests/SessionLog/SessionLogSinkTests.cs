using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.SessionLog;
using NatGate.SessionLog;

namespace NatGate.Tests.SessionLog;

/// <summary>The session log's sinks, each read back by an independent reader: JSON, RFC 5424, IPFIX's wire format.</summary>
public sealed class SessionLogSinkTests
{
    private static readonly DateTime At = new(2026, 12, 5, 7, 30, 1, 234, DateTimeKind.Utc);

    internal static SessionLogRecord Deleted(int id = 7) => new()
    {
        TimestampTicks = At.Ticks,
        Kind = SessionEventKind.Deleted,
        Reason = SessionEndReason.Expired,
        Family = SessionFamily.Ipv4,
        Protocol = IpProtocol.Tcp,
        State = "TimeWait",
        SessionId = id,
        RuleIndex = 3,
        Rule = Core.Translation.NatEngine.MapRule(Ipv4Prefix.Parse("10.77.0.0/24"), Ipv4Address.Parse("198.51.100.10"), label: "lab \"one\" ]"),
        InsideAddress = Ipv4Address.Parse("10.77.0.2"),
        InsidePort = 40000,
        ExternalAddress = Ipv4Address.Parse("198.51.100.10"),
        ExternalPort = 61000,
        RemoteAddress = Ipv4Address.Parse("198.51.100.2"),
        RemotePort = 80,
        PacketsOut = 6,
        PacketsIn = 5,
        BytesOut = 420,
        BytesIn = 9000,
    };

    internal static SessionLogRecord Block() => new()
    {
        TimestampTicks = At.Ticks,
        Kind = SessionEventKind.PortBlockAllocated,
        Family = SessionFamily.Ipv4,
        State = "Active",
        SessionId = -1,
        RuleIndex = 1,
        InsideAddress = Ipv4Address.Parse("10.77.0.3"),
        ExternalAddress = Ipv4Address.Parse("198.51.100.10"),
        PortBlock = new Core.Ports.PortRange(2048, 3071),
    };

    [Fact]
    public void Json_lines_read_back_as_the_api_s_event_view()
    {
        string directory = Directory.CreateTempSubdirectory("natgate-sessionlog-").FullName;
        try
        {
            string path = Path.Combine(directory, "sessions.jsonl");
            using (var sink = new JsonLinesFileSink(path, 1 << 20, 3))
            {
                sink.Write(Deleted());
                sink.Write(Block());
                sink.Flush(At.Ticks);
            }
            string[] lines = File.ReadAllLines(path);
            Assert.Equal(2, lines.Length);
            SessionEventView session = ControlClient.ParseSessionEvent(lines[0]);
            Assert.Equal(new DateTimeOffset(At), session.Time);
            Assert.Equal("deleted", session.Event);
            Assert.Equal("tcp", session.Protocol);
            Assert.Equal(("10.77.0.2", 40000), (session.InsideAddress, session.InsidePort));
            Assert.Equal(("198.51.100.10", 61000), (session.ExternalAddress, session.ExternalPort));
            Assert.Equal(("198.51.100.2", 80), (session.RemoteAddress, session.RemotePort));
            Assert.Equal("Expired", session.Reason);
            Assert.Equal((6, 5, 420, 9000), (session.PacketsOut, session.PacketsIn, session.BytesOut, session.BytesIn));
            Assert.Equal(3, session.Rule);
            Assert.Equal("lab \"one\" ]", session.RuleOrigin);
            Assert.Equal(7, session.Session);
            SessionEventView block = ControlClient.ParseSessionEvent(lines[1]);
            Assert.Equal("port-block-allocated", block.Event);
            Assert.Equal((2048, 3071), (block.PortFirst, block.PortLast));
            Assert.Null(block.Session);
            Assert.Equal("2026-12-05T07:30:01.234Z", JsonDocument.Parse(lines[0]).RootElement.GetProperty("time").GetString());
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(path));
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void The_file_is_rotated_by_size_and_only_the_newest_files_are_kept()
    {
        string directory = Directory.CreateTempSubdirectory("natgate-sessionlog-").FullName;
        try
        {
            string path = Path.Combine(directory, "sessions.jsonl");
            int lineLength;
            using (var probe = new JsonLinesFileSink(Path.Combine(directory, "probe"), 1 << 20, 1))
            {
                probe.Write(Deleted());
                probe.Flush(0);
                lineLength = (int)new FileInfo(Path.Combine(directory, "probe")).Length;
            }
            // Room for two lines a file; 9 records make five files, of which three are kept.
            using (var sink = new JsonLinesFileSink(path, 2 * lineLength + 10, 3))
            {
                for (int id = 100; id < 109; id++)
                {
                    sink.Write(Deleted(id));
                }
                sink.Flush(0);
            }
            int[] Ids(string file) => [.. File.ReadAllLines(file).Select(line => ControlClient.ParseSessionEvent(line).Session!.Value)];
            Assert.Equal([108], Ids(path));
            Assert.Equal([106, 107], Ids(path + ".1"));
            Assert.Equal([104, 105], Ids(path + ".2"));
            Assert.False(File.Exists(path + ".3"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public void Syslog_over_udp_sends_one_rfc_5424_message_a_record_with_its_facts_as_structured_data()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.ReceiveTimeout = 5000;
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        SyslogTarget target = SyslogTarget.TryParse($"udp:127.0.0.1:{port}", out string? problem) ?? throw new InvalidOperationException(problem);
        using (var sink = new SyslogSink(target, "gw1"))
        {
            sink.Write(Deleted());
            sink.Write(Block());
        }
        Rfc5424 session = Receive(listener);
        Assert.Equal(SyslogSink.Priority, session.Priority);
        Assert.Equal(new DateTimeOffset(At), session.Time);
        Assert.Equal(("gw1", "natgate", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), "deleted"),
            (session.HostName, session.AppName, session.ProcessId, session.MessageId));
        IReadOnlyDictionary<string, string> facts = session.StructuredData[SyslogSink.StructuredDataId];
        Assert.Equal("10.77.0.2", facts["insideAddress"]);
        Assert.Equal("40000", facts["insidePort"]);
        Assert.Equal("198.51.100.10", facts["externalAddress"]);
        Assert.Equal("61000", facts["externalPort"]);
        Assert.Equal("198.51.100.2", facts["remoteAddress"]);
        Assert.Equal("80", facts["remotePort"]);
        Assert.Equal("tcp", facts["protocol"]);
        Assert.Equal("Expired", facts["reason"]);
        Assert.Equal("9000", facts["bytesIn"]);
        // The rule's origin had '"' and ']' in it: escaped on the wire, whole once read.
        Assert.Equal("lab \"one\" ]", facts["ruleOrigin"]);
        Assert.Contains("10.77.0.2:40000 as 198.51.100.10:61000", session.Message, StringComparison.Ordinal);

        Rfc5424 block = Receive(listener);
        Assert.Equal("port-block-allocated", block.MessageId);
        Assert.Equal("2048", block.StructuredData[SyslogSink.StructuredDataId]["portFirst"]);
        Assert.Equal("3071", block.StructuredData[SyslogSink.StructuredDataId]["portLast"]);
    }

    [Fact]
    public void Syslog_over_a_unix_datagram_socket_reaches_a_listener_such_as_dev_log()
    {
        string directory = Directory.CreateTempSubdirectory("natgate-syslog-").FullName;
        try
        {
            string path = Path.Combine(directory, "log.sock");
            using var listener = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            listener.Bind(new UnixDomainSocketEndPoint(path));
            listener.ReceiveTimeout = 5000;
            using (var sink = new SyslogSink(SyslogTarget.TryParse("unix:" + path, out _)!))
            {
                sink.Write(Deleted());
            }
            Rfc5424 message = Receive(listener);
            Assert.Equal("deleted", message.MessageId);
            Assert.Equal("7", message.StructuredData[SyslogSink.StructuredDataId]["session"]);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("udp:192.0.2.1", "udp 192.0.2.1:514")]
    [InlineData("udp:192.0.2.1:1514", "udp 192.0.2.1:1514")]
    [InlineData("udp:[2001:db8::1]:514", "udp [2001:db8::1]:514")]
    [InlineData("unix:/dev/log", "unix:/dev/log")]
    [InlineData("udp:loghost", null)]
    [InlineData("tcp:192.0.2.1", null)]
    [InlineData("unix:dev/log", null)]
    public void Syslog_targets_are_read_or_refused_with_a_reason(string text, string? expected)
    {
        SyslogTarget? target = SyslogTarget.TryParse(text, out string? problem);
        Assert.Equal(expected, target?.ToString());
        Assert.Equal(expected is null, problem is not null);
    }

    private static Rfc5424 Receive(Socket listener)
    {
        byte[] buffer = new byte[4096];
        int length = listener.Receive(buffer);
        return Rfc5424.Parse(Encoding.UTF8.GetString(buffer, 0, length));
    }

    [Fact]
    public void Ipfix_messages_carry_templates_first_then_records_that_decode_by_them()
    {
        using var collector = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        collector.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        collector.ReceiveTimeout = 5000;
        using (var exporter = new IpfixExporter((IPEndPoint)collector.LocalEndPoint!))
        {
            exporter.Write(Deleted());
            exporter.Write(Block());
            exporter.Flush(At.Ticks);
            exporter.Write(Deleted(8));
            exporter.Flush(At.Ticks);
        }
        byte[] first = new byte[2048];
        int length = collector.Receive(first);
        // RFC 7011 section 3.1: version 10, the length, export time, sequence (records before), domain.
        Assert.Equal(10, BinaryPrimitives.ReadUInt16BigEndian(first));
        Assert.Equal(length, BinaryPrimitives.ReadUInt16BigEndian(first.AsSpan(2)));
        Assert.Equal((uint)(At - DateTime.UnixEpoch).TotalSeconds, BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(4)));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(8)));
        Dictionary<ushort, List<(ushort Element, ushort Length)>> templates = [];
        List<ushort> defined = [];
        List<(ushort Template, byte[] Record)> records = [];
        DecodeSets(first.AsSpan(16, length - 16), templates, defined, records);
        Assert.Equal([256, 257, 258, 259, 260], defined.Select(id => (int)id));
        Assert.Equal([256, 259], records.Select(record => (int)record.Template));

        Dictionary<ushort, byte[]> session = Fields(templates[256], records[0].Record);
        Assert.Equal((ulong)(At - DateTime.UnixEpoch).TotalMilliseconds, BinaryPrimitives.ReadUInt64BigEndian(session[323]));
        Assert.Equal(5, session[230][0]); // natEvent: NAT44 session delete
        Assert.Equal(3u, BinaryPrimitives.ReadUInt32BigEndian(session[463]));
        Assert.Equal(6, session[4][0]);
        Assert.Equal("10.77.0.2", new IPAddress(session[8]).ToString());
        Assert.Equal(40000, BinaryPrimitives.ReadUInt16BigEndian(session[7]));
        Assert.Equal("198.51.100.10", new IPAddress(session[225]).ToString());
        Assert.Equal(61000, BinaryPrimitives.ReadUInt16BigEndian(session[227]));
        Assert.Equal("198.51.100.2", new IPAddress(session[12]).ToString());
        Assert.Equal(80, BinaryPrimitives.ReadUInt16BigEndian(session[11]));
        Assert.Equal(3, session[136][0]); // expired after closing: end of flow detected
        Assert.Equal(11ul, BinaryPrimitives.ReadUInt64BigEndian(session[86]));
        Assert.Equal(9420ul, BinaryPrimitives.ReadUInt64BigEndian(session[85]));

        Dictionary<ushort, byte[]> block = Fields(templates[259], records[1].Record);
        Assert.Equal(16, block[230][0]); // port block allocation
        Assert.Equal(2048, BinaryPrimitives.ReadUInt16BigEndian(block[361]));
        Assert.Equal(3071, BinaryPrimitives.ReadUInt16BigEndian(block[362]));
        Assert.Equal(1024, BinaryPrimitives.ReadUInt16BigEndian(block[364]));

        byte[] second = new byte[2048];
        length = collector.Receive(second);
        // Two data records went before it; its templates are not due again yet (the first message's decode it).
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(second.AsSpan(8)));
        defined.Clear();
        records.Clear();
        DecodeSets(second.AsSpan(16, length - 16), templates, defined, records);
        Assert.Empty(defined);
        (ushort template, byte[] record) = Assert.Single(records);
        Assert.Equal(256, template);
        Assert.Equal(40000, BinaryPrimitives.ReadUInt16BigEndian(Fields(templates[256], record)[7]));
    }

    [Fact]
    public void Ipfix_templates_are_sent_again_once_the_refresh_interval_has_passed()
    {
        using var collector = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        collector.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        collector.ReceiveTimeout = 5000;
        long[] times = [At.Ticks, At.Ticks + IpfixExporter.TemplateRefresh.Ticks - 1, At.Ticks + IpfixExporter.TemplateRefresh.Ticks];
        using (var exporter = new IpfixExporter((IPEndPoint)collector.LocalEndPoint!))
        {
            foreach (long time in times)
            {
                exporter.Write(Deleted() with { TimestampTicks = time });
                exporter.Flush(time);
            }
        }
        Dictionary<ushort, List<(ushort Element, ushort Length)>> templates = [];
        var definedPerMessage = new List<int>();
        foreach (long _ in times)
        {
            byte[] message = new byte[2048];
            int length = collector.Receive(message);
            List<ushort> defined = [];
            DecodeSets(message.AsSpan(16, length - 16), templates, defined, []);
            definedPerMessage.Add(defined.Count);
        }
        Assert.Equal([5, 0, 5], definedPerMessage);
    }

    /// <summary>Sets (RFC 7011 section 3.3): set id 2 holds templates, 256 and above data records of a template already known.</summary>
    private static void DecodeSets(ReadOnlySpan<byte> sets, Dictionary<ushort, List<(ushort Element, ushort Length)>> templates, List<ushort> defined, List<(ushort, byte[])> records)
    {
        while (sets.Length >= 4)
        {
            ushort id = BinaryPrimitives.ReadUInt16BigEndian(sets);
            ushort length = BinaryPrimitives.ReadUInt16BigEndian(sets[2..]);
            ReadOnlySpan<byte> body = sets[4..length];
            if (id == 2)
            {
                while (body.Length >= 4)
                {
                    ushort template = BinaryPrimitives.ReadUInt16BigEndian(body);
                    ushort count = BinaryPrimitives.ReadUInt16BigEndian(body[2..]);
                    var fields = new List<(ushort, ushort)>();
                    for (int i = 0; i < count; i++)
                    {
                        fields.Add((BinaryPrimitives.ReadUInt16BigEndian(body[(4 + 4 * i)..]), BinaryPrimitives.ReadUInt16BigEndian(body[(6 + 4 * i)..])));
                    }
                    templates[template] = fields;
                    defined.Add(template);
                    body = body[(4 + 4 * count)..];
                }
            }
            else
            {
                int size = templates[id].Sum(field => field.Length);
                while (body.Length >= size)
                {
                    records.Add((id, body[..size].ToArray()));
                    body = body[size..];
                }
            }
            sets = sets[length..];
        }
    }

    private static Dictionary<ushort, byte[]> Fields(List<(ushort Element, ushort Length)> template, byte[] record)
    {
        var fields = new Dictionary<ushort, byte[]>();
        int offset = 0;
        foreach ((ushort element, ushort length) in template)
        {
            fields[element] = record[offset..(offset + length)];
            offset += length;
        }
        return fields;
    }
}
