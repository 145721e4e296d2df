namespace NatGate.Linux.FastPath;

/// <summary>The program's counters (natgate_fastpath.h, enum natgate_stat), summed over CPUs.</summary>
/// <param name="Rewritten">Packets rewritten by a session's entry and passed on to routing.</param>
/// <param name="RewrittenBytes">Their IP lengths.</param>
/// <param name="Missed">Translatable packets with no entry: left to the engine.</param>
/// <param name="TcpControl">TCP SYN, FIN or RST: left to the engine.</param>
/// <param name="Fragments">IPv4 fragments or IPv6 Fragment headers: left to the engine.</param>
/// <param name="NotHandled">IP options, extension headers, ICMP errors, TTL or hop limit 1 or less, other protocols.</param>
/// <param name="RewriteFailed">A helper refused mid-rewrite: dropped, never passed on half rewritten.</param>
/// <param name="PrefixRewritten">IPv6 packets whose address an NPTv6 entry (natgate_prefixes) rewrote.</param>
/// <param name="PrefixRewrittenBytes">Their IP lengths.</param>
/// <param name="PrefixToEngine">A prefix matched, but the engine must see the packet (hairpinning, ICMPv6 errors, extension headers, the host's own traffic, a 0xFFFF word).</param>
/// <param name="Forwarded">Of <paramref name="Rewritten"/>: handed by the program to their egress device (the route and neighbour known); the rest went on to the kernel's forwarding.</param>
public readonly record struct FastPathStatistics(ulong Rewritten, ulong RewrittenBytes, ulong Missed, ulong TcpControl,
    ulong Fragments, ulong NotHandled, ulong RewriteFailed, ulong PrefixRewritten, ulong PrefixRewrittenBytes, ulong PrefixToEngine, ulong Forwarded)
{
    /// <summary>NATGATE_STAT_COUNT.</summary>
    internal const int Count = 11;
}
