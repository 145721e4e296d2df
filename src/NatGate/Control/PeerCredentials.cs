using System.Buffers.Binary;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace NatGate.Control;

/// <summary>Who is at the other end of a control socket: SO_PEERCRED, as the kernel vouches for it.</summary>
public readonly record struct PeerCredentials(int ProcessId, long UserId)
{
    public static PeerCredentials Unknown { get; } = new(-1, -1);

    private const int SocketLevel = 1;              // SOL_SOCKET
    private const int SocketPeerCredentials = 17;   // SO_PEERCRED: struct ucred { pid_t pid; uid_t uid; gid_t gid; }

    public static PeerCredentials Of(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        Socket? socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is null || !OperatingSystem.IsLinux())
        {
            return Unknown;
        }
        Span<byte> credentials = stackalloc byte[12];
        try
        {
            return socket.GetRawSocketOption(SocketLevel, SocketPeerCredentials, credentials) >= 8
                ? new PeerCredentials(BinaryPrimitives.ReadInt32LittleEndian(credentials), BinaryPrimitives.ReadUInt32LittleEndian(credentials[4..]))
                : Unknown;
        }
        catch (SocketException)
        {
            return Unknown;
        }
    }
}
