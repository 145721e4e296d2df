using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.PortMappings;

/// <summary>PCP opcodes (RFC 6887 19.2).</summary>
public enum PcpOpcode : byte
{
    /// <summary>ANNOUNCE (RFC 6887 14.1): no payload; answered, and multicast by the server at start.</summary>
    Announce = 0,

    /// <summary>MAP (RFC 6887 11): an inbound mapping for an internal address and port.</summary>
    Map = 1,

    /// <summary>PEER (RFC 6887 12): the outbound mapping toward one remote peer.</summary>
    Peer = 2,
}

/// <summary>PCP result codes (RFC 6887 7.4).</summary>
public enum PcpResultCode : byte
{
    Success = 0,
    UnsupportedVersion = 1,
    NotAuthorized = 2,
    MalformedRequest = 3,
    UnsupportedOpcode = 4,
    UnsupportedOption = 5,
    MalformedOption = 6,
    NetworkFailure = 7,
    NoResources = 8,
    UnsupportedProtocol = 9,
    UserExceededQuota = 10,
    CannotProvideExternal = 11,
    AddressMismatch = 12,
    ExcessiveRemotePeers = 13,
}

/// <summary>PCP option codes (RFC 6887 19.4); codes 0-127 must be understood, 128-255 may be ignored (7.3).</summary>
public enum PcpOptionCode : byte
{
    /// <summary>Reserved (RFC 6887 19.4); never sent.</summary>
    Reserved = 0,
    ThirdParty = 1,
    PreferFailure = 2,
    Filter = 3,
}

