using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Packets;

/// <summary>A view over an ICMPv6 message (RFC 4443); its checksum covers the IPv6 pseudo-header.</summary>
public readonly ref struct Icmpv6Message
{
    /// <summary>The header length: type, code, checksum and 4 more bytes.</summary>
    public const int HeaderLength = 8;

    private readonly Span<byte> _bytes;

    private Icmpv6Message(Span<byte> bytes) => _bytes = bytes;

    /// <summary>Byte offsets of the header fields.</summary>
    public static class Field
    {
        /// <summary>Message type (<see cref="Icmpv6Type"/>).</summary>
        public const int Type = 0;

        /// <summary>Message code.</summary>
        public const int Code = 1;

        /// <summary>Checksum over the pseudo-header and the message.</summary>
        public const int Checksum = 2;

        /// <summary>Echo identifier.</summary>
        public const int Identifier = 4;

        /// <summary>Echo sequence number.</summary>
        public const int SequenceNumber = 6;
    }

    /// <summary>Parses a message of at least 8 bytes; the whole buffer is the message.</summary>
    public static PacketError TryParse(Span<byte> buffer, out Icmpv6Message message)
    {
        if (buffer.Length < HeaderLength)
        {
            message = default;
            return PacketError.Truncated;
        }
        message = new Icmpv6Message(buffer);
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

    /// <summary>The echo identifier.</summary>
    public ushort Identifier
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Identifier..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.Identifier..], value);
    }

    /// <summary>The echo sequence number.</summary>
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.SequenceNumber..]);

    /// <summary>The bytes after the 8-byte header: echo data, or the quoted packet of an error.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];

    /// <summary>True for an error message: types 0 to 127 (RFC 4443 2.1).</summary>
    public bool IsError => Type < 128;

    /// <summary>True for an echo request or reply.</summary>
    public bool IsEcho => Type is Icmpv6Type.EchoRequest or Icmpv6Type.EchoReply;
}
