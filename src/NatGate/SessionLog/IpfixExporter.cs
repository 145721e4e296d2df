using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.SessionLog;

namespace NatGate.SessionLog;

/// <summary>
/// The session log as IPFIX (RFC 7011) over UDP, with the NAT event information elements of
/// RFC 8158: each session's creation and deletion (natEvent 4/5 for NAT44, 6/7 for NAT64; NAT66,
/// which RFC 8158 leaves out, as 4/5 with IPv6 addresses) and each map-block port block's
/// allocation and release (16/17). The inside endpoint is the source (sourceIPv4Address,
/// sourceTransportPort), the external one the post-NAT source (postNATSourceIPv4Address,
/// postNAPTSourceTransportPort), the remote one the destination, whichever side the first packet
/// came from; natInstanceID is the rule's number. Templates go in the first message and again
/// every <see cref="TemplateRefresh"/> (RFC 7011 section 8.4: over UDP they are resent
/// periodically, so a collector that starts later still decodes); each message fits a 1500-byte
/// path (section 10.3.3).
/// </summary>
internal sealed class IpfixExporter : ISessionLogSink
{
    /// <summary>The IANA port for IPFIX over UDP (RFC 7011 section 10.3.5 and 11).</summary>
    public const int DefaultPort = 4739;

    public const int MaximumMessage = 1400;

    public const uint ObservationDomain = 1;

    public static readonly TimeSpan TemplateRefresh = TimeSpan.FromSeconds(60);

    private const int HeaderLength = 16;
    private const ushort TemplateSetId = 2;

    private readonly Socket socket;
    private readonly byte[] message = new byte[MaximumMessage];
    private int length = HeaderLength;
    private int setStart = -1;
    private ushort setTemplate;
    private int recordsInMessage;
    private uint sequence;
    private long templatesSentTicks = long.MinValue;

    public IpfixExporter(IPEndPoint collector)
    {
        ArgumentNullException.ThrowIfNull(collector);
        Collector = collector;
        // Not connected: an ICMP port unreachable from a collector that is down for a moment does
        // not turn the next sends into errors.
        socket = new Socket(collector.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
    }

    public IPEndPoint Collector { get; }

    public string Name => $"ipfix {Collector}";

    /// <summary>Data records sent since the start (what the next message's sequence number says, modulo 2^32).</summary>
    public long RecordsSent { get; private set; }

    public void Write(in SessionLogRecord record)
    {
        IpfixTemplate template = IpfixTemplate.For(record);
        if (templatesSentTicks == long.MinValue || record.TimestampTicks - templatesSentTicks >= TemplateRefresh.Ticks)
        {
            if (recordsInMessage > 0)
            {
                Send(record.TimestampTicks);
            }
            WriteTemplates();
            templatesSentTicks = record.TimestampTicks;
        }
        if (setTemplate != template.Id || setStart < 0)
        {
            CloseSet();
            if (length + 4 + template.RecordLength > MaximumMessage)
            {
                Send(record.TimestampTicks);
            }
            OpenSet(template.Id);
        }
        else if (length + template.RecordLength > MaximumMessage)
        {
            Send(record.TimestampTicks);
            OpenSet(template.Id);
        }
        length += template.Encode(record, message.AsSpan(length));
        recordsInMessage++;
    }

    public void Flush(long nowTicks)
    {
        if (length > HeaderLength)
        {
            Send(nowTicks);
        }
    }

    public void Dispose() => socket.Dispose();

    private void OpenSet(ushort id)
    {
        setStart = length;
        setTemplate = id;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(length), id);
        length += 4;
    }

