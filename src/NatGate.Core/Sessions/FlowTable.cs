using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using System.Runtime.CompilerServices;
using NatGate.Core.Rules;
using NatGate.Core.Timers;

namespace NatGate.Core.Sessions;

/// <summary>Bounds of a flow table (DESIGN.md "The flow table", RFC 6888 REQ-4/5).</summary>
public sealed record FlowTableLimits
{
    /// <summary>Sessions the table holds at most; memory for them is reserved up front.</summary>
    public int MaximumSessions { get; init; } = 1 << 20;

    /// <summary>
    /// Sessions one inside host may hold at most (RFC 6888 REQ-4); 0 for no limit. The default,
    /// 4,096, is a sixteenth of one external address's 64,512 ports: one busy or hostile host
    /// cannot take an address, or the table, from the others.
    /// </summary>
    public int MaximumSessionsPerHost { get; init; } = 4096;

    /// <summary>
    /// Hash probe limit, NatGate's bucket limit (IP Filter's ipf_nat_maxbucket). Linear probing at
    /// half load makes runs of about 80 entries somewhere in a table of 10 million; 256 leaves room.
    /// </summary>
    public int MaximumProbe { get; init; } = 256;
}

/// <summary>Why the table refused a new session. Every refusal is an ENOMEM to a control client.</summary>
public enum TableRefusal : byte
{
    None,
    TableFull,
    HostLimit,
    BucketFull,
    Duplicate,
}

