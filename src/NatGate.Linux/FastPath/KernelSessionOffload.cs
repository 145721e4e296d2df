using System.Diagnostics;
using NatGate.Core.Addressing;
using NatGate.Core.Offload;
using NatGate.Core.Sessions;
using NatGate.Core.Translation.Npt;

namespace NatGate.Linux.FastPath;

/// <summary>
/// The engine's offload cache in the kernel: each session becomes the tc program's two map
/// entries (<see cref="FastPathProgram"/>), one per direction, keyed by the tuple its packets
/// arrive with. Activity comes back from the entries: the program stamps CLOCK_MONOTONIC
/// nanoseconds (bpf_ktime_get_ns), which is Stopwatch's clock on Linux, so a last-seen time
/// maps onto the engine's clock as "so long before now".
/// </summary>
public sealed class KernelSessionOffload(FastPathProgram program) : ISessionOffload
{
    public FastPathProgram Program => program;

    public bool TryAdd<TAddress>(in OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        ((FastPathFlowKey forwardKey, FastPathFlowValue forward), (FastPathFlowKey replyKey, FastPathFlowValue reply)) = EntriesOf(session);
        if (!program.TryAdd(forwardKey, forward))
        {
            return false;
        }
        if (!program.TryAdd(replyKey, reply))
        {
            // Both directions or neither: half a session in the kernel would carry one way only.
            program.Remove(forwardKey);
            return false;
        }
        return true;
    }

    /// <summary>A session's two map entries: forward packets as they arrive, and replies as they arrive.</summary>
    public static ((FastPathFlowKey Key, FastPathFlowValue Value) Forward, (FastPathFlowKey Key, FastPathFlowValue Value) Reply) EntriesOf<TAddress>(in OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        bool icmp = session.Original.Protocol == TAddress.IcmpProtocol;
        FastPathFlowAttributes outside = session.InitiatedOutside ? FastPathFlowAttributes.InitiatedOutside : FastPathFlowAttributes.None;
        // A query session is made by its request: requests go the session's way, replies come back (RFC 5508 REQ-3).
        FastPathFlowAttributes forwardFlags = FastPathFlowAttributes.Forward | outside | (icmp ? FastPathFlowAttributes.IcmpRequests : FastPathFlowAttributes.None);
        return ((KeyOf(session.Original), ValueOf(session.Translated, session.ForwardDeltas, forwardFlags, session.Id)),
            (KeyOf(session.ReplyKey), ValueOf(session.ReplyRewrite, session.ReplyDeltas, outside, session.Id)));
    }

    public void Remove<TAddress>(in OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        program.Remove(KeyOf(session.Original));
        program.Remove(KeyOf(session.ReplyKey));
    }