    private void CloseSet()
    {
        if (setStart >= 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(setStart + 2), (ushort)(length - setStart));
            setStart = -1;
        }
    }

    /// <summary>The template set (set id 2): every template this exporter uses (RFC 7011 section 3.4.1).</summary>
    private void WriteTemplates()
    {
        CloseSet();
        OpenSet(TemplateSetId);
        foreach (IpfixTemplate template in IpfixTemplate.All)
        {
            length += template.WriteDefinition(message.AsSpan(length));
        }
        CloseSet();
    }

    /// <summary>The message header (RFC 7011 section 3.1), then one datagram.</summary>
    private void Send(long nowTicks)
    {
        CloseSet();
        Span<byte> header = message.AsSpan(0, HeaderLength);
        BinaryPrimitives.WriteUInt16BigEndian(header, 10);
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)length);
        BinaryPrimitives.WriteUInt32BigEndian(header[4..], (uint)Math.Max(0, (nowTicks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerSecond));
        // The count of data records sent before this message (section 3.1), templates not counted.
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], sequence);
        BinaryPrimitives.WriteUInt32BigEndian(header[12..], ObservationDomain);
        int size = length;
        int records = recordsInMessage;
        length = HeaderLength;
        recordsInMessage = 0;
        setTemplate = 0;
        sequence += (uint)records;
        RecordsSent += records;
        socket.SendTo(message.AsSpan(0, size), SocketFlags.None, Collector);
    }
}

/// <summary>The IPFIX information elements NatGate exports (IANA's registry; RFC 7012, RFC 8158).</summary>
internal enum IpfixElement : ushort
{
    ProtocolIdentifier = 4,
    SourceTransportPort = 7,
    SourceIpv4Address = 8,
    DestinationTransportPort = 11,
    DestinationIpv4Address = 12,
    SourceIpv6Address = 27,
    DestinationIpv6Address = 28,
    OctetTotalCount = 85,
    PacketTotalCount = 86,
    FlowEndReason = 136,
    PostNatSourceIpv4Address = 225,
    PostNatDestinationIpv4Address = 226,
    PostNaptSourceTransportPort = 227,
    PostNaptDestinationTransportPort = 228,
    NatEvent = 230,
    PostNatSourceIpv6Address = 281,
    ObservationTimeMilliseconds = 323,
    PortRangeStart = 361,
    PortRangeEnd = 362,
    PortRangeStepSize = 363,
    PortRangeNumPorts = 364,
    NatInstanceId = 463,
}

/// <summary>One template: its id and fields, and how a record fills them.</summary>
internal sealed class IpfixTemplate
{
    private readonly (IpfixElement Element, ushort Length)[] fields;

    private IpfixTemplate(ushort id, params (IpfixElement Element, ushort Length)[] fields)
    {
        Id = id;
        this.fields = fields;
        RecordLength = fields.Sum(field => field.Length);
    }

    public ushort Id { get; }

    public int RecordLength { get; }

    private static readonly (IpfixElement, ushort)[] Head = [(IpfixElement.ObservationTimeMilliseconds, 8), (IpfixElement.NatEvent, 1), (IpfixElement.NatInstanceId, 4)];
    private static readonly (IpfixElement, ushort)[] Tail = [(IpfixElement.FlowEndReason, 1), (IpfixElement.PacketTotalCount, 8), (IpfixElement.OctetTotalCount, 8)];
    private static readonly (IpfixElement, ushort)[] Block =
        [(IpfixElement.PortRangeStart, 2), (IpfixElement.PortRangeEnd, 2), (IpfixElement.PortRangeStepSize, 2), (IpfixElement.PortRangeNumPorts, 2)];

    public static readonly IpfixTemplate Nat44Session = new(256,
    [
        .. Head, (IpfixElement.ProtocolIdentifier, 1),
        (IpfixElement.SourceIpv4Address, 4), (IpfixElement.SourceTransportPort, 2),
        (IpfixElement.PostNatSourceIpv4Address, 4), (IpfixElement.PostNaptSourceTransportPort, 2),
        (IpfixElement.DestinationIpv4Address, 4), (IpfixElement.DestinationTransportPort, 2),
        .. Tail,
    ]);

