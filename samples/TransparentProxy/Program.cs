// A transparent TCP proxy, the smallest useful one: NatGate redirects connections to it with
// an rdr rule (for example "rdr natgate0 0.0.0.0/0 port 80 -> 10.77.0.1 port 3128 tcp"); for
// each accepted connection it asks NatGate where the client really meant to go (the SIOCGNATL
// lookup), connects there, and relays both ways. Usage: natgate-sample-proxy LISTEN:PORT [CONTROL-DIR];
// over IPv6 (NAT66) it listens on [ADDRESS]:PORT and the real destination is IPv6 too.
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using NatGate.Control;

if (args.Length < 1 || !IPEndPoint.TryParse(args[0], out IPEndPoint? listen))
{
    Console.Error.WriteLine("usage: natgate-sample-proxy LISTEN-ADDRESS:PORT [CONTROL-DIRECTORY]");
    return 2;
}
using var lookup = new TransparentProxyLookup(args.Length > 1 ? args[1] : ControlSockets.DefaultDirectory);
using var listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
listener.Bind(listen);
listener.Listen(128);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"proxy listening on {listen}"));
while (true)
{
    Socket accepted = await listener.AcceptAsync().ConfigureAwait(false);
    _ = Task.Run(() => RelayAsync(accepted, lookup));
}

static async Task RelayAsync(Socket accepted, TransparentProxyLookup lookup)
{
    using (accepted)
    {
        IPEndPoint destination;
        try
        {
            destination = await lookup.OriginalDestinationAsync(accepted).ConfigureAwait(false);
        }
        catch (NatGate.Core.Control.NatControlException refused)
        {
            Console.Error.WriteLine($"{accepted.RemoteEndPoint}: no redirected session ({refused.Errno}): {refused.Message}");
            return;
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{accepted.RemoteEndPoint} -> {destination}"));
        using var upstream = new Socket(destination.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await upstream.ConnectAsync(destination).ConfigureAwait(false);
        using var client = new NetworkStream(accepted, ownsSocket: false);
        using var server = new NetworkStream(upstream, ownsSocket: false);
        Task up = Pump(client, server, upstream);
        Task down = Pump(server, client, accepted);
        await Task.WhenAll(up, down).ConfigureAwait(false);
    }
}

static async Task Pump(NetworkStream from, NetworkStream to, Socket toSocket)
{
    try
    {
        await from.CopyToAsync(to).ConfigureAwait(false);
        toSocket.Shutdown(SocketShutdown.Send);
    }
    catch (Exception error) when (error is IOException or SocketException or ObjectDisposedException)
    {
        // The other side went away; the relay ends.
    }
}
