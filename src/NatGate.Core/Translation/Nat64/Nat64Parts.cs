using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation.Nat64;

/// <summary>
/// What stateful NAT64 owns in the engine: a flow table of its own, one table shape with
/// NAT66's, whose sessions keep the IPv6 tuple as they keep any other and the IPv4 tuple in
/// IPv4-mapped addresses (::ffff:a.b.c.d), so an IPv4 packet is looked up by mapping its
/// addresses; the session store over it, whose mappings give their ports back to IPv4's pools
/// (NAT64 and IPv4 NAPT share one port allocator per external address, so they never hand out
/// the same port); the buffer a packet is translated into, since its header changes length;
/// the identification counter for the IPv4 packets it writes; its fragment tracker, whose
/// datagrams of either side are keyed in IPv6 addresses (an IPv4 datagram's in IPv4-mapped ones);
/// and the queue of the pieces an IPv4 packet was split into beyond the first (RFC 7915 4.1).
/// Made with the first packet a NAT64 rule takes.
/// </summary>
internal sealed class Nat64Parts : IMappingPorts<Ipv6Address>
{
    private readonly List<Nat64Prefix> prefixes = [];
    private ushort identification;

    // The pieces waiting to be taken, each in a slot of the minimum MTU: a ring of PieceSlots.
    private readonly byte[] pieces = GC.AllocateUninitializedArray<byte>(PieceSlots * Ipv6FragmentSplitter.MinimumMtu);
    private readonly int[] pieceLengths = new int[PieceSlots];
    private int firstPiece;
    private int pieceCount;

    /// <summary>Pieces queued at most: a 64 KiB IPv4 packet makes 54, and the worker takes them after each batch.</summary>
    public const int PieceSlots = 128;

    public Nat64Parts(FlowTable<Ipv6Address> table, RuleSlotTable rules, AddressPools<Ipv4Address> pools, NatCounters counters, SessionCensus census,
        FragmentTracker<Ipv6Address> fragments)
    {
        Table = table;
        Pools = pools;
        Fragments = fragments;
        Sessions = new SessionStore<Ipv6Address>(table, rules, this, counters, census);
    }

    /// <summary>
    /// The datagrams whose first fragment NAT64 translated, so their later fragments follow it, and
    /// the early IPv6 fragments held for theirs. IPv4 early fragments wait in IPv4's tracker, since
    /// until the first comes no one knows whose they are.
    /// </summary>
    public FragmentTracker<Ipv6Address> Fragments { get; }

    /// <summary>Pieces waiting to be taken.</summary>
    public int QueuedPieces => pieceCount;

    /// <summary>Whether <paramref name="count"/> more pieces fit the queue.</summary>
    public bool HasRoomForPieces(int count) => pieceCount + count <= PieceSlots;

    /// <summary>Queues piece <paramref name="index"/> of <paramref name="packet"/> (the caller checked the room).</summary>
    public void QueuePiece(ReadOnlySpan<byte> packet, int index)
    {
        int slot = (firstPiece + pieceCount) % PieceSlots;
        pieceLengths[slot] = Ipv6FragmentSplitter.WritePiece(packet, index, pieces.AsSpan(slot * Ipv6FragmentSplitter.MinimumMtu, Ipv6FragmentSplitter.MinimumMtu));
        pieceCount++;
    }

    /// <summary>Copies out the oldest queued piece.</summary>
    public bool TryTakePiece(Span<byte> destination, out int length)
    {
        length = 0;
        if (pieceCount == 0 || destination.Length < pieceLengths[firstPiece])
        {
            return false;
        }
        length = pieceLengths[firstPiece];
        pieces.AsSpan(firstPiece * Ipv6FragmentSplitter.MinimumMtu, length).CopyTo(destination);
        firstPiece = (firstPiece + 1) % PieceSlots;
        pieceCount--;
        return true;
    }

    public FlowTable<Ipv6Address> Table { get; }

    public SessionStore<Ipv6Address> Sessions { get; }

    /// <summary>IPv4's address pools: NAT64's external ports are taken from them.</summary>
    public AddressPools<Ipv4Address> Pools { get; }

    /// <summary>
    /// Where a packet is translated to before it is copied back over the original (the stateless
    /// translators write into a separate span): the longest IPv4 packet and its growth.
    /// </summary>
    public byte[] Output { get; } = GC.AllocateUninitializedArray<byte>(ushort.MaxValue + Ipv4ToIpv6Translator.MaximumGrowth);

    /// <summary>
    /// The NAT64 prefixes sessions were made through: their packets still reach NAT64 after their
    /// rule is removed, as IPv4's sessions outlive theirs. A handful at most, never shrinking. A
    /// span, so that the packet path's walk over them allocates no enumerator.
    /// </summary>
    public ReadOnlySpan<Nat64Prefix> Prefixes => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(prefixes);

    public void Remember(Nat64Prefix prefix)
    {
        if (!prefixes.Contains(prefix))
        {
            prefixes.Add(prefix);
        }
    }

    /// <summary>
    /// The identification of the next IPv4 packet made from IPv6 without a Fragment header: a
    /// counter, so it does not repeat quickly (RFC 7915 section 5.1, RFC 6864 section 4).
    /// </summary>
    public ushort NextIdentification() => ++identification;

    /// <summary>A NAT64 mapping ended: its IPv4 port goes back to the IPv4 allocator it came from.</summary>
    public void MappingEnded(in Session<Ipv6Address> endedMapping, long nowTicks)
    {
        if ((endedMapping.Attributes & SessionAttributes.PortAllocated) != 0)
        {
            IpProtocol protocol = endedMapping.Original.Protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : endedMapping.Original.Protocol;
            Pools.Release(endedMapping.ExternalAddress.MappedIpv4, protocol, endedMapping.ExternalPort, endedMapping.InsideAddress, nowTicks);
        }
    }
}
