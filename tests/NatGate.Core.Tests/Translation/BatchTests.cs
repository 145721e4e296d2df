using NatGate.Core.Packets;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class BatchTests
{
    private const int Stride = 2048;

    [Fact]
    public void A_batch_translates_exactly_as_packet_by_packet()
    {
        var one = new Lab();
        var batched = new Lab();
        byte[][] packets =
        [
            Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53),
            Lab.Udp(Lab.Remote, 53, Lab.External, 5000),
            Lab.Tcp(Lab.InsideB, 40000, Lab.Remote, 80, TcpFlags.Syn),
            Lab.Tcp(Lab.Remote, 80, Lab.External, 40000, TcpFlags.Syn | TcpFlags.Ack),
            Lab.Echo(Lab.InsideA, Lab.Remote, 9),
            Lab.Udp(Lab.Remote, 1, Lab.External, 9999), // unsolicited
            [0x45, 0, 0, 10], // malformed
            Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53),
        ];
        byte[] slots = new byte[packets.Length * Stride];
        int[] lengths = new int[packets.Length];
        for (int i = 0; i < packets.Length; i++)
        {
            packets[i].CopyTo(slots, i * Stride);
            lengths[i] = packets[i].Length;
        }
        var results = new TranslationResult[packets.Length];
        batched.Engine.TranslateBatch(slots, Stride, 0, lengths, [], results, batched.Now);
        for (int i = 0; i < packets.Length; i++)
        {
            (TranslationResult expected, byte[] expectedBytes) = one.Send(packets[i]);
            Assert.Equal(expected, results[i]);
            Assert.Equal(Convert.ToHexString(expectedBytes), Convert.ToHexString(slots.AsSpan(i * Stride, results[i].Length)));
        }
        Assert.Equal(one.Engine.SessionCount, batched.Engine.SessionCount);
    }

    [Fact]
    public void A_batch_larger_than_the_maximum_is_refused()
    {
        var lab = new Lab();
        int count = NatEngine.MaximumBatch + 1;
        Assert.Throws<ArgumentOutOfRangeException>(() => lab.Engine.TranslateBatch(new byte[count * 64], 64, 0, new int[count], [], new TranslationResult[count], lab.Now));
    }
}
