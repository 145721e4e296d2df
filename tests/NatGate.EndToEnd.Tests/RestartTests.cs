using System.Diagnostics;
using System.Security.Cryptography;

namespace NatGate.EndToEnd.Tests;

/// <summary>The daemon stops and starts again with --state while a download runs: no byte is lost.</summary>
[Collection(RunsAlone.Name)]
public sealed class RestartTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);
    private const int Port = 8080;
    private const int Size = 64 * 1024 * 1024;

    [Fact]
    public void A_download_survives_a_restart_with_the_session_state_carried_over()
    {
        Host.RequireRootAndTools("ip", "ss", "curl", "python3");
        using var lab = new GatewayLab();
        string site = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "site")).FullName;
        string source = Path.Combine(site, "large.bin");
        byte[] content = new byte[Size];
        new Random(17).NextBytes(content);
        File.WriteAllBytes(source, content);
        byte[] expected = SHA256.HashData(content);
        lab.StartWebServer(lab.Out, GatewayLab.Outside, Port, site);

        string state = Path.Combine(lab.WorkDirectory, "sessions.state");
        string[] arguments = ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface, "--state", state];
        BackgroundProcess first = lab.StartNatGate(arguments);

        // Throttled so that the transfer takes about four seconds and the restart falls inside it.
        string received = Path.Combine(lab.WorkDirectory, "received.bin");
        BackgroundProcess download = lab.Start(lab.In1, "curl", "-sS", "--limit-rate", "16M", "--max-time", "60", "-o", received, $"http://{GatewayLab.Outside}:{Port}/large.bin");
        WaitForBytes(received, Size / 8, download);

        var gap = Stopwatch.StartNew();
        Assert.Equal(0, first.Stop(Short));
        long stopped = gap.ElapsedMilliseconds;
        BackgroundProcess second = lab.StartNatGate(arguments);
        gap.Stop();
        long before = new FileInfo(received).Length;
        Assert.False(download.HasExited, $"the download ended before the daemon was back, so the restart tested nothing: {download.Output}");
        Assert.True(before < Size, "the whole file arrived before the restart");

        int curlExit = download.WaitForExit(TimeSpan.FromSeconds(60));
        Assert.True(curlExit == 0, $"curl exited {curlExit} after a restart of {gap.ElapsedMilliseconds} ms: {download.Output}\nfirst daemon:\n{first.Output}\nsecond daemon:\n{second.Output}");
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(received))));
        // The session came back from the file rather than being created afresh by a mid-stream packet.
        Assert.Contains($"saved 1 sessions to {state}", first.Output, StringComparison.Ordinal);
        Assert.Contains($"restored 1 sessions from {state}; 0 refused", second.Output, StringComparison.Ordinal);
        TestContext.Current.TestOutputHelper?.WriteLine($"restart gap: {gap.ElapsedMilliseconds} ms ({stopped} ms to stop), {before} of {Size} bytes had arrived");
    }

    private static void WaitForBytes(string path, long bytes, BackgroundProcess writer)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(path) || new FileInfo(path).Length < bytes)
        {
            if (writer.HasExited)
            {
                throw new InvalidOperationException($"the download ended early: {writer.Output}");
            }
            if (clock.Elapsed > Short)
            {
                throw new TimeoutException($"{bytes} bytes did not arrive within {Short.TotalSeconds} s");
            }
            Thread.Sleep(20);
        }
    }
}
