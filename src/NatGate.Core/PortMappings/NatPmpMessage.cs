using System.Buffers.Binary;
using NatGate.Core.Addressing;

namespace NatGate.Core.PortMappings;

/// <summary>NAT-PMP opcodes (RFC 6886 3.2, 3.3); a response's is the request's plus 128.</summary>
public enum NatPmpOpcode : byte
{
    ExternalAddress = 0,
    MapUdp = 1,
    MapTcp = 2,
}

/// <summary>NAT-PMP result codes (RFC 6886 3.5).</summary>
public enum NatPmpResultCode : ushort
{
    Success = 0,
    UnsupportedVersion = 1,

    /// <summary>Not authorized or refused (the gateway's policy, a mapping of another client).</summary>
    NotAuthorized = 2,

    /// <summary>Network failure: the gateway has no external address.</summary>
    NetworkFailure = 3,

    /// <summary>Out of resources: no port left, or the client's quota reached.</summary>
    OutOfResources = 4,
    UnsupportedOpcode = 5,
}

/// <summary>
/// A view over a NAT-PMP request (RFC 6886), version 0, answered on PCP's port (RFC 6887
/// appendix A): the external address request (2 octets) and the UDP or TCP mapping request
/// (12 octets: version, opcode, reserved, internal port, suggested external port, lifetime).
/// </summary>
public readonly ref struct NatPmpRequest
{
    public const byte Version = 0;

    public const int ExternalAddressLength = 2;

    public const int MapLength = 12;

    /// <summary>Byte offsets of a mapping request (RFC 6886 3.3).</summary>
    public static class Field
    {
        public const int Version = 0;
        public const int Opcode = 1;
        public const int InternalPort = 4;
        public const int SuggestedExternalPort = 6;
        public const int RequestedLifetime = 8;
    }

    private readonly ReadOnlySpan<byte> bytes;

    private NatPmpRequest(ReadOnlySpan<byte> bytes) => this.bytes = bytes;

    /// <summary>
    /// Checks a request: false (drop silently) when it is too short for its opcode or is itself a
    /// response (opcode 128 and up, RFC 6886 3.2). An unknown opcode parses, to be answered with
    /// <see cref="NatPmpResultCode.UnsupportedOpcode"/>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> bytes, out NatPmpRequest request)
    {
        request = default;
        if (bytes.Length < ExternalAddressLength || bytes[Field.Version] != Version || bytes[Field.Opcode] >= 128)
        {
            return false;
        }
        if (bytes[Field.Opcode] is (byte)NatPmpOpcode.MapUdp or (byte)NatPmpOpcode.MapTcp && bytes.Length < MapLength)
        {
            return false;
        }
        request = new NatPmpRequest(bytes);
        return true;
    }

    public NatPmpOpcode Opcode => (NatPmpOpcode)bytes[Field.Opcode];

    public bool IsMapping => Opcode is NatPmpOpcode.MapUdp or NatPmpOpcode.MapTcp;

    public ushort InternalPort => BinaryPrimitives.ReadUInt16BigEndian(bytes[Field.InternalPort..]);

    public ushort SuggestedExternalPort => BinaryPrimitives.ReadUInt16BigEndian(bytes[Field.SuggestedExternalPort..]);

    public uint RequestedLifetime => BinaryPrimitives.ReadUInt32BigEndian(bytes[Field.RequestedLifetime..]);
}

/// <summary>Writes NAT-PMP responses (RFC 6886 3.2, 3.3, 3.5).</summary>
public static class NatPmpResponse
{
    /// <summary>The external address response: 12 octets. Returns the length.</summary>
    public static int WriteExternalAddress(NatPmpResultCode result, uint epoch, Ipv4Address address, Span<byte> response)
    {
        WriteHeader(response, (byte)NatPmpOpcode.ExternalAddress, result, epoch);
        address.Write(response[8..]);
        return 12;
    }

    /// <summary>A mapping response: 16 octets (a deletion answers with external port and lifetime 0). Returns the length.</summary>
    public static int WriteMapping(NatPmpOpcode opcode, NatPmpResultCode result, uint epoch, ushort internalPort, ushort externalPort, uint lifetime, Span<byte> response)
    {
        WriteHeader(response, (byte)opcode, result, epoch);
        BinaryPrimitives.WriteUInt16BigEndian(response[8..], internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(response[10..], externalPort);
        BinaryPrimitives.WriteUInt32BigEndian(response[12..], lifetime);
        return 16;
    }

    /// <summary>An unsupported opcode's answer: the common 8 octets (RFC 6886 3.5). Returns the length.</summary>
    public static int WriteUnsupportedOpcode(byte opcode, uint epoch, Span<byte> response)
    {
        WriteHeader(response, opcode, NatPmpResultCode.UnsupportedOpcode, epoch);
        return 8;
    }

    private static void WriteHeader(Span<byte> response, byte opcode, NatPmpResultCode result, uint epoch)
    {
        response[0] = NatPmpRequest.Version;
        response[1] = (byte)(128 + opcode);
        BinaryPrimitives.WriteUInt16BigEndian(response[2..], (ushort)result);
        BinaryPrimitives.WriteUInt32BigEndian(response[4..], epoch);
    }
}
