using System.Text.RegularExpressions;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The mapping and filtering behaviour as an outside observer measures it (RFC 5780): coturn's
/// STUN server outside with two addresses, its turnutils_natdiscovery client on an inside host.
/// </summary>
public sealed partial class NatBehaviourDiscoveryTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData("eim", "eif", "Endpoint Independent", "Endpoint Independent")]
    [InlineData("eim", "adf", "Endpoint Independent", "Address Dependent")]
    [InlineData("eim", "apdf", "Endpoint Independent", "Address and Port Dependent")]
    [InlineData("apdm", "apdf", "Address and Port Dependent", "Address and Port Dependent")]
    public void An_outside_stun_server_sees_the_configured_mapping_and_filtering(string mapping, string filtering, string expectedMapping, string expectedFiltering)
    {
        Host.RequireRootAndTools("ip", "ss", "turnserver", "turnutils_natdiscovery");
        using var lab = new GatewayLab();
        // RFC 5780 needs a second address and a second port: coturn answers CHANGE-REQUEST only
        // with two listening addresses of one family, and takes port+1 (3479) as the other port.
        // -n: ignore /etc/turnserver.conf, whose Debian default says no-rfc5780.
        lab.Start(lab.Out, "turnserver", "-n", "--stun-only", "--no-cli", "--no-tls", "--no-dtls", "--no-auth",
            "-L", GatewayLab.Outside, "-L", GatewayLab.OutsideSecond, "--listening-port", "3478",
            "--log-file", "stdout", "--simple-log",
            "--pidfile", Path.Combine(lab.WorkDirectory, "turnserver.pid"), "--db", Path.Combine(lab.WorkDirectory, "turndb"));
        GatewayLab.WaitListening(lab.Out, "udp", GatewayLab.Outside, 3478, Short);
        GatewayLab.WaitListening(lab.Out, "udp", GatewayLab.OutsideSecond, 3479, Short);
        BackgroundProcess daemon = lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External,
            "--outside-interface", GatewayLab.OutsideInterface, "--mapping", mapping, "--filtering", filtering);

        // -m: binding requests to the primary, the other address, then the other address and port,
        // comparing the mapped addresses. -f: requests asking the server to answer from the other
        // address and port, then from the other port only; a filtered answer costs a 3 s timeout.
        (int exitCode, string report, string error) = GatewayLab.Exec(lab.In1, TimeSpan.FromSeconds(60), "turnutils_natdiscovery", "-m", "-f", GatewayLab.Outside);
        string context = $"turnutils_natdiscovery exited {exitCode}:\n{report}\n{error}\nnatgate:\n{daemon.Output}";

        Assert.True(exitCode == 0, context);
        Assert.Equal(expectedMapping, Verdict(MappingVerdict(), report, context));
        Assert.Equal(expectedFiltering, Verdict(FilteringVerdict(), report, context));
        // Every reflexive address the server reported is the external address.
        MatchCollection reflexive = ReflexiveAddress().Matches(report);
        Assert.True(reflexive.Count >= 3, context);
        Assert.All(reflexive, match => Assert.Equal(GatewayLab.External, match.Groups["address"].Value));
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

    [GeneratedRegex(@"UDP reflexive addr: (?<address>[0-9.]+):[0-9]+")]
    private static partial Regex ReflexiveAddress();
}
