using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Packets;

/// <summary>A view over a UDP datagram (RFC 768).</summary>
public readonly ref struct UdpDatagram
{
    /// <summary>The header length.</summary>
    public const int HeaderLength = 8;

    private readonly Span<byte> _bytes;

    private UdpDatagram(Span<byte> bytes) => _bytes = bytes;

    /// <summary>Byte offsets of the header fields.</summary>
    public static class Field
    {
        /// <summary>Source port.</summary>
        public const int SourcePort = 0;

        /// <summary>Destination port.</summary>
        public const int DestinationPort = 2;

        /// <summary>Length of header and data.</summary>
        public const int Length = 4;

        /// <summary>Checksum; 0 over IPv4 means none was computed.</summary>
        public const int Checksum = 6;
    }

    /// <summary>
    /// Parses a datagram: at least 8 bytes, and a length field from 8 to the buffer length.
    /// Bytes past the length field are left out of <see cref="Bytes"/>.
    /// </summary>
    public static PacketError TryParse(Span<byte> buffer, out UdpDatagram datagram)
    {
        datagram = default;
        if (buffer.Length < HeaderLength)
        {
            return PacketError.Truncated;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.Length..]);
        if (length < HeaderLength || length > buffer.Length)
        {
            return PacketError.BadTotalLength;
        }
        datagram = new UdpDatagram(buffer[..length]);
        return PacketError.None;
    }

    /// <summary>The header and data, as long as the length field says.</summary>
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

    /// <summary>The length field: header and data.</summary>
    public ushort Length => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Length..]);

    /// <summary>The checksum as stored.</summary>
    public ushort Checksum
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Checksum..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.Checksum..], value);
    }

    /// <summary>The data after the header.</summary>
    public Span<byte> Payload => _bytes[HeaderLength..];
}
