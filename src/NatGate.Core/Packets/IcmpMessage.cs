using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Packets;

/// <summary>
/// A view over an ICMPv4 message (RFC 792). The first 8 bytes are always present; bytes
/// 4 to 7 are the identifier and sequence number of a query, or the rest of an error's header.
/// </summary>
public readonly ref struct IcmpMessage
{
    /// <summary>The header length: type, code, checksum and 4 more bytes.</summary>
    public const int HeaderLength = 8;

    private readonly Span<byte> _bytes;

    private IcmpMessage(Span<byte> bytes) => _bytes = bytes;

    /// <summary>Byte offsets of the header fields.</summary>
    public static class Field
    {
        /// <summary>Message type (<see cref="IcmpType"/>).</summary>
        public const int Type = 0;

        /// <summary>Message code.</summary>
        public const int Code = 1;

        /// <summary>Checksum over the whole message.</summary>
        public const int Checksum = 2;

        /// <summary>Query identifier.</summary>
        public const int Identifier = 4;

        /// <summary>Query sequence number.</summary>
        public const int SequenceNumber = 6;

        /// <summary>Rest of the header for errors: unused, a pointer, a gateway or a next-hop MTU.</summary>
        public const int RestOfHeader = 4;
    }

    /// <summary>Parses a message of at least 8 bytes; the whole buffer is the message.</summary>
    public static PacketError TryParse(Span<byte> buffer, out IcmpMessage message)
    {
        if (buffer.Length < HeaderLength)
        {
            message = default;
            return PacketError.Truncated;
        }
        message = new IcmpMessage(buffer);
        return PacketError.None;
    }

    /// <summary>The whole message.</summary>
    public Span<byte> Bytes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes;
    }

    /// <summary>The message type.</summary>
    public byte Type
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes[Field.Type];
    }

    /// <summary>The message code.</summary>
    public byte Code => _bytes[Field.Code];

    /// <summary>The checksum as stored.</summary>
    public ushort Checksum
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Checksum..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.Checksum..], value);
    }

    /// <summary>The query identifier, which a NAT rewrites like a port (RFC 5508 3.1).</summary>
    public ushort Identifier
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Identifier..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.Identifier..], value);
    }

    /// <summary>The query sequence number.</summary>
    public ushort SequenceNumber
    {
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.SequenceNumber..]);
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.SequenceNumber..], value);
    }

    /// <summary>Bytes 4 to 7 as one value, the "rest of header" of an error.</summary>
    public uint RestOfHeader => BinaryPrimitives.ReadUInt32BigEndian(_bytes[Field.RestOfHeader..]);

    /// <summary>The bytes after the 8-byte header: echo data, or the quoted datagram of an error.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>True for a query or its reply (echo, timestamp, information, address mask).</summary>
    public bool IsQuery => IsQueryType(Type);

    /// <summary>True for the request half of a query pair.</summary>
    public bool IsQueryRequest => IsQueryRequestType(Type);

    /// <summary>True for an error message, which quotes the datagram that caused it.</summary>
    public bool IsError => IsErrorType(Type);

    /// <summary>
    /// True for the query types a NAT maps by identifier (RFC 5508 3.1): echo, timestamp,
    /// information and address mask, requests and replies.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsQueryType(byte type)
        => type is IcmpType.EchoReply or IcmpType.Echo || type is >= IcmpType.Timestamp and <= IcmpType.AddressMaskReply;

    /// <summary>True for the request half of a query pair: 8, 13, 15, 17.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsQueryRequestType(byte type)
        => type is IcmpType.Echo or IcmpType.Timestamp or IcmpType.InformationRequest or IcmpType.AddressMaskRequest;

    /// <summary>True for the error types that quote a datagram (RFC 5508 3.2): 3, 4, 5, 11, 12.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsErrorType(byte type)
        => type is >= IcmpType.DestinationUnreachable and <= IcmpType.Redirect or IcmpType.TimeExceeded or IcmpType.ParameterProblem;
}
