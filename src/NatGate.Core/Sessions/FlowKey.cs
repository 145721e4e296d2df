using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Sessions;

/// <summary>
/// A packet's five-tuple: protocol, source and destination address and port. For ICMP queries
/// both ports hold the query identifier, so a request and its reply are each other's
/// <see cref="Reverse"/>. For protocols without ports both ports are zero. 16 bytes.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct FlowKey
{
    // Declared widest first so the struct packs into 16 bytes.
    public readonly Ipv4Address Source;
    public readonly Ipv4Address Destination;
    public readonly ushort SourcePort;
    public readonly ushort DestinationPort;
    public readonly IpProtocol Protocol;

    public FlowKey(IpProtocol protocol, Ipv4Address source, ushort sourcePort, Ipv4Address destination, ushort destinationPort)
    {
        Protocol = protocol;
        Source = source;
        SourcePort = sourcePort;
        Destination = destination;
        DestinationPort = destinationPort;
    }

    /// <summary>The same flow seen from the other end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FlowKey Reverse() => new(Protocol, Destination, DestinationPort, Source, SourcePort);

    /// <summary>A keyed 64-bit hash: the seed is random per table so that remote hosts cannot aim collisions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Hash(ulong seed)
    {
        ulong addresses = ((ulong)Source.Value << 32 | Destination.Value) ^ seed;
        ulong rest = (ulong)SourcePort << 40 | (ulong)DestinationPort << 24 | (byte)Protocol;
        ulong hash = (addresses * 0x9E3779B97F4A7C15UL) ^ BitOperations.RotateLeft((rest ^ (seed >> 7)) * 0xC2B2AE3D27D4EB4FUL, 29);
        hash ^= hash >> 31;
        hash *= 0xBF58476D1CE4E5B9UL;
        hash ^= hash >> 29;
        return hash;
    }

    /// <summary>Field-wise equality, written out so the JIT compares two longs' worth of fields.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(FlowKey other)
        => Source == other.Source && Destination == other.Destination
        && SourcePort == other.SourcePort && DestinationPort == other.DestinationPort && Protocol == other.Protocol;

    public override int GetHashCode() => (int)Hash(0);

    public override string ToString()
        => $"{ProtocolName(Protocol)} {Source.ToString()}:{SourcePort} -> {Destination.ToString()}:{DestinationPort}";

    public static string ProtocolName(IpProtocol protocol) => protocol switch
    {
        IpProtocol.Icmp => "icmp",
        IpProtocol.Tcp => "tcp",
        IpProtocol.Udp => "udp",
        IpProtocol.Icmpv6 => "ipv6-icmp",
        _ => ((byte)protocol).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
