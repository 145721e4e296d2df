using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Npt;
using static NatGate.Core.Tests.Translation.Npt.NptPackets;

namespace NatGate.Core.Tests.Translation.Npt;

/// <summary>NPTv6 over random prefixes, addresses and bytes: reversible, checksum-neutral, and never thrown off.</summary>
public sealed class Nptv6PropertyTests
{
    private static readonly Gen<UInt128> Number = Gen.Select(Gen.ULong, Gen.ULong, (high, low) => new UInt128(high, low));

    /// <summary>Host bits whose words are 0xFFFF about one time in four, so the refusals of RFC 6296 3.2 and 3.7 come up.</summary>
    private static readonly Gen<UInt128> HostBits = Gen.Select(Number, Gen.Byte, Gen.Byte, (random, some, others) =>
    {
        UInt128 value = random;
        for (int word = 0; word < 8; word++)
        {
            if ((some & others & (1 << word)) != 0)
            {
                value |= (UInt128)0xFFFF << (word * 16);
            }
        }
        return value;
    });

    private sealed record Case(Nptv6Mapping Mapping, Ipv6Address Address)
    {
        public override string ToString() => $"{Mapping}: {Address}";
    }

    private static readonly Gen<Case> InternalAddress = Gen.Select(Gen.Int[1, 64], Number, Number, HostBits, (length, internalNetwork, externalNetwork, host) =>
    {
        Nptv6Mapping mapping = new(new IpPrefix(new Ipv6Address(internalNetwork), length), new IpPrefix(new Ipv6Address(externalNetwork), length));
        UInt128 hostMask = UInt128.MaxValue >> length;
        return new Case(mapping, new Ipv6Address(mapping.Internal.Network | (host & hostMask)));
    });

    [Fact]
    public void Out_then_in_gives_the_original_address_and_the_sum_of_its_words_never_changes()
        => InternalAddress.Sample(@case =>
        {
            (Nptv6Mapping mapping, Ipv6Address inside) = @case;
            if (!mapping.TryToExternal(inside, out Ipv6Address external))
            {
                Assert.True(Untranslatable(inside, mapping.Internal.Length), "only a 0xFFFF adjusted word is refused");
                Assert.Equal(inside, external);
                return;
            }
            Assert.False(Untranslatable(inside, mapping.Internal.Length));
            Assert.True(mapping.External.Contains(external));
            Assert.Equal(Nptv6MappingTests.ChecksumOfWords(inside), Nptv6MappingTests.ChecksumOfWords(external));
            // Below the prefix only the adjusted word may differ.
            UInt128 difference = (inside.Value ^ external.Value) & (UInt128.MaxValue >> mapping.Internal.Length);
            Assert.True(difference == 0 || IsOneWord(difference), $"{inside} -> {external} changed more than one word");
            Assert.True(mapping.TryToInternal(external, out Ipv6Address back));
            Assert.Equal(inside, back);
        }, iter: 20_000);

    [Fact]
    public void In_then_out_gives_the_original_external_address()
        => InternalAddress.Sample(@case =>
        {
            // The same walk from the other side: any external address that is not refused comes back.
            Nptv6Mapping mapping = @case.Mapping;
            Ipv6Address outside = new(mapping.External.Network | (@case.Address.Value & (UInt128.MaxValue >> mapping.External.Length)));
            if (mapping.TryToInternal(outside, out Ipv6Address inside))
            {
                Assert.Equal(Nptv6MappingTests.ChecksumOfWords(outside), Nptv6MappingTests.ChecksumOfWords(inside));
                Assert.True(mapping.TryToExternal(inside, out Ipv6Address back));
                Assert.Equal(outside, back);
            }
            else
            {
                Assert.True(Untranslatable(outside, mapping.External.Length));
            }
        }, iter: 20_000);

    [Fact]
    public void Udp_tcp_and_echo_checksums_verify_after_translation_both_ways()
        => Gen.Select(InternalAddress, Number, Gen.Int[0, 2]).Sample((@case, remoteNumber, protocol) =>
        {
            (Nptv6Mapping mapping, Ipv6Address inside) = @case;
            Ipv6Address remote = new(remoteNumber);
            if (mapping.Internal.Contains(remote) || mapping.External.Contains(remote) || !mapping.TryToExternal(inside, out Ipv6Address external))
            {
                return;
            }
            byte[] packet = protocol switch
            {
                0 => Udp(inside, remote),
                1 => Tcp(inside, remote),
                _ => EchoRequest(inside, remote),
            };
            Assert.Equal(NptResult.Translated, mapping.TranslateOutbound(packet));
            Assert.Equal(external, Source(packet));
            Assert.True(ChecksumIsValid(packet));

            byte[] error = Error(remote, external, Icmpv6Type.PacketTooBig, 0, 1280, packet);
            Assert.Equal(NptResult.Translated, mapping.TranslateInbound(error));
            Assert.Equal(inside, Destination(error));
            Assert.Equal(inside, Source(Quote(error)));
            Assert.True(ChecksumIsValid(error));
            Assert.True(ChecksumIsValid(Quote(error)));
        }, iter: 5_000);

