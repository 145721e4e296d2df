using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace NatGate.Control;

/// <summary>
/// What a transparent proxy asks NatGate (IP Filter's SIOCGNATL): a connection was redirected
/// to the proxy by an rdr rule; where did the client really mean to go? Works over the
/// read-only control socket, so the proxy needs no privileges.
/// </summary>
public sealed class TransparentProxyLookup : IDisposable
{
    private readonly ControlClient client;

    public TransparentProxyLookup(string controlDirectory = ControlSockets.DefaultDirectory)
        => client = ControlClient.Connect(controlDirectory);

    /// <summary>The original destination of an accepted TCP connection (its local and remote endpoints).</summary>
    /// <exception cref="Core.Control.NatControlException">ESRCH when NatGate redirected no such connection.</exception>
    public Task<IPEndPoint> OriginalDestinationAsync(Socket accepted, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(accepted);
        return OriginalDestinationAsync((IPEndPoint)accepted.LocalEndPoint!, (IPEndPoint)accepted.RemoteEndPoint!, token);
    }

    /// <summary>The original destination of the connection from <paramref name="client"/> that arrived at <paramref name="local"/>.</summary>
    public async Task<IPEndPoint> OriginalDestinationAsync(IPEndPoint local, IPEndPoint client, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(client);
        LookupAnswer answer = await this.client.LookupAsync(
            new LookupRequest("tcp", Plain(local.Address), (ushort)local.Port, Plain(client.Address), (ushort)client.Port, FindForward: false), token).ConfigureAwait(false);
        return new IPEndPoint(IPAddress.Parse(answer.RealAddress), answer.RealPort);
    }

    private static string Plain(IPAddress address)
        => (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{nameof(TransparentProxyLookup)}");

    public void Dispose() => client.Dispose();
}
