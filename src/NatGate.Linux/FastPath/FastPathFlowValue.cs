using System.Runtime.InteropServices;

namespace NatGate.Linux.FastPath;

/// <summary>
/// struct natgate_flow_value (natgate_fastpath.h, 80 bytes): what a packet matching the key
/// becomes, and the counters the program keeps. Ports and deltas are given and read in host
/// order and kept as the packet's bytes. A delta is an RFC 1624 ones' complement difference
/// (~old + new, folded to 16 bits) summed over the packet's big-endian 16-bit words.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct FastPathFlowValue
{
    public const int Size = 80;

    private FastPathAddress source;
    private FastPathAddress destination;
    private ushort sourcePort;
    private ushort destinationPort;
    private ushort ipDelta;
    private ushort pseudoHeaderDelta;
    private ushort portDelta;
    private FastPathFlowAttributes flags;
    private uint session;
    private uint reserved;
    private ulong lastSeenNanoseconds;
    private ulong packets;
    private ulong bytes;

    /// <param name="source">The translated source address: 4 or 16 bytes, network byte order.</param>
    /// <param name="sourcePort">The translated source port, or the ICMP echo identifier.</param>
    /// <param name="destination">The translated destination address, of the source's family.</param>
    /// <param name="destinationPort">The translated destination port, or the ICMP echo identifier again.</param>
    /// <param name="ipDelta">The IPv4 header checksum's delta for both addresses (0 for IPv6).</param>
    /// <param name="pseudoHeaderDelta">The TCP, UDP or ICMPv6 checksum's delta for the addresses (0 for ICMPv4).</param>
    /// <param name="portDelta">The transport checksum's delta for both ports, or the ICMP echo identifier.</param>
    /// <param name="flags">Which direction this is, and for ICMP whether it carries requests.</param>
    /// <param name="session">The engine's session number, for listings and adoption.</param>
    public FastPathFlowValue(ReadOnlySpan<byte> source, ushort sourcePort, ReadOnlySpan<byte> destination, ushort destinationPort,
        ushort ipDelta, ushort pseudoHeaderDelta, ushort portDelta, FastPathFlowAttributes flags, uint session)
    {
        if (source.Length != destination.Length)
        {
            throw new ArgumentException("both addresses must be of one family", nameof(destination));
        }
        this.source = FastPathAddress.From(source);
        this.destination = FastPathAddress.From(destination);
        this.sourcePort = FastPathFlowKey.ToNetworkOrder(sourcePort);
        this.destinationPort = FastPathFlowKey.ToNetworkOrder(destinationPort);
        // The program hands these to bpf_l3/l4_csum_replace as loaded from memory, which sum the
        // packet's words as they lie in it: the bytes must be the delta's big-endian bytes.
        this.ipDelta = FastPathFlowKey.ToNetworkOrder(ipDelta);
        this.pseudoHeaderDelta = FastPathFlowKey.ToNetworkOrder(pseudoHeaderDelta);
        this.portDelta = FastPathFlowKey.ToNetworkOrder(portDelta);
        this.flags = flags;
        this.session = session;
        reserved = 0;
        lastSeenNanoseconds = 0;
        packets = 0;
        bytes = 0;
    }

    public readonly FastPathAddress Source => source;

    public readonly FastPathAddress Destination => destination;

    public readonly ushort SourcePort => FastPathFlowKey.FromNetworkOrder(sourcePort);

    public readonly ushort DestinationPort => FastPathFlowKey.FromNetworkOrder(destinationPort);

    public readonly ushort IpDelta => FastPathFlowKey.FromNetworkOrder(ipDelta);

    public readonly ushort PseudoHeaderDelta => FastPathFlowKey.FromNetworkOrder(pseudoHeaderDelta);

    public readonly ushort PortDelta => FastPathFlowKey.FromNetworkOrder(portDelta);

    public readonly FastPathFlowAttributes Flags => flags;

    public readonly uint Session => session;

    /// <summary>CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) of the last packet rewritten; 0: none yet.</summary>
    public readonly ulong LastSeenNanoseconds => lastSeenNanoseconds;

    /// <summary>Packets the program rewrote in this direction.</summary>
    public readonly ulong Packets => packets;

    /// <summary>Their IP lengths (a GSO packet counts its whole length).</summary>
    public readonly ulong Bytes => bytes;
}