/// <summary>
/// A view over a PCP request (RFC 6887 7.1): the common header, then MAP's or PEER's
/// opcode-specific information, then options. <see cref="TryParse"/> checks it once; the
/// getters then read validated bytes. Addresses are 128 bits, IPv4 ones IPv4-mapped (RFC 6887 5).
/// </summary>
public readonly ref struct PcpRequest
{
    /// <summary>The PCP version this server speaks (RFC 6887 9); NAT-PMP is version 0.</summary>
    public const byte Version = 2;

    /// <summary>The server's port (RFC 6887 19.1).</summary>
    public const int ServerPort = 5351;

    /// <summary>Where the server's unsolicited ANNOUNCE goes: 224.0.0.1 and ff02::1 on this port (RFC 6887 8.1, 14.1.1).</summary>
    public const int ClientPort = 5350;

    /// <summary>The common header's length, for requests and responses.</summary>
    public const int HeaderLength = 24;

    /// <summary>No request or response is longer (RFC 6887 7).</summary>
    public const int MaximumLength = 1100;

    /// <summary>MAP's opcode-specific information (RFC 6887 11.1).</summary>
    public const int MapLength = 36;

    /// <summary>PEER's opcode-specific information (RFC 6887 12.1).</summary>
    public const int PeerLength = 56;

    /// <summary>Byte offsets of the common request header (RFC 6887 7.1).</summary>
    public static class Field
    {
        public const int Version = 0;

        /// <summary>The R bit (0 in a request) and the 7-bit opcode.</summary>
        public const int Opcode = 1;

        public const int RequestedLifetime = 4;

        public const int ClientAddress = 8;
    }

    /// <summary>Byte offsets of MAP's and PEER's opcode-specific information, from its start (RFC 6887 11.1, 12.1).</summary>
    public static class MappingField
    {
        public const int Nonce = 0;
        public const int Protocol = 12;
        public const int InternalPort = 16;
        public const int ExternalPort = 18;
        public const int ExternalAddress = 20;

        /// <summary>PEER only.</summary>
        public const int RemotePeerPort = 36;

        /// <summary>PEER only.</summary>
        public const int RemotePeerAddress = 40;
    }

    /// <summary>The mapping nonce's length: 96 bits.</summary>
    public const int NonceLength = 12;

    private readonly ReadOnlySpan<byte> bytes;

    private PcpRequest(ReadOnlySpan<byte> bytes, bool preferFailure, bool thirdParty, bool filter)
    {
        this.bytes = bytes;
        PreferFailure = preferFailure;
        HasThirdParty = thirdParty;
        HasFilter = filter;
    }

    /// <summary>
    /// Checks a request as RFC 6887 8.3 orders it. Returns <see cref="PcpParse.Drop"/> for what is
    /// silently dropped (under 2 octets, the R bit set), an error code to answer with otherwise,
    /// or <see cref="PcpParse.Valid"/> with the view. Never throws on bad bytes.
    /// </summary>
    public static PcpParse TryParse(ReadOnlySpan<byte> bytes, out PcpRequest request, out PcpResultCode error)
    {
        request = default;
        error = PcpResultCode.Success;
        if (bytes.Length < 2 || (bytes[Field.Opcode] & 0x80) != 0)
        {
            return PcpParse.Drop;
        }
        if (bytes[Field.Version] != Version)
        {
            error = PcpResultCode.UnsupportedVersion;
            return PcpParse.Error;
        }
        var opcode = (PcpOpcode)(bytes[Field.Opcode] & 0x7F);
        int payload = opcode switch
        {
            PcpOpcode.Announce => 0,
            PcpOpcode.Map => MapLength,
            PcpOpcode.Peer => PeerLength,
            _ => -1,
        };
        if (bytes.Length > MaximumLength || bytes.Length % 4 != 0 || bytes.Length < HeaderLength)
        {
            error = PcpResultCode.MalformedRequest;
            return PcpParse.Error;
        }
        if (payload < 0)
        {
            error = PcpResultCode.UnsupportedOpcode;
            return PcpParse.Error;
        }
        if (bytes.Length < HeaderLength + payload)
        {
            error = PcpResultCode.MalformedRequest;
            return PcpParse.Error;
        }
        // Options (RFC 6887 7.3): code, reserved, length of the data, data padded to 4 octets.
        bool preferFailure = false;
        bool thirdParty = false;
        bool filter = false;
        ReadOnlySpan<byte> options = bytes[(HeaderLength + payload)..];
        while (!options.IsEmpty)
        {
            if (options.Length < 4)
            {
                error = PcpResultCode.MalformedOption;
                return PcpParse.Error;
            }
            byte code = options[0];
            int length = BinaryPrimitives.ReadUInt16BigEndian(options[2..]);
            int padded = 4 + ((length + 3) & ~3);
            if (padded > options.Length)
            {
                error = PcpResultCode.MalformedOption;
                return PcpParse.Error;
            }
            (int expectedLength, bool validHere, bool seen) = (PcpOptionCode)code switch
            {
                PcpOptionCode.ThirdParty => (16, opcode is PcpOpcode.Map or PcpOpcode.Peer, thirdParty),
                PcpOptionCode.PreferFailure => (0, opcode == PcpOpcode.Map, preferFailure),
                PcpOptionCode.Filter => (20, opcode == PcpOpcode.Map, false),
                _ => (-1, false, false),
            };
            if (expectedLength < 0)
            {
                if (code < 128)
                {
                    // Mandatory to process, and not known here (RFC 6887 7.3).
                    error = PcpResultCode.UnsupportedOption;
                    return PcpParse.Error;
                }
            }
            else if (length != expectedLength || !validHere || seen)
            {
                // A wrong length, an option of another opcode, or THIRD_PARTY or PREFER_FAILURE twice (RFC 6887 13).
                error = PcpResultCode.MalformedOption;
                return PcpParse.Error;
            }
            else
            {
                thirdParty |= code == (byte)PcpOptionCode.ThirdParty;
                preferFailure |= code == (byte)PcpOptionCode.PreferFailure;
                filter |= code == (byte)PcpOptionCode.Filter;
            }
            options = options[padded..];
        }
        request = new PcpRequest(bytes, preferFailure, thirdParty, filter);
        if (opcode is PcpOpcode.Map or PcpOpcode.Peer && request.Protocol == 0 && request.InternalPort != 0)
        {
            // "All protocols" names no port (RFC 6887 11.1).
            error = PcpResultCode.MalformedRequest;
            return PcpParse.Error;
        }
        return PcpParse.Valid;
    }

    public PcpOpcode Opcode => (PcpOpcode)(bytes[Field.Opcode] & 0x7F);

    public uint RequestedLifetime => BinaryPrimitives.ReadUInt32BigEndian(bytes[Field.RequestedLifetime..]);

    /// <summary>The PCP client's address as it says it (IPv4-mapped for IPv4).</summary>
    public Ipv6Address ClientAddress => Ipv6Address.Read(bytes[Field.ClientAddress..]);

    private ReadOnlySpan<byte> Mapping => bytes[HeaderLength..];

    /// <summary>MAP and PEER: the 96-bit nonce, as 12 bytes.</summary>
    public ReadOnlySpan<byte> Nonce => Mapping.Slice(MappingField.Nonce, NonceLength);

    /// <summary>MAP and PEER: the upper-layer protocol, 0 for all.</summary>
    public IpProtocol Protocol => (IpProtocol)Mapping[MappingField.Protocol];

    public ushort InternalPort => BinaryPrimitives.ReadUInt16BigEndian(Mapping[MappingField.InternalPort..]);

    public ushort SuggestedExternalPort => BinaryPrimitives.ReadUInt16BigEndian(Mapping[MappingField.ExternalPort..]);

    public Ipv6Address SuggestedExternalAddress => Ipv6Address.Read(Mapping[MappingField.ExternalAddress..]);

    /// <summary>PEER only.</summary>
    public ushort RemotePeerPort => BinaryPrimitives.ReadUInt16BigEndian(Mapping[MappingField.RemotePeerPort..]);

    /// <summary>PEER only.</summary>
    public Ipv6Address RemotePeerAddress => Ipv6Address.Read(Mapping[MappingField.RemotePeerAddress..]);

    /// <summary>The PREFER_FAILURE option was given (RFC 6887 13.2).</summary>
    public bool PreferFailure { get; }

    /// <summary>The THIRD_PARTY option was given (RFC 6887 13.1).</summary>
    public bool HasThirdParty { get; }

    /// <summary>The FILTER option was given (RFC 6887 13.3).</summary>
    public bool HasFilter { get; }

    /// <summary>The request's bytes as they came.</summary>
    public ReadOnlySpan<byte> Bytes => bytes;

    /// <summary>The length of the header and the opcode-specific information, without options.</summary>
    public int LengthWithoutOptions => HeaderLength + Opcode switch
    {
        PcpOpcode.Map => MapLength,
        PcpOpcode.Peer => PeerLength,
        _ => 0,
    };
}

