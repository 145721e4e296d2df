using Microsoft.Extensions.Logging.Abstractions;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.SessionLog;
using NatGate.Core.Translation;
using NatGate.Daemon;
using NatGate.SessionLog;

namespace NatGate.Tests.SessionLog;

/// <summary>The log's thread between the engine and its readers: what goes to the sinks, what to watchers, and the ends at a stop.</summary>
public sealed class SessionLogPumpTests
{
    private const long Start = 638_000_000_000_000_000;

    private static (GatewayController Controller, SessionLogPump Pump, string File, string Directory) Open(string rules)
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 7 }, Start);
        engine.LoadRules(IpnatParser.Parse(rules, "test.conf").Rules);
        var controller = new GatewayController(engine, TimeProvider.System);
        string directory = System.IO.Directory.CreateTempSubdirectory("natgate-pump-").FullName;
        string file = Path.Combine(directory, "sessions.jsonl");
        SessionLogPump pump = SessionLogPump.Open(engine, new SessionLogOptions { File = file }, NullLogger.Instance);
        return (controller, pump, file, directory);
    }

    private static void Udp(GatewayController controller, string inside, ushort port, long now)
    {
        byte[] buffer = new byte[256];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse(inside), port, Ipv4Address.Parse("203.0.113.5"), 53, "query"u8);
        Assert.Equal(Verdict.Forward, controller.Run(engine => engine.Translate(buffer, length, now)).Verdict);
    }

    private static List<SessionEventView> Lines(string file) => [.. File.ReadAllLines(file).Select(ControlClient.ParseSessionEvent)];

    [Fact]
    public void The_file_gets_each_session_s_creation_and_at_a_stop_its_end()
    {
        (GatewayController controller, SessionLogPump pump, string file, string directory) = Open("map eth0 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp auto\n");
        try
        {
            Udp(controller, "10.0.0.2", 5000, Start);
            Udp(controller, "10.0.0.3", 5000, Start);
            pump.Stop(controller, Start + TimeSpan.TicksPerSecond);
            List<SessionEventView> lines = Lines(file);
            Assert.Equal(["created", "created", "deleted", "deleted"], lines.Select(line => line.Event));
            Assert.All(lines.Skip(2), line => Assert.Equal("Stopped", line.Reason));
            Assert.Equal(["10.0.0.2", "10.0.0.3"], lines.Skip(2).Select(line => line.InsideAddress).Order());
            Assert.Equal(2, controller.Run(engine => engine.SessionCount));
            Assert.Equal(new SessionLogFigures(4, 0, 4, 0), pump.Figures);
        }
        finally
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_map_block_rule_logs_its_blocks_while_watchers_also_see_its_sessions()
    {
        (GatewayController controller, SessionLogPump pump, string file, string directory) = Open("map-block eth0 10.0.0.0/24 -> 198.51.100.10/32 ports 100\n");
        try
        {
            using SessionEventWatcher watcher = pump.Hub.Watch(new SessionEventFilter());
            Udp(controller, "10.0.0.2", 5000, Start);
            Udp(controller, "10.0.0.2", 5001, Start);
            pump.Stop(controller, Start + TimeSpan.TicksPerSecond);
            List<SessionEventView> lines = Lines(file);
            Assert.Equal(["port-block-allocated", "port-block-released"], lines.Select(line => line.Event));
            Assert.Equal((1224, 1323), (lines[0].PortFirst, lines[0].PortLast));

            var seen = new List<SessionEventKind>();
            await foreach (SessionLogRecord record in watcher.Records.ReadAllAsync(TestContext.Current.CancellationToken))
            {
                seen.Add(record.Kind);
            }
            Assert.Equal([SessionEventKind.PortBlockAllocated, SessionEventKind.Created, SessionEventKind.Created,
                SessionEventKind.Deleted, SessionEventKind.Deleted, SessionEventKind.PortBlockReleased], seen);
        }
        finally
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Without_a_sink_nothing_is_recorded_until_a_watcher_comes_and_a_filter_picks_what_it_sees()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 7 }, Start);
        engine.LoadRules(IpnatParser.Parse("map eth0 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp auto\n", "test.conf").Rules);
        var controller = new GatewayController(engine, TimeProvider.System);
        using SessionLogPump pump = SessionLogPump.Open(engine, new SessionLogOptions(), NullLogger.Instance);
        Udp(controller, "10.0.0.2", 5000, Start);
        Assert.Equal(0, pump.Ring.Written);
        Assert.False(pump.Ring.Recording);

        using (SessionEventWatcher watcher = pump.Hub.Watch(new SessionEventFilter { Address = Ipv4Address.Parse("10.0.0.3"), Kinds = new HashSet<SessionEventKind> { SessionEventKind.Created } }))
        {
            Assert.True(pump.Ring.Recording);
            Assert.False(pump.Ring.RecordingUpdates);
            Udp(controller, "10.0.0.2", 5001, Start);
            Udp(controller, "10.0.0.3", 5000, Start);
            SessionLogRecord record = await watcher.Records.ReadAsync(TestContext.Current.CancellationToken);
            Assert.Equal((IpAddress)Ipv4Address.Parse("10.0.0.3"), record.InsideAddress);
            Assert.Equal(2, pump.Ring.Written);
        }
        Assert.False(pump.Ring.Recording);
    }
}
