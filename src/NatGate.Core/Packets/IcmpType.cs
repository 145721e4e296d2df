namespace NatGate.Core.Packets;

/// <summary>ICMPv4 message types (RFC 792, RFC 950, RFC 1256).</summary>
public static class IcmpType
{
    /// <summary>Echo reply (RFC 792).</summary>
    public const byte EchoReply = 0;

    /// <summary>Destination unreachable (RFC 792).</summary>
    public const byte DestinationUnreachable = 3;

    /// <summary>Source quench, deprecated by RFC 6633.</summary>
    public const byte SourceQuench = 4;

    /// <summary>Redirect (RFC 792).</summary>
    public const byte Redirect = 5;

    /// <summary>Echo request (RFC 792).</summary>
    public const byte Echo = 8;

    /// <summary>Router advertisement (RFC 1256).</summary>
    public const byte RouterAdvertisement = 9;

    /// <summary>Router solicitation (RFC 1256).</summary>
    public const byte RouterSolicitation = 10;

    /// <summary>Time exceeded (RFC 792).</summary>
    public const byte TimeExceeded = 11;

    /// <summary>Parameter problem (RFC 792).</summary>
    public const byte ParameterProblem = 12;

    /// <summary>Timestamp request (RFC 792).</summary>
    public const byte Timestamp = 13;

    /// <summary>Timestamp reply (RFC 792).</summary>
    public const byte TimestampReply = 14;

    /// <summary>Information request (RFC 792).</summary>
    public const byte InformationRequest = 15;

    /// <summary>Information reply (RFC 792).</summary>
    public const byte InformationReply = 16;

    /// <summary>Address mask request (RFC 950).</summary>
    public const byte AddressMaskRequest = 17;

    /// <summary>Address mask reply (RFC 950).</summary>
    public const byte AddressMaskReply = 18;
}
