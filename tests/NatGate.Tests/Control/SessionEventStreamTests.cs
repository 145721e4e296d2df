using Microsoft.Extensions.Logging.Abstractions;
using NatGate.Control;
using NatGate.Core.Control;
using NatGate.SessionLog;

namespace NatGate.Tests.Control;

/// <summary>GET /v1/sessions/events over the control socket: the stream, its filters and its refusals.</summary>
public sealed class SessionEventStreamTests
{
    [Fact]
    public async Task A_watcher_receives_the_events_its_filter_takes_as_json_lines()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        using SessionLogPump pump = SessionLogPump.Open(lab.Controller.Engine, new SessionLogOptions(), NullLogger.Instance);
        lab.Server.SessionEvents = pump.Hub;
        using var watching = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        await using IAsyncEnumerator<string> lines = lab.Client.WatchSessionEventsAsync([new("event", "created,deleted"), new("port", "40001")], watching.Token)
            .GetAsyncEnumerator(watching.Token);
        ValueTask<bool> first = lines.MoveNextAsync();
        // The watch is registered before its headers go out; no event is missed after that.
        while (pump.Hub.Count == 0)
        {
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        await lab.MakeUdpSessionAsync(40000);
        await lab.MakeUdpSessionAsync(40001);
        await lab.Client.FlushSessionsAsync(TestContext.Current.CancellationToken);

        Assert.True(await first);
        SessionEventView created = ControlClient.ParseSessionEvent(lines.Current);
        Assert.Equal(("created", "udp", "10.0.0.2", 40001), (created.Event, created.Protocol, created.InsideAddress, created.InsidePort));
        Assert.Equal("198.51.100.10", created.ExternalAddress);
        Assert.True(await lines.MoveNextAsync());
        SessionEventView deleted = ControlClient.ParseSessionEvent(lines.Current);
        Assert.Equal(("deleted", "Flushed", created.Session), (deleted.Event, deleted.Reason, deleted.Session));
        // Updates were not asked for, so the engine does not write them.
        Assert.False(pump.Ring.RecordingUpdates);
        await watching.CancelAsync();
        Assert.False(await lines.MoveNextAsync());
    }

    [Fact]
    public async Task A_bad_filter_is_einval_and_a_daemon_without_a_stream_esrch()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        CliRun none = await lab.CliAsync("sessions", "--watch");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("ESRCH", none.Error, StringComparison.Ordinal);

        using SessionLogPump pump = SessionLogPump.Open(lab.Controller.Engine, new SessionLogOptions(), NullLogger.Instance);
        lab.Server.SessionEvents = pump.Hub;
        CliRun bad = await lab.CliAsync("sessions", "--watch", "--event", "new");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("EINVAL: event \"new\" is not an event", bad.Error, StringComparison.Ordinal);
        Assert.Equal(0, pump.Hub.Count);
    }

    [Fact]
    public async Task Past_sixteen_watchers_a_seventeenth_gets_enomem()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        using SessionLogPump pump = SessionLogPump.Open(lab.Controller.Engine, new SessionLogOptions(), NullLogger.Instance);
        lab.Server.SessionEvents = pump.Hub;
        var watchers = Enumerable.Range(0, SessionEventStream.MaximumWatchers).Select(_ => pump.Hub.Watch(new SessionEventFilter())).ToList();
        try
        {
            var refused = await Assert.ThrowsAsync<NatControlException>(async () =>
            {
                await foreach (string _ in lab.Client.WatchSessionEventsAsync(token: TestContext.Current.CancellationToken))
                {
                }
            });
            Assert.Equal(NatErrno.ENOMEM, refused.Errno);
        }
        finally
        {
            watchers.ForEach(watcher => watcher.Dispose());
        }
        Assert.Equal(0, pump.Hub.Count);
    }
}