    [Fact]
    public void Random_bytes_never_throw_and_are_untouched_unless_translated()
        => Gen.Select(Gen.Byte.Array[0, 160], Gen.Bool).Sample((bytes, outbound) =>
        {
            Nptv6Mapping mapping = new(IpPrefix.Parse("fd01:203:405::/48", null), IpPrefix.Parse("2001:db8:1::/48", null));
            CheckRobust(mapping, bytes, outbound ? NptDirection.Outbound : NptDirection.Inbound);
        }, iter: 20_000);

    [Fact]
    public void Packets_with_a_valid_start_and_random_rest_never_throw()
        => Gen.Select(Gen.Byte.Array[0, 160], Gen.Int[0, 7], Gen.Bool, Gen.Bool).Sample((rest, nextHeaderChoice, outbound, quoteMatches) =>
        {
            // An IPv6 header whose length fits and whose address is in the prefix, over random bytes,
            // so the parse gets to the extension headers, the ICMPv6 type and the quote.
            Nptv6Mapping mapping = new(IpPrefix.Parse("fd01:203:405::/48", null), IpPrefix.Parse("2001:db8:1::/48", null));
            IpProtocol[] nextHeaders = [IpProtocol.HopByHop, IpProtocol.Routing, IpProtocol.Fragment, IpProtocol.DestinationOptions, IpProtocol.Ah, IpProtocol.Icmpv6, IpProtocol.Udp, IpProtocol.Icmpv6];
            byte[] bytes = new byte[Ipv6Packet.HeaderLength + rest.Length];
            rest.CopyTo(bytes, Ipv6Packet.HeaderLength);
            bytes[0] = 0x60;
            BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(Ipv6Packet.Field.PayloadLength), (ushort)rest.Length);
            bytes[Ipv6Packet.Field.NextHeader] = (byte)nextHeaders[nextHeaderChoice];
            Address("fd01:203:405:1::1234").Write(bytes.AsSpan(Ipv6Packet.Field.SourceAddress));
            Address("2001:db8:1:d550::1234").Write(bytes.AsSpan(Ipv6Packet.Field.DestinationAddress));
            if (rest.Length >= 8 + 40 && nextHeaders[nextHeaderChoice] == IpProtocol.Icmpv6)
            {
                // Sometimes an error whose quote starts like an IPv6 header of the mapping's.
                bytes[Ipv6Packet.HeaderLength] = (byte)(rest[0] & 3);
                bytes[Ipv6Packet.HeaderLength + 8] = 0x60;
                if (quoteMatches)
                {
                    Address("fd01:203:405:1::1234").Write(bytes.AsSpan(Ipv6Packet.HeaderLength + 8 + Ipv6Packet.Field.DestinationAddress));
                    Address("2001:db8:1:d550::1234").Write(bytes.AsSpan(Ipv6Packet.HeaderLength + 8 + Ipv6Packet.Field.SourceAddress));
                }
            }
            CheckRobust(mapping, bytes, outbound ? NptDirection.Outbound : NptDirection.Inbound);
        }, iter: 20_000);

    private static void CheckRobust(Nptv6Mapping mapping, byte[] bytes, NptDirection direction)
    {
        byte[] original = (byte[])bytes.Clone();
        NptResult result = mapping.Translate(bytes, direction);
        if (result != NptResult.Translated)
        {
            Assert.Equal(original, bytes);
        }
        else
        {
            // Whatever was rewritten, the sum of the bytes is the same: nothing but neutral words moved.
            Assert.Equal(InternetChecksum(original), InternetChecksum(bytes));
        }
    }

    private static ushort InternetChecksum(byte[] bytes)
    {
        ushort sum = Core.Checksums.InternetChecksum.Sum(bytes);
        return sum == 0xFFFF ? (ushort)0 : sum;
    }

    /// <summary>Whether RFC 6296 refuses the address: 0xFFFF in bits 48-63 up to a /48, an all-ones identifier beyond.</summary>
    private static bool Untranslatable(Ipv6Address address, int length)
        => length <= 48 ? (ushort)(address.Value >> 64) == 0xFFFF : (ulong)address.Value == ulong.MaxValue;

    private static bool IsOneWord(UInt128 difference)
    {
        for (int shift = 0; shift < 128; shift += 16)
        {
            if ((difference & ~((UInt128)0xFFFF << shift)) == 0)
            {
                return true;
            }
        }
        return false;
    }
}
