using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;

namespace NatGate.Linux.FastPath;

/// <summary>
/// struct natgate_flow_key (natgate_fastpath.h, 40 bytes): one direction of a session, as its
/// packets arrive. Ports are given and read in host order and kept in network order; an ICMP or
/// ICMPv6 echo's identifier is both ports.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FastPathFlowKey : IEquatable<FastPathFlowKey>
{
    public const int Size = 40;

    private byte family;
    private byte protocol;
    private ushort reserved;
    private ushort sourcePort;
    private ushort destinationPort;
    private FastPathAddress source;
    private FastPathAddress destination;

    /// <summary>A key from addresses of 4 (IPv4) or 16 (IPv6) bytes in network byte order.</summary>
    public FastPathFlowKey(byte protocol, ReadOnlySpan<byte> source, ushort sourcePort, ReadOnlySpan<byte> destination, ushort destinationPort)
    {
        if (source.Length != destination.Length)
        {
            throw new ArgumentException("both addresses must be of one family", nameof(destination));
        }
        family = source.Length == 4 ? (byte)4 : (byte)6;
        this.protocol = protocol;
        reserved = 0;
        this.source = FastPathAddress.From(source);
        this.destination = FastPathAddress.From(destination);
        this.sourcePort = ToNetworkOrder(sourcePort);
        this.destinationPort = ToNetworkOrder(destinationPort);
    }

    /// <summary>A key from endpoints (for tests, tools and listings; the engine passes spans).</summary>
    public static FastPathFlowKey Create(byte protocol, IPEndPoint source, IPEndPoint destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        return new FastPathFlowKey(protocol, source.Address.GetAddressBytes(), (ushort)source.Port, destination.Address.GetAddressBytes(), (ushort)destination.Port);
    }

    /// <summary>4 or 6.</summary>
    public readonly byte Family => family;

    /// <summary>IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP or IPPROTO_ICMPV6.</summary>
    public readonly byte Protocol => protocol;

    public readonly ushort SourcePort => FromNetworkOrder(sourcePort);

    public readonly ushort DestinationPort => FromNetworkOrder(destinationPort);

    public readonly FastPathAddress Source => source;

    public readonly FastPathAddress Destination => destination;

    public readonly IPEndPoint SourceEndPoint => new(source.ToAddress(family), SourcePort);

    public readonly IPEndPoint DestinationEndPoint => new(destination.ToAddress(family), DestinationPort);

    public readonly bool Equals(FastPathFlowKey other) =>
        family == other.family && protocol == other.protocol && reserved == other.reserved && sourcePort == other.sourcePort
        && destinationPort == other.destinationPort && source == other.source && destination == other.destination;

    public override readonly bool Equals(object? obj) => obj is FastPathFlowKey other && Equals(other);

    public override readonly int GetHashCode() => HashCode.Combine(family, protocol, sourcePort, destinationPort, source, destination);

    public override readonly string ToString() => $"{ProtocolName(protocol)} {SourceEndPoint} -> {DestinationEndPoint}";

    public static bool operator ==(FastPathFlowKey left, FastPathFlowKey right) => left.Equals(right);

    public static bool operator !=(FastPathFlowKey left, FastPathFlowKey right) => !left.Equals(right);

    /// <summary>A 16-bit field as the packet holds it (big-endian) from a host-order value; the same swap reads it back.</summary>
    internal static ushort ToNetworkOrder(ushort value) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(value) : value;

    internal static ushort FromNetworkOrder(ushort value) => ToNetworkOrder(value);

    internal static string ProtocolName(byte protocol) => protocol switch
    {
        6 => "tcp",
        17 => "udp",
        1 => "icmp",
        58 => "icmpv6",
        _ => protocol.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
