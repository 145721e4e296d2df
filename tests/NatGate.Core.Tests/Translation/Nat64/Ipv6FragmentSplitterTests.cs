using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>RFC 7915 4.1's split to the minimum IPv6 MTU: pieces of 1232 data bytes, offsets and M moved, the rest of the header kept.</summary>
public sealed class Ipv6FragmentSplitterTests
{
    private static byte[] Fragment(int offset, bool more, byte[] data)
    {
        byte[] packet = new byte[48 + data.Length];
        Ipv6PacketWriter.WriteFragment(packet, Server6, Client, IpProtocol.Udp, 0xdeadbeef, offset, more, data, hopLimit: 33);
        return packet;
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1480, true)]
    public void A_fragment_longer_than_1280_bytes_is_cut_into_pieces_that_reassemble_to_it(int offset, bool more)
    {
        byte[] data = new byte[2600];
        new Random(5).NextBytes(data);
        byte[] packet = Fragment(offset, more, data);
        Assert.True(Ipv6FragmentSplitter.NeedsSplitting(packet));
        Assert.Equal(3, Ipv6FragmentSplitter.PieceCount(packet.Length));
        byte[][] expected =
        [
            Fragment(offset, true, data[..1232]),
            Fragment(offset + 1232, true, data[1232..2464]),
            Fragment(offset + 2464, more, data[2464..]),
        ];
        for (int piece = 0; piece < 3; piece++)
        {
            byte[] written = new byte[1280];
            int length = Ipv6FragmentSplitter.WritePiece(packet, piece, written);
            Assert.Equal(Hex(expected[piece]), Hex(written.AsSpan(0, length)));
        }
    }

    [Fact]
    public void A_packet_of_1280_bytes_or_one_without_a_fragment_header_first_needs_no_split()
    {
        Assert.False(Ipv6FragmentSplitter.NeedsSplitting(Fragment(0, true, new byte[1232])));
        Assert.Equal(1, Ipv6FragmentSplitter.PieceCount(1280));
        Assert.False(Ipv6FragmentSplitter.NeedsSplitting(Ipv6(Server6, Client, IpProtocol.Udp, Udp(1, 2, new byte[2000]))));
    }
}
