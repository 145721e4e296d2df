using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NatGate.Core.Packets;

/// <summary>
/// A view over an IPv6 packet (RFC 8200) with its extension-header chain walked once at
/// parse time, so <see cref="TransportProtocol"/> and <see cref="Transport"/> are ready.
/// </summary>
/// <remarks>
/// A non-first fragment (offset &gt; 0) carries no transport header, so for it the walk stops
/// at the Fragment header: <see cref="TransportProtocol"/> is <see cref="IpProtocol.Fragment"/>
/// and <see cref="Transport"/> is the fragment data. The protocol the fragment belongs to is in
/// <see cref="FragmentNextHeader"/>. A first fragment (offset 0, M set) is walked through, so
/// its <see cref="TransportProtocol"/> is the real one and <see cref="IsFragment"/> is true.
/// </remarks>
public readonly ref struct Ipv6Packet
{
    /// <summary>The fixed header length.</summary>
    public const int HeaderLength = 40;

    /// <summary>How many extension headers the parser walks before giving up.</summary>
    public const int MaximumExtensionHeaders = 8;

    private const int FragmentHeaderLength = 8;

    private readonly Span<byte> _bytes;
    private readonly int _transportOffset;
    private readonly int _fragmentHeaderOffset;
    private readonly IpProtocol _transportProtocol;

    private Ipv6Packet(Span<byte> bytes, int transportOffset, IpProtocol transportProtocol, int fragmentHeaderOffset)
    {
        _bytes = bytes;
        _transportOffset = transportOffset;
        _transportProtocol = transportProtocol;
        _fragmentHeaderOffset = fragmentHeaderOffset;
    }

    /// <summary>Byte offsets of the fixed header fields.</summary>
    public static class Field
    {
        /// <summary>Version (4 bits), traffic class (8 bits), flow label (20 bits).</summary>
        public const int VersionTrafficClassFlowLabel = 0;

        /// <summary>Payload length: everything after the fixed header.</summary>
        public const int PayloadLength = 4;

        /// <summary>The first next-header value.</summary>
        public const int NextHeader = 6;

        /// <summary>Hop limit.</summary>
        public const int HopLimit = 7;

        /// <summary>Source address, 16 bytes.</summary>
        public const int SourceAddress = 8;

        /// <summary>Destination address, 16 bytes.</summary>
        public const int DestinationAddress = 24;
    }

    /// <summary>
    /// Parses a packet and walks Hop-by-Hop, Routing, Fragment, Destination Options and AH
    /// headers. <paramref name="buffer"/> may be longer than the packet.
    /// </summary>
    public static PacketError TryParse(Span<byte> buffer, out Ipv6Packet packet) => Parse(buffer, quoted: false, out packet);

    /// <summary>
    /// Parses the packet quoted inside an ICMPv6 error (RFC 4443 2.4 c): the fixed header and the
    /// extension headers must be there, but the payload length may exceed the bytes present, and
    /// then <see cref="Bytes"/> and <see cref="Transport"/> end where the quote does.
    /// </summary>
    public static PacketError TryParseEmbedded(Span<byte> buffer, out Ipv6Packet packet) => Parse(buffer, quoted: true, out packet);

    private static PacketError Parse(Span<byte> buffer, bool quoted, out Ipv6Packet packet)
    {
        packet = default;
        if (buffer.Length < HeaderLength)
        {
            return PacketError.Truncated;
        }
        if (buffer[0] >> 4 != 6)
        {
            return PacketError.BadVersion;
        }
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(buffer[Field.PayloadLength..]);
        IpProtocol nextHeader = (IpProtocol)buffer[Field.NextHeader];
        if (payloadLength == 0 && nextHeader == IpProtocol.HopByHop)
        {
            // A jumbogram (RFC 2675) never crosses a NAT's links.
            return PacketError.Unsupported;
        }
        int totalLength = HeaderLength + payloadLength;
        if (totalLength > buffer.Length)
        {
            if (!quoted)
            {
                return PacketError.Truncated;
            }
            totalLength = buffer.Length;
        }
        Span<byte> bytes = buffer[..totalLength];
        int offset = HeaderLength;
        int fragmentHeaderOffset = -1;
        for (int count = 0; ; count++)
        {
            int length;
            switch (nextHeader)
            {
                case IpProtocol.HopByHop:
                    // RFC 8200 4.1: Hop-by-Hop may only follow the fixed header.
                    if (count != 0)
                    {
                        return PacketError.Unsupported;
                    }
                    goto case IpProtocol.DestinationOptions;
                case IpProtocol.Routing:
                case IpProtocol.DestinationOptions:
                    // RFC 8200 4.3-4.6: Hdr Ext Len counts 8-byte units after the first 8.
                    if (totalLength - offset < 2)
                    {
                        return PacketError.Truncated;
                    }
                    length = (bytes[offset + 1] + 1) * 8;
                    break;
                case IpProtocol.Ah:
                    // RFC 4302 2.2: Payload Len counts 4-byte units, minus 2.
                    if (totalLength - offset < 2)
                    {
                        return PacketError.Truncated;
                    }
                    length = (bytes[offset + 1] + 2) * 4;
                    break;
                case IpProtocol.Fragment:
                    length = FragmentHeaderLength;
                    break;
                default:
                    packet = new Ipv6Packet(bytes, offset, nextHeader, fragmentHeaderOffset);
                    return PacketError.None;
            }
            if (count == MaximumExtensionHeaders)
            {
                return PacketError.TooManyExtensionHeaders;
            }
            if (length > totalLength - offset)
            {
                return PacketError.Truncated;
            }
            if (nextHeader == IpProtocol.Fragment)
            {
                fragmentHeaderOffset = offset;
                if ((BinaryPrimitives.ReadUInt16BigEndian(bytes[(offset + 2)..]) & 0xFFF8) != 0)
                {
                    // A non-first fragment has no transport header to find.
                    packet = new Ipv6Packet(bytes, offset + length, IpProtocol.Fragment, fragmentHeaderOffset);
                    return PacketError.None;
                }
            }
            nextHeader = (IpProtocol)bytes[offset];
            offset += length;
        }
    }

    /// <summary>The fixed header, extension headers and payload (40 + <see cref="PayloadLength"/> bytes).</summary>
    public Span<byte> Bytes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes;
    }

    /// <summary>The payload length field.</summary>
    public ushort PayloadLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes[Field.PayloadLength..]);

    /// <summary>The next-header field of the fixed header.</summary>
    public IpProtocol NextHeader => (IpProtocol)_bytes[Field.NextHeader];

    /// <summary>The hop limit.</summary>
    public byte HopLimit
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes[Field.HopLimit];
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        set => _bytes[Field.HopLimit] = value;
    }

    /// <summary>The traffic class (DSCP and ECN).</summary>
    public byte TrafficClass => (byte)(BinaryPrimitives.ReadUInt16BigEndian(_bytes) >> 4);

    /// <summary>The 20-bit flow label.</summary>
    public uint FlowLabel => BinaryPrimitives.ReadUInt32BigEndian(_bytes) & 0x000F_FFFF;

    /// <summary>The 16-byte source address.</summary>
    public Span<byte> SourceAddress => _bytes.Slice(Field.SourceAddress, 16);

    /// <summary>The 16-byte destination address.</summary>
    public Span<byte> DestinationAddress => _bytes.Slice(Field.DestinationAddress, 16);

    /// <summary>
    /// The next-header value after the extension headers; <see cref="IpProtocol.Fragment"/>
    /// for a non-first fragment.
    /// </summary>
    public IpProtocol TransportProtocol
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _transportProtocol;
    }

    /// <summary>Where <see cref="Transport"/> starts within <see cref="Bytes"/>.</summary>
    public int TransportOffset
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _transportOffset;
    }

    /// <summary>The bytes from <see cref="TransportOffset"/> to the end of the payload.</summary>
    public Span<byte> Transport
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _bytes[_transportOffset..];
    }

    /// <summary>True when a Fragment header is present (even an atomic one, RFC 6946).</summary>
    public bool IsFragment => _fragmentHeaderOffset >= 0;

    /// <summary>The fragment offset in bytes, 0 without a Fragment header.</summary>
    public int FragmentOffset => IsFragment ? BinaryPrimitives.ReadUInt16BigEndian(_bytes[(_fragmentHeaderOffset + 2)..]) & 0xFFF8 : 0;

    /// <summary>The M flag of the Fragment header.</summary>
    public bool MoreFragments => IsFragment && (_bytes[_fragmentHeaderOffset + 3] & 1) != 0;

    /// <summary>The identification of the Fragment header, 0 without one.</summary>
    public uint FragmentIdentification => IsFragment ? BinaryPrimitives.ReadUInt32BigEndian(_bytes[(_fragmentHeaderOffset + 4)..]) : 0;

    /// <summary>The next-header value inside the Fragment header, <see cref="IpProtocol.NoNextHeader"/> without one.</summary>
    public IpProtocol FragmentNextHeader => IsFragment ? (IpProtocol)_bytes[_fragmentHeaderOffset] : IpProtocol.NoNextHeader;
}
