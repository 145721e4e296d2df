using System.Diagnostics;
using System.Globalization;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.State;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.State;

/// <summary>A large table through the file: reports size and time in the test output, asserts only what was loaded.</summary>
public sealed class SessionStateFileScaleTests(ITestOutputHelper output) : IDisposable
{
    private const int SessionCount = 100_000;

    private static readonly DateTimeOffset SavedAt = new(2025, 3, 1, 12, 0, 10, TimeSpan.Zero);

    private readonly string directory = Directory.CreateTempSubdirectory("natgate-state-scale-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Save_and_load_of_100000_sessions()
    {
        NatRule[] rules =
        [
            NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/16"), Ipv4Address.Parse("198.51.100.10"), label: "lan"),
            NatEngine.MapRule(Ipv4Prefix.Parse("10.1.0.0/16"), Ipv4Address.Parse("198.51.100.11"), label: "guest"),
            NatEngine.MapRule(Ipv4Prefix.Parse("10.2.0.0/16"), Ipv4Address.Parse("198.51.100.12"), label: "lab"),
        ];
        SessionRecord[] sessions = [.. Enumerable.Range(0, SessionCount).Select(i => SessionStateFileTests.Session(rules[i % rules.Length], i))];
        string path = Path.Combine(directory, "sessions.jsonl");

        // A first round warms up the serializer's contracts, so the timed round measures the file alone.
        SessionStateFile.Save(path, sessions[..100], SavedAt);
        SessionStateFile.Load(path);

        var clock = Stopwatch.StartNew();
        SessionStateFile.Save(path, sessions, SavedAt);
        TimeSpan saved = clock.Elapsed;
        clock.Restart();
        SavedSessions loaded = SessionStateFile.Load(path);
        TimeSpan read = clock.Elapsed;

        long size = new FileInfo(path).Length;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{SessionCount} sessions, {rules.Length} rules: {size} bytes ({(double)size / SessionCount:F1} per session), save {saved.TotalMilliseconds:F0} ms, load {read.TotalMilliseconds:F0} ms"));
        Assert.Equal(SessionCount, loaded.Sessions.Count);
        Assert.Equal(sessions[^1].Original, loaded.Sessions[^1].Original);
        Assert.True(RuleComparer.Equal(rules[(SessionCount - 1) % rules.Length], loaded.Sessions[^1].Rule));
    }
}
