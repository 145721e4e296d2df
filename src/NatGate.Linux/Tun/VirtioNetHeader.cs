using System.Buffers.Binary;
using NatGate.Core.Checksums;

namespace NatGate.Linux.Tun;

/// <summary>
/// A view of the 10-byte <c>virtio_net_hdr</c> before each packet on a TUN with IFF_VNET_HDR
/// (linux/virtio_net.h): <c>u8 flags; u8 gso_type; u16 hdr_len; u16 gso_size; u16 csum_start;
/// u16 csum_offset</c>, in the machine's byte order (little-endian here, as virtio 1.0 has it).
/// </summary>
public readonly ref struct VirtioNetHeader
{
    /// <summary>Bytes of a <c>virtio_net_hdr</c> (without num_buffers, which a TUN does not use).</summary>
    public const int Length = 10;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum at csum_start + csum_offset holds only the pseudo-header sum.</summary>
    public const byte NeedsChecksumFlag = 1;

    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoUdp = 3;
    public const byte GsoTcpV6 = 4;
    public const byte GsoUdpL4 = 5;

    /// <summary>VIRTIO_NET_HDR_GSO_ECN: set beside a TCP GSO type when the segments carry CWR.</summary>
    public const byte GsoEcn = 0x80;

    private readonly Span<byte> bytes;

    public VirtioNetHeader(Span<byte> bytes)
    {
        if (bytes.Length < Length)
        {
            throw new ArgumentException($"A virtio_net_hdr is {Length} bytes.", nameof(bytes));
        }
        this.bytes = bytes;
    }

    public bool NeedsChecksum => (bytes[0] & NeedsChecksumFlag) != 0;

    /// <summary>VIRTIO_NET_HDR_GSO_*: 0 for a single packet, else the kind of super-packet.</summary>
    public byte GsoType => bytes[1];

    public ushort HeaderLength => BinaryPrimitives.ReadUInt16LittleEndian(bytes[2..]);

    public ushort GsoSize => BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]);

    public ushort ChecksumStart => BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]);

    public ushort ChecksumOffset => BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]);

    /// <summary>
    /// The packet's network header changed length (NAT64 wrote it in the other family): the
    /// checksum's start moves to <paramref name="transportOffset"/>, the header length (network and
    /// transport headers) by as much, and a TCP super-packet's GSO type follows the family, its ECN
    /// bit kept. A UDP super-packet's type (UDP_L4) is the same for both.
    /// </summary>
    public void MoveTransportTo(int transportOffset, bool ipv6)
    {
        int shift = transportOffset - ChecksumStart;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[6..], (ushort)transportOffset);
        if (HeaderLength != 0)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes[2..], (ushort)(HeaderLength + shift));
        }
        if ((GsoType & ~GsoEcn) is GsoTcpV4 or GsoTcpV6)
        {
            bytes[1] = (byte)((GsoType & GsoEcn) | (ipv6 ? GsoTcpV6 : GsoTcpV4));
        }
    }

    /// <summary>Marks the packet as a plain, fully checksummed one (what NatGate writes for packets it builds).</summary>
    public void Clear() => bytes[..Length].Clear();

    /// <summary>
    /// Finishes a partial checksum in software, as a device would: sums the packet from
    /// csum_start, stores the complement at csum_start + csum_offset, and clears NEEDS_CSUM.
    /// False (and nothing changed) when the offsets do not fit the packet.
    /// </summary>
    public bool CompleteChecksum(Span<byte> packet)
    {
        int start = ChecksumStart;
        int field = start + ChecksumOffset;
        if (!NeedsChecksum || GsoType != GsoNone || start >= packet.Length || field + 2 > packet.Length)
        {
            return false;
        }
        ushort checksum = InternetChecksum.Compute(packet[start..]);
        // UDP sends a computed zero as all ones (RFC 768); for TCP both mean the same sum.
        BinaryPrimitives.WriteUInt16BigEndian(packet[field..], checksum == 0 ? (ushort)0xFFFF : checksum);
        bytes[0] &= unchecked((byte)~NeedsChecksumFlag);
        return true;
    }
}
