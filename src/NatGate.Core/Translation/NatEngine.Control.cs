using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Core.Translation;

/// <summary>The /dev/ipnat operations (DESIGN.md "Control semantics").</summary>
public sealed partial class NatEngine
{
    /// <summary>
    /// SIOCGNATL: a transparent proxy accepted a redirected connection; given its own local
    /// address and port (<paramref name="insideAddress"/>, the "in" side) and the client's
    /// (<paramref name="outsideAddress"/>), returns the destination the client really asked for.
    /// </summary>
    /// <exception cref="NatControlException">ESRCH when no session matches.</exception>
    public LookupResult Lookup(IpProtocol protocol, Ipv4Address insideAddress, ushort insidePort, Ipv4Address outsideAddress, ushort outsidePort, bool findForward)
    {
        if (protocol is not (IpProtocol.Tcp or IpProtocol.Udp))
        {
            throw new NatControlException(NatErrno.EINVAL, $"Lookups are for TCP or UDP, not protocol {protocol}.");
        }
        // A packet from the proxy back to the client is a reply to the redirected session.
        int index = table.FindReply(new FlowKey(protocol, insideAddress, insidePort, outsideAddress, outsidePort));
        if (index < 0)
        {
            throw new NatControlException(NatErrno.ESRCH,
                $"No session from {outsideAddress.ToString()}:{outsidePort} to {insideAddress.ToString()}:{insidePort}; was the connection redirected by a rule?");
        }
        ref Session session = ref table.At(index);
        Ipv4Address realAddress = session.Original.Destination;
        ushort realPort = session.Original.DestinationPort;
        bool forwardPossible = false;
        if (findForward)
        {
            // IP Filter clears IPN_FINDFORWARD when a session already owns the outgoing tuple.
            var outgoing = new FlowKey(protocol, insideAddress, insidePort, realAddress, realPort);
            forwardPossible = !table.Contains(outgoing);
        }
        return new LookupResult(realAddress, realPort, forwardPossible);
    }

    /// <summary>SIOCSTLCK: locks or unlocks the table, returning the previous state.</summary>
    public bool Lock(bool locked)
    {
        bool previous = IsLocked;
        IsLocked = locked;
        return previous;
    }

    /// <summary>
    /// SIOCSTPUT: inserts a session. The table must be locked; the record passes the same checks
    /// as a restored one. Returns the new session's id.
    /// </summary>
    public int Put(SessionRecord record, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!IsLocked)
        {
            throw new NatControlException(NatErrno.EACCES, "The table is not locked; lock it first (natgate lock on) so the insert cannot race traffic.");
        }
        Validate(record);
        int ruleIndex = FindRule(record.Rule);
        if (ruleIndex < 0)
        {
            throw new NatControlException(NatErrno.ESRCH, $"The session's rule is not loaded: load it first ({record.Rule.Label ?? record.Rule.Kind.ToString()}).");
        }
        CheckAsIfMade(record, ruleIndex);
        (ushort ipDelta, ushort transportDelta) = ChecksumDeltas(record.Original, record.Translated);
        if ((record.IpChecksumDelta is { } givenIp && givenIp != ipDelta)
            || (record.TransportChecksumDelta is { } givenTransport && givenTransport != transportDelta))
        {
            throw new NatControlException(NatErrno.EINVAL,
                $"The checksum deltas do not match the tuples (expected ip 0x{ipDelta:x4}, transport 0x{transportDelta:x4}); the record is damaged or from another translation.");
        }
        if (table.Contains(record.Original) || table.Contains(record.Translated.Reverse()))
        {
            throw new NatControlException(NatErrno.EEXIST, $"A session for {record.Original} already exists.");
        }

        uint createdSeconds = table.SecondsSinceEpoch(record.CreatedTicks == 0 ? nowTicks : record.CreatedTicks);
        var session = new Session
        {
            Original = record.Original,
            Translated = record.Translated,
            IpChecksumDelta = ipDelta,
            TransportChecksumDelta = transportDelta,
            RuleIndex = ruleIndex,
            Tcp = record.Tcp,
            CreatedSeconds = createdSeconds,
            LastSeenSeconds = Math.Max(createdSeconds, table.SecondsSinceEpoch(record.LastSeenTicks == 0 ? nowTicks : record.LastSeenTicks)),
            PacketsForward = (uint)Math.Min(record.PacketsForward, uint.MaxValue),
            PacketsReply = (uint)Math.Min(record.PacketsReply, uint.MaxValue),
            BytesForward = (ulong)record.BytesForward,
            BytesReply = (ulong)record.BytesReply,
            Attributes = SessionAttributes.Inserted
                | (record.InitiatedOutside ? SessionAttributes.InitiatedOutside : SessionAttributes.None),
        };