    public static readonly IpfixTemplate Nat66Session = new(257,
    [
        .. Head, (IpfixElement.ProtocolIdentifier, 1),
        (IpfixElement.SourceIpv6Address, 16), (IpfixElement.SourceTransportPort, 2),
        (IpfixElement.PostNatSourceIpv6Address, 16), (IpfixElement.PostNaptSourceTransportPort, 2),
        (IpfixElement.DestinationIpv6Address, 16), (IpfixElement.DestinationTransportPort, 2),
        .. Tail,
    ]);

    /// <summary>NAT64: IPv6 inside, IPv4 outside; the remote is the post-NAT destination (RFC 8158 section 4.3).</summary>
    public static readonly IpfixTemplate Nat64Session = new(258,
    [
        .. Head, (IpfixElement.ProtocolIdentifier, 1),
        (IpfixElement.SourceIpv6Address, 16), (IpfixElement.SourceTransportPort, 2),
        (IpfixElement.PostNatSourceIpv4Address, 4), (IpfixElement.PostNaptSourceTransportPort, 2),
        (IpfixElement.PostNatDestinationIpv4Address, 4), (IpfixElement.PostNaptDestinationTransportPort, 2),
        .. Tail,
    ]);

    public static readonly IpfixTemplate Nat44PortBlock = new(259,
        [.. Head, (IpfixElement.SourceIpv4Address, 4), (IpfixElement.PostNatSourceIpv4Address, 4), .. Block]);

    public static readonly IpfixTemplate Nat66PortBlock = new(260,
        [.. Head, (IpfixElement.SourceIpv6Address, 16), (IpfixElement.PostNatSourceIpv6Address, 16), .. Block]);

    public static readonly IpfixTemplate[] All = [Nat44Session, Nat66Session, Nat64Session, Nat44PortBlock, Nat66PortBlock];

    public static IpfixTemplate For(in SessionLogRecord record) => (record.IsPortBlock, record.Family) switch
    {
        (true, SessionFamily.Ipv4) => Nat44PortBlock,
        (true, _) => Nat66PortBlock,
        (false, SessionFamily.Ipv4) => Nat44Session,
        (false, SessionFamily.Ipv6) => Nat66Session,
        _ => Nat64Session,
    };

    /// <summary>
    /// natEvent (IANA's "NAT Event Type" registry, RFC 8158 section 4.1, Table 2): 4/5 NAT44
    /// session create/delete, 6/7 NAT64's, 16/17 port block allocation/de-allocation (1 and 2 are
    /// the historic translation create/delete, not these).
    /// </summary>
    public static byte NatEventOf(in SessionLogRecord record) => (record.Kind, record.Family) switch
    {
        (SessionEventKind.PortBlockAllocated, _) => 16,
        (SessionEventKind.PortBlockReleased, _) => 17,
        (SessionEventKind.Created, SessionFamily.Nat64) => 6,
        (SessionEventKind.Deleted, SessionFamily.Nat64) => 7,
        (SessionEventKind.Created, _) => 4,
        _ => 5,
    };

    /// <summary>
    /// flowEndReason (RFC 7012 section 5.8.1): 0x01 idle timeout for an expired session, 0x03 end
    /// of flow detected for a TCP session that closed or was reset first, 0x04 forced end for
    /// one removed, flushed or left behind; 0 while it lives.
    /// </summary>
    public static byte FlowEndReasonOf(in SessionLogRecord record) => record.Kind != SessionEventKind.Deleted ? (byte)0 : record.Reason switch
    {
        SessionEndReason.Expired when record.State is "Closing" or "TimeWait" or "Reset" => (byte)3,
        SessionEndReason.Expired => (byte)1,
        _ => (byte)4,
    };

    /// <summary>The template record (RFC 7011 section 3.4.1); returns its length.</summary>
    public int WriteDefinition(Span<byte> into)
    {
        BinaryPrimitives.WriteUInt16BigEndian(into, Id);
        BinaryPrimitives.WriteUInt16BigEndian(into[2..], (ushort)fields.Length);
        int offset = 4;
        foreach ((IpfixElement element, ushort size) in fields)
        {
            BinaryPrimitives.WriteUInt16BigEndian(into[offset..], (ushort)element);
            BinaryPrimitives.WriteUInt16BigEndian(into[(offset + 2)..], size);
            offset += 4;
        }
        return offset;
    }

