using NatGate.Core.Addressing;
using NatGate.Core.Translation.Npt;

namespace NatGate.Core.Offload;

/// <summary>
/// A cache of decided sessions below the engine that rewrites their packets without it: the
/// kernel's tc program (NatGate.Linux.FastPath) or, in tests, <see cref="InMemorySessionOffload"/>.
/// The engine is the only authority (DESIGN.md, "Two paths"): it adds a session once it is
/// decided and removes it when the session ends, and it asks the cache what traffic it carried
/// before it expires a session or lists it. Called on the engine's thread.
/// </summary>
public interface ISessionOffload
{
    /// <summary>Adds (or replaces) both directions of a session; false when the cache refuses it (full), and the session stays with the engine alone.</summary>
    bool TryAdd<TAddress>(in OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>;

    /// <summary>Removes both directions of a session.</summary>
    void Remove<TAddress>(in OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>;

    /// <summary>
    /// What the cache carried of a session since it was added, with last-seen times on the
    /// engine's clock (<paramref name="nowTicks"/> is now); false when it holds nothing of it.
    /// </summary>
    bool TryGetActivity<TAddress>(in OffloadedSession<TAddress> session, long nowTicks, out OffloadActivity activity)
        where TAddress : unmanaged, IFlowAddress<TAddress>;

    /// <summary>
    /// Replaces the NPTv6 mappings (RFC 6296) the cache translates with the engine's, in the
    /// engine's matching order (the first of two with one internal, or one external, prefix is
    /// the one the engine uses). They come from the loaded rules, not from sessions: the engine
    /// calls this whenever its rule set changes, and once when it is given the cache. Stateless,
    /// so nothing comes back from the cache but its counters.
    /// </summary>
    void SetPrefixTranslations(IReadOnlyList<Nptv6Mapping> mappings);
}

/// <summary>
/// The traffic a cache carried for one session: per direction (forward: the way the session was
/// opened) the packets and bytes, and when the last one went (ticks on the engine's clock; 0: none).
/// </summary>
public readonly record struct OffloadActivity(long LastSeenForwardTicks, long LastSeenReplyTicks,
    ulong PacketsForward, ulong BytesForward, ulong PacketsReply, ulong BytesReply)
{
    public bool IsEmpty => PacketsForward == 0 && PacketsReply == 0;
}
