namespace NatGate.EndToEnd.Tests;

/// <summary>
/// NAT66 hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8 for TCP): in1 reaches in2's redirected
/// services through the external IPv6 address, and in2 sees in1 by its external address and
/// port, the same mapping the outside sees; with hairpinning disabled (Set-NetNatGlobal), no
/// such connection is made at all.
/// </summary>
public sealed class Nat66HairpinningTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    /// <summary>NAT66's external address, on-link outside (the gateway answers neighbour solicitations for it).</summary>
    private const string External = "2001:db8:100::10";

    /// <summary>Answers each datagram with the sender's address and port, "ADDRESS PORT" (argv: address port); prints "ready".</summary>
    private const string EndpointEcho = """
        import socket, sys
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind((sys.argv[1], int(sys.argv[2])))
        print("ready", flush=True)
        while True:
            data, peer = s.recvfrom(2048)
            s.sendto(f"{peer[0]} {peer[1]}".encode(), peer)
        """;

    /// <summary>
    /// From one UDP socket, one datagram to each ADDRESS PORT pair of argv (three tries each); a
    /// line per target: the answer, or "timeout".
    /// </summary>
    private const string OneSocketClient = """
        import socket, sys
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.settimeout(1.5)
        targets = sys.argv[1:]
        for address, port in zip(targets[0::2], targets[1::2]):
            for attempt in range(3):
                s.sendto(b"probe", (address, int(port)))
                try:
                    print(s.recv(2048).decode(), flush=True)
                    break
                except socket.timeout:
                    pass
            else:
                print("timeout", flush=True)
        """;

    [Fact]
    public void An_inside_host_reaches_another_through_the_external_address_and_is_seen_by_its_external_endpoint_until_hairpinning_is_disabled()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab(ipv6: true);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"""
            map wan0 {GatewayLab.InsidePrefix6} -> {External}/128 portmap tcp/udp auto
            rdr wan0 {External}/128 port 8080 -> {GatewayLab.Inside2v6} port 80 tcp
            rdr wan0 {External}/128 port 5300 -> {GatewayLab.Inside2v6} port 5300 udp

            """);
        (BackgroundProcess web, _) = lab.ServePage(lab.In2, GatewayLab.Inside2v6, 80, "in2");
        BackgroundProcess insideEcho = lab.Start(lab.In2, "python3", "-c", EndpointEcho, GatewayLab.Inside2v6, "5300");
        BackgroundProcess outsideEcho = lab.Start(lab.Out, "python3", "-c", EndpointEcho, GatewayLab.Outside6, "5300");
        insideEcho.WaitFor("ready", Short);
        outsideEcho.WaitFor("ready", Short);
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);
        string hairpinned = $"http://[{External}]:8080/index.html";

        // TCP: in1 reaches in2's web server by the external address; in2 sees the external address.
        (int curlExit, string page, string curlError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "--max-time", "10", hairpinned);
        Assert.True(curlExit == 0, $"hairpinned curl failed: {curlError}\n{daemon.Output}");
        Assert.Equal("in2", page);
        web.WaitFor($"client {External}:", Short);
        Assert.DoesNotContain(GatewayLab.Inside1v6, web.Output, StringComparison.Ordinal);

        // UDP from one socket, to the outside and then hairpinned to in2: both see the same
        // external endpoint (endpoint-independent mapping, so one mapping for both).
        string[] seen = GatewayLab.ExecChecked(lab.In1, "python3", "-c", OneSocketClient, GatewayLab.Outside6, "5300", External, "5300")
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(2, seen.Length);
        Assert.StartsWith(External + " ", seen[0], StringComparison.Ordinal);
        Assert.Equal(seen[0], seen[1]);

        // Disabled: the hairpinned connection is never made; the outside still reaches in2.
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        string answer = GatewayLab.ExecChecked(lab.Gateway, dotnet, Path.Combine(AppContext.BaseDirectory, "natgate.dll"), "hairpinning", "disabled", "--control", lab.ControlDirectory);
        Assert.Contains("Disabled", answer, StringComparison.Ordinal);
        (int refusedExit, _, string refusedError) = GatewayLab.Exec(lab.In1, Short, "curl", "-sS", "-g", "--connect-timeout", "3", hairpinned);
        Assert.True(refusedExit == 28, $"a hairpinned connection with hairpinning disabled should time out (28), exited {refusedExit}: {refusedError}");
        Assert.Equal("in2", GatewayLab.ExecChecked(lab.Out, "curl", "-sS", "-g", "--max-time", "10", hairpinned));
        Assert.False(daemon.HasExited, daemon.Output);
    }
}
