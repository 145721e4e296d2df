using NatGate.Core.Addressing;
using BenchmarkDotNet.Attributes;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// The per-packet path on established flows, one core: each invocation copies the next 64 packets
/// (cycling over every flow in a shuffled order, so sessions and index entries are touched at
/// random) from a template ring into a 4 KiB batch buffer, then translates them in place there.
/// <see cref="CopyOnly"/> measures the copy alone, to subtract. ns/op is per packet.
/// </summary>
[MemoryDiagnoser]
public class EstablishedFlowBenchmarks
{
    public const int Batch = 64;

    private NatEngine engine = null!;
    private PacketRing outbound = null!;
    private PacketRing inbound = null!;
    private readonly PacketRing batch = new(Batch);
    private int outboundLength;
    private int inboundLength;
    private int cursor;

    [Params(1_000, 1_000_000, 10_000_000)]
    public int Flows { get; set; }

    [Params(Transport.Tcp, Transport.Udp)]
    public Transport Transport { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        engine = BenchLab.CreateEngine(Flows);
        engine.AddRule(BenchLab.MapRule("10.0.0.0/8"));
        int[] slotOf = BenchLab.Shuffled(Flows, seed: 7);
        outbound = new PacketRing(Flows);
        inbound = new PacketRing(Flows);
        var leaving = new PacketRing(Flows);
        BenchLab.Open(engine, Transport, 0, Flows, BenchLab.DefaultHostBase, BenchLab.Start, leaving, slotOf);
        for (int flow = 0; flow < Flows; flow++)
        {
            int slot = slotOf[flow];
            outboundLength = BenchLab.WriteOutbound(outbound.Slot(slot), Transport, flow, BenchLab.DefaultHostBase);
            inboundLength = BenchLab.WriteReply(inbound.Slot(slot), Transport, leaving.Slot(slot));
        }
        Check(outbound, outboundLength, "outbound");
        Check(inbound, inboundLength, "inbound");
        cursor = 0;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int Outbound() => TranslateBatch(outbound, outboundLength);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int Inbound() => TranslateBatch(inbound, inboundLength);

    /// <summary>As <see cref="Outbound"/>, through <see cref="NatEngine.TranslateBatch"/> (prefetching in three passes).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int OutboundBatched() => TranslateWhole(outbound, outboundLength);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int InboundBatched() => TranslateWhole(inbound, inboundLength);

    private readonly int[] lengths = new int[Batch];
    private readonly TranslationResult[] results = new TranslationResult[Batch];

    private int TranslateWhole(PacketRing templates, int length)
        => BenchLab.TranslateWhole(engine, templates, batch, lengths, results, length, Flows, ref cursor);

    /// <summary>The copy from the template ring alone, as the two benchmarks above do it.</summary>
    [Benchmark(OperationsPerInvoke = Batch, Baseline = true)]
    public int CopyOnly()
    {
        int position = cursor;
        int sum = 0;
        for (int i = 0; i < Batch; i++)
        {
            Span<byte> packet = batch.Slot(i);
            outbound.Slot(position).CopyTo(packet);
            sum += packet[0];
            if (++position == Flows)
            {
                position = 0;
            }
        }
        cursor = position;
        return sum;
    }

    private int TranslateBatch(PacketRing templates, int length)
    {
        int position = cursor;
        int sum = 0;
        NatEngine nat = engine;
        for (int i = 0; i < Batch; i++)
        {
            Span<byte> packet = batch.Slot(i);
            templates.Slot(position).CopyTo(packet);
            sum += (int)nat.Translate(packet, length, BenchLab.Start).Verdict;
            if (++position == Flows)
            {
                position = 0;
            }
        }
        cursor = position;
        return sum;
    }

    /// <summary>
    /// Before measuring: a pass over up to 100,000 flows must forward every packet translated with
    /// valid checksums and create nothing, and 1,000 batches must allocate nothing.
    /// </summary>
    private void Check(PacketRing templates, int length, string direction)
    {
        int sessions = engine.SessionCount;
        Span<byte> scratch = stackalloc byte[PacketRing.Stride];
        for (int slot = 0; slot < Math.Min(Flows, 100_000); slot++)
        {
            templates.Slot(slot).CopyTo(scratch);
            TranslationResult result = engine.Translate(scratch, length, BenchLab.Start);
            Ipv4Address source = Ipv4Address.Read(scratch[12..]);
            Ipv4Address destination = Ipv4Address.Read(scratch[16..]);
            bool translated = direction == "outbound"
                ? source >= BenchLab.FirstExternal && source <= BenchLab.LastExternal
                : destination.Value >> 24 == 10;
            if (result.Verdict != Verdict.Forward || !translated)
            {
                throw new InvalidOperationException($"{direction} packet {slot} was not translated: {result}.");
            }
            BenchLab.AssertValid(scratch[..length], direction);
        }
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            TranslateBatch(templates, length);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        if (allocated != 0 || engine.SessionCount != sessions)
        {
            throw new InvalidOperationException($"{direction}: {allocated} bytes allocated over 64,000 packets; sessions {sessions} -> {engine.SessionCount}.");
        }
        Console.WriteLine($"// check {direction}: {Flows} flows, 0 bytes allocated per packet, table {engine.TableMemoryBytes / (double)Flows:F1} B per session");
    }
}
