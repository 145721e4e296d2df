namespace NatGate.Core.Translation;

/// <summary>
/// The engine's counters: the ipnat -s figures plus per-reason drops. Plain fields, bumped by
/// the one thread that owns the engine; readers take <see cref="NatEngine.Statistics"/>.
/// </summary>
internal sealed class NatCounters
{
    private readonly long[] drops = new long[Enum.GetValues<DropReason>().Length];

    /// <summary>Packets translated from outside to inside (ipnat "mapped in").</summary>
    public long MappedIn;

    /// <summary>Packets translated from inside to outside (ipnat "mapped out").</summary>
    public long MappedOut;

    public long BytesIn;
    public long BytesOut;

    /// <summary>Packets that matched nothing and were passed on untouched.</summary>
    public long Passed;

    /// <summary>Sessions created (ipnat "added").</summary>
    public long Added;

    /// <summary>Sessions removed by their timers (ipnat "expired").</summary>
    public long Expired;

    /// <summary>Sessions removed by flush, purge or control.</summary>
    public long Removed;

    /// <summary>Sessions ended because their external address left the host.</summary>
    public long AddressGone;

    /// <summary>New sessions refused for lack of room or ports (ipnat "no memory").</summary>
    public long NoMemory;

    /// <summary>Malformed packets (ipnat "bad nat").</summary>
    public long Bad;

    public long IcmpErrorsTranslated;

    /// <summary>Refusals that got no ICMP error because the refusal replies were over their rate.</summary>
    public long RefusalRepliesSuppressed;

    public long FragmentsTranslated;

    public long Drops(DropReason reason) => drops[(int)reason];

    internal void CountDrop(DropReason reason) => drops[(int)reason]++;

    public IReadOnlyDictionary<DropReason, long> DropsByReason()
    {
        var result = new Dictionary<DropReason, long>();
        foreach (DropReason reason in Enum.GetValues<DropReason>())
        {
            if (reason != DropReason.None)
            {
                result[reason] = drops[(int)reason];
            }
        }
        return result;
    }
}
