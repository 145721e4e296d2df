using System.Diagnostics;
using System.Security.Cryptography;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// kill -9: the gateway fails closed while the daemon is gone, the next run adopts what was left
/// and puts the host back exactly as it was at a clean stop, and long transfers survive.
/// </summary>
[Collection(RunsAlone.Name)]
public sealed class CrashTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);
    private static string[] CommandLineNat => ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface];

    /// <summary>Sends a file over TCP at a bounded rate (argv: address port file bytes-per-second), then waits for the sink to close.</summary>
    private const string ThrottledSender = """
        import socket, sys, time
        address, port, path, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
        sent = 0
        with socket.create_connection((address, port)) as s, open(path, "rb") as f:
            start = time.monotonic()
            while True:
                chunk = f.read(65536)
                if not chunk:
                    break
                s.sendall(chunk)
                sent += len(chunk)
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            s.shutdown(socket.SHUT_WR)
            s.recv(1)
        print("sent", sent, flush=True)
        """;

    [Fact]
    public void Kill_9_keeps_the_inside_off_the_outside_and_the_next_run_puts_the_host_back_as_it_was()
    {
        Host.RequireRootAndTools("ip", "tcpdump", "curl", "ping", "python3", "nft");
        using var lab = new GatewayLab();
        // The host as it was: no forwarding, strict reverse-path filtering.
        GatewayLab.ExecChecked(lab.Gateway, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv4.conf.all.rp_filter=1");
        string rulesBefore = GatewayLab.Ip(lab.Gateway, "rule", "show");
        (_, string page) = lab.ServePage(lab.Out, GatewayLab.Outside, 8080, "outside page\n");

        BackgroundProcess first = lab.StartNatGate(CommandLineNat);
        GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "5", page);
        LinkCapture capture = LinkCapture.Start(lab, lab.Out, "eth0");
        first.Kill();
        var clock = Stopwatch.StartNew();
        while (GatewayLab.Exec(lab.Gateway, Short, "ip", "link", "show", "natgate0").ExitCode == 0 && clock.Elapsed < Short)
        {
            Thread.Sleep(50);
        }

        // Forwarding is still on: what keeps the inside off the outside is the routing, not luck.
        Assert.Equal("1", GatewayLab.ExecChecked(lab.Gateway, "sysctl", "-n", "net.ipv4.ip_forward").Trim());
        Assert.NotEqual(0, GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-m", "2", page).ExitCode);
        Assert.NotEqual(0, GatewayLab.Exec(lab.In1, Short, "ping", "-c", "2", "-W", "1", GatewayLab.Outside).ExitCode);
        RawPackets.Send(lab.In1, GatewayLab.Inside1, GatewayLab.Outside, "udp:5000:53", 20);
        RawPackets.Send(lab.In1, GatewayLab.Inside1, GatewayLab.Outside, "proto:47", 20);
        capture.AssertNone("src net " + GatewayLab.InsidePrefix, "inside sources on the outside link while the daemon was dead");

        BackgroundProcess second = lab.StartNatGate(CommandLineNat);
        Assert.Contains("adopted what an earlier run left", second.Output, StringComparison.Ordinal);
        Assert.Equal("outside page\n", GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "5", page));
        Assert.Equal(0, second.Stop(Short));

        // The values from before the first run, not the ones the crash left behind.
        Assert.Equal("0", GatewayLab.ExecChecked(lab.Gateway, "sysctl", "-n", "net.ipv4.ip_forward").Trim());
        Assert.Equal("1", GatewayLab.ExecChecked(lab.Gateway, "sysctl", "-n", "net.ipv4.conf.all.rp_filter").Trim());
        Assert.Equal(rulesBefore, GatewayLab.Ip(lab.Gateway, "rule", "show"));
        Assert.Equal(string.Empty, GatewayLab.Ip(lab.Gateway, "route", "show", "table", "100").Trim());
        Assert.Equal(string.Empty, GatewayLab.ExecChecked(lab.Gateway, "nft", "list", "ruleset").Trim());
    }

    [Fact]
    public void A_download_and_an_upload_survive_kill_9_and_a_restart()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab();
        const int size = 48 * 1024 * 1024;
        string site = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "site")).FullName;
        string download = Path.Combine(site, "download.bin");
        string upload = Path.Combine(lab.WorkDirectory, "upload.bin");
        byte[] content = new byte[size];
        new Random(23).NextBytes(content);
        File.WriteAllBytes(download, content);
        string downloadHash = Convert.ToHexStringLower(SHA256.HashData(content));
        new Random(29).NextBytes(content);
        File.WriteAllBytes(upload, content);
        string uploadHash = Convert.ToHexStringLower(SHA256.HashData(content));
        lab.StartWebServer(lab.Out, GatewayLab.Outside, 8080, site);
        BackgroundProcess sink = lab.Start(lab.Out, "python3", "-c", NatGate.Lab.LabPrograms.HashSink, GatewayLab.Outside, "9000");
        sink.WaitFor("ready", Short);

        string state = Path.Combine(lab.WorkDirectory, "sessions.state");
        string[] arguments = [.. CommandLineNat, "--state", state, "--checkpoint", "1"];
        BackgroundProcess first = lab.StartNatGate(arguments);
        string received = Path.Combine(lab.WorkDirectory, "received.bin");
        BackgroundProcess downloading = lab.Start(lab.In1, "curl", "-sS", "--limit-rate", "8M", "--max-time", "90", "-o", received, $"http://{GatewayLab.Outside}:8080/download.bin");
        BackgroundProcess uploading = lab.Start(lab.In2, "python3", "-c", ThrottledSender, GatewayLab.Outside, "9000", upload, (8 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture));
        // Both under way, and a checkpoint (every second) taken with both sessions in it.
        var clock = Stopwatch.StartNew();
        while ((!File.Exists(received) || new FileInfo(received).Length < size / 8) && clock.Elapsed < Short)
        {
            Thread.Sleep(20);
        }
        Thread.Sleep(2500);

        first.Kill();
        BackgroundProcess second = lab.StartNatGate(arguments);
        long before = new FileInfo(received).Length;
        Assert.False(downloading.HasExited, $"the download ended before the restart: {downloading.Output}");
        Assert.True(before < size, "the whole download arrived before the crash");

        int curlExit = downloading.WaitForExit(TimeSpan.FromSeconds(90));
        Assert.True(curlExit == 0, $"curl exited {curlExit}: {downloading.Output}\nsecond daemon:\n{second.Output}");
        Assert.Equal(downloadHash, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(received))));
        Assert.Equal(0, uploading.WaitForExit(TimeSpan.FromSeconds(90)));
        sink.WaitFor($"received {size} sha256 {uploadHash}", Short);
        Assert.Contains($"sessions from {state}", second.Output, StringComparison.Ordinal);
        TestContext.Current.TestOutputHelper?.WriteLine($"{before} of {size} bytes had arrived at the crash");
    }
}
