using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Several TUN queues, one worker each, one flow table: the kernel spreads packets over the
/// queues by their tuple, and a session's two directions have different tuples (one carries the
/// inside address, the other the external one), so they arrive on different queues. Many
/// connections both ways must all arrive intact, and more than one queue must have carried them.
/// </summary>
[Collection(RunsAlone.Name)]
public sealed partial class MultiQueueTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);
    private const int Connections = 12;

    [Fact]
    public void Connections_cross_intact_both_ways_on_four_queues()
    {
        Host.RequireRootAndTools("ip", "python3", "curl");
        using var lab = new GatewayLab();
        string[] files = new string[Connections];
        string[] expected = new string[Connections];
        for (int connection = 0; connection < Connections; connection++)
        {
            byte[] data = new byte[(2 << 20) + (connection * 4099)];
            new Random(100 + connection).NextBytes(data);
            files[connection] = Path.Combine(lab.WorkDirectory, $"data{connection}.bin");
            File.WriteAllBytes(files[connection], data);
            expected[connection] = $"received {data.Length} sha256 {Convert.ToHexStringLower(SHA256.HashData(data))}";
        }
        (BackgroundProcess outsideSink, BackgroundProcess insideSink, string rules) = lab.StartHashSinksBehindRdr();
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface,
            "--rules", rules, "--queues", "4", "--metrics", "127.0.0.1:9469");

        // Out from both inside hosts through the source translation, and in through the static
        // mapping, each connection from its own port: its packets hash to their own queues.
        for (int connection = 0; connection < Connections; connection++)
        {
            GatewayLab.ExecChecked(connection % 2 == 0 ? lab.In1 : lab.In2, "python3", "-c", LabPrograms.FileSender, GatewayLab.Outside, "9000", files[connection]);
            GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.FileSender, GatewayLab.External, "9000", files[connection]);
        }
        foreach (string line in expected)
        {
            outsideSink.WaitFor(line, Long);
            insideSink.WaitFor(line, Long);
        }

        string metrics = GatewayLab.ExecChecked(lab.Gateway, "curl", "-sS", "http://127.0.0.1:9469/metrics");
        var readByQueue = new Dictionary<int, double>();
        foreach (Match match in QueueReadCounter().Matches(metrics))
        {
            readByQueue[int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)] = double.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        }
        Assert.Equal([0, 1, 2, 3], readByQueue.Keys.Order());
        int busy = readByQueue.Values.Count(packets => packets > 0);
        Assert.True(busy >= 2, $"only {busy} of 4 queues read packets: {string.Join(", ", readByQueue.Select(pair => $"queue {pair.Key}: {pair.Value}"))}");
        Assert.DoesNotMatch(@"natgate_tun_drops_total\{queue=""\d"",reason=""write_rejected""\} [1-9]", metrics);
    }

    [GeneratedRegex(@"natgate_tun_packets_total\{queue=""(\d+)"",direction=""read""\} ([0-9.e+]+)")]
    private static partial Regex QueueReadCounter();
}
