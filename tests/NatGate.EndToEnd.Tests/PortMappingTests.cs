using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using NatGate.Lab;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Port mapping for applications (issue 14): `natgate run --pcp` answers NAT-PMP (RFC 6886) and
/// PCP (RFC 6887) from inside hosts on the gateway's inside address. Debian's natpmpc maps a
/// port that the outside then reaches, deletes it, and is refused past the host's limit; a PCP
/// client written here (a UdpClient made in the inside host's namespace) asks MAP and PEER.
/// </summary>
public sealed partial class PortMappingTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private static BackgroundProcess StartWithPcp(GatewayLab lab, params string[] more)
    {
        BackgroundProcess daemon = lab.StartNatGate(["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
            "--outside-interface", GatewayLab.OutsideInterface, "--pcp", .. more]);
        daemon.WaitFor($"answering PCP and NAT-PMP on {GatewayLab.GatewayInside}:5351", Short);
        return daemon;
    }

    [Fact]
    public void Natpmpc_maps_a_port_the_outside_reaches_deletes_it_and_is_refused_past_the_limit()
    {
        Host.RequireRootAndTools("ip", "natpmpc", "curl", "python3", "ss");
        using var lab = new GatewayLab();
        BackgroundProcess daemon = StartWithPcp(lab, "--pcp-mappings-per-host", "2");
        _ = lab.ServePage(lab.In2, GatewayLab.Inside2, 8080, "inside, mapped by NAT-PMP\n");

        // The answer is on the inside address alone: nothing listens on the outside.
        string bound = GatewayLab.ExecChecked(lab.Gateway, "ss", "-Hlun", "sport", "=", ":5351");
        Assert.Contains($"{GatewayLab.GatewayInside}:5351", bound, StringComparison.Ordinal);
        Assert.Single(bound.Trim().Split('\n'));

        string address = GatewayLab.ExecChecked(lab.In2, "natpmpc", "-g", GatewayLab.GatewayInside);
        Assert.Contains($"Public IP address : {GatewayLab.External}", address, StringComparison.Ordinal);

        string mapped = GatewayLab.ExecChecked(lab.In2, "natpmpc", "-g", GatewayLab.GatewayInside, "-a", "8080", "8080", "tcp", "3600");
        Match port = MappedPort().Match(mapped);
        Assert.True(port.Success, mapped);
        Assert.Equal("TCP", port.Groups["protocol"].Value);
        Assert.Equal("8080", port.Groups["port"].Value);
        Assert.Equal("inside, mapped by NAT-PMP\n", GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "-m", "10", $"http://{GatewayLab.External}:8080/"));
        string listed = lab.Cli("mapping", "list");
        Assert.Contains("nat-pmp", listed, StringComparison.Ordinal);
        Assert.Contains($"{GatewayLab.Inside2}:8080", listed, StringComparison.Ordinal);

        // A second mapping fits the limit of two; a third is refused (out of resources).
        Assert.Matches(MappedPort(), GatewayLab.ExecChecked(lab.In2, "natpmpc", "-g", GatewayLab.GatewayInside, "-a", "9001", "9001", "udp", "3600"));
        (int refusedExit, string refusedOutput, _) = GatewayLab.Exec(lab.In2, Short, "natpmpc", "-g", GatewayLab.GatewayInside, "-a", "9002", "9002", "udp", "3600");
        Assert.NotEqual(0, refusedExit);
        Assert.DoesNotMatch(MappedPort(), refusedOutput);
        Assert.Contains("returned -53 (FAILED)", refusedOutput, StringComparison.Ordinal); // libnatpmp's NATPMP_ERR_OUTOFRESOURCES: result code 4
        // The other inside host has a quota of its own.
        Assert.Matches(MappedPort(), GatewayLab.ExecChecked(lab.In1, "natpmpc", "-g", GatewayLab.GatewayInside, "-a", "9002", "9002", "udp", "3600"));

        // Lifetime 0 deletes: the outside gets nothing any more.
        GatewayLab.ExecChecked(lab.In2, "natpmpc", "-g", GatewayLab.GatewayInside, "-a", "8080", "8080", "tcp", "0");
        (int gone, _, _) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "-m", "3", $"http://{GatewayLab.External}:8080/");
        Assert.NotEqual(0, gone);
        Assert.DoesNotContain($"{GatewayLab.Inside2}:8080", lab.Cli("mapping", "list"), StringComparison.Ordinal);

        // Asked from outside, at the gateway's outside address or the external one, nothing answers
        // (the server would answer these bytes with UNSUPP_VERSION, were they asked inside).
        Assert.Equal("timeout", GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.UdpClient, GatewayLab.GatewayOutside, "5351", "hello").Trim());
        Assert.Equal("timeout", GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.UdpClient, GatewayLab.External, "5351", "hello").Trim());
        Assert.Equal(0, daemon.Stop(Short));
    }

    [Fact]
    public void A_mapping_outlives_a_restart_with_the_state_file()
    {
        Host.RequireRootAndTools("ip", "natpmpc", "curl", "python3");
        using var lab = new GatewayLab();
        string state = Path.Combine(lab.WorkDirectory, "sessions.state");
        BackgroundProcess daemon = StartWithPcp(lab, "--state", state);
        _ = lab.ServePage(lab.In2, GatewayLab.Inside2, 8080, "inside, mapped before the restart\n");
        Assert.Matches(MappedPort(), GatewayLab.ExecChecked(lab.In2, "natpmpc", "-g", GatewayLab.GatewayInside, "-a", "8080", "8080", "tcp", "3600"));
        int epochBefore = Epoch(GatewayLab.ExecChecked(lab.In2, "natpmpc", "-g", GatewayLab.GatewayInside));
        var sinceThen = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, daemon.Stop(Short));
        Assert.Contains("\"version\":4", File.ReadLines(state).First(), StringComparison.Ordinal);

        BackgroundProcess again = StartWithPcp(lab, "--state", state);
        Assert.Contains($"{GatewayLab.Inside2}:8080", lab.Cli("mapping", "list"), StringComparison.Ordinal);
        Assert.Equal("inside, mapped before the restart\n", GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "-m", "10", $"http://{GatewayLab.External}:8080/"));
        // The epoch went on counting through the restart (RFC 6887 8.5: the state was kept); a new
        // epoch would have started at the second start, seconds after the first reading.
        int epochAfter = Epoch(GatewayLab.ExecChecked(lab.In2, "natpmpc", "-g", GatewayLab.GatewayInside));
        Assert.True(epochAfter >= epochBefore + (int)sinceThen.Elapsed.TotalSeconds - 1, $"epoch {epochBefore}, then {epochAfter} {sinceThen.Elapsed.TotalSeconds:F1} s later");
        Assert.Equal(0, again.Stop(Short));
    }

    [Fact]
    public void A_pcp_client_maps_with_map_learns_a_flow_with_peer_and_is_refused_third_party()
    {
        Host.RequireRootAndTools("ip", "python3");
        using var lab = new GatewayLab();
        BackgroundProcess daemon = StartWithPcp(lab);
        BackgroundProcess echo = lab.Start(lab.In1, "python3", "-c", LabPrograms.UdpEcho, GatewayLab.Inside1, "5300");
        echo.WaitFor("ready", Short);
        byte[] nonce = RandomNumberGenerator.GetBytes(12);

        // MAP: UDP 5300 of inside host 1, for ten minutes; the outside's datagrams reach its echo.
        byte[] map = lab.InInside1(() => Ask(Map(nonce, 5300, 5300, 600)));
        Assert.Equal(0, map[3]);
        Assert.Equal(600u, BinaryPrimitives.ReadUInt32BigEndian(map.AsSpan(4)));
        ushort port = BinaryPrimitives.ReadUInt16BigEndian(map.AsSpan(24 + 18));
        Assert.Equal(GatewayLab.External, new IPAddress(map.AsSpan(24 + 20 + 12, 4)).ToString());
        string echoed = GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.UdpClient, GatewayLab.External, port.ToString(CultureInfo.InvariantCulture), "hello");
        Assert.Equal($"hello from {GatewayLab.Outside}", echoed.Trim());

        // Another nonce may not delete it; its own may.
        byte[] stolen = lab.InInside1(() => Ask(Map(RandomNumberGenerator.GetBytes(12), 5300, 0, 0)));
        Assert.Equal(2, stolen[3]); // NOT_AUTHORIZED
        byte[] deleted = lab.InInside1(() => Ask(Map(nonce, 5300, 0, 0)));
        Assert.Equal(0, deleted[3]);
        Assert.Equal("timeout", GatewayLab.ExecChecked(lab.Out, "python3", "-c", LabPrograms.UdpClient, GatewayLab.External, port.ToString(CultureInfo.InvariantCulture), "again").Trim());

        // THIRD_PARTY: a host maps its own ports only.
        byte[] thirdParty = lab.InInside1(() => Ask([.. Map(nonce, 5301, 5301, 600), 1, 0, 0, 16, .. Mapped(IPAddress.Parse(GatewayLab.Inside2))]));
        Assert.Equal(2, thirdParty[3]);

        // PEER toward the outside's 7000 from inside port 5400: the peer's datagram comes in through
        // the external port PEER named, and the answer leaves from it.
        using UdpClient flow = lab.InInside1(() => new UdpClient(new IPEndPoint(IPAddress.Parse(GatewayLab.Inside1), 5400)));
        byte[] peer = Ask(flow, Peer(nonce, 5400, GatewayLab.Outside, 7000, 600));
        Assert.Equal(0, peer[3]);
        ushort peerPort = BinaryPrimitives.ReadUInt16BigEndian(peer.AsSpan(24 + 18));
        Assert.Equal(GatewayLab.External, new IPAddress(peer.AsSpan(24 + 20 + 12, 4)).ToString());
        BackgroundProcess remote = lab.Start(lab.Out, "python3", "-c", PeerProgram, GatewayLab.Outside, "7000", GatewayLab.External, peerPort.ToString(CultureInfo.InvariantCulture));
        flow.Client.ReceiveTimeout = 10000;
        IPEndPoint? from = null;
        byte[] received = flow.Receive(ref from);
        Assert.Equal("ping", System.Text.Encoding.ASCII.GetString(received));
        Assert.NotNull(from);
        Assert.Equal($"{GatewayLab.Outside}:7000", from.ToString());
        flow.Send("pong"u8.ToArray(), from);
        remote.WaitFor($"got pong from {GatewayLab.External}:{peerPort}", Short);
        Assert.Equal(0, daemon.Stop(Short));
    }

    /// <summary>Sends from a fresh UDP client of the calling thread's namespace (inside host 1's) and waits for the answer.</summary>
    private static byte[] Ask(byte[] request)
    {
        using var client = new UdpClient(new IPEndPoint(IPAddress.Parse(GatewayLab.Inside1), 0));
        return Ask(client, request);
    }

    /// <summary>RFC 6887 8.1.1: resend from 3 s on, doubling, until an answer comes.</summary>
    private static byte[] Ask(UdpClient client, byte[] request)
    {
        var server = new IPEndPoint(IPAddress.Parse(GatewayLab.GatewayInside), 5351);
        for (int wait = 3000; wait <= 12000; wait *= 2)
        {
            client.Send(request, server);
            client.Client.ReceiveTimeout = wait;
            try
            {
                IPEndPoint? from = null;
                byte[] response = client.Receive(ref from);
                Assert.Equal(server, from);
                Assert.True(response.Length >= 24 && response[0] == 2 && response[1] == (0x80 | request[1]), Convert.ToHexString(response));
                return response;
            }
            catch (SocketException error) when (error.SocketErrorCode == SocketError.TimedOut)
            {
            }
        }
        throw new TimeoutException("the PCP server did not answer");
    }

    /// <summary>A MAP request for UDP (RFC 6887 7.1, 11.1) from inside host 1.</summary>
    private static byte[] Map(byte[] nonce, ushort internalPort, ushort suggestedPort, uint lifetime)
    {
        byte[] request = Header(1, lifetime, 36);
        nonce.CopyTo(request, 24);
        request[24 + 12] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 16), internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 18), suggestedPort);
        return request;
    }

    /// <summary>A PEER request for UDP (RFC 6887 12.1) from inside host 1.</summary>
    private static byte[] Peer(byte[] nonce, ushort internalPort, string peer, ushort peerPort, uint lifetime)
    {
        byte[] request = Header(2, lifetime, 56);
        nonce.CopyTo(request, 24);
        request[24 + 12] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 16), internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 36), peerPort);
        Mapped(IPAddress.Parse(peer)).CopyTo(request, 24 + 40);
        return request;
    }

    private static byte[] Header(byte opcode, uint lifetime, int payload)
    {
        byte[] request = new byte[24 + payload];
        request[0] = 2;
        request[1] = opcode;
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(4), lifetime);
        Mapped(IPAddress.Parse(GatewayLab.Inside1)).CopyTo(request, 8);
        return request;
    }

    private static byte[] Mapped(IPAddress address) => address.MapToIPv6().GetAddressBytes();

    /// <summary>The remote peer: from its port 7000, sends "ping" to the external endpoint PEER named and prints the answer and where it came from.</summary>
    private const string PeerProgram = """
        import socket, sys
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], int(sys.argv[2])))
        s.settimeout(10)
        s.sendto(b"ping", (sys.argv[3], int(sys.argv[4])))
        data, peer = s.recvfrom(100)
        print("got %s from %s:%d" % (data.decode(), peer[0], peer[1]), flush=True)
        """;

    [GeneratedRegex(@"Mapped public port (?<port>\d+) protocol (?<protocol>TCP|UDP) to local port \d+")]
    private static partial Regex MappedPort();

    [GeneratedRegex(@"epoch = (\d+)")]
    private static partial Regex EpochLine();

    private static int Epoch(string natpmpcOutput)
    {
        Match epoch = EpochLine().Match(natpmpcOutput);
        Assert.True(epoch.Success, natpmpcOutput);
        return int.Parse(epoch.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
