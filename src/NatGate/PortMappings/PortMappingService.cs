using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using NatGate.Core.Addressing;
using NatGate.Core.PortMappings;
using NatGate.Daemon;

namespace NatGate.PortMappings;

/// <summary>
/// The PCP (RFC 6887) and NAT-PMP (RFC 6886) server of `natgate run --pcp`: a UDP socket on port
/// 5351 of each of the gateway's own addresses that lies inside a map rule's prefix (its inside
/// addresses), and no other, so nothing is answered on the outside. Requests are answered on the
/// engine's thread (<see cref="PortMappingServer"/>); the engine's timers end mappings with their
/// lifetime, and the routing follows each change. At start it announces itself (epoch 0) on
/// 224.0.0.1:5350 from each address.
/// </summary>
internal sealed partial class PortMappingService : IAsyncDisposable
{
    private static readonly TimeSpan RescanInterval = TimeSpan.FromSeconds(5);

    private readonly GatewayController controller;
    private readonly ILogger logger;
    private readonly TimeProvider clock;
    private readonly CancellationTokenSource stopping = new();
    private readonly Dictionary<Ipv4Address, (Socket Socket, Task Receiving)> listeners = [];
    private readonly Lock listenersGate = new();
    private readonly int port;
    private readonly Func<IEnumerable<Ipv4Address>> hostAddresses;
    private Task? timers;

    private PortMappingService(GatewayController controller, ILogger logger, TimeProvider clock, int port, Func<IEnumerable<Ipv4Address>> hostAddresses)
    {
        this.controller = controller;
        this.logger = logger;
        this.clock = clock;
        this.port = port;
        this.hostAddresses = hostAddresses;
    }

    /// <summary>
    /// Starts answering on the inside addresses there are now (and, checked every few seconds, those
    /// that come later). <paramref name="port"/> and <paramref name="hostAddresses"/> (this host's
    /// IPv4 addresses but loopback) are for tests.
    /// </summary>
    public static PortMappingService Start(GatewayController controller, PortMappingLimits limits, ILoggerFactory logs, TimeProvider clock,
        int port = Core.PortMappings.PcpRequest.ServerPort, Func<IEnumerable<Ipv4Address>>? hostAddresses = null)
    {
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentNullException.ThrowIfNull(logs);
        var service = new PortMappingService(controller, logs.CreateLogger("natgate.pcp"), clock, port, hostAddresses ?? HostAddresses);
        long now = clock.GetUtcNow().UtcTicks;
        controller.Run(engine =>
        {
            engine.PortMappings.Limits = limits;
            if (engine.PortMappings.Count == 0)
            {
                // No mappings came back from a state file: a new epoch (RFC 6887 8.5).
                engine.PortMappings.StartEpoch(now);
            }
            return 0;
        });
        service.announcedEpoch = controller.Run(engine => engine.PortMappings.EpochStartTicks);
        service.Listen(announce: true);
        service.timers = Task.Run(service.RunTimersAsync);
        return service;
    }

    /// <summary>The addresses answered on now.</summary>
    public IReadOnlyList<Ipv4Address> Addresses
    {
        get
        {
            lock (listenersGate)
            {
                return [.. listeners.Keys];
            }
        }
    }

    /// <summary>Where each socket answers (the port is 5351 but in tests).</summary>
    public IReadOnlyList<IPEndPoint> Endpoints
    {
        get
        {
            lock (listenersGate)
            {
                return [.. listeners.Values.Select(listener => (IPEndPoint)listener.Socket.LocalEndPoint!)];
            }
        }
    }

