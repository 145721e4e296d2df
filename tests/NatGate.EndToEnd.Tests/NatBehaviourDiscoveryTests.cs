using System.Text.RegularExpressions;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The mapping and filtering behaviour as an outside observer measures it (RFC 5780): coturn's
/// STUN server outside with two addresses, its turnutils_natdiscovery client on an inside host;
/// over IPv4, and over IPv6 through NAT66.
/// </summary>
public sealed partial class NatBehaviourDiscoveryTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    /// <summary>NAT66's external address, on-link outside (the gateway answers neighbour solicitations for it).</summary>
    private const string External6 = "2001:db8:100::10";

    [Theory]
    [InlineData("eim", "eif", "Endpoint Independent", "Endpoint Independent")]
    [InlineData("eim", "adf", "Endpoint Independent", "Address Dependent")]
    [InlineData("eim", "apdf", "Endpoint Independent", "Address and Port Dependent")]
    [InlineData("apdm", "apdf", "Address and Port Dependent", "Address and Port Dependent")]
    public void An_outside_stun_server_sees_the_configured_mapping_and_filtering(string mapping, string filtering, string expectedMapping, string expectedFiltering)
    {
        Host.RequireRootAndTools("ip", "ss", "turnserver", "turnutils_natdiscovery");
        using var lab = new GatewayLab();
        StartStunServer(lab, GatewayLab.Outside, GatewayLab.OutsideSecond);
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
            "--outside-interface", GatewayLab.OutsideInterface, "--mapping", mapping, "--filtering", filtering);

        Discover(lab, daemon, GatewayLab.Outside, GatewayLab.External, expectedMapping, expectedFiltering);
    }

    /// <summary>
    /// The same over IPv6: an IPv6 map rule from --rules (NAT66) with the behaviour flags, the
    /// STUN server on two IPv6 addresses outside. The outside sees only the external address.
    /// </summary>
    [Theory]
    [InlineData("eim", "eif", "Endpoint Independent", "Endpoint Independent")]
    [InlineData("eim", "adf", "Endpoint Independent", "Address Dependent")]
    [InlineData("eim", "apdf", "Endpoint Independent", "Address and Port Dependent")]
    [InlineData("adm", "apdf", "Address Dependent", "Address and Port Dependent")]
    [InlineData("apdm", "apdf", "Address and Port Dependent", "Address and Port Dependent")]
    public void An_outside_stun_server_sees_the_configured_mapping_and_filtering_over_ipv6(string mapping, string filtering, string expectedMapping, string expectedFiltering)
    {
        Host.RequireRootAndTools("ip", "ss", "turnserver", "turnutils_natdiscovery");
        using var lab = new GatewayLab(ipv6: true);
        StartStunServer(lab, GatewayLab.Outside6, GatewayLab.OutsideSecond6);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix6} -> {External6}/128 portmap tcp/udp auto\n");
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface,
            "--mapping", mapping, "--filtering", filtering);

        Discover(lab, daemon, GatewayLab.Outside6, External6, expectedMapping, expectedFiltering);
    }

    /// <summary>coturn's STUN server outside on two addresses of one family, ports 3478 and 3479.</summary>
    private static void StartStunServer(GatewayLab lab, string primary, string secondary)
    {
        // RFC 5780 needs a second address and a second port: coturn answers CHANGE-REQUEST only
        // with two listening addresses of one family, and takes port+1 (3479) as the other port.
        // -n: ignore /etc/turnserver.conf, whose Debian default says no-rfc5780.
        lab.Start(lab.Out, "turnserver", "-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls", "--no-auth",
            "-L", primary, "-L", secondary, "--listening-port", "3478",
            "--log-file", "stdout", "--simple-log",
            "--pidfile", Path.Combine(lab.WorkDirectory, "turnserver.pid"), "--db", Path.Combine(lab.WorkDirectory, "turndb"));
        GatewayLab.WaitListening(lab.Out, "udp", primary, 3478, Short);
        GatewayLab.WaitListening(lab.Out, "udp", secondary, 3479, Short);
    }

    /// <summary>Runs turnutils_natdiscovery on in1 against <paramref name="server"/> and checks its verdicts and every reflexive address it was told.</summary>
    private static void Discover(GatewayLab lab, BackgroundProcess daemon, string server, string external, string expectedMapping, string expectedFiltering)
    {
        // -m: binding requests to the primary, the other address, then the other address and port,
        // comparing the mapped addresses. -f: requests asking the server to answer from the other
        // address and port, then from the other port only; a filtered answer costs a 3 s timeout.
        (int exitCode, string report, string error) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60), "turnutils_natdiscovery", "-m", "-f", server);
        string context = $"turnutils_natdiscovery exited {exitCode}:\n{report}\n{error}\nnatgate:\n{daemon.Output}";

        Assert.True(exitCode == 0, context);
        Assert.Equal(expectedMapping, Verdict(MappingVerdict(), report, context));
        Assert.Equal(expectedFiltering, Verdict(FilteringVerdict(), report, context));
        // Every reflexive address the server reported is the external address.
        MatchCollection reflexive = ReflexiveAddress().Matches(report);
        Assert.True(reflexive.Count >= 3, context);
        Assert.All(reflexive, match => Assert.Equal(external, match.Groups["address"].Value));
        Assert.False(daemon.HasExited, context);
    }

    private static string Verdict(Regex verdict, string report, string context)
    {
        Match match = verdict.Match(report);
        Assert.True(match.Success, $"no verdict matching {verdict} in the report; {context}");
        return match.Groups["behaviour"].Value;
    }

    [GeneratedRegex(@"NAT with (?<behaviour>[A-Za-z ]+?) Mapping!")]
    private static partial Regex MappingVerdict();

    [GeneratedRegex(@"NAT with (?<behaviour>[A-Za-z ]+?) Filtering!")]
    private static partial Regex FilteringVerdict();

    /// <summary>An endpoint as coturn writes it: a.b.c.d:port, or an IPv6 address and port (brackets optional here).</summary>
    [GeneratedRegex(@"UDP reflexive addr: \[?(?<address>[0-9a-f.:]+?)\]?:[0-9]+\s")]
    private static partial Regex ReflexiveAddress();
}
