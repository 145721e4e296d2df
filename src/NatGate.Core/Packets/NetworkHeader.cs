using NatGate.Core.Addressing;

namespace NatGate.Core.Packets;

/// <summary>
/// What the translation path reads of a packet's network header, for either family, parsed and
/// checked once (<see cref="IPacketFamily{TAddress}.Parse"/>): the addresses, the transport
/// protocol (after IPv6's extension headers) and where its header starts, the packet's length,
/// and the fragment fields. A value, so the path keeps no view of the bytes it rewrites.
/// </summary>
public readonly struct NetworkHeader<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    public NetworkHeader(TAddress source, TAddress destination, IpProtocol protocol, int transportOffset, int length, int fragmentOffset, bool moreFragments, uint identification)
    {
        Source = source;
        Destination = destination;
        Protocol = protocol;
        TransportOffset = transportOffset;
        Length = length;
        FragmentOffset = fragmentOffset;
        MoreFragments = moreFragments;
        Identification = identification;
    }

    public TAddress Source { get; }

    public TAddress Destination { get; }

    /// <summary>The transport protocol; for a later fragment, the protocol the fragment belongs to.</summary>
    public IpProtocol Protocol { get; }

    /// <summary>Where the transport header (or a later fragment's data) starts.</summary>
    public int TransportOffset { get; }

    /// <summary>The whole packet's length as its header gives it.</summary>
    public int Length { get; }

    /// <summary>The fragment's place in its datagram, in bytes; 0 for a whole packet or a first fragment.</summary>
    public int FragmentOffset { get; }

    public bool MoreFragments { get; }

    /// <summary>The fragment identification: 16 bits in IPv4, 32 in IPv6's Fragment header (0 without one).</summary>
    public uint Identification { get; }

    /// <summary>The transport bytes of <paramref name="packet"/> (the one this header was parsed from).</summary>
    public Span<byte> Transport(Span<byte> packet) => packet[TransportOffset..Length];
}
