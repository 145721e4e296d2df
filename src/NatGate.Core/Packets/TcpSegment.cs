using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Packets;

/// <summary>A view over a TCP segment (RFC 9293 3.1): header, options and data.</summary>
public readonly ref struct TcpSegment
{
    /// <summary>The smallest header: data offset 5.</summary>
    public const int MinimumHeaderLength = 20;

    private readonly Span<byte> _bytes;
    private readonly int _headerLength;

    private TcpSegment(Span<byte> bytes, int headerLength)
    {
        _bytes = bytes;
        _headerLength = headerLength;
    }

    /// <summary>Byte offsets of the header fields.</summary>
    public static class Field
    {
        /// <summary>Source port.</summary>
        public const int SourcePort = 0;

        /// <summary>Destination port.</summary>
        public const int DestinationPort = 2;

        /// <summary>Sequence number.</summary>
        public const int SequenceNumber = 4;

        /// <summary>Acknowledgment number.</summary>
        public const int AcknowledgmentNumber = 8;

        /// <summary>Data offset in 4-byte units (high nibble).</summary>
        public const int DataOffset = 12;

        /// <summary>Control bits (<see cref="TcpFlags"/>).</summary>
        public const int Flags = 13;

        /// <summary>Receive window.</summary>
        public const int Window = 14;

        /// <summary>Checksum over the pseudo-header and the segment.</summary>
        public const int Checksum = 16;

        /// <summary>Urgent pointer.</summary>
        public const int UrgentPointer = 18;

        /// <summary>Start of options, when the data offset exceeds 5.</summary>
        public const int Options = 20;
    }

    /// <summary>
    /// Parses a segment: at least 20 bytes, and a data offset from 5 to 15 words that fits in
    /// <paramref name="buffer"/>. The whole buffer is the segment (IP gives its length).
    /// </summary>
    public static PacketError TryParse(Span<byte> buffer, out TcpSegment segment)
    {
        segment = default;
        if (buffer.Length < MinimumHeaderLength)
        {
            return PacketError.Truncated;
        }
        int headerLength = (buffer[Field.DataOffset] >> 4) * 4;
        if (headerLength < MinimumHeaderLength || headerLength > buffer.Length)
        {
            return PacketError.BadHeaderLength;
        }
        segment = new TcpSegment(buffer, headerLength);
        return PacketError.None;
    }

    /// <summary>The whole segment.</summary>
    public Span<byte> Bytes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes;
    }

    /// <summary>The source port.</summary>
    public ushort SourcePort
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.SourcePort..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.SourcePort..], value);
    }

    /// <summary>The destination port.</summary>
    public ushort DestinationPort
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.DestinationPort..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.DestinationPort..], value);
    }

    /// <summary>The sequence number.</summary>
    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[Field.SequenceNumber..]);

    /// <summary>The acknowledgment number.</summary>
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[Field.AcknowledgmentNumber..]);

    /// <summary>The header length in bytes (data offset × 4), options included.</summary>
    public int HeaderLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _headerLength;
    }

    /// <summary>The control bits.</summary>
    public TcpFlags Flags
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (TcpFlags)_bytes[Field.Flags];
    }

    /// <summary>The receive window (unscaled).</summary>
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Window..]);

    /// <summary>The checksum as stored.</summary>
    public ushort Checksum
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Checksum..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.Checksum..], value);
    }

    /// <summary>The urgent pointer.</summary>
    public ushort UrgentPointer => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.UrgentPointer..]);

    /// <summary>The option bytes (empty when the data offset is 5).</summary>
    public Span<byte> Options => _bytes[Field.Options.._headerLength];

    /// <summary>The data after the header.</summary>
    public Span<byte> Payload => _bytes[_headerLength..];
}