        int join = -1;
        bool startsMapping = false;
        ExternalAddressPool? reserved = null;
        if (record.InMapping)
        {
            Behaviours.MappingPolicy mappingPolicy = Behaviours.MappingPolicy.For(record.Mapping);
            session.Attributes |= mappingPolicy.Flags;
            IpProtocol protocol = record.Original.Protocol;
            int owner = table.FindMappingByExternal(protocol, session.ExternalAddress, session.ExternalPort);
            if (owner >= 0)
            {
                ref Session mapping = ref table.At(owner);
                if (mapping.InsideAddress != session.InsideAddress || mapping.InsidePort != session.InsidePort)
                {
                    throw new NatControlException(NatErrno.EEXIST,
                        $"External {session.ExternalAddress.ToString()}:{session.ExternalPort} already belongs to {mapping.InsideAddress.ToString()}:{mapping.InsidePort}.");
                }
                join = owner;
            }
            else
            {
                FlowKey insideKey = mappingPolicy.Key(protocol, session.InsideAddress, session.InsidePort, session.RemoteAddress, session.RemotePort);
                if (!session.Attributes.HasFlag(SessionAttributes.InitiatedOutside) && table.FindMappingByInside(insideKey) >= 0)
                {
                    throw new NatControlException(NatErrno.EEXIST,
                        $"{session.InsideAddress.ToString()}:{session.InsidePort} already has a mapping to another external port.");
                }
                ExternalAddressPool pool = pools.PoolOf(session.ExternalAddress);
                if (protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp)
                {
                    if (!pools.AllocatorOf(pool, protocol).TryReserve(session.ExternalPort))
                    {
                        throw new NatControlException(NatErrno.EEXIST,
                            $"External port {session.ExternalAddress.ToString()}:{session.ExternalPort} is already in use.");
                    }
                    reserved = pool;
                    session.Attributes |= SessionAttributes.PortAllocated;
                }
                startsMapping = true;
            }
        }

