using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Sessions;

/// <summary>
/// A packet's five-tuple: protocol, source and destination address and port. For ICMP queries
/// both ports hold the query identifier, so a request and its reply are each other's
/// <see cref="Reverse"/>. For protocols without ports both ports are zero. 16 bytes for IPv4,
/// 40 for IPv6. One shape for both families: the table, its indexes and its policies are generic
/// over the address, and the JIT compiles them once per family.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct FlowKey<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    // Declared widest first so the struct packs into 16 bytes (IPv4) or 40 (IPv6).
    public readonly TAddress Source;
    public readonly TAddress Destination;
    public readonly ushort SourcePort;
    public readonly ushort DestinationPort;
    public readonly IpProtocol Protocol;

    public FlowKey(IpProtocol protocol, TAddress source, ushort sourcePort, TAddress destination, ushort destinationPort)
    {
        Protocol = protocol;
        Source = source;
        SourcePort = sourcePort;
        Destination = destination;
        DestinationPort = destinationPort;
    }

    /// <summary>The same flow seen from the other end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public FlowKey<TAddress> Reverse() => new(Protocol, Destination, DestinationPort, Source, SourcePort);

    /// <summary>A keyed 64-bit hash: the seed is random per table so that remote hosts cannot aim collisions.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Hash(ulong seed)
    {
        ulong addresses = TAddress.Mix(Source, Destination) ^ seed;
        ulong rest = (ulong)SourcePort << 40 | (ulong)DestinationPort << 24 | (byte)Protocol;
        ulong hash = (addresses * 0x9E3779B97F4A7C15UL) ^ BitOperations.RotateLeft((rest ^ (seed >> 7)) * 0xC2B2AE3D27D4EB4FUL, 29);
        hash ^= hash >> 31;
        hash *= 0xBF58476D1CE4E5B9UL;
        hash ^= hash >> 29;
        return hash;
    }

    /// <summary>Field-wise equality, written out so the JIT compares two longs' worth of fields.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Equals(FlowKey<TAddress> other)
        => Source.Equals(other.Source) && Destination.Equals(other.Destination)
        && SourcePort == other.SourcePort && DestinationPort == other.DestinationPort && Protocol == other.Protocol;

    public override int GetHashCode() => (int)Hash(0);

    public override string ToString()
        => TAddress.Size == 4
            ? $"{IpProtocolNames.Of(Protocol)} {Source}:{SourcePort} -> {Destination}:{DestinationPort}"
            : $"{IpProtocolNames.Of(Protocol)} [{Source}]:{SourcePort} -> [{Destination}]:{DestinationPort}";
}