    /// <summary>Opens a socket on each inside address of this host that has none yet; with <paramref name="announce"/>, announces on each new one.</summary>
    private void Listen(bool announce)
    {
        Ipv4Address[] host = [.. hostAddresses()];
        Ipv4Address[] inside = controller.Run(engine => host.Where(address => PortMappingServer.IsInside(engine, address)).ToArray());
        foreach (Ipv4Address address in inside)
        {
            lock (listenersGate)
            {
                if (listeners.ContainsKey(address) || stopping.IsCancellationRequested)
                {
                    continue;
                }
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                try
                {
                    socket.Bind(new IPEndPoint(ToIpAddress(address), port));
                }
                catch (SocketException error)
                {
                    socket.Dispose();
                    Log.BindFailed(logger, address, port, error.Message);
                    continue;
                }
                listeners[address] = (socket, Task.Run(() => ReceiveAsync(socket, address)));
                Log.Listening(logger, address, ((IPEndPoint)socket.LocalEndPoint!).Port);
            }
            if (announce)
            {
                Announce(address);
            }
        }
    }

    /// <summary>RFC 6887 14.1.1 and RFC 6886 3.2.1: a restarted server tells the link, so clients map again.</summary>
    private void Announce(Ipv4Address address)
    {
        (Ipv4Address external, uint epoch) = controller.Run(engine => (PortMappingServer.ExternalAddressOf(engine, address), engine.PortMappings.Epoch(clock.GetUtcNow().UtcTicks)));
        (byte[] pcp, byte[] natPmp) = PortMappingServer.Announcements(external, epoch);
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, ToIpAddress(address).GetAddressBytes());
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 1);
            socket.Bind(new IPEndPoint(ToIpAddress(address), 0));
            var allHosts = new IPEndPoint(IPAddress.Parse("224.0.0.1"), Core.PortMappings.PcpRequest.ClientPort);
            socket.SendTo(pcp, allHosts);
            socket.SendTo(natPmp, allHosts);
        }
        catch (SocketException error)
        {
            Log.AnnounceFailed(logger, address, error.Message);
        }
    }

    private async Task ReceiveAsync(Socket socket, Ipv4Address address)
    {
        // One more than the longest request, so a longer one is seen as too long (MALFORMED_REQUEST).
        byte[] request = new byte[Core.PortMappings.PcpRequest.MaximumLength + 4];
        byte[] response = new byte[PortMappingServer.MaximumResponseLength];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(request, SocketFlags.None, any, stopping.Token).ConfigureAwait(false);
            }
            catch (Exception error) when (error is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException error) when (error.SocketErrorCode is SocketError.OperationAborted or SocketError.Shutdown or SocketError.NotSocket)
            {
                return;
            }
            catch (SocketException error)
            {
                // A message longer than the buffer, an ICMP error for an earlier answer: go on.
                Log.ReceiveFailed(logger, address, error.Message);
                continue;
            }
            if (received.RemoteEndPoint is not IPEndPoint { Address.AddressFamily: AddressFamily.InterNetwork } client)
            {
                continue;
            }
            Ipv4Address source = Ipv4Address.Read(client.Address.GetAddressBytes());
            int length = received.ReceivedBytes;
            PortMappingReply reply;
            long changes;
            try
            {
                (reply, changes) = controller.Run(engine => (PortMappingServer.Answer(engine, request.AsSpan(0, length), source, response, clock.GetUtcNow().UtcTicks), engine.PortMappings.Changes));
            }
            catch (InvalidOperationException error)
            {
                Log.AnswerFailed(logger, source, error.Message);
                continue;
            }
            if (reply.RulesChanged)
            {
                // At once, so that the answer is true when it leaves; the timer need not follow it again.
                Interlocked.Exchange(ref followedChanges, changes);
                FollowRules();
            }
            if (reply.Length > 0)
            {
                try
                {
                    await socket.SendToAsync(response.AsMemory(0, reply.Length), SocketFlags.None, client, stopping.Token).ConfigureAwait(false);
                }
                catch (Exception error) when (error is SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    Log.AnswerFailed(logger, source, error.Message);
                }
            }
        }
    }

    private long followedChanges;
    private long announcedEpoch;

    private async Task RunTimersAsync()
    {
        long lastScan = System.Diagnostics.Stopwatch.GetTimestamp();
        using var tick = new PeriodicTimer(TimeSpan.FromSeconds(1), clock);
        try
        {
            while (await tick.WaitForNextTickAsync(stopping.Token).ConfigureAwait(false))
            {
                try
                {
                    // The engine's timers end mappings with their lifetime; the routing follows any change.
                    (long changes, long epochStart) = controller.Run(engine => (engine.PortMappings.Changes, engine.PortMappings.EpochStartTicks));
                    if (Interlocked.Exchange(ref followedChanges, changes) != changes)
                    {
                        FollowRules();
                    }
                    if (epochStart != announcedEpoch)
                    {
                        // The mappings were lost (their rules or address went): tell the clients (RFC 6887 8.5, 14.1.1).
                        announcedEpoch = epochStart;
                        foreach (Ipv4Address address in Addresses)
                        {
                            Announce(address);
                        }
                    }
                    if (System.Diagnostics.Stopwatch.GetElapsedTime(lastScan) >= RescanInterval)
                    {
                        lastScan = System.Diagnostics.Stopwatch.GetTimestamp();
                        Listen(announce: false);
                    }
                }
                catch (Exception error) when (error is InvalidOperationException or Core.Control.NatControlException or NetworkInformationException)
                {
                    Log.TimerFailed(logger, error.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>A mapping's redirect came or went: the routing follows (a shared address steers its port), as after any rule change.</summary>
    private void FollowRules()
    {
        try
        {
            controller.RulesChanged?.Invoke();
        }
        catch (Linux.Routing.PlumbingException error)
        {
            Log.RoutingFailed(logger, error.Message);
        }
    }

    private static IEnumerable<Ipv4Address> HostAddresses()
        => NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(networkInterface => networkInterface.GetIPProperties().UnicastAddresses)
            .Where(unicast => unicast.Address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(unicast.Address))
            .Select(unicast => Ipv4Address.Read(unicast.Address.GetAddressBytes()))
            .Distinct();

    private static IPAddress ToIpAddress(Ipv4Address address)
    {
        byte[] bytes = new byte[4];
        address.Write(bytes);
        return new IPAddress(bytes);
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        List<(Socket Socket, Task Receiving)> open;
        lock (listenersGate)
        {
            open = [.. listeners.Values];
            listeners.Clear();
        }
        foreach ((Socket socket, Task receiving) in open)
        {
            socket.Dispose();
            await receiving.ConfigureAwait(false);
        }
        if (timers is not null)
        {
            await timers.ConfigureAwait(false);
        }
        stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "pcp: answering PCP and NAT-PMP on {Address}:{Port}")]
        public static partial void Listening(ILogger logger, Ipv4Address address, int port);

        [LoggerMessage(Level = LogLevel.Warning, Message = "pcp: cannot listen on {Address}:{Port}: {Detail}")]
        public static partial void BindFailed(ILogger logger, Ipv4Address address, int port, string detail);

        [LoggerMessage(Level = LogLevel.Debug, Message = "pcp: the start could not be announced from {Address}: {Detail}")]
        public static partial void AnnounceFailed(ILogger logger, Ipv4Address address, string detail);

        [LoggerMessage(Level = LogLevel.Debug, Message = "pcp: receiving on {Address}: {Detail}")]
        public static partial void ReceiveFailed(ILogger logger, Ipv4Address address, string detail);

        [LoggerMessage(Level = LogLevel.Warning, Message = "pcp: answering {Client}: {Detail}")]
        public static partial void AnswerFailed(ILogger logger, Ipv4Address client, string detail);

        [LoggerMessage(Level = LogLevel.Warning, Message = "pcp: ending mappings or looking for inside addresses failed: {Detail}")]
        public static partial void TimerFailed(ILogger logger, string detail);

        [LoggerMessage(Level = LogLevel.Warning, Message = "pcp: the routing could not follow a port mapping: {Detail}")]
        public static partial void RoutingFailed(ILogger logger, string detail);
    }
}
