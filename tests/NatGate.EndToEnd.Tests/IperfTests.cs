using System.Globalization;
using System.Text.Json;
using NatGate.Core.Addressing;
using NatGate.Core.Translation.Npt;

namespace NatGate.EndToEnd.Tests;

/// <summary>iperf3 through the gateway, TCP and UDP, over IPv4 and IPv6 (NAT66, NPTv6): both ends' own accounts of the stream must agree.</summary>
[Collection(RunsAlone.Name)]
public sealed class IperfTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);
    private const int Port = 5201;

    /// <summary>NAT66's external address, on-link outside (the gateway answers neighbour solicitations for it).</summary>
    private const string Nat66External = "2001:db8:100::10";

    /// <summary>The iperf3 runs of a test so far, so that each server's report has a file of its own.</summary>
    private int runs;

    [Fact]
    public void Tcp_stream_arrives_whole_and_from_the_external_address()
    {
        Host.RequireRootAndTools("ip", "ss", "iperf3");
        using var lab = new GatewayLab();
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);
        (JsonElement client, JsonElement server) = RunIperf(lab, daemon, GatewayLab.Outside, "-t", "3");

        AssertTcpCounted(lab, client, server, reverse: false);
        AssertSeenFrom(server, GatewayLab.External);
    }

    /// <summary>
    /// IPv6 through NAT66 (one external address, stateful) and through NPTv6 (RFC 6296, the
    /// inside /48 as the external /48): a TCP stream out, then one back (-R: the outside server
    /// sends), each counted whole by both ends and seen from the inside host's external address.
    /// </summary>
    [Theory]
    [InlineData("nat66")]
    [InlineData("nptv6")]
    public void Tcp_streams_over_ipv6_arrive_whole_both_ways_and_from_the_external_address(string translation)
    {
        Host.RequireRootAndTools("ip", "ss", "iperf3");
        using var lab = new GatewayLab(ipv6: true);
        (BackgroundProcess daemon, string seenAs) = StartIpv6NatGate(lab, translation);

        (JsonElement client, JsonElement server) = RunIperf(lab, daemon, GatewayLab.Outside6, "-t", "3");
        AssertTcpCounted(lab, client, server, reverse: false);
        AssertSeenFrom(server, seenAs);

        (client, server) = RunIperf(lab, daemon, GatewayLab.Outside6, "-t", "3", "-R");
        AssertTcpCounted(lab, client, server, reverse: true);
        AssertSeenFrom(server, seenAs);
    }

    [Fact]
    public void Udp_stream_at_50_Mbit_per_s_arrives_with_little_loss_and_every_datagram_whole()
    {
        Host.RequireRootAndTools("ip", "ss", "iperf3");
        using var lab = new GatewayLab();
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);
        (JsonElement client, JsonElement server) = RunIperf(lab, daemon, GatewayLab.Outside, "-u", "-b", "50M", "-t", "3");

        AssertUdpCounted(client, server);
        AssertSeenFrom(server, GatewayLab.External);
    }

    [Theory]
    [InlineData("nat66")]
    [InlineData("nptv6")]
    public void Udp_stream_over_ipv6_at_50_Mbit_per_s_arrives_with_little_loss_and_every_datagram_whole(string translation)
    {
        Host.RequireRootAndTools("ip", "ss", "iperf3");
        using var lab = new GatewayLab(ipv6: true);
        (BackgroundProcess daemon, string seenAs) = StartIpv6NatGate(lab, translation);
        (JsonElement client, JsonElement server) = RunIperf(lab, daemon, GatewayLab.Outside6, "-u", "-b", "50M", "-t", "3");

        AssertUdpCounted(client, server);
        AssertSeenFrom(server, seenAs);
    }

    /// <summary>What the client sent and the server received, datagram by datagram.</summary>
    private static void AssertUdpCounted(JsonElement client, JsonElement server)
    {
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
    }

    /// <summary>
    /// A TCP stream's two accounts agree: the receiver counted no more than was sent, and what it
    /// is short by fits in the socket buffers. <paramref name="reverse"/> (-R): the server sent.
    /// </summary>
    private static void AssertTcpCounted(GatewayLab lab, JsonElement client, JsonElement server, bool reverse)
    {
        (JsonElement sender, JsonElement receiver) = reverse ? (server, client) : (client, server);
        (string senderSpace, string receiverSpace) = reverse ? (lab.Out, lab.In1) : (lab.In1, lab.Out);
        long sent = Bytes(sender, "sum_sent");
        long received = Bytes(receiver, "sum_received");
        Assert.True(sent > 0, "the sender sent nothing");
        // The client's JSON carries what the server told it at the end: the same counts.
        Assert.Equal(received, Bytes(client, "sum_received"));
        Assert.Equal(sent, Bytes(client, "sum_sent"));
        // iperf3 stops counting when the test ends, not when the stream is drained: bytes still in
        // the sender's send queue (unacknowledged or unsent) or the receiver's socket buffer are
        // written but never counted, even without a NAT in between. TCP delivers in order, so the
        // difference is bounded by those two buffers; anything beyond them went missing.
        long buffers = MaximumBuffer(senderSpace, "tcp_wmem") + MaximumBuffer(receiverSpace, "tcp_rmem");
        Assert.True(received <= sent, $"the receiver counted {received} bytes, more than the {sent} sent");
        Assert.True(sent - received <= buffers, $"sent {sent}, received {received}: {sent - received} bytes unaccounted, more than the {buffers} bytes of socket buffers");
        // Segments lost on the way are resent: on these veths a healthy path resends a few in ten
        // thousand (segments of at most 1,500 bytes, so at least sent / 1,500 of them). A path
        // that drops what the gateway writes back (a super-packet sent on whole) resends more
        // segments than it delivers.
        long retransmits = sender.GetProperty("end").GetProperty("sum_sent").GetProperty("retransmits").GetInt64();
        Assert.True(retransmits * 100 <= sent / 1500, $"{retransmits} segments resent for {sent} bytes sent: more than 1 %");
    }

    /// <summary>
    /// natgate with an IPv6 rule: "nat66", a map of the inside /64 to one on-link external
    /// address; "nptv6", the lab's inside /48 as the external /48. Returns the daemon and the
    /// address in1 is seen as outside.
    /// </summary>
    private static (BackgroundProcess Daemon, string SeenAs) StartIpv6NatGate(GatewayLab lab, string translation)
    {
        (string rule, string seenAs) = translation switch
        {
            "nat66" => ($"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix6} -> {Nat66External}/128 portmap tcp/udp auto", Nat66External),
            "nptv6" => ($"bimap {GatewayLab.OutsideInterface} fd00:77::/48 -> {GatewayLab.ExternalPrefix6}",
                new Nptv6Mapping(IpPrefix.Parse("fd00:77::/48", null), IpPrefix.Parse(GatewayLab.ExternalPrefix6, null)).ToExternal(Ipv6Address.Parse(GatewayLab.Inside1v6, null)).ToString()),
            _ => throw new ArgumentException($"translation {translation}: nat66 or nptv6", nameof(translation)),
        };
        string rules = System.IO.Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, rule + "\n");
        return (lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface), seenAs);
    }

    /// <summary>An iperf3 server outside on <paramref name="serverAddress"/> (one test, JSON to a file), the client on in1; returns both JSON reports.</summary>
    private (JsonElement Client, JsonElement Server) RunIperf(GatewayLab lab, BackgroundProcess daemon, string serverAddress, params string[] clientArguments)
    {
        string serverReport = System.IO.Path.Combine(lab.WorkDirectory, $"iperf3-server-{++runs}.json");
        BackgroundProcess server = lab.Start(lab.Out, "iperf3", "-s", "-1", "-B", serverAddress, "-p", Port.ToString(CultureInfo.InvariantCulture), "--json", "--logfile", serverReport);
        GatewayLab.WaitListening(lab.Out, "tcp", serverAddress, Port, Short);

        (int exitCode, string clientReport, string error) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60),
            ["iperf3", "-c", serverAddress, "-p", Port.ToString(CultureInfo.InvariantCulture), "--json", .. clientArguments]);
        Assert.True(exitCode == 0, $"iperf3 client exited {exitCode}: {error}\n{clientReport}\nnatgate:\n{daemon.Output}");
        int serverExit = server.WaitForExit(Short);
        string serverText = File.ReadAllText(serverReport);
        Assert.True(serverExit == 0, $"iperf3 server exited {serverExit}: {server.Output}\n{serverText}");
        Assert.False(daemon.HasExited, daemon.Output);
        return (JsonDocument.Parse(clientReport).RootElement, JsonDocument.Parse(serverText).RootElement);
    }

    private static long Bytes(JsonElement report, string sum) => report.GetProperty("end").GetProperty(sum).GetProperty("bytes").GetInt64();

    /// <summary>The server's control and data connections all came from <paramref name="address"/>.</summary>
    private static void AssertSeenFrom(JsonElement server, string address)
    {
        JsonElement start = server.GetProperty("start");
        Assert.Equal(address, start.GetProperty("accepted_connection").GetProperty("host").GetString());
        JsonElement connected = start.GetProperty("connected");
        Assert.True(connected.GetArrayLength() > 0, "the server reports no data connection");
        foreach (JsonElement stream in connected.EnumerateArray())
        {
            Assert.Equal(address, stream.GetProperty("remote_host").GetString());
        }
    }

    /// <summary>The largest buffer TCP autotuning may grow to in a namespace (the third field of tcp_wmem or tcp_rmem).</summary>
    private static long MaximumBuffer(string space, string setting)
    {
        string text = GatewayLab.ExecChecked(space, "cat", $"/proc/sys/net/ipv4/{setting}");
        return long.Parse(text.Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries)[2], CultureInfo.InvariantCulture);
    }
}
