namespace NatGate.Core.Packets;

/// <summary>Why a <c>TryParse</c> rejected its bytes; <see cref="None"/> means the view is usable.</summary>
public enum PacketError : byte
{
    /// <summary>The bytes parsed.</summary>
    None,

    /// <summary>Fewer bytes than the header or the declared length needs.</summary>
    Truncated,

    /// <summary>The IP version field does not match the parser.</summary>
    BadVersion,

    /// <summary>A header length field is below the minimum (or, for TCP, beyond the bytes present).</summary>
    BadHeaderLength,

    /// <summary>A total or datagram length field is inconsistent with the header or the bytes present.</summary>
    BadTotalLength,

    /// <summary>Well-formed but not handled (an IPv6 jumbogram, a misplaced Hop-by-Hop header).</summary>
    Unsupported,

    /// <summary>An IPv6 packet chains more extension headers than the parser walks.</summary>
    TooManyExtensionHeaders,

    /// <summary>An IPv4 header whose checksum does not add up.</summary>
    BadChecksum,
}