    public bool TryGetActivity<TAddress>(in OffloadedSession<TAddress> session, long nowTicks, out OffloadActivity activity)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        if (!program.TryGet(KeyOf(session.Original), out FastPathFlowValue forward) || !program.TryGet(KeyOf(session.ReplyKey), out FastPathFlowValue reply))
        {
            activity = default;
            return false;
        }
        long monotonicNow = Stopwatch.GetTimestamp();
        activity = new OffloadActivity(TicksOf(forward.LastSeenNanoseconds, monotonicNow, nowTicks), TicksOf(reply.LastSeenNanoseconds, monotonicNow, nowTicks),
            forward.Packets, forward.Bytes, reply.Packets, reply.Bytes);
        return true;
    }

    /// <summary>
    /// Makes natgate_prefixes hold the engine's NPTv6 mappings and nothing else: entries that
    /// are new or changed are written, entries no mapping makes any more are removed. A mapping
    /// the trie has no room for stays with the engine (its packets go on through the TUN).
    /// </summary>
    public void SetPrefixTranslations(IReadOnlyList<Nptv6Mapping> mappings)
    {
        Dictionary<FastPathPrefixKey, FastPathPrefixValue> wanted = PrefixEntriesOf(mappings);
        foreach ((FastPathPrefixKey key, FastPathPrefixValue value) in program.ReadPrefixes())
        {
            if (!wanted.TryGetValue(key, out FastPathPrefixValue kept))
            {
                program.RemovePrefix(key);
            }
            else if (kept == value)
            {
                wanted.Remove(key); // already there, as it should be
            }
        }
        foreach ((FastPathPrefixKey key, FastPathPrefixValue value) in wanted)
        {
            program.TryAddPrefix(key, value);
        }
    }

    /// <summary>
    /// The natgate_prefixes entries of the engine's mappings: two each, the internal prefix
    /// outbound and the external one inbound. Of two mappings with one key, the first in the
    /// engine's matching order is the one the engine uses, and the one kept.
    /// </summary>
    public static Dictionary<FastPathPrefixKey, FastPathPrefixValue> PrefixEntriesOf(IReadOnlyList<Nptv6Mapping> mappings)
    {
        ArgumentNullException.ThrowIfNull(mappings);
        var entries = new Dictionary<FastPathPrefixKey, FastPathPrefixValue>();
        Span<byte> @internal = stackalloc byte[16], external = stackalloc byte[16];
        foreach (Nptv6Mapping mapping in mappings)
        {
            int length = mapping.Internal.Length;
            new Ipv6Address(mapping.Internal.Network).Write(@internal);
            new Ipv6Address(mapping.External.Network).Write(external);
            entries.TryAdd(new FastPathPrefixKey(FastPathPrefixDirection.Outbound, @internal, length),
                new FastPathPrefixValue(external, length, mapping.OutboundAdjustment, FastPathPrefixDirection.Outbound));
            entries.TryAdd(new FastPathPrefixKey(FastPathPrefixDirection.Inbound, external, length),
                new FastPathPrefixValue(@internal, length, mapping.InboundAdjustment, FastPathPrefixDirection.Inbound));
        }
        return entries;
    }

    /// <summary>A direction's map key: the tuple its packets arrive with.</summary>
    public static FastPathFlowKey KeyOf<TAddress>(FlowKey<TAddress> key)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        Span<byte> addresses = stackalloc byte[32];
        key.Source.Write(addresses);
        key.Destination.Write(addresses[16..]);
        return new FastPathFlowKey((byte)key.Protocol, addresses[..TAddress.Size], key.SourcePort, addresses.Slice(16, TAddress.Size), key.DestinationPort);
    }

    /// <summary>A direction's map value: what its packets become, with the deltas that take them there.</summary>
    public static FastPathFlowValue ValueOf<TAddress>(FlowKey<TAddress> rewrite, OffloadDeltas deltas, FastPathFlowAttributes flags, int session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        Span<byte> addresses = stackalloc byte[32];
        rewrite.Source.Write(addresses);
        rewrite.Destination.Write(addresses[16..]);
        return new FastPathFlowValue(addresses[..TAddress.Size], rewrite.SourcePort, addresses.Slice(16, TAddress.Size), rewrite.DestinationPort,
            deltas.Ip, deltas.PseudoHeader, deltas.Ports, flags, (uint)session);
    }

    /// <summary>
    /// A forward entry as the session the engine had offloaded (the key the first packet's tuple,
    /// the value what it became), and when the kernel last carried it, on the engine's clock; for
    /// a restart adopting the map.
    /// </summary>
    public static (OffloadedSession<TAddress> Session, long LastSeenTicks) SessionOf<TAddress>(in FastPathFlowKey key, in FastPathFlowValue value, long nowTicks)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FastPathAddress source = key.Source, destination = key.Destination, newSource = value.Source, newDestination = value.Destination;
        var protocol = (Core.Packets.IpProtocol)key.Protocol;
        var original = new FlowKey<TAddress>(protocol, TAddress.Read(((ReadOnlySpan<byte>)source)[..TAddress.Size]), key.SourcePort,
            TAddress.Read(((ReadOnlySpan<byte>)destination)[..TAddress.Size]), key.DestinationPort);
        var translated = new FlowKey<TAddress>(protocol, TAddress.Read(((ReadOnlySpan<byte>)newSource)[..TAddress.Size]), value.SourcePort,
            TAddress.Read(((ReadOnlySpan<byte>)newDestination)[..TAddress.Size]), value.DestinationPort);
        bool outside = (value.Flags & FastPathFlowAttributes.InitiatedOutside) != 0;
        return (new OffloadedSession<TAddress>((int)value.Session, original, translated, outside),
            TicksOf(value.LastSeenNanoseconds, Stopwatch.GetTimestamp(), nowTicks));
    }

    // Stopwatch on Linux reads CLOCK_MONOTONIC in nanoseconds, bpf_ktime_get_ns's clock.
    private static long TicksOf(ulong lastSeenNanoseconds, long monotonicNow, long nowTicks)
    {
        if (lastSeenNanoseconds == 0)
        {
            return 0;
        }
        long agoNanoseconds = Math.Max(0, (long)((ulong)monotonicNow * (1_000_000_000UL / (ulong)Stopwatch.Frequency) - lastSeenNanoseconds));
        return nowTicks - agoNanoseconds / 100;
    }
}
