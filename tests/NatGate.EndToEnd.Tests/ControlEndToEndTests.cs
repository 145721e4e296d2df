namespace NatGate.EndToEnd.Tests;

/// <summary>The control surface on a running gateway: ipnat -l, the read-only socket, and the transparent-proxy lookup.</summary>
public sealed class ControlEndToEndTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static string Natgate => Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    [Fact]
    public void A_transparent_proxy_finds_the_original_destination_and_relays()
    {
        Host.RequireRootAndTools("ip", "curl", "python3");
        using var lab = new GatewayLab();
        string site = Directory.CreateTempSubdirectory("natgate-proxy-site-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(site, "index.html"), "the real page from 198.51.100.2\n");
            BackgroundProcess server = lab.Start(lab.Out, "python3", "-c", NatGate.Lab.LabPrograms.WebServer, GatewayLab.Outside, "80", site);
            server.WaitFor("ready", Short);
            // Inside clients' web traffic goes to the proxy on the gateway's inside address.
            string rules = Path.Combine(site, "ipnat.conf");
            File.WriteAllText(rules, $"rdr natgate0 0.0.0.0/0 port 80 -> {GatewayLab.GatewayInside} port 3128 tcp\n");
            BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
                "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules);
            BackgroundProcess proxy = lab.Start(lab.Gateway, Dotnet, Path.Combine(AppContext.BaseDirectory, "natgate-sample-proxy.dll"),
                $"{GatewayLab.GatewayInside}:3128", lab.ControlDirectory);
            proxy.WaitFor("proxy listening", Short);

            string page = GatewayLab.ExecChecked(lab.In1, "curl", "-sS", "-m", "10", $"http://{GatewayLab.Outside}/index.html");
            Assert.Equal("the real page from 198.51.100.2\n", page);
            // The proxy learned the real destination from NatGate, and the server was reached through the proxy.
            proxy.WaitFor($"-> {GatewayLab.Outside}:80", Short);
            Assert.Contains($"{GatewayLab.Inside1}:", proxy.Output, StringComparison.Ordinal);
            server.WaitFor($"client {GatewayLab.GatewayOutside}:", Short);
            Assert.False(daemon.HasExited);
        }
        finally
        {
            Directory.Delete(site, recursive: true);
        }
    }

    [Fact]
    public void Ipnat_lists_the_rules_and_the_read_only_socket_refuses_changes()
    {
        Host.RequireRootAndTools("ip", "setpriv");
        using var lab = new GatewayLab();
        string rules = Path.Combine(lab.ControlDirectory, "..", Path.GetRandomFileName() + ".conf");
        File.WriteAllText(rules, $"rdr wan0 {GatewayLab.External}/32 port 8080 -> {GatewayLab.Inside2} port 80 tcp\n");
        try
        {
            lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
                "--outside-interface", GatewayLab.OutsideInterface, "--rules", rules);
            string listing = GatewayLab.ExecChecked(lab.Gateway, Dotnet, Natgate, "ipnat", "-l", "--control", lab.ControlDirectory);
            Assert.Contains($"rdr wan0 {GatewayLab.External}/32 port 8080 -> {GatewayLab.Inside2} port 80", listing, StringComparison.Ordinal);
            Assert.Contains($"map ", listing, StringComparison.Ordinal);

            // An unprivileged user reaches only control.ro.sock: reads work, changes are EPERM.
            File.SetUnixFileMode(lab.ControlDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            string[] nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", Dotnet, Natgate];
            (int statsExit, string stats, string statsError) = GatewayLab.Exec(lab.Gateway, Short, [.. nobody, "stats", "--control", lab.ControlDirectory]);
            Assert.True(statsExit == 0, statsError + stats);
            (int flushExit, string flush, string flushError) = GatewayLab.Exec(lab.Gateway, Short, [.. nobody, "rules", "flush", "--control", lab.ControlDirectory]);
            Assert.Equal(3, flushExit);
            Assert.Contains("EPERM", flush + flushError, StringComparison.Ordinal);
            // Nothing changed.
            Assert.Contains("rdr wan0", GatewayLab.ExecChecked(lab.Gateway, Dotnet, Natgate, "ipnat", "-l", "--control", lab.ControlDirectory), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(rules);
        }
    }
}
