using BenchmarkDotNet.Attributes;
using NatGate.Core.Packets;
using NatGate.Core.Translation;

namespace NatGate.Benchmarks;

/// <summary>
/// NAT66's established flows: as <see cref="EstablishedFlowBenchmarks"/>, IPv6 packets of 1,000
/// or a million flows (shuffled, 64 to a batch) through the engine, each checked once first.
/// </summary>
public class Ipv6FlowBenchmarks
{
    public const int Batch = 64;

    private NatEngine engine = null!;
    private PacketRing outbound = null!;
    private PacketRing inbound = null!;
    private readonly PacketRing batch = new(Batch);
    private readonly int[] lengths = new int[Batch];
    private readonly TranslationResult[] results = new TranslationResult[Batch];
    private int outboundLength;
    private int inboundLength;
    private int cursor;

    [Params(1_000, 1_000_000)]
    public int Flows { get; set; }

    [Params(Transport.Tcp, Transport.Udp)]
    public Transport Transport { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        engine = Ipv6BenchLab.CreateEngine(Flows);
        int[] slotOf = BenchLab.Shuffled(Flows, seed: 7);
        outbound = new PacketRing(Flows);
        inbound = new PacketRing(Flows);
        var leaving = new PacketRing(Flows);
        Ipv6BenchLab.Open(engine, Transport, 0, Flows, leaving, slotOf);
        for (int flow = 0; flow < Flows; flow++)
        {
            int slot = slotOf[flow];
            outboundLength = Ipv6BenchLab.WriteOutbound(outbound.Slot(slot), Transport, flow);
            inboundLength = Ipv6BenchLab.WriteReply(inbound.Slot(slot), Transport, leaving.Slot(slot));
        }
        Check(outbound, outboundLength, "outbound");
        Check(inbound, inboundLength, "inbound");
        cursor = 0;
    }

    /// <summary>Every template translates, with a valid checksum afterwards (on a copy).</summary>
    private void Check(PacketRing ring, int length, string what)
    {
        var copy = new byte[PacketRing.Stride];
        for (int slot = 0; slot < Flows; slot++)
        {
            ring.Slot(slot).CopyTo(copy);
            TranslationResult result = engine.Translate(copy, length, BenchLab.Start);
            if (result.Verdict != Verdict.Forward || Ipv6Packet.TryParse(copy, out Ipv6Packet ip) != PacketError.None
                || !TransportChecksum.IsValidIpv6(ip.SourceAddress, ip.DestinationAddress, ip.TransportProtocol, ip.Transport))
            {
                throw new InvalidOperationException($"{what} slot {slot}: {result.Verdict} {result.Reason}");
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public int OutboundBatched() => TranslateWhole(outbound, outboundLength);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int InboundBatched() => TranslateWhole(inbound, inboundLength);

    private int TranslateWhole(PacketRing templates, int length)
        => BenchLab.TranslateWhole(engine, templates, batch, lengths, results, length, Flows, ref cursor);
}
