using System.Security.Cryptography;
using NatGate.Core.Addressing;
using NatGate.Core.Translation.Npt;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Checksum and segmentation offload: the kernel hands NatGate 64 KiB super-packets with
/// partial checksums and segments them after translation. Whatever crosses must arrive intact,
/// both ways, with offloads on and off, over IPv4 and over IPv6 (NAT66, NPTv6).
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
        (string file, int length, string expected) = WriteData(lab);
        (BackgroundProcess outsideSink, BackgroundProcess insideSink, string rules) = lab.StartHashSinksBehindRdr();
        string[] arguments = ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules];
        lab.StartNatGate(offload ? arguments : [.. arguments, "--no-offload"]);

        // Out through the source translation, and in through the static mapping.
        GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside, "9000", file);
        outsideSink.WaitFor($"received {length} sha256 {expected}", Long);
        GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.FileSender, GatewayLab.External, "9000", file);
        insideSink.WaitFor($"received {length} sha256 {expected}", Long);
    }

    /// <summary>
    /// The same over IPv6, where TSO and USO super-packets must keep their segmentation through
    /// the TUN too: out through NAT66's map and in through its redirect, or out and in through
    /// NPTv6's stateless prefix translation.
    /// </summary>
    [Theory]
    [InlineData("nat66", true)]
    [InlineData("nat66", false)]
    [InlineData("nptv6", true)]
    public void Bulk_data_crosses_ipv6_intact_both_ways(string translation, bool offload)
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab(ipv6: true);
        (string file, int length, string expected) = WriteData(lab);
        BackgroundProcess outsideSink = lab.Start(lab.Out, "python3", "-c", LabPrograms.HashSink, GatewayLab.Outside6, "9000");
        BackgroundProcess insideSink = lab.Start(lab.In2, "python3", "-c", LabPrograms.HashSink, GatewayLab.Inside2v6, "9000");
        outsideSink.WaitFor("ready", Long);
        insideSink.WaitFor("ready", Long);
        const string Nat66External = "2001:db8:100::10";
        (string rule, string in2Outside) = translation == "nat66"
            ? ($"map wan0 {GatewayLab.InsidePrefix6} -> {Nat66External}/128 portmap tcp/udp auto\nrdr wan0 {Nat66External}/128 port 9000 -> {GatewayLab.Inside2v6} port 9000 tcp", Nat66External)
            : ($"bimap wan0 fd00:77::/48 -> {GatewayLab.ExternalPrefix6}",
                new Nptv6Mapping(IpPrefix.Parse("fd00:77::/48", null), IpPrefix.Parse(GatewayLab.ExternalPrefix6, null)).ToExternal(Ipv6Address.Parse(GatewayLab.Inside2v6, null)).ToString());
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, rule + "\n");
        string[] arguments = ["--rules", rules, "--outside-interface", GatewayLab.OutsideInterface];
        lab.StartNatGate(offload ? arguments : [.. arguments, "--no-offload"]);

        GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside6, "9000", file);
        outsideSink.WaitFor($"received {length} sha256 {expected}", Long);
        GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.FileSender, in2Outside, "9000", file);
        insideSink.WaitFor($"received {length} sha256 {expected}", Long);
    }

    /// <summary>24 MiB of random bytes in a file of the lab's; its path, length and SHA-256.</summary>
    private static (string File, int Length, string Sha256) WriteData(GatewayLab lab)
    {
        byte[] data = new byte[24 << 20];
        new Random(11).NextBytes(data);
        string file = Path.Combine(lab.WorkDirectory, "data.bin");
        File.WriteAllBytes(file, data);
        return (file, data.Length, Convert.ToHexStringLower(SHA256.HashData(data)));
    }
}
