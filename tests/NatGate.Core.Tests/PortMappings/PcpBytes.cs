using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Tests.PortMappings;

/// <summary>PCP requests written byte by byte from RFC 6887's figures, independently of the code under test.</summary>
internal static class PcpBytes
{
    public static readonly byte[] Nonce = Convert.FromHexString("0102030405060708090A0B0C");

    public static readonly byte[] OtherNonce = Convert.FromHexString("A1A2A3A4A5A6A7A8A9AAABAC");

    /// <summary>A MAP request (RFC 6887 7.1, 11.1), options appended as given.</summary>
    public static byte[] Map(Ipv4Address client, IpProtocol protocol, ushort internalPort, uint lifetime, byte[]? nonce = null,
        ushort suggestedPort = 0, Ipv4Address? suggestedAddress = null, params byte[][] options)
    {
        byte[] request = new byte[24 + 36 + options.Sum(option => option.Length)];
        Header(request, 1, lifetime, client);
        (nonce ?? Nonce).CopyTo(request, 24);
        request[24 + 12] = (byte)protocol;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 16), internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 18), suggestedPort);
        Mapped(suggestedAddress ?? Ipv4Address.Any).CopyTo(request, 24 + 20);
        int at = 60;
        foreach (byte[] option in options)
        {
            option.CopyTo(request, at);
            at += option.Length;
        }
        return request;
    }

    /// <summary>A PEER request (RFC 6887 12.1).</summary>
    public static byte[] Peer(Ipv4Address client, IpProtocol protocol, ushort internalPort, uint lifetime, Ipv4Address peer, ushort peerPort, ushort suggestedPort = 0, params byte[][] options)
    {
        byte[] request = new byte[24 + 56 + options.Sum(option => option.Length)];
        Header(request, 2, lifetime, client);
        Nonce.CopyTo(request, 24);
        request[24 + 12] = (byte)protocol;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 16), internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 18), suggestedPort);
        Mapped(Ipv4Address.Any).CopyTo(request, 24 + 20);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(24 + 36), peerPort);
        Mapped(peer).CopyTo(request, 24 + 40);
        int at = 80;
        foreach (byte[] option in options)
        {
            option.CopyTo(request, at);
            at += option.Length;
        }
        return request;
    }

    /// <summary>ANNOUNCE (RFC 6887 14.1): the header alone.</summary>
    public static byte[] Announce(Ipv4Address client)
    {
        byte[] request = new byte[24];
        Header(request, 0, 0, client);
        return request;
    }

    public static byte[] ThirdParty(Ipv4Address address) => [1, 0, 0, 16, .. Mapped(address)];

    public static byte[] PreferFailure() => [2, 0, 0, 0];

    public static byte[] Filter(Ipv4Address remote) => [3, 0, 0, 20, 0, 128, 0, 0, .. Mapped(remote)];

    /// <summary>::ffff:a.b.c.d, or 16 zero bytes for 0.0.0.0 (RFC 6887 5: both mean "no address").</summary>
    public static byte[] Mapped(Ipv4Address address)
    {
        byte[] bytes = new byte[16];
        if (address != Ipv4Address.Any)
        {
            bytes[10] = 0xFF;
            bytes[11] = 0xFF;
            address.Write(bytes.AsSpan(12));
        }
        return bytes;
    }

    private static void Header(byte[] request, byte opcode, uint lifetime, Ipv4Address client)
    {
        request[0] = 2;
        request[1] = opcode;
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(4), lifetime);
        byte[] mapped = new byte[16];
        mapped[10] = 0xFF;
        mapped[11] = 0xFF;
        client.Write(mapped.AsSpan(12));
        mapped.CopyTo(request, 8);
    }

    /// <summary>A NAT-PMP mapping request (RFC 6886 3.3): opcode 1 UDP, 2 TCP.</summary>
    public static byte[] NatPmpMap(byte opcode, ushort internalPort, ushort suggestedPort, uint lifetime)
    {
        byte[] request = new byte[12];
        request[1] = opcode;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), suggestedPort);
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(8), lifetime);
        return request;
    }

    // Reading responses, by RFC 6887 7.2 and 11.1.
    public static byte ResultCode(byte[] response) => response[3];

    public static uint Lifetime(byte[] response) => BinaryPrimitives.ReadUInt32BigEndian(response.AsSpan(4));

    public static uint Epoch(byte[] response) => BinaryPrimitives.ReadUInt32BigEndian(response.AsSpan(8));

    public static ushort AssignedPort(byte[] response) => BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(24 + 18));

    public static Ipv4Address AssignedAddress(byte[] response) => Ipv4Address.Read(response.AsSpan(24 + 20 + 12));
}
