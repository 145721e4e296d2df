using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// Damages a valid packet in the ways links, middleboxes and attackers do: bit flips, truncation,
/// trailing bytes, a total length or header length that lies, fragment offsets and flags, broken
/// checksums, another protocol, another IP version, another ICMP type, damage inside a quoted
/// datagram, spoofed addresses. Usually the header checksum is then repaired, so that the damage
/// reaches past the first check. IPv6 (NAT66, NAT64, NPTv6) is damaged in its own fields: the
/// payload length, the next header, the hop limit, a Fragment header, addresses spoofed into the
/// sites and the NAT64 prefix; its transport checksum is repaired instead, having no header one.
/// Deterministic for a seed.
/// </summary>
internal sealed class PacketMutator(Random random)
{
    private static readonly byte[] Protocols = [0, (byte)IpProtocol.Icmp, (byte)IpProtocol.Tcp, (byte)IpProtocol.Udp, 47, (byte)IpProtocol.Esp, 253, 255];
    private static readonly byte[] IcmpTypes = [0, 3, 4, 5, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 255];

    /// <summary>Applies one to three mutations to the packet in <paramref name="buffer"/>; returns its new length.</summary>
    public int Mutate(Span<byte> buffer, int length)
    {
        bool checksumBroken = false;
        int mutations = 1 + random.Next(3);
        bool ipv6 = length > 0 && buffer[0] >> 4 == 6;
        for (int i = 0; i < mutations; i++)
        {
            length = ipv6 && random.Next(4) != 0 ? MutateIpv6Once(buffer, length, ref checksumBroken) : MutateOnce(buffer, length, ref checksumBroken);
        }
        if (ipv6)
        {
            if (!checksumBroken && random.Next(10) < 7)
            {
                FixIpv6TransportChecksum(buffer, length);
            }
            return length;
        }
        if (!checksumBroken && random.Next(10) < 7)
        {
            if (length > Ipv4Packet.MinimumHeaderLength && (IpProtocol)buffer[Ipv4Packet.Field.Protocol] == IpProtocol.Icmp && random.Next(2) == 0)
            {
                FixIcmpChecksum(buffer, length);
            }
            FixHeaderChecksum(buffer, length);
        }
        return length;
    }