/// <summary>What <see cref="PcpRequest.TryParse"/> found.</summary>
public enum PcpParse
{
    Valid,

    /// <summary>Answer with the error code found.</summary>
    Error,

    /// <summary>Drop silently: no answer.</summary>
    Drop,
}

/// <summary>Writes PCP responses (RFC 6887 7.2).</summary>
public static class PcpResponse
{
    /// <summary>Byte offsets of the common response header (RFC 6887 7.2).</summary>
    public static class Field
    {
        public const int Version = 0;
        public const int Opcode = 1;
        public const int ResultCode = 3;
        public const int Lifetime = 4;
        public const int Epoch = 8;

        /// <summary>96 reserved bits, zero.</summary>
        public const int Reserved = 12;
    }

    /// <summary>
    /// An error response (RFC 6887 8.3): the request copied (truncated to 1100 octets and to a
    /// multiple of 4), its header turned into a response's. UNSUPP_VERSION answers with the
    /// header alone, in this server's version (RFC 6887 9). Returns the length written.
    /// </summary>
    public static int WriteError(ReadOnlySpan<byte> request, PcpResultCode result, uint lifetime, uint epoch, Span<byte> response)
    {
        int length = result == PcpResultCode.UnsupportedVersion
            ? PcpRequest.HeaderLength
            : Math.Max(PcpRequest.HeaderLength, Math.Min(request.Length, PcpRequest.MaximumLength) & ~3);
        Span<byte> written = response[..length];
        written.Clear();
        if (result != PcpResultCode.UnsupportedVersion)
        {
            request[..Math.Min(request.Length, length)].CopyTo(written);
        }
        WriteHeader(written, (PcpOpcode)(request.Length > 1 ? request[PcpRequest.Field.Opcode] & 0x7F : 0), result, lifetime, epoch);
        return length;
    }

    /// <summary>
    /// A MAP or PEER success: the header, the request's opcode-specific information with the
    /// assigned external port and address, and PREFER_FAILURE when the request had it (RFC 6887
    /// 11.4: the processed options are returned). ANNOUNCE has no payload. Returns the length.
    /// </summary>
    public static int WriteSuccess(in PcpRequest request, uint lifetime, uint epoch, ushort externalPort, Ipv6Address externalAddress, Span<byte> response)
    {
        int length = request.LengthWithoutOptions;
        request.Bytes[..length].CopyTo(response);
        WriteHeader(response[..length], request.Opcode, PcpResultCode.Success, lifetime, epoch);
        if (request.Opcode is PcpOpcode.Map or PcpOpcode.Peer)
        {
            Span<byte> mapping = response[PcpRequest.HeaderLength..];
            BinaryPrimitives.WriteUInt16BigEndian(mapping[PcpRequest.MappingField.ExternalPort..], externalPort);
            externalAddress.Write(mapping[PcpRequest.MappingField.ExternalAddress..]);
        }
        if (request.PreferFailure)
        {
            response.Slice(length, 4).Clear();
            response[length] = (byte)PcpOptionCode.PreferFailure;
            length += 4;
        }
        return length;
    }

    /// <summary>An unsolicited ANNOUNCE response (RFC 6887 14.1.1): the header alone, epoch reset.</summary>
    public static int WriteAnnounce(uint epoch, Span<byte> response)
    {
        Span<byte> written = response[..PcpRequest.HeaderLength];
        written.Clear();
        WriteHeader(written, PcpOpcode.Announce, PcpResultCode.Success, 0, epoch);
        return PcpRequest.HeaderLength;
    }

    private static void WriteHeader(Span<byte> response, PcpOpcode opcode, PcpResultCode result, uint lifetime, uint epoch)
    {
        response[Field.Version] = PcpRequest.Version;
        response[Field.Opcode] = (byte)(0x80 | (byte)opcode);
        response[2] = 0;
        response[Field.ResultCode] = (byte)result;
        BinaryPrimitives.WriteUInt32BigEndian(response[Field.Lifetime..], lifetime);
        BinaryPrimitives.WriteUInt32BigEndian(response[Field.Epoch..], epoch);
        response.Slice(Field.Reserved, 12).Clear();
    }
}