        TableRefusal refusal = table.CheckRoom(session, startsMapping);
        if (refusal != TableRefusal.None)
        {
            pools.ReleaseAllocation(reserved, record.Original.Protocol, session.ExternalPort, session.InsideAddress, nowTicks);
            if (refusal == TableRefusal.Duplicate)
            {
                throw new NatControlException(NatErrno.EEXIST, $"A session for {record.Original} already exists.");
            }
            Counters.NoMemory++;
            throw new NatControlException(NatErrno.ENOMEM, refusal switch
            {
                TableRefusal.TableFull => $"The session table is full ({table.Capacity} sessions).",
                TableRefusal.HostLimit => $"{session.InsideAddress.ToString()} already holds its maximum of {table.Limits.MaximumSessionsPerHost} sessions.",
                _ => "The hash bucket for this session is full (probe limit reached).",
            });
        }
        return sessions.Insert(session, join, startsMapping, Math.Max(nowTicks, sessions.DeadlineOf(session)));
    }

    private static void Validate(SessionRecord record)
    {
        FlowKey original = record.Original;
        FlowKey translated = record.Translated;
        string? problem =
            original.Protocol == 0 ? "the protocol is missing"
            : original.Protocol != translated.Protocol ? "the two tuples name different protocols"
            : original.Source == Ipv4Address.Any || original.Destination == Ipv4Address.Any || translated.Source == Ipv4Address.Any || translated.Destination == Ipv4Address.Any ? "an address is 0.0.0.0"
            : original.Protocol is IpProtocol.Tcp or IpProtocol.Udp && (original.SourcePort == 0 || original.DestinationPort == 0 || translated.SourcePort == 0 || translated.DestinationPort == 0) ? "a TCP or UDP port is 0"
            : original.Protocol == IpProtocol.Icmp && (original.SourcePort != original.DestinationPort || translated.SourcePort != translated.DestinationPort) ? "an ICMP tuple must carry its identifier as both ports"
            : original.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp) && (original.SourcePort | original.DestinationPort | translated.SourcePort | translated.DestinationPort) != 0 ? "a protocol without ports has a port"
            : record.LastSeenTicks < 0 || record.CreatedTicks < 0 || record.PacketsForward < 0 || record.PacketsReply < 0 || record.BytesForward < 0 || record.BytesReply < 0 ? "a time or counter is negative"
            : null;
        if (problem is not null)
        {
            throw new NatControlException(NatErrno.EINVAL, $"Bad session record: {problem}.");
        }
    }

    /// <summary>
    /// A session that comes in from outside the packet path (put, restore) must be one that
    /// <see cref="CreateSession"/> could have made from its first packet under the rules loaded
    /// now: the same rule, the destination its redirect or an existing mapping gives, a source
    /// inside the map rule's addresses and ports. A record that says otherwise (a port forward
    /// planted in an edited file) is refused with EINVAL.
    /// </summary>
    private void CheckAsIfMade(SessionRecord record, int ruleIndex)
    {
        FlowKey original = record.Original;
        FlowKey translated = record.Translated;
        IpProtocol protocol = original.Protocol;
        bool portsMatter = protocol is IpProtocol.Tcp or IpProtocol.Udp;

        // The destination, as CreateSession decides it.
        int destinationRule = -1;
        string? problem = null;
        RuleSlot? redirect = FindRedirect(original);
        if (redirect is not null)
        {
            destinationRule = redirect.Index;
            NatRule rule = redirect.Rule;
            bool addressRight = rule.Kind == NatRuleKind.Bidirectional
                ? translated.Destination == redirect.Source4.Network + (original.Destination - redirect.TranslatedFirst4)
                : redirect.RedirectTargets4.Contains(translated.Destination);
            ushort port = rule.Kind != NatRuleKind.Bidirectional && rule.RedirectPort != 0 && portsMatter
                ? (ushort)(rule.RedirectPort + (original.DestinationPort - rule.DestinationPorts.First))
                : original.DestinationPort;
            if (!addressRight || (portsMatter && translated.DestinationPort != port))
            {
                problem = $"its rule sends {original.Destination.ToString()}:{original.DestinationPort} elsewhere";
            }
        }
        else if (IsExternalAddress(original.Destination))
        {
            int representative = portsMatter ? table.FindMappingByExternal(protocol, original.Destination, original.DestinationPort) : -1;
            if (representative < 0)
            {
                problem = $"no mapping holds {original.Destination.ToString()}:{original.DestinationPort}, so nothing from outside could have come in there";
            }
            else
            {
                ref Session mapping = ref table.At(representative);
                destinationRule = mapping.RuleIndex;
                if (translated.Destination != mapping.InsideAddress || translated.DestinationPort != mapping.InsidePort)
                {
                    problem = $"{original.Destination.ToString()}:{original.DestinationPort} belongs to {mapping.InsideAddress.ToString()}:{mapping.InsidePort}";
                }
            }
        }
        else if (translated.Destination != original.Destination || (portsMatter && translated.DestinationPort != original.DestinationPort))
        {
            problem = "no rule translates its destination";
        }

        // The source, and the rule the session belongs to.
        bool destinationTranslated = destinationRule >= 0;
        RuleSlot? map = destinationTranslated && ipv4.LocalAddresses.Contains(translated.Destination)
            ? null
            : FindMap(original, translated.Destination, translated.DestinationPort);
        if (map is not null && !destinationTranslated && map.Source4.Contains(original.Destination) != map.Rule.SourceNegated)
        {
            map = null;
        }
        if (map is not null && map.Index != ruleIndex && rules[ruleIndex] is { Rule.Kind: NatRuleKind.Map or NatRuleKind.MapBlock } pooled
            && RuleMatcher.MapMatches(pooled, original, translated.Destination, translated.DestinationPort))
        {
            map = pooled; // a later rule of the pool lent its address when the first had no port left
        }
        bool fromGateway = map is null && destinationTranslated && ipv4.LocalAddresses.Contains(original.Source);
        int expectedRule = map?.Index ?? destinationRule;
        if (problem is null && expectedRule < 0)
        {
            problem = "no rule translates it";
        }
        else if (problem is null && expectedRule != ruleIndex)
        {
            problem = $"its first packet would have gone through rule {expectedRule}, not rule {ruleIndex}";
        }
        else if (problem is null && record.InitiatedOutside != (map is null))
        {
            problem = record.InitiatedOutside ? "it says it began outside, but its rule translates the inside's source" : "it says it began inside, but no rule translates its source";
        }
        else if (problem is null && map is not null)
        {
            NatRule rule = map.Rule;
            if (rule.Kind == NatRuleKind.Bidirectional)
            {
                if (translated.Source != map.TranslatedFirst4 + (original.Source - map.Source4.Network) || translated.SourcePort != original.SourcePort)
                {
                    problem = "its source is not the one its bimap rule gives";
                }
            }
            else if (translated.Source < map.TranslatedFirst4 || translated.Source > map.TranslatedLast4
                || (protocol is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp && !map.RangeFor(protocol).Contains(translated.SourcePort)))
            {
                problem = $"its external {translated.Source.ToString()}:{translated.SourcePort} is outside its rule's addresses and ports";
            }
        }
        else if (problem is null && (fromGateway ? !IsExternalAddress(translated.Source) : translated.Source != original.Source || (portsMatter && translated.SourcePort != original.SourcePort)))
        {
            problem = "no rule translates its source";
        }
        if (problem is not null)
        {
            throw new NatControlException(NatErrno.EINVAL, $"The session {original} -> {translated} is not one the rules could have made: {problem}.");
        }
    }

    /// <summary>Every session as a record that <see cref="Put"/> would accept back (ipfs -W).</summary>
    public IReadOnlyList<SessionRecord> ExportSessions()
    {
        var records = new List<SessionRecord>(table.Count);
        ExportSessions(0, table.Capacity, records);
        return records;
    }

    /// <summary>
    /// One bounded slice of <see cref="ExportSessions()"/>: the records of the slots from
    /// <paramref name="firstSlot"/> on, added to <paramref name="into"/>; returns where the next
    /// slice starts. A save walks the table slice by slice, so forwarding goes on in between.
    /// </summary>
    public int ExportSessions(int firstSlot, int slotCount, List<SessionRecord> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        int end = (int)Math.Min((long)table.Capacity, (long)firstSlot + slotCount);
        for (int index = Math.Max(0, firstSlot); index < end; index++)
        {
            if (table.IsFree(index))
            {
                continue;
            }
            ref Session session = ref table.At(index);
            RuleSlot? rule = rules[session.RuleIndex];
            if (rule is null)
            {
                continue;
            }
            into.Add(new SessionRecord
            {
                Interface = rule.Rule.Interface,
                Rule = rule.Rule,
                Original = session.Original,
                Translated = session.Translated,
                InitiatedOutside = (session.Attributes & SessionAttributes.InitiatedOutside) != 0,
                InMapping = (session.Attributes & SessionAttributes.InMapping) != 0,
                Mapping = FlowTable.BehaviorOf(session.Attributes),
                IpChecksumDelta = session.IpChecksumDelta,
                TransportChecksumDelta = session.TransportChecksumDelta,
                Tcp = session.Tcp,
                CreatedTicks = table.TicksOf(session.CreatedSeconds),
                LastSeenTicks = table.TicksOf(session.LastSeenSeconds),
                PacketsForward = session.PacketsForward,
                PacketsReply = session.PacketsReply,
                BytesForward = (long)session.BytesForward,
                BytesReply = (long)session.BytesReply,
            });
        }
        return end;
    }

    /// <summary>
    /// Puts every record back (ipfs -R): the table is locked for the duration, each entry goes
    /// through <see cref="Put"/>'s checks, and refusals are reported per entry.
    /// </summary>
    public RestoreReport Restore(IEnumerable<SessionRecord> records, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(records);
        bool wasLocked = Lock(true);
        int restored = 0;
        var failures = new List<RestoreFailure>();
        int entry = 0;
        try
        {
            // Sessions that make mappings first: one admitted from outside joins its mapping.
            foreach ((SessionRecord record, int position) in records.Select((record, index) => (record, index + 1)).OrderBy(pair => pair.record.InitiatedOutside))
            {
                entry = position;
                try
                {
                    Put(record, nowTicks);
                    restored++;
                }
                catch (NatControlException refused)
                {
                    failures.Add(new RestoreFailure(entry, refused.Errno, refused.Message));
                }
            }
        }
        finally
        {
            Lock(wasLocked);
        }
        return new RestoreReport(restored, failures);
    }

    /// <summary>Sessions, optionally only those touching an address (either side) or of one protocol.</summary>
    public IReadOnlyList<SessionInfo> ListSessions(Ipv4Address? address = null, IpProtocol? protocol = null)
    {
        var list = new List<SessionInfo>();
        ListSessions(0, table.Capacity, list, address, protocol);
        return list;
    }

    /// <summary>
    /// One bounded slice of a listing: the sessions in slots <paramref name="firstSlot"/> to
    /// <paramref name="firstSlot"/> + <paramref name="slotCount"/> - 1, added to <paramref name="into"/>.
    /// A caller walks the table slice by slice, letting packets through between slices, so a
    /// listing never stalls forwarding for a whole-table walk (STYLE.md, "The packet thread
    /// does packet work"). Returns the slot to start the next slice at; <see cref="Capacity"/> at the end.
    /// </summary>
    public int ListSessions(int firstSlot, int slotCount, List<SessionInfo> into, Ipv4Address? address = null, IpProtocol? protocol = null)
    {
        ArgumentNullException.ThrowIfNull(into);
        int end = (int)Math.Min((long)table.Capacity, (long)firstSlot + slotCount);
        for (int index = Math.Max(0, firstSlot); index < end; index++)
        {
            if (table.IsFree(index))
            {
                continue;
            }
            ref Session session = ref table.At(index);
            if (protocol is { } wanted && session.Original.Protocol != wanted)
            {
                continue;
            }
            if (address is { } touching
                && session.Original.Source != touching && session.Original.Destination != touching
                && session.Translated.Source != touching && session.Translated.Destination != touching)
            {
                continue;
            }
            into.Add(Describe(index));
        }
        return end;
    }

    /// <summary>Removes every session (ipnat -F); returns how many. Refused while locked.</summary>
    public int FlushSessions(long nowTicks)
    {
        FlushSessions(0, table.Capacity, nowTicks, out int removed);
        return removed;
    }

    /// <summary>
    /// <see cref="FlushSessions(long)"/> over one slice of the table, the slots from
    /// <paramref name="firstSlot"/> on: the caller walks the table a slice per call, so the
    /// packet thread translates between slices (issue 12, "the packet thread does packet work
    /// only"). Returns where the next slice starts (<see cref="Capacity"/> when done).
    /// </summary>
    public int FlushSessions(int firstSlot, int slotCount, long nowTicks, out int removed)
        => RemoveWhere(static (_, _) => true, SessionEndReason.Flushed, nowTicks, firstSlot, slotCount, out removed);

    /// <summary>Removes the sessions of one rule (ipnat -p, after the rule's removal); returns how many.</summary>
    public int PurgeSessionsOfRule(int ruleIndex, long nowTicks)
        => RemoveWhere((session, _) => session.RuleIndex == ruleIndex, SessionEndReason.Purged, nowTicks);

    /// <summary>Removes the sessions of every removed rule (ipnat -p); returns how many.</summary>
    public int PurgeOrphans(long nowTicks)
    {
        PurgeOrphans(0, table.Capacity, nowTicks, out int removed);
        return removed;
    }

    /// <summary><see cref="PurgeOrphans(long)"/> over one slice of the table; returns where the next starts.</summary>
    public int PurgeOrphans(int firstSlot, int slotCount, long nowTicks, out int removed)
        => RemoveWhere((session, _) => rules[session.RuleIndex] is { Active: false }, SessionEndReason.Purged, nowTicks, firstSlot, slotCount, out removed);

    /// <summary>
    /// Ends every session on <paramref name="address"/> as an external address (mapped out from
    /// it, or come in to it), because the address left the host: no packet to it arrives any
    /// more, and one from it would leave with a source that is no longer this host's. Counted in
    /// <see cref="NatCounters.AddressGone"/>; works while the table is locked too (it is the
    /// kernel, not an operator, that took the address).
    /// </summary>
    public int FlushSessionsOn(Ipv4Address address, long nowTicks)
    {
        FlushSessionsOn(address, 0, table.Capacity, nowTicks, out int removed);
        return removed;
    }

    /// <summary><see cref="FlushSessionsOn(Ipv4Address, long)"/> over one slice of the table; returns where the next starts.</summary>
    public int FlushSessionsOn(Ipv4Address address, int firstSlot, int slotCount, long nowTicks, out int removed)
        => RemoveSlice((session, _) => session.ExternalAddress == address, SessionEndReason.AddressGone, nowTicks, firstSlot, slotCount, out removed);

    /// <summary>Removes one session by id (as listed).</summary>
    public void RemoveSession(int id, long nowTicks)
    {
        if (id < 0 || id >= table.Capacity || table.At(id).IsFree)
        {
            throw new NatControlException(NatErrno.ESRCH, $"No session {id}.");
        }
        ThrowIfLocked();
        sessions.Remove(id, SessionEndReason.Removed, nowTicks);
    }

    private int RemoveWhere(Func<Session, int, bool> predicate, SessionEndReason reason, long nowTicks)
    {
        RemoveWhere(predicate, reason, nowTicks, 0, table.Capacity, out int removed);
        return removed;
    }

    private int RemoveWhere(Func<Session, int, bool> predicate, SessionEndReason reason, long nowTicks, int firstSlot, int slotCount, out int removed)
    {
        ThrowIfLocked();
        return RemoveSlice(predicate, reason, nowTicks, firstSlot, slotCount, out removed);
    }

    /// <summary>
    /// Removes the matching sessions among the slots from <paramref name="firstSlot"/> on
    /// (<paramref name="slotCount"/> of them); returns where the next slice starts. A session
    /// stays in its slot for life, so removals here move nothing a later slice will look at.
    /// </summary>
    private int RemoveSlice(Func<Session, int, bool> predicate, SessionEndReason reason, long nowTicks, int firstSlot, int slotCount, out int removed)
    {
        int end = (int)Math.Min((long)table.Capacity, (long)Math.Max(0, firstSlot) + slotCount);
        var doomed = new List<int>();
        for (int index = Math.Max(0, firstSlot); index < end; index++)
        {
            if (!table.IsFree(index) && predicate(table.At(index), index))
            {
                doomed.Add(index);
            }
        }
        foreach (int index in doomed)
        {
            sessions.Remove(index, reason, nowTicks);
        }
        removed = doomed.Count;
        return end;
    }

    private void ThrowIfLocked()
    {
        if (IsLocked)
        {
            throw new NatControlException(NatErrno.EACCES, "The table is locked (natgate lock off to unlock): sessions cannot be removed while it is.");
        }
    }

    /// <summary>The ipnat -s figures.</summary>
    public NatStatistics Statistics()
    {
        int orphans = 0;
        int active = 0;
        foreach (RuleSlot? slot in rules)
        {
            if (slot is null)
            {
                continue;
            }
            if (slot.Active)
            {
                active++;
            }
            else
            {
                orphans += slot.Sessions;
            }
        }
        var drops = new Dictionary<string, long>();
        foreach ((DropReason reason, long count) in Counters.DropsByReason())
        {
            drops[reason.ToString()] = count;
        }
        return new NatStatistics
        {
            MappedIn = Counters.MappedIn,
            MappedOut = Counters.MappedOut,
            BytesIn = Counters.BytesIn,
            BytesOut = Counters.BytesOut,
            Added = Counters.Added,
            Expired = Counters.Expired,
            Removed = Counters.Removed,
            AddressGone = Counters.AddressGone,
            NoMemory = Counters.NoMemory,
            Bad = Counters.Bad,
            Passed = Counters.Passed,
            InUse = table.Count,
            Mappings = table.MappingCount,
            Orphans = orphans,
            Rules = active,
            Locked = IsLocked,
            IcmpErrorsTranslated = Counters.IcmpErrorsTranslated,
            RefusalRepliesSuppressed = Counters.RefusalRepliesSuppressed,
            FragmentsTranslated = Counters.FragmentsTranslated,
            Drops = drops,
        };
    }

    /// <summary>
    /// A map rule for every protocol (TCP, UDP and ICMP by port, others by address alone): internal
    /// prefix to one external address and port range; <paramref name="label"/> stands for its origin.
    /// </summary>
    public static NatRule MapRule(Ipv4Prefix internalPrefix, Ipv4Address externalAddress, PortRange? ports = null, NatPolicy? policy = null, string? label = null)
        => NetNatRules.Map(internalPrefix, externalAddress, ports, policy ?? NatPolicy.Default,
            label is null ? null : new RuleOrigin.Described(label), RuleProtocols.Any);
}