    private int MutateOnce(Span<byte> buffer, int length, ref bool checksumBroken)
    {
        int header = length > 0 ? (buffer[0] & 0x0F) * 4 : 0;
        switch (random.Next(16))
        {
            case 0 when length > 0:
                buffer[random.Next(length)] ^= (byte)(1 << random.Next(8));
                break;
            case 1 when length > 0:
                // Headers, where a flip matters most.
                buffer[random.Next(Math.Min(length, 48))] ^= (byte)(1 << random.Next(8));
                break;
            case 2:
                length = random.Next(length + 1);
                break;
            case 3 when length >= 4:
                ushort total = random.Next(6) switch
                {
                    0 => 0,
                    1 => (ushort)(length + 1),
                    2 => (ushort)(length - 1),
                    3 => (ushort)header,
                    4 => (ushort)Math.Max(0, header - 1),
                    _ => (ushort)random.Next(65536),
                };
                BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.TotalLength..], total);
                break;
            case 4 when length > 0:
                buffer[0] = (byte)((buffer[0] & 0xF0) | random.Next(16));
                break;
            case 5 when length >= 8:
                // Fragment flags and offset: more fragments, don't fragment, the reserved bit, any offset.
                int flags = random.Next(8) << 13;
                int offset = random.Next(4) switch
                {
                    0 => 0,
                    1 => 1,
                    2 => 0x1FFF,
                    _ => random.Next(0x2000),
                };
                BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.FlagsAndFragmentOffset..], (ushort)(flags | offset));
                break;
            case 6 when length >= 12:
                buffer[Ipv4Packet.Field.HeaderChecksum + random.Next(2)] ^= (byte)random.Next(1, 256);
                checksumBroken = true;
                break;
            case 7 when header >= 20 && length >= header + 18:
                // The transport checksum wherever it sits: ICMP 2, UDP 6, TCP 16.
                int at = header + (random.Next(3) switch { 0 => 2, 1 => 6, _ => 16 });
                buffer[at] ^= (byte)random.Next(1, 256);
                break;
            case 8 when length >= 10:
                buffer[Ipv4Packet.Field.Protocol] = random.Next(4) == 0 ? (byte)random.Next(256) : Protocols[random.Next(Protocols.Length)];
                break;
            case 9 when length > 0:
                buffer[0] = (byte)((random.Next(3) switch { 0 => 6, 1 => 0, _ => random.Next(16) } << 4) | (buffer[0] & 0x0F));
                break;
            case 10 when length + 64 <= buffer.Length:
                // Trailing bytes past the total length (link-layer padding, or junk).
                int extra = 1 + random.Next(64);
                random.NextBytes(buffer.Slice(length, extra));
                length += extra;
                break;
            case 11 when header >= 20 && length > header:
                // A transport header field: TCP data offset, UDP length, ICMP code, ports.
                buffer[header + random.Next(Math.Min(length - header, 20))] = (byte)random.Next(256);
                break;
            case 12 when header >= 20 && length > header:
                buffer[header] = IcmpTypes[random.Next(IcmpTypes.Length)];
                break;
            case 13 when header >= 20 && length > header + 8 + 20:
                // Inside an ICMP error's quoted datagram: its header, or its ports.
                buffer[header + 8 + random.Next(Math.Min(length - header - 8, 28))] ^= (byte)random.Next(1, 256);
                if (random.Next(2) == 0)
                {
                    FixIcmpChecksum(buffer, length);
                }
                break;
            case 14 when length >= 20:
                // Spoofed or swapped addresses.
                int field = random.Next(2) == 0 ? Ipv4Packet.Field.SourceAddress : Ipv4Packet.Field.DestinationAddress;
                Ipv4Address address = random.Next(4) switch
                {
                    0 => ReplayGateway.Externals[random.Next(ReplayGateway.Externals.Length)],
                    1 => ReplayGateway.InsideHosts[random.Next(ReplayGateway.InsideHosts.Length)],
                    2 => new Ipv4Address((uint)random.Next()),
                    _ => Ipv4Address.Any,
                };
                address.Write(buffer[field..]);
                break;
            default:
                // Garbage over a random stretch.
                if (length > 0)
                {
                    int start = random.Next(length);
                    random.NextBytes(buffer.Slice(start, Math.Min(length - start, 1 + random.Next(16))));
                }
                break;
        }
        return length;
    }

    private static readonly byte[] NextHeaders = [0, (byte)IpProtocol.Tcp, (byte)IpProtocol.Udp, (byte)IpProtocol.Fragment, (byte)IpProtocol.Icmpv6, 43, 59, 60, 47, 255];
    private static readonly byte[] Icmpv6Types = [0, 1, 2, 3, 4, 127, 128, 129, 133, 135, 136, 143, 255];

    private int MutateIpv6Once(Span<byte> buffer, int length, ref bool checksumBroken)
    {
        const int header = Ipv6Packet.HeaderLength;
        switch (random.Next(12))
        {
            case 0 when length >= 6:
                ushort payloadLength = random.Next(5) switch
                {
                    0 => 0,
                    1 => (ushort)(length - header + 1),
                    2 => (ushort)Math.Max(0, length - header - 1),
                    3 => (ushort)Math.Max(0, length - header - 8 * random.Next(1, 4)),
                    _ => (ushort)random.Next(65536),
                };
                BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv6Packet.Field.PayloadLength..], payloadLength);
                break;
            case 1 when length > Ipv6Packet.Field.NextHeader:
                buffer[Ipv6Packet.Field.NextHeader] = random.Next(4) == 0 ? (byte)random.Next(256) : NextHeaders[random.Next(NextHeaders.Length)];
                break;
            case 2 when length > Ipv6Packet.Field.HopLimit:
                buffer[Ipv6Packet.Field.HopLimit] = (byte)random.Next(3);
                break;
            case 3 when length >= header + 8 && buffer[Ipv6Packet.Field.NextHeader] == (byte)IpProtocol.Fragment:
                // The Fragment header: its next header, its offset and M flag, its identification.
                int at = header + random.Next(4) switch { 0 => 0, 1 or 2 => 2 + random.Next(2), _ => 4 + random.Next(4) };
                buffer[at] = (byte)random.Next(256);
                break;
            case 4 when length >= header + 18:
                // The transport checksum wherever it sits: ICMPv6 2, UDP 6, TCP 16.
                buffer[header + (random.Next(3) switch { 0 => 2, 1 => 6, _ => 16 })] ^= (byte)random.Next(1, 256);
                checksumBroken = true;
                break;
            case 5 when length > header && buffer[Ipv6Packet.Field.NextHeader] == (byte)IpProtocol.Icmpv6:
                buffer[header] = Icmpv6Types[random.Next(Icmpv6Types.Length)];
                break;
            case 6 when length > header + 8 + header:
                // Inside an ICMPv6 error's quoted packet: its header, or its ports.
                buffer[header + 8 + random.Next(Math.Min(length - header - 8, 48))] ^= (byte)random.Next(1, 256);
                break;
            case 7 when length >= header:
                // Spoofed or swapped addresses: the sites', NAT64's prefix, the unspecified address, anyone.
                int field = random.Next(2) == 0 ? Ipv6Packet.Field.SourceAddress : Ipv6Packet.Field.DestinationAddress;
                Ipv6Address address = random.Next(6) switch
                {
                    0 => ReplayGateway.Nat66Externals[random.Next(ReplayGateway.Nat66Externals.Length)],
                    1 => ReplayGateway.Nat66Hosts[random.Next(ReplayGateway.Nat66Hosts.Length)],
                    2 => ReplayGateway.Nat64Hosts[random.Next(ReplayGateway.Nat64Hosts.Length)],
                    3 => Nat64Prefix.WellKnown.Embed(random.Next(2) == 0 ? ReplayGateway.Externals[random.Next(ReplayGateway.Externals.Length)] : new Ipv4Address((uint)random.Next())),
                    4 => Ipv6Address.Unspecified,
                    _ => new Ipv6Address((ulong)random.NextInt64(), (ulong)random.NextInt64()),
                };
                address.Write(buffer[field..]);
                break;
            case 8 when length > 0:
                buffer[0] = (byte)((random.Next(3) switch { 0 => 4, 1 => 0, _ => random.Next(16) } << 4) | (buffer[0] & 0x0F));
                break;
            case 9 when length + 64 <= buffer.Length:
                int extra = 1 + random.Next(64);
                random.NextBytes(buffer.Slice(length, extra));
                length += extra;
                break;
            case 10 when length > header:
                // A transport header field: TCP data offset and flags, UDP length, ICMPv6 code, ports.
                buffer[header + random.Next(Math.Min(length - header, 20))] = (byte)random.Next(256);
                break;
            default:
                length = random.Next(length + 1);
                break;
        }
        return length;
    }

    /// <summary>Recomputes an IPv6 packet's TCP, UDP or ICMPv6 checksum (a transport header right after the fixed one) over what its payload length covers.</summary>
    public static void FixIpv6TransportChecksum(Span<byte> buffer, int length)
    {
        if (length < Ipv6Packet.HeaderLength)
        {
            return;
        }
        var protocol = (IpProtocol)buffer[Ipv6Packet.Field.NextHeader];
        int offset = protocol switch
        {
            IpProtocol.Tcp => TcpSegment.Field.Checksum,
            IpProtocol.Udp => UdpDatagram.Field.Checksum,
            IpProtocol.Icmpv6 => Icmpv6Message.Field.Checksum,
            _ => -1,
        };
        int end = Math.Min(Ipv6Packet.HeaderLength + BinaryPrimitives.ReadUInt16BigEndian(buffer[Ipv6Packet.Field.PayloadLength..]), length);
        if (offset < 0 || end < Ipv6Packet.HeaderLength + offset + 2)
        {
            return;
        }
        Span<byte> segment = buffer[Ipv6Packet.HeaderLength..end];
        BinaryPrimitives.WriteUInt16BigEndian(segment[offset..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(segment[offset..],
            TransportChecksum.ComputeIpv6(buffer.Slice(Ipv6Packet.Field.SourceAddress, 16), buffer.Slice(Ipv6Packet.Field.DestinationAddress, 16), protocol, segment));
    }

    /// <summary>Recomputes the IPv4 header checksum when the header length fits the bytes.</summary>
    public static void FixHeaderChecksum(Span<byte> buffer, int length)
    {
        int header = length > 0 ? (buffer[0] & 0x0F) * 4 : 0;
        if (header < Ipv4Packet.MinimumHeaderLength || header > length)
        {
            return;
        }
        BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.HeaderChecksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(buffer[Ipv4Packet.Field.HeaderChecksum..], InternetChecksum.Compute(buffer[..header]));
    }

    /// <summary>Recomputes the ICMP checksum over what the total length covers, when that is there.</summary>
    public static void FixIcmpChecksum(Span<byte> buffer, int length)
    {
        int header = length > 0 ? (buffer[0] & 0x0F) * 4 : 0;
        if (header < Ipv4Packet.MinimumHeaderLength || length < Ipv4Packet.MinimumHeaderLength)
        {
            return;
        }
        int end = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(buffer[Ipv4Packet.Field.TotalLength..]), length);
        if (end < header + IcmpMessage.HeaderLength)
        {
            return;
        }
        Span<byte> icmp = buffer[header..end];
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[IcmpMessage.Field.Checksum..], InternetChecksum.Compute(icmp));
    }
}
