using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

/// <summary>
/// Filtering decided in constant time (issue 10) must decide exactly what walking a mapping's
/// sessions decided: an inbound packet to a mapping is admitted when a live session of that
/// mapping talks to its address (address-dependent) or to its address and port
/// (address-and-port-dependent), as the sessions listed at that moment say.
/// </summary>
public sealed class FilteringIndexTests
{
    private static readonly Ipv4Address[] Remotes = [.. Enumerable.Range(0, 5).Select(i => Lab.Remote + (uint)i)];
    private static readonly ushort[] RemotePorts = [53, 123, 4000];

    [Theory]
    [InlineData(FilteringBehavior.AddressDependent, 1)]
    [InlineData(FilteringBehavior.AddressDependent, 2)]
    [InlineData(FilteringBehavior.AddressAndPortDependent, 3)]
    [InlineData(FilteringBehavior.AddressAndPortDependent, 4)]
    public void Admission_matches_the_sessions_the_mapping_has_at_that_moment(FilteringBehavior filtering, int seed)
    {
        var lab = new Lab(policy: NatPolicy.Default with { UdpFiltering = filtering, UdpIdleTimeout = TimeSpan.FromSeconds(120) });
        var random = new Random(seed);
        int admitted = 0, refused = 0;
        for (int step = 0; step < 3000; step++)
        {
            Ipv4Address remote = Remotes[random.Next(Remotes.Length)];
            ushort remotePort = RemotePorts[random.Next(RemotePorts.Length)];
            switch (random.Next(10))
            {
                case < 4:
                    // The inside host talks from its one port: one mapping, many sessions.
                    lab.Forward(Lab.Udp(Lab.InsideA, 5000, remote, remotePort));
                    break;
                case < 5:
                    lab.Advance(TimeSpan.FromSeconds(random.Next(1, 60)));
                    lab.Engine.ExpireSessions(lab.Now);
                    break;
                default:
                    IReadOnlyList<SessionInfo> sessions = lab.Engine.ListSessions();
                    if (sessions.Count == 0)
                    {
                        break;
                    }
                    bool expected = sessions.Any(session => session.Original.Destination == remote
                        && (filtering == FilteringBehavior.AddressDependent || session.Original.DestinationPort == remotePort))
                        || sessions.Any(session => session.InitiatedOutside && session.Original.Source == remote
                            && (filtering == FilteringBehavior.AddressDependent || session.Original.SourcePort == remotePort));
                    (TranslationResult result, _) = lab.Send(Lab.Udp(remote, remotePort, Lab.External, 5000));
                    Assert.True(expected == (result.Verdict == Verdict.Forward),
                        $"step {step}: {remote}:{remotePort} expected {(expected ? "admitted" : "refused")}, got {result.Verdict} {result.Reason}");
                    admitted += expected ? 1 : 0;
                    refused += expected ? 0 : 1;
                    break;
            }
        }
        // Both outcomes were exercised.
        Assert.True(admitted > 50 && refused > 50, $"admitted {admitted}, refused {refused}");
    }
}
