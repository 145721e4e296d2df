using Microsoft.Extensions.Logging;
using NatGate.Control;
using NatGate.Core.Control;

namespace NatGate.Tests.Control;

/// <summary>Issue 10: reads log at Debug only; each change logs one Information line with who, what and the result.</summary>
public sealed class ControlAuditTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_change_is_logged_once_with_the_peers_uid_and_a_read_not_at_information()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        var lines = new RecordingProvider();
        using ILoggerFactory logs = LoggerFactory.Create(builder => builder.AddProvider(lines).SetMinimumLevel(LogLevel.Debug));
        string directory = Path.Combine(Path.GetTempPath(), "ngc-audit-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using (ControlServer server = await ControlServer.StartAsync(lab.Controller, directory, logs, Token))
            {
                using ControlClient client = ControlClient.Connect(directory);
                for (int i = 0; i < 20; i++)
                {
                    await client.StatisticsAsync(Token);
                }
                await client.FlushRulesAsync(Token);
                await Assert.ThrowsAsync<NatControlException>(() => client.RemoveSessionAsync(12345, Token));

                // Through the read-only socket, which any local user reaches: refused, and not audited.
                string readWrite = Path.Combine(directory, ControlServer.ReadWriteSocketName);
                File.Move(readWrite, readWrite + ".hidden");
                try
                {
                    using ControlClient reader = ControlClient.Connect(directory);
                    for (int i = 0; i < 20; i++)
                    {
                        await Assert.ThrowsAsync<NatControlException>(() => reader.FlushRulesAsync(Token));
                    }
                }
                finally
                {
                    File.Move(readWrite + ".hidden", readWrite);
                }
            }
            string uid = PeerUid();
            IReadOnlyList<(LogLevel Level, string Text)> information = [.. lines.Lines.Where(line => line.Level >= LogLevel.Information)];
            Assert.Equal(2, information.Count);
            Assert.Equal($"change by uid {uid} (pid {Environment.ProcessId}): DELETE /v1/rules: done", information[0].Text);
            Assert.Equal($"change by uid {uid} (pid {Environment.ProcessId}): DELETE /v1/sessions/12345: ESRCH", information[1].Text);
            Assert.Equal(20, lines.Lines.Count(line => line.Level == LogLevel.Debug && line.Text.EndsWith("GET /v1/stats: done", StringComparison.Ordinal)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string PeerUid()
        => File.ReadAllLines("/proc/self/status").First(line => line.StartsWith("Uid:", StringComparison.Ordinal))
            .Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];

    private sealed class RecordingProvider : ILoggerProvider
    {
        private readonly List<(LogLevel, string)> lines = [];

        public IReadOnlyList<(LogLevel Level, string Text)> Lines
        {
            get
            {
                lock (lines)
                {
                    return [.. lines];
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Recorder(RecordingProvider provider, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (!category.StartsWith("natgate", StringComparison.Ordinal))
                {
                    return; // ASP.NET Core's own lines are filtered by the daemon's logging setup
                }
                lock (provider.lines)
                {
                    provider.lines.Add((logLevel, formatter(state, exception)));
                }
            }
        }
    }
}
