using NatGate.Core.Addressing;
using NatGate.Core.Checksums;

namespace NatGate.Core.Tests.Checksums;

public sealed class InternetChecksumTests
{
    // RFC 1071 section 3's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
    [Fact]
    public void Sum_matches_the_rfc1071_example()
    {
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal(0xddf2, InternetChecksum.Sum(data));
        Assert.Equal(0x220d, InternetChecksum.Compute(data));
    }

    // A real IPv4 header (Wikipedia's example): checksum 0xb861.
    [Fact]
    public void Compute_gives_the_known_ipv4_header_checksum()
    {
        byte[] header = Convert.FromHexString("450000730000400040110000c0a80001c0a800c7");
        Assert.Equal(0xb861, InternetChecksum.Compute(header));
        header[10] = 0xb8;
        header[11] = 0x61;
        Assert.Equal(0, InternetChecksum.Compute(header));
    }

    [Fact]
    public void Odd_length_pads_the_last_byte_with_zero()
    {
        byte[] odd = [0x12, 0x34, 0x56];
        byte[] even = [0x12, 0x34, 0x56, 0x00];
        Assert.Equal(InternetChecksum.Sum(even), InternetChecksum.Sum(odd));
    }

    [Fact]
    public void Long_buffers_agree_with_a_word_by_word_reference()
    {
        var random = new Random(7);
        for (int length = 0; length < 300; length++)
        {
            byte[] data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(ReferenceSum(data), InternetChecksum.Sum(data));
        }
        byte[] ones = new byte[70000];
        Array.Fill(ones, (byte)0xFF);
        Assert.Equal(ReferenceSum(ones), InternetChecksum.Sum(ones));
    }

    [Fact]
    public void Update_agrees_with_recomputation_for_16_and_32_bit_changes()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 2000; trial++)
        {
            byte[] data = new byte[20];
            random.NextBytes(data);
            data[10] = 0;
            data[11] = 0;
            ushort checksum = InternetChecksum.Compute(data);
            // Bytes 12 to 15 sit where an IPv4 header keeps its source address.
            uint oldValue = (uint)(data[12] << 24 | data[13] << 16 | data[14] << 8 | data[15]);
            uint newValue = (uint)random.Next() ^ (uint)random.Next() << 1;
            data[12] = (byte)(newValue >> 24);
            data[13] = (byte)(newValue >> 16);
            data[14] = (byte)(newValue >> 8);
            data[15] = (byte)newValue;
            ushort updated = InternetChecksum.Update(checksum, oldValue, newValue);
            Assert.Equal(updated, InternetChecksum.Update(checksum, new Ipv4Address(oldValue), Ipv4Address.Read(data.AsSpan(12))));
            data[10] = (byte)(updated >> 8);
            data[11] = (byte)updated;
            Assert.Equal(0xFFFF, InternetChecksum.Sum(data) | 0);
        }
    }

    // RFC 1624 section 4: a header whose sum is 0xffff after the change. Eqn. 3 yields 0x0000
    // (the checksum of data summing to +0 "-0"), where RFC 1141's eqn. 2 gave 0xffff.
    [Fact]
    public void Update_follows_rfc1624_eqn3_in_the_negative_zero_case()
    {
        // HC = 0xdd2f, m = 0x5555 changes to m' = 0x3285: RFC 1624 section 4 gives HC' = 0x0000.
        Assert.Equal(0x0000, InternetChecksum.Update(0xdd2f, (ushort)0x5555, (ushort)0x3285));
    }

    [Fact]
    public void Negated_delta_undoes_the_delta()
    {
        ushort checksum = 0x1c46;
        ushort delta = InternetChecksum.Delta(Ipv4Address.Parse("192.168.0.1"), Ipv4Address.Parse("203.0.113.1"));
        ushort there = InternetChecksum.ApplyDelta(checksum, delta);
        ushort back = InternetChecksum.ApplyDelta(there, InternetChecksum.Negate(delta));
        Assert.Equal(checksum, back);
    }

    [Fact]
    public void Udp_zero_checksum_stays_zero_and_a_computed_zero_becomes_ffff()
    {
        Assert.Equal(0, InternetChecksum.ApplyDeltaUdp(0, 0x1234));
        // ~(~0x1234 + 0x1234) = ~0xFFFF = 0x0000, which UDP must send as 0xFFFF (RFC 768).
        Assert.Equal(0x0000, InternetChecksum.ApplyDelta(0x1234, 0x1234));
        Assert.Equal(0xFFFF, InternetChecksum.ApplyDeltaUdp(0x1234, 0x1234));
        Assert.Equal(0x1234, InternetChecksum.ApplyDeltaUdp(0x1234, 0));
    }

    private static ushort ReferenceSum(byte[] data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2)
        {
            sum += (uint)(data[i] << 8 | data[i + 1]);
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        if (data.Length % 2 == 1)
        {
            sum += (uint)data[^1] << 8;
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)sum;
    }
}
