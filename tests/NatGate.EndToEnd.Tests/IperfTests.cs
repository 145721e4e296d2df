using System.Globalization;
using System.Text.Json;

namespace NatGate.EndToEnd.Tests;

/// <summary>iperf3 through the gateway, TCP and UDP: both ends' own accounts of the stream must agree.</summary>
[Collection(RunsAlone.Name)]
public sealed class IperfTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);
    private const int Port = 5201;

    [Fact]
    public void Tcp_stream_arrives_whole_and_from_the_external_address()
    {
        Host.RequireRootAndTools("ip", "ss", "iperf3");
        using var lab = new GatewayLab();
        (JsonElement client, JsonElement server) = RunIperf(lab, "-t", "3");

        long sent = Bytes(client, "sum_sent");
        long receivedByServer = Bytes(server, "sum_received");
        Assert.True(sent > 0, "the client sent nothing");
        // The client's JSON carries what the server told it at the end: the same count.
        Assert.Equal(receivedByServer, Bytes(client, "sum_received"));
        // iperf3 stops counting when the test ends, not when the stream is drained: bytes still in
        // the sender's send queue (unacknowledged or unsent) or the receiver's socket buffer are
        // written but never counted, even without a NAT in between. TCP delivers in order, so the
        // difference is bounded by those two buffers; anything beyond them went missing.
        long buffers = MaximumBuffer(lab.In1, "tcp_wmem") + MaximumBuffer(lab.Out, "tcp_rmem");
        Assert.True(receivedByServer <= sent, $"the server counted {receivedByServer} bytes, more than the {sent} sent");
        Assert.True(sent - receivedByServer <= buffers, $"sent {sent}, received {receivedByServer}: {sent - receivedByServer} bytes unaccounted, more than the {buffers} bytes of socket buffers");
        AssertSeenFromExternalAddress(server);
    }

    [Fact]
    public void Udp_stream_at_50_Mbit_per_s_arrives_with_little_loss_and_every_datagram_whole()
    {
        Host.RequireRootAndTools("ip", "ss", "iperf3");
        using var lab = new GatewayLab();
        (JsonElement client, JsonElement server) = RunIperf(lab, "-u", "-b", "50M", "-t", "3");

        JsonElement sentSum = client.GetProperty("end").GetProperty("sum_sent");
        JsonElement receivedSum = server.GetProperty("end").GetProperty("sum_received");
        long sentPackets = sentSum.GetProperty("packets").GetInt64();
        long sentBytes = sentSum.GetProperty("bytes").GetInt64();
        long receivedBytes = receivedSum.GetProperty("bytes").GetInt64();
        // The server's "packets" is the highest sequence number seen; "lost_packets" the gaps below it.
        long lost = receivedSum.GetProperty("lost_packets").GetInt64();
        long receivedPackets = receivedSum.GetProperty("packets").GetInt64() - lost;
        long datagram = client.GetProperty("start").GetProperty("test_start").GetProperty("blksize").GetInt64();
        string summary = $"client sent {sentPackets} datagrams ({sentBytes} bytes); server received {receivedPackets} ({receivedBytes} bytes), counted {lost} lost";

        Assert.True(sentPackets > 0, summary);
        Assert.Equal(sentPackets * datagram, sentBytes);
        // Every datagram that arrived arrived whole.
        Assert.True(receivedBytes == receivedPackets * datagram, summary);
        // Received plus counted lost is everything sent, but for a tail still queued when the
        // server stopped reading (lost, yet after the last sequence number it saw).
        long uncounted = sentPackets - receivedPackets - lost;
        Assert.True(uncounted >= 0, summary);
        Assert.True(sentPackets - receivedPackets < sentPackets * 5 / 100, $"more than 5% loss at a modest rate: {summary}");
        AssertSeenFromExternalAddress(server);
    }

    /// <summary>An iperf3 server outside (one test, JSON to a file), the client on in1; returns both JSON reports.</summary>
    private static (JsonElement Client, JsonElement Server) RunIperf(GatewayLab lab, params string[] clientArguments)
    {
        string serverReport = Path.Combine(lab.WorkDirectory, "iperf3-server.json");
        BackgroundProcess server = lab.Start(lab.Out, "iperf3", "-s", "-1", "-B", GatewayLab.Outside, "-p", Port.ToString(CultureInfo.InvariantCulture), "--json", "--logfile", serverReport);
        GatewayLab.WaitListening(lab.Out, "tcp", GatewayLab.Outside, Port, Short);
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);

        (int exitCode, string clientReport, string error) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60),
            ["iperf3", "-c", GatewayLab.Outside, "-p", Port.ToString(CultureInfo.InvariantCulture), "--json", .. clientArguments]);
        Assert.True(exitCode == 0, $"iperf3 client exited {exitCode}: {error}\n{clientReport}\nnatgate:\n{daemon.Output}");
        int serverExit = server.WaitForExit(Short);
        string serverText = File.ReadAllText(serverReport);
        Assert.True(serverExit == 0, $"iperf3 server exited {serverExit}: {server.Output}\n{serverText}");
        Assert.False(daemon.HasExited, daemon.Output);
        return (JsonDocument.Parse(clientReport).RootElement, JsonDocument.Parse(serverText).RootElement);
    }

    private static long Bytes(JsonElement report, string sum) => report.GetProperty("end").GetProperty(sum).GetProperty("bytes").GetInt64();

    private static void AssertSeenFromExternalAddress(JsonElement server)
    {
        JsonElement start = server.GetProperty("start");
        Assert.Equal(GatewayLab.External, start.GetProperty("accepted_connection").GetProperty("host").GetString());
        JsonElement connected = start.GetProperty("connected");
        Assert.True(connected.GetArrayLength() > 0, "the server reports no data connection");
        foreach (JsonElement stream in connected.EnumerateArray())
        {
            Assert.Equal(GatewayLab.External, stream.GetProperty("remote_host").GetString());
        }
    }

    /// <summary>The largest buffer TCP autotuning may grow to in a namespace (the third field of tcp_wmem or tcp_rmem).</summary>
    private static long MaximumBuffer(string space, string setting)
    {
        string text = GatewayLab.ExecChecked(space, "cat", $"/proc/sys/net/ipv4/{setting}");
        return long.Parse(text.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries)[2], CultureInfo.InvariantCulture);
    }
}
