using NatGate.Core.Addressing;
using System.CommandLine;
using NatGate.Cli;
using NatGate.Control;
using NatGate.Core.Packets;
using NatGate.Core.Translation;
using NatGate.Daemon;

namespace NatGate.Tests.Control;

/// <summary>
/// A real engine behind a real control server on a temporary control directory, a client connected
/// to it, and helpers to make sessions with real packets and to run natgate commands in-process.
/// </summary>
internal sealed class ControlLab : IAsyncDisposable
{
    public static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");
    public static readonly Ipv4Address InsideA = Ipv4Address.Parse("10.0.0.2");
    public static readonly Ipv4Address InsideB = Ipv4Address.Parse("10.0.0.3");
    public static readonly Ipv4Address Remote = Ipv4Address.Parse("203.0.113.5");
    public const string MapRule = "map * 10.0.0.0/24 -> 198.51.100.10/32";
    public const string WebRedirect = "rdr * 198.51.100.10/32 port 8080 -> 10.0.0.3 port 80 tcp";
    public const long Start = 638_000_000_000_000_000;

    private ControlLab(string directory, GatewayController controller, ControlServer server)
    {
        Directory = directory;
        Controller = controller;
        Server = server;
        Client = ControlClient.Connect(directory);
    }

    public string Directory { get; }

    public GatewayController Controller { get; }

    public ControlServer Server { get; }

    public ControlClient Client { get; }

    /// <param name="stateDirectory">Another directory saves may write to (as --state-directory), besides the control directory.</param>
    public static async Task<ControlLab> StartAsync(string? stateDirectory = null)
    {
        // Unix socket paths are limited to 108 bytes: keep the directory short.
        string directory = Path.Combine(Path.GetTempPath(), "ngc-" + Guid.NewGuid().ToString("N")[..10]);
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 42 }, Start);
        var controller = new GatewayController(engine, new FixedClock(new DateTimeOffset(Start, TimeSpan.Zero)));
        ControlServer server = await ControlServer.StartAsync(controller, directory, null, TestContext.Current.CancellationToken,
            new StateFilePolicy(stateDirectory is null ? [directory] : [directory, stateDirectory]));
        return new ControlLab(directory, controller, server);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    /// <summary>Sends a packet through the engine under the controller's lock, as the daemon's packet loop does.</summary>
    public TranslationResult Send(byte[] packet)
    {
        var buffer = new byte[4096];
        packet.CopyTo(buffer, 0);
        return Controller.Run(engine => engine.Translate(buffer, packet.Length, Start));
    }

    public static byte[] Udp(Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort)
    {
        var buffer = new byte[2048];
        int length = Ipv4PacketWriter.WriteUdp(buffer, source, sourcePort, destination, destinationPort, "hello"u8, withChecksum: true, identification: 0x1234);
        return buffer[..length];
    }

    public static byte[] Tcp(Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort, TcpFlags flags)
    {
        var buffer = new byte[2048];
        int length = Ipv4PacketWriter.WriteTcp(buffer, source, sourcePort, destination, destinationPort, flags, 1000, 0, [], identification: 0x4321);
        return buffer[..length];
    }

    /// <summary>Loads the map rule and sends one UDP datagram out through it.</summary>
    public async Task<int> MakeUdpSessionAsync(ushort sourcePort = 40000)
    {
        if ((await Client.RulesAsync(TestContext.Current.CancellationToken)).Count == 0)
        {
            await Client.LoadRulesAsync(MapRule, "lab.conf", TestContext.Current.CancellationToken);
        }
        Assert.Equal(Verdict.Forward, Send(Udp(InsideA, sourcePort, Remote, 53)).Verdict);
        return sourcePort;
    }

    /// <summary>Hides control.sock (root ignores file modes, so renaming is how a test makes it unopenable).</summary>
    public IDisposable HideReadWriteSocket()
    {
        string hidden = Server.ReadWriteSocket + ".hidden";
        File.Move(Server.ReadWriteSocket, hidden);
        return new Restore(() => File.Move(hidden, Server.ReadWriteSocket));
    }

    /// <summary>Runs natgate with <paramref name="args"/> (plus --control) in-process; returns the exit code and both outputs.</summary>
    public Task<CliRun> CliAsync(params string[] args) => RunCliAsync([.. args, "--control", Directory]);

    /// <summary>A plain HTTP client on the read-write control socket, for requests ControlClient would not send (malformed or misspelt ones).</summary>
    public HttpClient RawHttpClient() => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, token) =>
        {
            var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(Server.ReadWriteSocket), token);
            return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
        },
    })
    { BaseAddress = new Uri("http://natgate/") };

    public static async Task<CliRun> RunCliAsync(params string[] args)
    {
        var root = new RootCommand("natgate");
        foreach (Command command in ControlCommands.Create())
        {
            root.Subcommands.Add(command);
        }
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, TestContext.Current.CancellationToken);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private sealed class Restore(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}

internal sealed record CliRun(int ExitCode, string Output, string Error);
