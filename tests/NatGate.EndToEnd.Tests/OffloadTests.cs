using System.Security.Cryptography;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Checksum and segmentation offload: the kernel hands NatGate 64 KiB super-packets with
/// partial checksums and segments them after translation. Whatever crosses must arrive intact,
/// both ways, with offloads on and off.
/// </summary>
[Collection(RunsAlone.Name)]
public sealed class OffloadTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Bulk_data_crosses_intact_both_ways(bool offload)
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        byte[] data = new byte[24 << 20];
        new Random(11).NextBytes(data);
        string file = Path.Combine(lab.WorkDirectory, "data.bin");
        File.WriteAllBytes(file, data);
        string expected = Convert.ToHexStringLower(SHA256.HashData(data));
        (BackgroundProcess outsideSink, BackgroundProcess insideSink, string rules) = lab.StartHashSinksBehindRdr();
        string[] arguments = ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules];
        lab.StartNatGate(offload ? arguments : [.. arguments, "--no-offload"]);

        // Out through the source translation, and in through the static mapping.
        GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside, "9000", file);
        outsideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);
        GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.FileSender, GatewayLab.External, "9000", file);
        insideSink.WaitFor($"received {data.Length} sha256 {expected}", Long);
    }
}