/// <summary>
/// The sessions, stored as structs in one flat array, and the indexes over them: the flow
/// index, which holds both tuples of every session (the first packet's, and the translated one
/// reversed, as conntrack keys both tuples in one table), and the two mapping indexes (inside
/// endpoint to mapping, external endpoint to mapping). A mapping has no
/// record of its own: its sessions form a circular list and one of them, the representative,
/// is what the mapping indexes point at. No allocation per packet; creation and removal are O(1).
/// </summary>
internal sealed class FlowTable<TAddress>
    where TAddress : unmanaged, IFlowAddress<TAddress>
{
    private readonly SessionArray<TAddress> sessions;
    // Slots freed by removals form a list through their own MappingNext: no array of its own (4
    // bytes a session saved). Slots from neverUsed up have never held a session: they are taken
    // in order when the list is empty, so building a table writes none of its memory, and an
    // unused table (IPv4's beside IPv6 sessions, or the reverse) costs no resident memory.
    private int freeHead = -1;
    private int neverUsed;
    private int freeCount;
    // Both tuples of each session, so that a packet of either direction costs one lookup (one
    // cache miss at a million sessions, where separate forward and reply indexes made an inbound
    // packet miss in the forward one first). A value is slot * 2, + 1 for the reply tuple.
    private readonly FlowIndex flowIndex;
    private readonly FlowIndex mappingInsideIndex;
    private readonly FlowIndex mappingExternalIndex;
    private readonly Dictionary<TAddress, int> sessionsPerHost = [];

    // Filtering in constant time (RFC 4787 REQ-8 without walking a mapping's sessions): for each
    // mapping of two sessions or more, how many of its sessions talk to each remote address, and
    // to each remote address and port. A mapping of one session is checked against that session
    // alone, so the common case costs no memory. Keys: (protocol, external address and port,
    // remote address, remote port or 0).
    private readonly HashSet<FlowKey<TAddress>> countedMappings = [];
    private readonly Dictionary<FlowKey<TAddress>, int> remoteAddresses = [];
    private readonly Dictionary<FlowKey<TAddress>, int> remoteEndpoints = [];
    private readonly ulong seed;

    public FlowTable(FlowTableLimits limits, long epochTicks, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.MaximumSessions, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(limits.MaximumSessions, MaximumCapacity);
        Limits = limits;
        EpochTicks = epochTicks;
        this.seed = seed;
        int capacity = limits.MaximumSessions;
        sessions = new SessionArray<TAddress>(capacity);
        freeCount = capacity;
        // IPv4's 80-byte sessions keep their indexes at most half full (2 entries a value). An
        // IPv6 session is 128 bytes: half-full indexes would add 32 a session, 168 with the timer
        // links, over the 160-byte budget (issue 12). At most two-thirds full (1.5 entries a
        // value) they add 24: a hit takes about two probes instead of one and a half (Knuth,
        // (1 + 1 / (1 - load)) / 2), the 7-bit tags keep mismatches off the sessions, and probes
        // stay far below the bucket limit (a full table of ten million is filled without one refusal).
        double slotsPerValue = TAddress.Size > Ipv4Address.Size ? 1.5 : 2;
        flowIndex = new FlowIndex(2 * capacity, limits.MaximumProbe, slotsPerValue);
        mappingInsideIndex = new FlowIndex(capacity, limits.MaximumProbe, slotsPerValue);
        mappingExternalIndex = new FlowIndex(capacity, limits.MaximumProbe, slotsPerValue);
        Wheel = new TimingWheel(capacity, epochTicks);
    }

    /// <summary>The most sessions a table can hold: the flow index stores slot * 2 + 1.</summary>
    public const int MaximumCapacity = FlowIndex.MaximumValue / 2;

    public FlowTableLimits Limits { get; }

    public long EpochTicks { get; }

    public TimingWheel Wheel { get; }

    public int Capacity => sessions.Length;

    public int Count => sessions.Length - freeCount;

    public int MappingCount => mappingInsideIndex.Count;

    /// <summary>Bytes held by the table: sessions (the free list lives in them) and indexes; the wheel reports its own.</summary>
    public long MemoryBytes => sessions.MemoryBytes
        + flowIndex.MemoryBytes + mappingInsideIndex.MemoryBytes + mappingExternalIndex.MemoryBytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Session<TAddress> At(int index) => ref sessions[index];

    public int SessionsOfHost(TAddress insideAddress) => sessionsPerHost.GetValueOrDefault(insideAddress);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint SecondsSinceEpoch(long nowTicks) => nowTicks <= EpochTicks ? 0 : (uint)((nowTicks - EpochTicks) / TimeSpan.TicksPerSecond);

    public long TicksOf(uint seconds) => EpochTicks + seconds * TimeSpan.TicksPerSecond;

    /// <summary>
    /// First stage of a batch: starts loading the index entry the lookup of a packet with
    /// <paramref name="hash"/> (its key's hash) will read first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PrefetchIndex(ulong hash) => flowIndex.Prefetch(hash);

    /// <summary>
    /// Second stage: with the index entries loaded, starts loading the session the lookup will
    /// likely find. False when there is none: the packet probably starts a session (see
    /// <see cref="PrefetchMapping"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe bool PrefetchSession(ulong hash)
    {
        int candidate = flowIndex.Candidate(hash);
        if (candidate < 0)
        {
            return false;
        }
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            // 80 bytes starting 0, 16, 32 or 48 bytes into a line, or 128 bytes on a line boundary (see SessionArray): two lines.
            byte* session = (byte*)Unsafe.AsPointer(ref sessions[candidate >> 1]);
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(session);
            System.Runtime.Intrinsics.X86.Sse.Prefetch0(session + 64);
        }
        return true;
    }

    /// <summary>
    /// For a packet that probably starts a session: starts loading the index entry of its inside
    /// endpoint's mapping, the first thing session creation looks up (the endpoint-independent
    /// key, the default mapping).
    /// </summary>
    public void PrefetchMapping(in FlowKey<TAddress> key)
        => mappingInsideIndex.Prefetch(InsideMappingKey(key.Protocol, key.Source, key.SourcePort, TAddress.Any, 0, MappingBehavior.EndpointIndependent).Hash(seed));

    public ulong HashOf(in FlowKey<TAddress> key) => key.Hash(seed);

    /// <summary>
    /// The session a packet with <paramref name="key"/> belongs to, or -1: <paramref name="forward"/>
    /// tells whether the key is the session's first tuple or its reply (the translated tuple reversed).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(in FlowKey<TAddress> key, out bool forward)
    {
        var matcher = new FlowMatcher(sessions, key);
        int value = flowIndex.Find(key.Hash(seed), ref matcher);
        forward = (value & 1) == 0;
        return value >> 1;
    }

    /// <summary>Whether any session has <paramref name="key"/> as either of its tuples.</summary>
    public bool Contains(in FlowKey<TAddress> key) => Find(key, out _) >= 0;

    /// <summary>The session whose first packet had <paramref name="key"/>, or -1.</summary>
    public int FindForward(in FlowKey<TAddress> key)
    {
        var matcher = new DirectionMatcher(sessions, key, reply: 0);
        return flowIndex.Find(key.Hash(seed), ref matcher) >> 1;
    }

    /// <summary>The session that a packet with <paramref name="key"/> answers (its translated tuple reversed), or -1.</summary>
    public int FindReply(in FlowKey<TAddress> key)
    {
        var matcher = new DirectionMatcher(sessions, key, reply: 1);
        return flowIndex.Find(key.Hash(seed), ref matcher) >> 1;
    }

    /// <summary>The representative of the mapping for this inside endpoint (key from <see cref="InsideMappingKey"/>), or -1.</summary>
    public int FindMappingByInside(in FlowKey<TAddress> mappingKey)
    {
        var matcher = new MappingInsideMatcher(sessions, mappingKey);
        return mappingInsideIndex.Find(mappingKey.Hash(seed), ref matcher);
    }

    /// <summary>The representative of the mapping that owns this external endpoint, or -1.</summary>
    public int FindMappingByExternal(IpProtocol protocol, TAddress address, ushort port)
    {
        var key = ExternalMappingKey(protocol, address, port);
        var matcher = new MappingExternalMatcher(sessions, key);
        return mappingExternalIndex.Find(key.Hash(seed), ref matcher);
    }

    /// <summary>The key a mapping is found by from inside: the inside endpoint, plus the remote address or endpoint for dependent mappings.</summary>
    public static FlowKey<TAddress> InsideMappingKey(IpProtocol protocol, TAddress insideAddress, ushort insidePort, TAddress remoteAddress, ushort remotePort, MappingBehavior behavior)
        => Behaviours.MappingPolicy.For(behavior).Key(protocol, insideAddress, insidePort, remoteAddress, remotePort);

    public static FlowKey<TAddress> ExternalMappingKey(IpProtocol protocol, TAddress address, ushort port) => new(protocol, address, port, TAddress.Any, 0);

    public static MappingBehavior BehaviorOf(SessionAttributes flags) => Behaviours.MappingPolicy.Of(flags).Behavior;

    public static SessionAttributes FlagsOf(MappingBehavior behavior) => Behaviours.MappingPolicy.For(behavior).Flags;

    /// <summary>
    /// A session's mapping key from its attribute bits, as <see cref="Behaviours.MappingPolicy.Key"/>
    /// makes it, but without a virtual call: the table computes it on every insert and removal.
    /// </summary>
    private static FlowKey<TAddress> InsideMappingKeyOf(in Session<TAddress> session)
        => (session.Attributes & SessionAttributes.MappingAddressAndPortDependent) != 0
            ? new FlowKey<TAddress>(session.Original.Protocol, session.InsideAddress, session.InsidePort, session.RemoteAddress, session.RemotePort)
            : (session.Attributes & SessionAttributes.MappingAddressDependent) != 0
                ? new FlowKey<TAddress>(session.Original.Protocol, session.InsideAddress, session.InsidePort, session.RemoteAddress, 0)
                : new FlowKey<TAddress>(session.Original.Protocol, session.InsideAddress, session.InsidePort, TAddress.Any, 0);

    private static FlowKey<TAddress> ExternalMappingKeyOf(in Session<TAddress> session)
        => ExternalMappingKey(session.Original.Protocol, session.ExternalAddress, session.ExternalPort);

    /// <summary>
    /// Why a session like <paramref name="candidate"/> could not be added, or None. Checks every
    /// bound before anything changes, so a refusal leaves the table as it was.
    /// </summary>
    public TableRefusal CheckRoom(in Session<TAddress> candidate, bool startsMapping)
    {
        if (freeCount == 0)
        {
            return TableRefusal.TableFull;
        }
        if (Limits.MaximumSessionsPerHost > 0 && SessionsOfHost(candidate.InsideAddress) >= Limits.MaximumSessionsPerHost)
        {
            return TableRefusal.HostLimit;
        }
        // The reply tuple's and the external endpoint's index entries are rarely in cache: start
        // loading both before the checks below wait for either, so the two misses overlap.
        ulong replyHash = candidate.Translated.Reverse().Hash(seed);
        flowIndex.Prefetch(replyHash);
        if (startsMapping)
        {
            mappingExternalIndex.Prefetch(ExternalMappingKeyOf(candidate).Hash(seed));
        }
        // A tuple that some session already has, in either role, would make packets ambiguous;
        // so would a session whose reply tuple is its own original (a host hairpinned to itself).
        if (Contains(candidate.Original) || Contains(candidate.Translated.Reverse()) || candidate.Original == candidate.Translated.Reverse())
        {
            return TableRefusal.Duplicate;
        }
        if (!flowIndex.HasRoomForBoth(candidate.Original.Hash(seed), replyHash))
        {
            return TableRefusal.BucketFull;
        }
        if (startsMapping
            && (!mappingInsideIndex.HasRoom(InsideMappingKeyOf(candidate).Hash(seed))
                || !mappingExternalIndex.HasRoom(ExternalMappingKeyOf(candidate).Hash(seed))))
        {
            return TableRefusal.BucketFull;
        }
        return TableRefusal.None;
    }

    /// <summary>
    /// Adds a session. With <paramref name="mappingRepresentative"/> >= 0 it joins that mapping;
    /// with <paramref name="startsMapping"/> it becomes a new mapping's representative. Call
    /// <see cref="CheckRoom"/> first; this method assumes room.
    /// </summary>
    public int Add(in Session<TAddress> candidate, int mappingRepresentative, bool startsMapping)
    {
        int index = freeHead >= 0 ? freeHead : neverUsed++;
        ref Session<TAddress> session = ref sessions[index];
        if (freeHead >= 0)
        {
            freeHead = session.MappingNext;
        }
        freeCount--;
        session = candidate;
        session.Attributes = (session.Attributes & ~(SessionAttributes.InMapping | SessionAttributes.MappingRepresentative)) | SessionAttributes.InUse;
        session.MappingNext = -1;
        session.MappingPrevious = -1;
        flowIndex.TryInsert(session.Original.Hash(seed), 2 * index);
        flowIndex.TryInsert(session.Translated.Reverse().Hash(seed), (2 * index) + 1);
        if (mappingRepresentative >= 0)
        {
            ref Session<TAddress> representative = ref sessions[mappingRepresentative];
            FlowKey<TAddress> mapping = ExternalMappingKeyOf(representative);
            if (countedMappings.Add(mapping))
            {
                CountRemote(representative, +1); // the mapping's second session: start counting
            }
            CountRemote(session, +1);
            // Join the circle right after the representative.
            int next = representative.MappingNext;
            session.MappingPrevious = mappingRepresentative;
            session.MappingNext = next;
            sessions[next].MappingPrevious = index;
            representative.MappingNext = index;
            session.Attributes |= SessionAttributes.InMapping;
            // The external port belongs to the mapping, not to this session.
            session.Attributes &= ~SessionAttributes.PortAllocated;
        }
        else if (startsMapping)
        {
            session.MappingNext = index;
            session.MappingPrevious = index;
            session.Attributes |= SessionAttributes.InMapping | SessionAttributes.MappingRepresentative;
            mappingInsideIndex.TryInsert(InsideMappingKeyOf(session).Hash(seed), index);
            mappingExternalIndex.TryInsert(ExternalMappingKeyOf(session).Hash(seed), index);
        }
        ref int hostCount = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(sessionsPerHost, session.InsideAddress, out _);
        hostCount++;
        return index;
    }

    /// <summary>
    /// Removes a session. Returns true when it was the last session of its mapping, so the
    /// mapping ended and its external port (if <see cref="SessionAttributes.PortAllocated"/> was set
    /// on the representative) must be released by the caller; <paramref name="endedMapping"/>
    /// is then a copy of the representative.
    /// </summary>
    public bool Remove(int index, out Session<TAddress> endedMapping)
    {
        ref Session<TAddress> session = ref sessions[index];
        endedMapping = default;
        var flowHasher = new FlowHasher(sessions, seed);
        flowIndex.Remove(session.Original.Hash(seed), 2 * index, ref flowHasher);
        flowIndex.Remove(session.Translated.Reverse().Hash(seed), (2 * index) + 1, ref flowHasher);
        bool mappingEnded = false;
        if ((session.Attributes & SessionAttributes.InMapping) != 0)
        {
            bool wasRepresentative = (session.Attributes & SessionAttributes.MappingRepresentative) != 0;
            int next = session.MappingNext;
            FlowKey<TAddress> mapping = ExternalMappingKeyOf(session);
            if (countedMappings.Contains(mapping))
            {
                CountRemote(session, -1);
                if (next == index)
                {
                    countedMappings.Remove(mapping);
                }
            }
            if (next == index)
            {
                // The last session of the mapping.
                RemoveMappingIndexes(index);
                mappingEnded = true;
                endedMapping = session;
            }
            else
            {
                int previous = session.MappingPrevious;
                sessions[previous].MappingNext = next;
                sessions[next].MappingPrevious = previous;
                if (wasRepresentative)
                {
                    // Hand the mapping (and its port) to the next session in the circle. Where its
                    // mapping keys are the representative's (always the external one; the inside one
                    // unless a dependent mapping admitted another remote), the index entries change
                    // hands in place: a removal and an insertion could find no room within the
                    // probe limit and lose the mapping from an index.
                    ref Session<TAddress> heir = ref sessions[next];
                    heir.Attributes |= SessionAttributes.MappingRepresentative | (session.Attributes & SessionAttributes.PortAllocated);
                    FlowKey<TAddress> insideKey = InsideMappingKeyOf(session);
                    FlowKey<TAddress> heirInsideKey = InsideMappingKeyOf(heir);
                    if (heirInsideKey == insideKey)
                    {
                        mappingInsideIndex.Replace(insideKey.Hash(seed), index, next);
                    }
                    else
                    {
                        var insideHasher = new MappingInsideHasher(sessions, seed);
                        mappingInsideIndex.Remove(insideKey.Hash(seed), index, ref insideHasher);
                        mappingInsideIndex.TryInsert(heirInsideKey.Hash(seed), next);
                    }
                    mappingExternalIndex.Replace(ExternalMappingKeyOf(session).Hash(seed), index, next);
                }
            }
        }
        TAddress host = session.InsideAddress;
        ref int hostCount = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(sessionsPerHost, host);
        if (!Unsafe.IsNullRef(ref hostCount) && --hostCount <= 0)
        {
            sessionsPerHost.Remove(host);
        }
        Wheel.Cancel(index);
        session = default; // no InUse: free
        session.MappingNext = freeHead;
        session.MappingPrevious = -1;
        freeHead = index;
        freeCount++;
        return mappingEnded;
    }

    private void CountRemote(in Session<TAddress> session, int change)
    {
        FlowKey<TAddress> mapping = ExternalMappingKeyOf(session);
        Count(remoteAddresses, new FlowKey<TAddress>(mapping.Protocol, mapping.Source, mapping.SourcePort, session.RemoteAddress, 0), change);
        Count(remoteEndpoints, new FlowKey<TAddress>(mapping.Protocol, mapping.Source, mapping.SourcePort, session.RemoteAddress, session.RemotePort), change);

        static void Count(Dictionary<FlowKey<TAddress>, int> counts, FlowKey<TAddress> key, int change)
        {
            ref int count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, key, out _);
            count += change;
            if (count <= 0)
            {
                counts.Remove(key);
            }
        }
    }

    /// <summary>
    /// Whether a session of the mapping whose representative is <paramref name="representative"/>
    /// talks to <paramref name="remoteAddress"/> (and, when <paramref name="remotePort"/> is given,
    /// to that port): the filtering question of RFC 4787 REQ-8, answered in constant time.
    /// </summary>
    public bool MappingTalksTo(int representative, TAddress remoteAddress, ushort? remotePort)
    {
        ref Session<TAddress> mapping = ref sessions[representative];
        FlowKey<TAddress> external = ExternalMappingKeyOf(mapping);
        if (!countedMappings.Contains(external))
        {
            // One session: it is the representative.
            return mapping.RemoteAddress == remoteAddress && (remotePort is not { } port || mapping.RemotePort == port);
        }
        return remotePort is { } wanted
            ? remoteEndpoints.ContainsKey(new FlowKey<TAddress>(external.Protocol, external.Source, external.SourcePort, remoteAddress, wanted))
            : remoteAddresses.ContainsKey(new FlowKey<TAddress>(external.Protocol, external.Source, external.SourcePort, remoteAddress, 0));
    }

    private void RemoveMappingIndexes(int representative)
    {
        var insideHasher = new MappingInsideHasher(sessions, seed);
        var externalHasher = new MappingExternalHasher(sessions, seed);
        mappingInsideIndex.Remove(InsideMappingKeyOf(sessions[representative]).Hash(seed), representative, ref insideHasher);
        mappingExternalIndex.Remove(ExternalMappingKeyOf(sessions[representative]).Hash(seed), representative, ref externalHasher);
    }

    /// <summary>Enumerates the sessions of a mapping, starting at its representative.</summary>
    public MappingSessions SessionsOfMapping(int representative) => new(sessions, representative);

    /// <summary>Whether a slot holds no session.</summary>
    public bool IsFree(int slot) => sessions[slot].IsFree;

    /// <summary>Every occupied slot index, in slot order.</summary>
    public IEnumerable<int> OccupiedSlots()
    {
        for (int slot = 0; slot < sessions.Length; slot++)
        {
            if (!sessions[slot].IsFree)
            {
                yield return slot;
            }
        }
    }

    /// <summary>
    /// For tests, never the packet path (O(capacity), allocates): walks the slots, the free list, the
    /// three indexes, the mapping circles, the per-host counts, the filtering counts and the timing
    /// wheel, and describes each way they disagree. Empty when the table is consistent.
    /// </summary>
    /// <param name="everySessionScheduled">
    /// Also require every session to be on the timing wheel, as the engine keeps them between calls
    /// (a table used without the engine schedules nothing).
    /// </param>
    internal IReadOnlyList<string> CheckConsistency(bool everySessionScheduled = false)
    {
        const int maximumProblems = 50;
        var problems = new List<string>();
        int reported = 0;
        void Report(string problem)
        {
            if (++reported <= maximumProblems)
            {
                problems.Add(problem);
            }
        }
        int capacity = sessions.Length;
        string Describe(int slot) => $"session {slot} ({sessions[slot].Original} => {sessions[slot].Translated})";

        // Slots, the count, and the per-host counts recounted.
        int occupied = 0;
        var hostRecount = new Dictionary<TAddress, int>();
        for (int slot = 0; slot < capacity; slot++)
        {
            if (!sessions[slot].IsFree)
            {
                occupied++;
                hostRecount[sessions[slot].InsideAddress] = hostRecount.GetValueOrDefault(sessions[slot].InsideAddress) + 1;
            }
        }
        if (occupied != Count)
        {
            Report($"Count is {Count} but {occupied} slots hold a session");
        }
        foreach ((TAddress host, int count) in hostRecount)
        {
            if (SessionsOfHost(host) != count)
            {
                Report($"host {host} is counted {SessionsOfHost(host)} sessions but holds {count}");
            }
        }
        foreach ((TAddress host, int count) in sessionsPerHost)
        {
            if (!hostRecount.ContainsKey(host))
            {
                Report($"host {host} is counted {count} sessions but holds none");
            }
        }

        // The free list: exactly the free slots below the never-used ones, each once, ending in -1.
        bool[] onFreeList = new bool[capacity];
        int freeListLength = 0;
        for (int slot = freeHead; slot != -1; slot = sessions[slot].MappingNext)
        {
            if ((uint)slot >= (uint)capacity)
            {
                Report($"the free list links to slot {slot}, outside the table");
                break;
            }
            if (onFreeList[slot])
            {
                Report($"the free list comes back to slot {slot}: it loops");
                break;
            }
            if (!sessions[slot].IsFree)
            {
                Report($"{Describe(slot)} is on the free list");
            }
            onFreeList[slot] = true;
            freeListLength++;
        }
        if ((uint)neverUsed > (uint)capacity)
        {
            Report($"the first never-used slot is {neverUsed}, outside the table");
        }
        if (freeListLength + (capacity - neverUsed) != freeCount)
        {
            Report($"the free list holds {freeListLength} slots and {capacity - neverUsed} were never used, but the free count is {freeCount}");
        }
        for (int slot = 0; slot < capacity; slot++)
        {
            if (slot >= neverUsed)
            {
                if (!sessions[slot].IsFree || onFreeList[slot])
                {
                    Report($"never-used slot {slot} is {(onFreeList[slot] ? "on the free list" : "in use")}");
                }
            }
            else if (sessions[slot].IsFree && !onFreeList[slot])
            {
                Report($"free slot {slot} is not on the free list: it is lost");
            }
        }

        // The flow index: every entry names a live session's tuple in its role, and every session
        // is there once under each tuple and found by it in the right direction.
        int[] flowEntries = new int[2 * capacity];
        flowIndex.CheckEntries("flow index", value =>
        {
            int slot = value >> 1;
            if (slot >= capacity)
            {
                Report($"flow index: value {value} names slot {slot}, outside the table");
                return null;
            }
            flowEntries[value]++;
            if (sessions[slot].IsFree)
            {
                Report($"flow index: value {value} names free slot {slot}");
                return null;
            }
            return (value & 1) == 0 ? sessions[slot].Original.Hash(seed) : sessions[slot].Translated.Reverse().Hash(seed);
        }, Report);
        for (int slot = 0; slot < capacity; slot++)
        {
            if (sessions[slot].IsFree)
            {
                continue;
            }
            ref Session<TAddress> session = ref sessions[slot];
            if (flowEntries[2 * slot] != 1 || flowEntries[(2 * slot) + 1] != 1)
            {
                Report($"{Describe(slot)} is in the flow index {flowEntries[2 * slot]} times by its original tuple and {flowEntries[(2 * slot) + 1]} times by its reply tuple, not once each");
            }
            int found = Find(session.Original, out bool forward);
            if (found != slot || !forward)
            {
                Report($"{Describe(slot)}: its original tuple finds {(found < 0 ? "nothing" : $"session {found} ({(forward ? "forward" : "reply")})")}");
            }
            found = Find(session.Translated.Reverse(), out forward);
            if (found != slot || forward)
            {
                Report($"{Describe(slot)}: its reply tuple finds {(found < 0 ? "nothing" : $"session {found} ({(forward ? "forward" : "reply")})")}");
            }
        }

        // The mapping indexes: entries name representatives, and every representative is in both
        // once and found by its keys.
        int[] insideEntries = new int[capacity];
        int[] externalEntries = new int[capacity];
        ulong? RepresentativeHash(string index, int value, int[] seen, Func<Session<TAddress>, FlowKey<TAddress>> keyOf)
        {
            if (value >= capacity)
            {
                Report($"{index}: value {value} is outside the table");
                return null;
            }
            seen[value]++;
            if (sessions[value].IsFree || (sessions[value].Attributes & SessionAttributes.MappingRepresentative) == 0)
            {
                Report($"{index}: value {value} names {(sessions[value].IsFree ? "a free slot" : $"{Describe(value)}, not a mapping's representative")}");
                return null;
            }
            return keyOf(sessions[value]).Hash(seed);
        }
        mappingInsideIndex.CheckEntries("mapping-by-inside index",
            value => RepresentativeHash("mapping-by-inside index", value, insideEntries, static session => InsideMappingKeyOf(session)), Report);
        mappingExternalIndex.CheckEntries("mapping-by-external index",
            value => RepresentativeHash("mapping-by-external index", value, externalEntries, static session => ExternalMappingKeyOf(session)), Report);

        // The mapping circles: links symmetric, one representative each, members sharing its endpoints.
        int[] circleOf = new int[capacity];
        Array.Fill(circleOf, -1);
        int representatives = 0;
        bool Linked(int slot) => (uint)slot < (uint)capacity && !sessions[slot].IsFree
            && (sessions[slot].Attributes & SessionAttributes.InMapping) != 0;
        for (int slot = 0; slot < capacity; slot++)
        {
            ref Session<TAddress> session = ref sessions[slot];
            if (session.IsFree)
            {
                continue;
            }
            bool inMapping = (session.Attributes & SessionAttributes.InMapping) != 0;
            bool representative = (session.Attributes & SessionAttributes.MappingRepresentative) != 0;
            if (representative && !inMapping)
            {
                Report($"{Describe(slot)} is a representative but in no mapping");
            }
            if ((session.Attributes & SessionAttributes.PortAllocated) != 0 && !representative)
            {
                Report($"{Describe(slot)} holds an allocated port but is no mapping's representative");
            }
            if (!inMapping)
            {
                if (session.MappingNext != -1 || session.MappingPrevious != -1)
                {
                    Report($"{Describe(slot)} is in no mapping but links to {session.MappingNext} and {session.MappingPrevious}");
                }
                continue;
            }
            if (!Linked(session.MappingNext) || sessions[session.MappingNext].MappingPrevious != slot)
            {
                Report($"{Describe(slot)}: its next in the mapping, {session.MappingNext}, does not link back");
            }
            if (!Linked(session.MappingPrevious) || sessions[session.MappingPrevious].MappingNext != slot)
            {
                Report($"{Describe(slot)}: its previous in the mapping, {session.MappingPrevious}, does not link back");
            }
            if (!representative)
            {
                continue;
            }
            representatives++;
            if (insideEntries[slot] != 1 || externalEntries[slot] != 1)
            {
                Report($"{Describe(slot)} represents a mapping but is in the mapping indexes {insideEntries[slot]} and {externalEntries[slot]} times, not once each");
            }
            int byInside = FindMappingByInside(InsideMappingKeyOf(session));
            if (byInside != slot)
            {
                Report($"{Describe(slot)}: its inside mapping key finds {byInside}");
            }
            int byExternal = FindMappingByExternal(session.Original.Protocol, session.ExternalAddress, session.ExternalPort);
            if (byExternal != slot)
            {
                Report($"{Describe(slot)}: its external endpoint finds {byExternal}");
            }
            int member = slot;
            for (int steps = 0; ; steps++)
            {
                if (steps > occupied || !Linked(member))
                {
                    Report($"{Describe(slot)}: its mapping's circle does not close");
                    break;
                }
                if (circleOf[member] != -1)
                {
                    Report($"{Describe(member)} is met twice walking the circle of representative {slot} (first from {circleOf[member]})");
                    break;
                }
                circleOf[member] = slot;
                ref Session<TAddress> other = ref sessions[member];
                if (member != slot && (other.Attributes & SessionAttributes.MappingRepresentative) != 0)
                {
                    Report($"{Describe(member)} is a second representative in the mapping of {slot}");
                }
                if (other.Original.Protocol != session.Original.Protocol || other.ExternalAddress != session.ExternalAddress || other.ExternalPort != session.ExternalPort
                    || other.InsideAddress != session.InsideAddress || other.InsidePort != session.InsidePort)
                {
                    Report($"{Describe(member)} is in the mapping of {Describe(slot)} but has other endpoints");
                }
                member = other.MappingNext;
                if (member == slot)
                {
                    break;
                }
            }
        }
        for (int slot = 0; slot < capacity; slot++)
        {
            if (Linked(slot) && circleOf[slot] == -1)
            {
                Report($"{Describe(slot)} is in a mapping that no representative's circle reaches");
            }
        }
        if (mappingInsideIndex.Count != representatives || mappingExternalIndex.Count != representatives)
        {
            Report($"{representatives} mappings, but the mapping indexes hold {mappingInsideIndex.Count} and {mappingExternalIndex.Count} entries");
        }

        // The filtering counts: a mapping answered from its representative alone has no other
        // session, and a counted one's counts are its sessions' remotes, recounted.
        var mappingSizes = new Dictionary<FlowKey<TAddress>, int>();
        var addressRecount = new Dictionary<FlowKey<TAddress>, int>();
        var endpointRecount = new Dictionary<FlowKey<TAddress>, int>();
        for (int slot = 0; slot < capacity; slot++)
        {
            if (!Linked(slot) || circleOf[slot] == -1)
            {
                continue;
            }
            FlowKey<TAddress> mapping = ExternalMappingKeyOf(sessions[circleOf[slot]]);
            mappingSizes[mapping] = mappingSizes.GetValueOrDefault(mapping) + 1;
            if (countedMappings.Contains(mapping))
            {
                var address = new FlowKey<TAddress>(mapping.Protocol, mapping.Source, mapping.SourcePort, sessions[slot].RemoteAddress, 0);
                var endpoint = new FlowKey<TAddress>(mapping.Protocol, mapping.Source, mapping.SourcePort, sessions[slot].RemoteAddress, sessions[slot].RemotePort);
                addressRecount[address] = addressRecount.GetValueOrDefault(address) + 1;
                endpointRecount[endpoint] = endpointRecount.GetValueOrDefault(endpoint) + 1;
            }
        }
        foreach ((FlowKey<TAddress> mapping, int size) in mappingSizes)
        {
            if (size > 1 && !countedMappings.Contains(mapping))
            {
                Report($"the mapping {mapping} has {size} sessions but its remotes are not counted: filtering would see its representative's alone");
            }
        }
        foreach (FlowKey<TAddress> mapping in countedMappings)
        {
            if (!mappingSizes.ContainsKey(mapping))
            {
                Report($"the remotes of {mapping} are counted, but no mapping has that external endpoint");
            }
        }
        void CompareCounts(string what, Dictionary<FlowKey<TAddress>, int> kept, Dictionary<FlowKey<TAddress>, int> recounted)
        {
            foreach ((FlowKey<TAddress> key, int count) in recounted)
            {
                if (kept.GetValueOrDefault(key) != count)
                {
                    Report($"{what} {key} is counted {kept.GetValueOrDefault(key)} times but {count} sessions have it");
                }
            }
            foreach ((FlowKey<TAddress> key, int count) in kept)
            {
                if (!recounted.ContainsKey(key))
                {
                    Report($"{what} {key} is counted {count} times but no session has it");
                }
            }
        }
        CompareCounts("remote address", remoteAddresses, addressRecount);
        CompareCounts("remote endpoint", remoteEndpoints, endpointRecount);

        // The timing wheel: no free slot on it, its count the scheduled slots', and (when the engine
        // owns the table) every session on it.
        int scheduled = 0;
        for (int slot = 0; slot < capacity; slot++)
        {
            bool onWheel = Wheel.IsScheduled(slot);
            scheduled += onWheel ? 1 : 0;
            if (onWheel && sessions[slot].IsFree)
            {
                Report($"free slot {slot} is still on the timing wheel");
            }
            else if (!onWheel && everySessionScheduled && !sessions[slot].IsFree)
            {
                Report($"{Describe(slot)} is not on the timing wheel: it would never expire");
            }
        }
        if (scheduled != Wheel.Count)
        {
            Report($"the timing wheel counts {Wheel.Count} elements but {scheduled} slots are scheduled");
        }
        if (reported > maximumProblems)
        {
            problems.Add($"... and {reported - maximumProblems} more problems");
        }
        return problems;
    }

    public struct MappingSessions(SessionArray<TAddress> sessions, int representative)
    {
        private int current = -1;

        public readonly MappingSessions GetEnumerator() => this;

        public readonly int Current => current;

        public bool MoveNext()
        {
            if (current == -1)
            {
                current = representative;
                return true;
            }
            current = sessions[current].MappingNext;
            return current != representative;
        }
    }

    /// <summary>Matches a flow index value (slot * 2, + 1 for the reply tuple) against a packet's key.</summary>
    private readonly struct FlowMatcher(SessionArray<TAddress> sessions, FlowKey<TAddress> key) : ISlotMatcher
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Matches(int value) => (value & 1) == 0
            ? sessions[value >> 1].Original.Equals(key)
            : IsReply(sessions[value >> 1].Translated, key);
    }

    /// <summary>As <see cref="FlowMatcher"/>, for one role only (0 forward, 1 reply).</summary>
    private readonly struct DirectionMatcher(SessionArray<TAddress> sessions, FlowKey<TAddress> key, int reply) : ISlotMatcher
    {
        public bool Matches(int value) => (value & 1) == reply && new FlowMatcher(sessions, key).Matches(value);
    }

    /// <summary>Whether <paramref name="key"/> is the translated tuple reversed, compared field by field without building it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsReply(in FlowKey<TAddress> translated, in FlowKey<TAddress> key)
        => translated.Source == key.Destination && translated.Destination == key.Source
        && translated.SourcePort == key.DestinationPort && translated.DestinationPort == key.SourcePort
        && translated.Protocol == key.Protocol;

    private readonly struct MappingInsideMatcher(SessionArray<TAddress> sessions, FlowKey<TAddress> key) : ISlotMatcher
    {
        public bool Matches(int value) => InsideMappingKeyOf(sessions[value]).Equals(key);
    }

    private readonly struct MappingExternalMatcher(SessionArray<TAddress> sessions, FlowKey<TAddress> key) : ISlotMatcher
    {
        public bool Matches(int value) => ExternalMappingKeyOf(sessions[value]).Equals(key);
    }

    private readonly struct FlowHasher(SessionArray<TAddress> sessions, ulong seed) : ISlotHasher
    {
        public ulong HashOf(int value) => (value & 1) == 0
            ? sessions[value >> 1].Original.Hash(seed)
            : sessions[value >> 1].Translated.Reverse().Hash(seed);
    }

    private readonly struct MappingInsideHasher(SessionArray<TAddress> sessions, ulong seed) : ISlotHasher
    {
        public ulong HashOf(int value) => InsideMappingKeyOf(sessions[value]).Hash(seed);
    }

    private readonly struct MappingExternalHasher(SessionArray<TAddress> sessions, ulong seed) : ISlotHasher
    {
        public ulong HashOf(int value) => ExternalMappingKeyOf(sessions[value]).Hash(seed);
    }
}