    /// <summary>The data record (fields in order, network byte order); returns its length.</summary>
    public int Encode(in SessionLogRecord record, Span<byte> into)
    {
        int offset = 0;
        foreach ((IpfixElement element, ushort size) in fields)
        {
            Span<byte> field = into.Slice(offset, size);
            switch (element)
            {
                case IpfixElement.ObservationTimeMilliseconds:
                    BinaryPrimitives.WriteUInt64BigEndian(field, (ulong)Math.Max(0, (record.TimestampTicks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMillisecond));
                    break;
                case IpfixElement.NatEvent:
                    field[0] = NatEventOf(record);
                    break;
                case IpfixElement.NatInstanceId:
                    BinaryPrimitives.WriteUInt32BigEndian(field, (uint)record.RuleIndex);
                    break;
                case IpfixElement.ProtocolIdentifier:
                    field[0] = (byte)record.Protocol;
                    break;
                case IpfixElement.SourceIpv4Address or IpfixElement.SourceIpv6Address:
                    WriteAddress(field, record.InsideAddress);
                    break;
                case IpfixElement.SourceTransportPort:
                    BinaryPrimitives.WriteUInt16BigEndian(field, record.InsidePort);
                    break;
                case IpfixElement.PostNatSourceIpv4Address or IpfixElement.PostNatSourceIpv6Address:
                    WriteAddress(field, record.ExternalAddress);
                    break;
                case IpfixElement.PostNaptSourceTransportPort:
                    BinaryPrimitives.WriteUInt16BigEndian(field, record.ExternalPort);
                    break;
                case IpfixElement.DestinationIpv4Address or IpfixElement.DestinationIpv6Address or IpfixElement.PostNatDestinationIpv4Address:
                    WriteAddress(field, record.RemoteAddress);
                    break;
                case IpfixElement.DestinationTransportPort or IpfixElement.PostNaptDestinationTransportPort:
                    BinaryPrimitives.WriteUInt16BigEndian(field, record.RemotePort);
                    break;
                case IpfixElement.FlowEndReason:
                    field[0] = FlowEndReasonOf(record);
                    break;
                case IpfixElement.PacketTotalCount:
                    BinaryPrimitives.WriteUInt64BigEndian(field, (ulong)(record.PacketsOut + record.PacketsIn));
                    break;
                case IpfixElement.OctetTotalCount:
                    BinaryPrimitives.WriteUInt64BigEndian(field, (ulong)(record.BytesOut + record.BytesIn));
                    break;
                case IpfixElement.PortRangeStart:
                    BinaryPrimitives.WriteUInt16BigEndian(field, record.PortBlock.First);
                    break;
                case IpfixElement.PortRangeEnd:
                    BinaryPrimitives.WriteUInt16BigEndian(field, record.PortBlock.Last);
                    break;
                case IpfixElement.PortRangeStepSize:
                    BinaryPrimitives.WriteUInt16BigEndian(field, 1);
                    break;
                case IpfixElement.PortRangeNumPorts:
                    BinaryPrimitives.WriteUInt16BigEndian(field, (ushort)record.PortBlock.Count);
                    break;
                default:
                    field.Clear();
                    break;
            }
            offset += size;
        }
        return offset;
    }

    private static void WriteAddress(Span<byte> field, IpAddress address)
    {
        if (field.Length == 4)
        {
            BinaryPrimitives.WriteUInt32BigEndian(field, address.IsIpv6 ? 0 : (uint)address.Value);
        }
        else
        {
            BinaryPrimitives.WriteUInt128BigEndian(field, address.IsIpv6 ? address.Value : 0);
        }
    }
}
