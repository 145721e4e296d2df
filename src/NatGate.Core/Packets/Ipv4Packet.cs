using NatGate.Core.Addressing;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NatGate.Core.Checksums;

namespace NatGate.Core.Packets;

/// <summary>
/// A view over an IPv4 packet (RFC 791). Getters read and setters write the underlying
/// bytes; nothing is copied. Setters do not update the header checksum: call
/// <see cref="UpdateHeaderChecksum"/> or apply an incremental delta.
/// </summary>
public readonly ref struct Ipv4Packet
{
    /// <summary>The smallest header: IHL = 5.</summary>
    public const int MinimumHeaderLength = 20;

    /// <summary>The largest header: IHL = 15.</summary>
    public const int MaximumHeaderLength = 60;

    private readonly Span<byte> _bytes;
    private readonly int _headerLength;

    private Ipv4Packet(Span<byte> bytes, int headerLength)
    {
        _bytes = bytes;
        _headerLength = headerLength;
    }

    /// <summary>Byte offsets of the header fields.</summary>
    public static class Field
    {
        /// <summary>Version (high nibble) and IHL (low nibble).</summary>
        public const int Version = 0;

        /// <summary>Same byte as <see cref="Version"/>; the IHL is its low nibble.</summary>
        public const int VersionAndHeaderLength = 0;

        /// <summary>DSCP and ECN (RFC 2474, RFC 3168).</summary>
        public const int TypeOfService = 1;

        /// <summary>Total length in bytes, header included.</summary>
        public const int TotalLength = 2;

        /// <summary>Fragment identification.</summary>
        public const int Identification = 4;

        /// <summary>Flags (3 bits) and fragment offset in 8-byte units (13 bits).</summary>
        public const int FlagsAndFragmentOffset = 6;

        /// <summary>Time to live.</summary>
        public const int TimeToLive = 8;

        /// <summary>Protocol of the payload (<see cref="IpProtocol"/>).</summary>
        public const int Protocol = 9;

        /// <summary>Header checksum.</summary>
        public const int HeaderChecksum = 10;

        /// <summary>Source address.</summary>
        public const int SourceAddress = 12;

        /// <summary>Destination address.</summary>
        public const int DestinationAddress = 16;

        /// <summary>Start of options, when IHL &gt; 5.</summary>
        public const int Options = 20;
    }

    private const ushort DontFragmentBit = 0x4000;
    private const ushort MoreFragmentsBit = 0x2000;
    private const ushort FragmentOffsetMask = 0x1FFF;

    /// <summary>
    /// Parses a complete packet. <paramref name="buffer"/> may be longer than the total length
    /// (link-layer padding); the trailing bytes are left out of <see cref="Bytes"/>.
    /// </summary>
    public static PacketError TryParse(Span<byte> buffer, out Ipv4Packet packet)
    {
        PacketError error = ParseHeader(buffer, out int headerLength, out int totalLength);
        if (error == PacketError.None && totalLength > buffer.Length)
        {
            error = PacketError.Truncated;
        }
        if (error != PacketError.None)
        {
            packet = default;
            return error;
        }
        packet = new Ipv4Packet(buffer[..totalLength], headerLength);
        return PacketError.None;
    }

    /// <summary>
    /// Parses the datagram quoted inside an ICMP error (RFC 792, RFC 1812 4.3.2.3): the header
    /// must be complete, but the total length may exceed the bytes present, and then
    /// <see cref="Payload"/> is the part that is present.
    /// </summary>
    public static PacketError TryParseEmbedded(Span<byte> buffer, out Ipv4Packet packet)
    {
        PacketError error = ParseHeader(buffer, out int headerLength, out int totalLength);
        if (error != PacketError.None)
        {
            packet = default;
            return error;
        }
        packet = new Ipv4Packet(buffer[..Math.Min(totalLength, buffer.Length)], headerLength);
        return PacketError.None;
    }

    private static PacketError ParseHeader(ReadOnlySpan<byte> buffer, out int headerLength, out int totalLength)
    {
        headerLength = 0;
        totalLength = 0;
        if (buffer.Length < MinimumHeaderLength)
        {
            return PacketError.Truncated;
        }
        byte versionAndLength = buffer[Field.VersionAndHeaderLength];
        if (versionAndLength >> 4 != 4)
        {
            return PacketError.BadVersion;
        }
        headerLength = (versionAndLength & 0x0F) * 4;
        if (headerLength < MinimumHeaderLength)
        {
            return PacketError.BadHeaderLength;
        }
        if (headerLength > buffer.Length)
        {
            return PacketError.Truncated;
        }
        totalLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.TotalLength..]);
        return totalLength < headerLength ? PacketError.BadTotalLength : PacketError.None;
    }

    /// <summary>The header and the payload present, up to <see cref="TotalLength"/> as parsed.</summary>
    public Span<byte> Bytes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes;
    }

    /// <summary>The header length in bytes (IHL × 4), options included.</summary>
    public int HeaderLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _headerLength;
    }

    /// <summary>The total length field. Setting it does not resize <see cref="Bytes"/>.</summary>
    public ushort TotalLength
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.TotalLength..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.TotalLength..], value);
    }

    /// <summary>The type of service byte (DSCP and ECN).</summary>
    public byte TypeOfService => _bytes[Field.TypeOfService];

    /// <summary>The identification field, shared by the fragments of one datagram.</summary>
    public ushort Identification
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.Identification..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.Identification..], value);
    }

    private ushort FlagsAndFragmentOffset
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.FlagsAndFragmentOffset..]);
    }

    /// <summary>The DF flag.</summary>
    public bool DontFragment => (FlagsAndFragmentOffset & DontFragmentBit) != 0;

    /// <summary>The MF flag: more fragments follow.</summary>
    public bool MoreFragments => (FlagsAndFragmentOffset & MoreFragmentsBit) != 0;

    /// <summary>The fragment offset in bytes (the field counts 8-byte units).</summary>
    public int FragmentOffset => (FlagsAndFragmentOffset & FragmentOffsetMask) * 8;

    /// <summary>True for any fragment, first included: MF set or a non-zero offset.</summary>
    public bool IsFragment
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (FlagsAndFragmentOffset & (MoreFragmentsBit | FragmentOffsetMask)) != 0;
    }

    /// <summary>The time to live.</summary>
    public byte TimeToLive
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes[Field.TimeToLive];
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => _bytes[Field.TimeToLive] = value;
    }

    /// <summary>The payload protocol (<see cref="IpProtocol"/>).</summary>
    public IpProtocol Protocol
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (IpProtocol)_bytes[Field.Protocol];
    }

    /// <summary>The header checksum as stored.</summary>
    public ushort HeaderChecksum
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.HeaderChecksum..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => BinaryPrimitives.WriteUInt16BigEndian(_bytes[Field.HeaderChecksum..], value);
    }

    /// <summary>The source address in host order (0xC0A80001 is 192.168.0.1).</summary>
    public Ipv4Address SourceAddress
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Ipv4Address.Read(_bytes[Field.SourceAddress..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => value.Write(_bytes[Field.SourceAddress..]);
    }

    /// <summary>The destination address in host order.</summary>
    public Ipv4Address DestinationAddress
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Ipv4Address.Read(_bytes[Field.DestinationAddress..]);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => value.Write(_bytes[Field.DestinationAddress..]);
    }

    /// <summary>The option bytes between the fixed header and the payload (empty when IHL = 5).</summary>
    public Span<byte> Options => _bytes[Field.Options.._headerLength];

    /// <summary>The bytes after the header, up to the total length (or what is present, for an embedded datagram).</summary>
    public Span<byte> Payload
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes[_headerLength..];
    }

    /// <summary>The header, options included.</summary>
    public Span<byte> Header => _bytes[.._headerLength];

    /// <summary>True when the header sums to 0xFFFF, the checksum included (RFC 1071).</summary>
    public bool IsHeaderChecksumValid => InternetChecksum.Sum(Header) == 0xFFFF;

    /// <summary>Recomputes the header checksum from scratch.</summary>
    public void UpdateHeaderChecksum()
    {
        HeaderChecksum = 0;
        HeaderChecksum = InternetChecksum.Compute(Header);
    }
}
