using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.Addresses;

/// <summary>The IPv6 pseudo-header and address deltas, checked by full recomputation (RFC 1624, RFC 8200 8.1).</summary>
public sealed class Ipv6ChecksumTests
{
    private static readonly Gen<Ipv6Address> Address = Gen.Select(Gen.ULong, Gen.ULong, (high, low) => new Ipv6Address(new UInt128(high, low)));

    [Fact]
    public void The_pseudo_header_from_numbers_equals_the_one_from_bytes()
        => Gen.Select(Address, Address, Gen.Byte, Gen.Int[0, 65535]).Sample((source, destination, nextHeader, length) =>
        {
            byte[] sourceBytes = new byte[16], destinationBytes = new byte[16];
            source.Write(sourceBytes);
            destination.Write(destinationBytes);
            return InternetChecksum.PseudoHeaderSum(source, destination, (IpProtocol)nextHeader, length)
                == TransportChecksum.PseudoHeaderSumIpv6(sourceBytes, destinationBytes, (IpProtocol)nextHeader, length);
        });

    [Fact]
    public void An_address_delta_updates_a_checksum_as_recomputing_it_would()
        => Gen.Select(Address, Address, Address, Gen.Byte.Array[8, 200]).Sample((source, destination, translated, segment) =>
        {
            // A UDP-like segment with its checksum field at 6, filled for the original addresses.
            segment[6] = segment[7] = 0;
            ushort original = Checksum(source, destination, segment);
            ushort updated = InternetChecksum.ApplyDelta(original, InternetChecksum.Delta(source, translated));
            ushort recomputed = Checksum(translated, destination, segment);
            // 0x0000 and 0xFFFF are the same sum in one's complement.
            return updated == recomputed || (updated | recomputed) == 0xFFFF && (updated & recomputed) == 0;
        });

    private static ushort Checksum(Ipv6Address source, Ipv6Address destination, byte[] segment)
        => InternetChecksum.Compute(segment, InternetChecksum.PseudoHeaderSum(source, destination, IpProtocol.Udp, segment.Length));
}
