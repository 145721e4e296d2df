namespace NatGate.Core.Packets;

/// <summary>ICMPv6 message types (RFC 4443).</summary>
public static class Icmpv6Type
{
    /// <summary>Destination unreachable (RFC 4443 3.1).</summary>
    public const byte DestinationUnreachable = 1;

    /// <summary>Packet too big (RFC 4443 3.2).</summary>
    public const byte PacketTooBig = 2;

    /// <summary>Time exceeded (RFC 4443 3.3).</summary>
    public const byte TimeExceeded = 3;

    /// <summary>Parameter problem (RFC 4443 3.4).</summary>
    public const byte ParameterProblem = 4;

    /// <summary>Echo request (RFC 4443 4.1).</summary>
    public const byte EchoRequest = 128;

    /// <summary>Echo reply (RFC 4443 4.2).</summary>
    public const byte EchoReply = 129;
}
