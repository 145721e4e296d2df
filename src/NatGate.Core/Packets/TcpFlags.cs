using System.Diagnostics.CodeAnalysis;

namespace NatGate.Core.Packets;

/// <summary>The TCP control bits in byte 13 of the header (RFC 9293 3.1, RFC 3168 for ECE and CWR).</summary>
[Flags]
[SuppressMessage("Naming", "CA1711", Justification = "RFC 9293 calls these the TCP flags; the name is part of the shared API.")]
public enum TcpFlags : byte
{
    /// <summary>No bit set.</summary>
    None = 0,

    /// <summary>No more data from the sender.</summary>
    Fin = 1,

    /// <summary>Synchronize sequence numbers.</summary>
    Syn = 2,

    /// <summary>Reset the connection.</summary>
    Rst = 4,

    /// <summary>Push function.</summary>
    Psh = 8,

    /// <summary>The acknowledgment number is significant.</summary>
    Ack = 16,

    /// <summary>The urgent pointer is significant.</summary>
    Urg = 32,

    /// <summary>ECN echo (RFC 3168).</summary>
    Ece = 64,

    /// <summary>Congestion window reduced (RFC 3168).</summary>
    Cwr = 128,
}
