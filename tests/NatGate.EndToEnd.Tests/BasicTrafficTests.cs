using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>Real clients through a real gateway: curl, ping, traceroute, UDP, in namespaces of the test's own.</summary>
public sealed class BasicTrafficTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    [Fact]
    public void Http_ping_and_traceroute_cross_the_gateway_which_shows_as_one_hop()
    {
        Host.RequireRootAndTools("ip", "curl", "ping", "traceroute", "python3");
        using var lab = new GatewayLab();
        string site = Directory.CreateTempSubdirectory("natgate-site-").FullName;
        try
        {
            byte[] file = new byte[200_000];
            new Random(5).NextBytes(file);
            File.WriteAllBytes(Path.Combine(site, "file.bin"), file);
            BackgroundProcess server = lab.StartWebServer(lab.Out, GatewayLab.Outside, 8080, site);
            BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface,
                "--metrics", "127.0.0.1:9469");

            string downloaded = Path.Combine(site, "downloaded.bin");
            (int curlExit, _, string curlError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "--retry", "3", "--retry-connrefused", "-o", downloaded, $"http://{GatewayLab.Outside}:8080/file.bin");
            Assert.True(curlExit == 0, $"curl failed: {curlError}\n{daemon.Output}");
            Assert.Equal(file, File.ReadAllBytes(downloaded));
            // The server saw the external address, not the inside host.
            server.WaitFor($"client {GatewayLab.External}:", Short);
            Assert.DoesNotContain(GatewayLab.Inside1, server.Output, StringComparison.Ordinal);

            (int pingExit, string pingOutput, _) = GatewayLab.Exec(lab.In1, Short, "ping", "-c", "3", "-i", "0.2", "-W", "2", GatewayLab.Outside);
            Assert.True(pingExit == 0, pingOutput);
            Assert.Contains("3 received", pingOutput, StringComparison.Ordinal);

            (int traceExit, string trace, string traceError) = GatewayLab.Exec(lab.In1, Short, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "5", GatewayLab.Outside);
            Assert.True(traceExit == 0, traceError);
            string[] hops = [.. trace.Split('\n').Skip(1).Where(line => line.Trim().Length > 0)];
            Assert.Equal(2, hops.Length);
            Assert.Contains(GatewayLab.GatewayInside, hops[0], StringComparison.Ordinal);
            Assert.Contains(GatewayLab.Outside, hops[1], StringComparison.Ordinal);

            // Metrics, scraped on the gateway's own loopback.
            string metrics = GatewayLab.ExecChecked(lab.Gateway, "curl", "-sS", "http://127.0.0.1:9469/metrics");
            Assert.Contains("natgate_sessions{protocol=\"tcp\"", metrics, StringComparison.Ordinal);
            Assert.Contains("natgate_packets_total{direction=\"out\"}", metrics, StringComparison.Ordinal);

            Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(15)));
            // The routing it installed is gone.
            Assert.DoesNotContain("lookup 100", GatewayLab.Ip(lab.Gateway, "rule", "list"), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(site, recursive: true);
        }
    }

    [Fact]
    public void Udp_crosses_both_ways_and_an_unmapped_port_gets_no_answer()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        BackgroundProcess echo = lab.Start(lab.Out, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Outside, "9999");
        echo.WaitFor("ready", Short);
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);
        string reply = GatewayLab.ExecChecked(lab.In1, "python3", "-c", LabPrograms.UdpClient, GatewayLab.Outside, "9999", "hello natgate");
        Assert.Equal($"hello natgate from {GatewayLab.External}", reply.Trim());
        // Unsolicited from outside to an unmapped external port: nothing comes back.
        string unsolicited = GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.UdpClient, GatewayLab.External, "40000", "knock");
        Assert.Equal("timeout", unsolicited.Trim());
    }
}
