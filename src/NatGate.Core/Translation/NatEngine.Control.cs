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
    /// Both addresses are of the connection's family: IPv6 ones are IP Filter's nl_v = 6 lookup
    /// (nl_inip6, nl_outip6, answered in nl_realip6; ip_nat6.c, ipf_nat6_lookupredir), in the
    /// NAT66 table, with find-forward asked of that table too.
    /// </summary>
    /// <exception cref="NatControlException">EINVAL for a protocol without ports or addresses of two families; ESRCH when no session matches.</exception>
    public LookupResult Lookup(IpProtocol protocol, IpAddress insideAddress, ushort insidePort, IpAddress outsideAddress, ushort outsidePort, bool findForward)
    {
        if (protocol is not (IpProtocol.Tcp or IpProtocol.Udp))
        {
            throw new NatControlException(NatErrno.EINVAL, $"Lookups are for TCP or UDP, not protocol {protocol}.");
        }
        if (insideAddress.IsIpv6 != outsideAddress.IsIpv6)
        {
            throw new NatControlException(NatErrno.EINVAL,
                $"The lookup names an {(insideAddress.IsIpv6 ? "IPv6" : "IPv4")} local address ({insideAddress}) and an {(outsideAddress.IsIpv6 ? "IPv6" : "IPv4")} peer ({outsideAddress}); both ends of one connection are of one family.");
        }
        if (insideAddress.IsIpv6)
        {
            RefuseNat64Lookup(protocol, insideAddress.AsIpv6, insidePort, outsideAddress.AsIpv6, outsidePort);
            return Lookup(ipv6, protocol, insideAddress.AsIpv6, insidePort, outsideAddress.AsIpv6, outsidePort, findForward);
        }
        return Lookup(ipv4, protocol, insideAddress.AsIpv4, insidePort, outsideAddress.AsIpv4, outsidePort, findForward);
    }

    private static LookupResult Lookup<TAddress>(FamilyParts<TAddress>? parts, IpProtocol protocol, TAddress insideAddress, ushort insidePort, TAddress outsideAddress, ushort outsidePort, bool findForward)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        // A packet from the proxy back to the client is a reply to the redirected session.
        int index = parts?.Table.FindReply(new FlowKey<TAddress>(protocol, insideAddress, insidePort, outsideAddress, outsidePort)) ?? -1;
        if (index < 0)
        {
            throw new NatControlException(NatErrno.ESRCH,
                $"No session from {Endpoint(outsideAddress, outsidePort)} to {Endpoint(insideAddress, insidePort)}; was the connection redirected by a rule?");
        }
        FlowTable<TAddress> table = parts!.Table;
        ref Session<TAddress> session = ref table.At(index);
        TAddress realAddress = session.Original.Destination;
        ushort realPort = session.Original.DestinationPort;
        bool forwardPossible = false;
        if (findForward)
        {
            // IP Filter clears IPN_FINDFORWARD when a session already owns the outgoing tuple.
            var outgoing = new FlowKey<TAddress>(protocol, insideAddress, insidePort, realAddress, realPort);
            forwardPossible = !table.Contains(outgoing);
        }
        return new LookupResult(TAddress.ToIpAddress(realAddress), realPort, forwardPossible);
    }

    /// <summary>"a.b.c.d:port", or "[v6]:port" (RFC 5952 section 6); an IPv4-mapped address (NAT64's IPv4 side) as the IPv4 address it stands for.</summary>
    private static string Endpoint<TAddress>(TAddress address, ushort port)
        where TAddress : unmanaged, IFlowAddress<TAddress>
        => TAddress.Size == Ipv4Address.Size ? $"{address}:{port}"
            : TAddress.ToIpAddress(address).AsIpv6 is { IsIpv4Mapped: true } mapped ? $"{mapped.MappedIpv4}:{port}"
            : $"[{address}]:{port}";

    /// <summary>SIOCSTLCK: locks or unlocks the table, returning the previous state.</summary>
    public bool Lock(bool locked)
    {
        bool previous = IsLocked;
        IsLocked = locked;
        return previous;
    }

    /// <summary>
    /// SIOCSTPUT: inserts a session. The table must be locked; the record passes the same checks
    /// as a restored one. An IPv6 record goes into the NAT66 table under an IPv6 rule, a NAT64
    /// one (an IPv6 tuple and an IPv4 one) into NAT64's under a NAT64 map. Returns the new
    /// session's id.
    /// </summary>
    public int Put(SessionRecord record, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!IsLocked)
        {
            throw new NatControlException(NatErrno.EACCES, "The table is not locked; lock it first (natgate lock on) so the insert cannot race traffic.");
        }
        ValidateFamily(record);
        int ruleIndex = FindRule(record.Rule);
        if (ruleIndex < 0)
        {
            throw new NatControlException(NatErrno.ESRCH, $"The session's rule is not loaded: load it first ({record.Rule.Label ?? record.Rule.Kind.ToString()}).");
        }
        return record.Original.IsIpv6 != record.Translated.IsIpv6 ? Nat64FirstId + PutNat64(record, ruleIndex, nowTicks)
            : record.Original.IsIpv6 ? table.Capacity + Put<Ipv6Family, Ipv6Address>(Ipv6Parts(), record, ruleIndex, nowTicks)
            : Put<Ipv4Family, Ipv4Address>(ipv4, record, ruleIndex, nowTicks);
    }

    private int Put<TFamily, TAddress>(FamilyParts<TAddress> parts, SessionRecord record, int ruleIndex, long nowTicks)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FlowKey<TAddress> original = record.Original.As<TAddress>();
        FlowKey<TAddress> translated = record.Translated.As<TAddress>();
        Validate(record, original, translated);
        CheckAsIfMade(parts, record, original, translated, ruleIndex);
        return Insert<TFamily, TAddress>(parts, new FamilyPorts<TAddress>(parts.Pools), record, original, translated, ruleIndex, nowTicks);
    }

    /// <summary>
    /// The second half of a put, once the record is known to be one the rules could have made:
    /// the deltas checked, the session built, its mapping joined or started (its external port
    /// reserved through <paramref name="ports"/>), room checked, inserted. Returns its index.
    /// </summary>
    private int Insert<TFamily, TAddress>(SessionTableView<TAddress> view, IReservedPorts<TAddress> ports, SessionRecord record,
        FlowKey<TAddress> original, FlowKey<TAddress> translated, int ruleIndex, long nowTicks)
        where TFamily : struct, IPacketFamily<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FlowTable<TAddress> table = view.Table;
        (ushort ipDelta, ushort transportDelta) = PacketRewrite.Deltas<TFamily, TAddress>(original, translated);
        if ((record.IpChecksumDelta is { } givenIp && givenIp != ipDelta)
            || (record.TransportChecksumDelta is { } givenTransport && givenTransport != transportDelta))
        {
            throw new NatControlException(NatErrno.EINVAL,
                $"The checksum deltas do not match the tuples (expected ip 0x{ipDelta:x4}, transport 0x{transportDelta:x4}); the record is damaged or from another translation.");
        }
        if (table.Contains(original) || table.Contains(translated.Reverse()))
        {
            throw new NatControlException(NatErrno.EEXIST, $"A session for {record.Original} already exists.");
        }

        uint createdSeconds = table.SecondsSinceEpoch(record.CreatedTicks == 0 ? nowTicks : record.CreatedTicks);
        var session = new Session<TAddress>
        {
            Original = original,
            Translated = translated,
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
        bool reserved = false;
        if (record.InMapping)
        {
            Behaviours.MappingPolicy mappingPolicy = Behaviours.MappingPolicy.For(record.Mapping);
            session.Attributes |= mappingPolicy.Flags;
            IpProtocol protocol = original.Protocol;
            int owner = table.FindMappingByExternal(protocol, session.ExternalAddress, session.ExternalPort);
            if (owner >= 0)
            {
                ref Session<TAddress> mapping = ref table.At(owner);
                if (mapping.InsideAddress != session.InsideAddress || mapping.InsidePort != session.InsidePort)
                {
                    throw new NatControlException(NatErrno.EEXIST,
                        $"External {Endpoint(session.ExternalAddress, session.ExternalPort)} already belongs to {Endpoint(mapping.InsideAddress, mapping.InsidePort)}.");
                }
                join = owner;
            }
            else
            {
                FlowKey<TAddress> insideKey = mappingPolicy.Key(protocol, session.InsideAddress, session.InsidePort, session.RemoteAddress, session.RemotePort);
                if (!session.Attributes.HasFlag(SessionAttributes.InitiatedOutside) && table.FindMappingByInside(insideKey) >= 0)
                {
                    throw new NatControlException(NatErrno.EEXIST,
                        $"{Endpoint(session.InsideAddress, session.InsidePort)} already has a mapping to another external port.");
                }
                if (!session.Attributes.HasFlag(SessionAttributes.InitiatedOutside)
                    && HeldByPortMapping(protocol, session.InsideAddress, session.InsidePort, session.ExternalAddress, session.ExternalPort))
                {
                    // Out through a port mapping's port, which its redirect holds (RFC 6887 11.1).
                }
                else if (protocol is IpProtocol.Tcp or IpProtocol.Udp || protocol == TAddress.IcmpProtocol)
                {
                    if (!ports.TryReserve(session.ExternalAddress, protocol, session.ExternalPort))
                    {
                        throw new NatControlException(NatErrno.EEXIST,
                            $"External port {Endpoint(session.ExternalAddress, session.ExternalPort)} is already in use.");
                    }
                    reserved = true;
                    session.Attributes |= SessionAttributes.PortAllocated;
                }
                startsMapping = true;
            }
        }

        TableRefusal refusal = table.CheckRoom(session, startsMapping);
        if (refusal != TableRefusal.None)
        {
            if (reserved)
            {
                ports.Release(session.ExternalAddress, original.Protocol, session.ExternalPort, session.InsideAddress, nowTicks);
            }
            if (refusal == TableRefusal.Duplicate)
            {
                throw new NatControlException(NatErrno.EEXIST, $"A session for {record.Original} already exists.");
            }
            Counters.NoMemory++;
            throw new NatControlException(NatErrno.ENOMEM, refusal switch
            {
                TableRefusal.TableFull => $"The session table is full ({table.Capacity} sessions).",
                TableRefusal.HostLimit => $"{session.InsideAddress} already holds its maximum of {table.Limits.MaximumSessionsPerHost} sessions.",
                _ => "The hash bucket for this session is full (probe limit reached).",
            });
        }
        return view.Sessions.Insert(session, join, startsMapping, Math.Max(nowTicks, view.Sessions.DeadlineOf(session)), nowTicks);
    }

    /// <summary>
    /// The record's family, before anything else is asked of it: both tuples of one family and
    /// its rule of that family too (an IPv6 session under an IPv4 rule would go into a table its
    /// rule never translates for), or, under a NAT64 map and only there, an IPv6 tuple inside
    /// and an IPv4 one outside.
    /// </summary>
    private static void ValidateFamily(SessionRecord record)
    {
        IpFlow original = record.Original;
        IpFlow translated = record.Translated;
        bool nat64 = original.IsIpv6 != translated.IsIpv6;
        string? problem =
            original.MixesFamilies || translated.MixesFamilies ? "a tuple mixes IPv4 and IPv6 addresses"
            : record.Rule is null ? "it names no rule"
            : record.Rule.IsNat64 != nat64 ? (nat64
                ? "its tuples are of two families, which only a NAT64 map's sessions are, and its rule is not one"
                : "its rule is a NAT64 map, whose sessions have an IPv6 tuple inside and an IPv4 one outside")
            : nat64 && original.IsIpv6 == record.InitiatedOutside ? (record.InitiatedOutside
                ? "it says it began outside, where a NAT64 session's tuple is IPv4, but its first tuple is IPv6"
                : "it says it began inside, where a NAT64 session's tuple is IPv6, but its first tuple is IPv4")
            : nat64 ? null
            : record.Rule.IsIpv6 != original.IsIpv6 ? $"it is an {(original.IsIpv6 ? "IPv6" : "IPv4")} session, but its rule is an {(record.Rule.IsIpv6 ? "IPv6" : "IPv4")} one"
            : record.Rule is { IsIpv6: true, Kind: NatRuleKind.Bidirectional } ? "its rule is an IPv6 bimap, a prefix translation (NPTv6, RFC 6296) that keeps no sessions"
            : null;
        if (problem is not null)
        {
            throw new NatControlException(NatErrno.EINVAL, $"Bad session record: {problem}.");
        }
    }

    private static void Validate<TAddress>(SessionRecord record, in FlowKey<TAddress> original, in FlowKey<TAddress> translated)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        IpProtocol icmp = TAddress.IcmpProtocol;
        bool hasPorts = original.Protocol is IpProtocol.Tcp or IpProtocol.Udp || original.Protocol == icmp;
        string? problem =
            original.Protocol == 0 ? "the protocol is missing"
            : original.Protocol != translated.Protocol ? "the two tuples name different protocols"
            : original.Source == TAddress.Any || original.Destination == TAddress.Any || translated.Source == TAddress.Any || translated.Destination == TAddress.Any ? $"an address is {TAddress.Any}"
            : original.Protocol is IpProtocol.Tcp or IpProtocol.Udp && (original.SourcePort == 0 || original.DestinationPort == 0 || translated.SourcePort == 0 || translated.DestinationPort == 0) ? "a TCP or UDP port is 0"
            : original.Protocol == icmp && (original.SourcePort != original.DestinationPort || translated.SourcePort != translated.DestinationPort) ? $"an {IpProtocolNames.Of(icmp).ToUpperInvariant()} tuple must carry its identifier as both ports"
            : !hasPorts && (original.SourcePort | original.DestinationPort | translated.SourcePort | translated.DestinationPort) != 0 ? "a protocol without ports has a port"
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
    /// planted in an edited file) is refused with EINVAL. Asked of the family's own rules.
    /// </summary>
    private void CheckAsIfMade<TAddress>(FamilyParts<TAddress> parts, SessionRecord record, in FlowKey<TAddress> original, in FlowKey<TAddress> translated, int ruleIndex)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        FlowTable<TAddress> table = parts.Table;
        IRuleLookup<TAddress> lookup = RulesOf<TAddress>();
        IpProtocol protocol = original.Protocol;
        bool portsMatter = protocol is IpProtocol.Tcp or IpProtocol.Udp;

        // The destination, as CreateSession decides it.
        int destinationRule = -1;
        string? problem = null;
        RuleSlot? redirect = lookup.FindRedirect(original);
        if (redirect is not null)
        {
            destinationRule = redirect.Index;
            NatRule rule = redirect.Rule;
            RuleAddresses<TAddress> addresses = redirect.AddressesOf<TAddress>();
            bool addressRight = rule.Kind == NatRuleKind.Bidirectional
                ? translated.Destination == TAddress.Offset(addresses.SourceNetwork, TAddress.Distance(addresses.TranslatedFirst, original.Destination))
                : addresses.RedirectTargets.AsSpan().Contains(translated.Destination);
            ushort port = rule.Kind != NatRuleKind.Bidirectional && rule.RedirectPort != 0 && portsMatter
                ? (ushort)(rule.RedirectPort + (original.DestinationPort - rule.DestinationPorts.First))
                : original.DestinationPort;
            if (!addressRight || (portsMatter && translated.DestinationPort != port))
            {
                problem = $"its rule sends {Endpoint(original.Destination, original.DestinationPort)} elsewhere";
            }
        }
        else if (lookup.IsExternalAddress(original.Destination))
        {
            int representative = portsMatter ? table.FindMappingByExternal(protocol, original.Destination, original.DestinationPort) : -1;
            if (representative < 0)
            {
                problem = $"no mapping holds {Endpoint(original.Destination, original.DestinationPort)}, so nothing from outside could have come in there";
            }
            else
            {
                ref Session<TAddress> mapping = ref table.At(representative);
                destinationRule = mapping.RuleIndex;
                if (translated.Destination != mapping.InsideAddress || translated.DestinationPort != mapping.InsidePort)
                {
                    problem = $"{Endpoint(original.Destination, original.DestinationPort)} belongs to {Endpoint(mapping.InsideAddress, mapping.InsidePort)}";
                }
            }
        }
        else if (translated.Destination != original.Destination || (portsMatter && translated.DestinationPort != original.DestinationPort))
        {
            problem = "no rule translates its destination";
        }

        // The source, and the rule the session belongs to.
        bool destinationTranslated = destinationRule >= 0;
        RuleSlot? map = destinationTranslated && parts.LocalAddresses.Contains(translated.Destination)
            ? null
            : lookup.FindMap(original, translated.Destination, translated.DestinationPort);
        if (map is not null && !destinationTranslated && map.AddressesOf<TAddress>().SourceContains(original.Destination) != map.Rule.SourceNegated)
        {
            map = null;
        }
        if (map is not null && map.Index != ruleIndex && rules[ruleIndex] is { Rule.Kind: NatRuleKind.Map or NatRuleKind.MapBlock } pooled
            && pooled.Rule.IsIpv6 == (TAddress.Size != Ipv4Address.Size)
            && RuleConditions.MapMatches(pooled, original, translated.Destination, translated.DestinationPort))
        {
            map = pooled; // a later rule of the pool lent its address when the first had no port left
        }
        bool fromGateway = map is null && destinationTranslated && parts.LocalAddresses.Contains(original.Source);
        int expectedRule = map?.Index ?? destinationRule;
        if (problem is null && expectedRule < 0)
        {
            problem = "no rule translates it";
        }
        else if (problem is null && expectedRule != ruleIndex)
        {
            problem = $"its first packet would have gone through rule {expectedRule}, not rule {ruleIndex}";
        }
        // The gateway reaching its own published port began inside: CreateSession translates its
        // source too, under the redirect (issue 14: such a session was refused when put back).
        else if (problem is null && record.InitiatedOutside != (map is null && !fromGateway))
        {
            problem = !record.InitiatedOutside ? "it says it began inside, but no rule translates its source"
                : fromGateway ? "it says it began outside, but it is the gateway's own connection to its published port"
                : "it says it began outside, but its rule translates the inside's source";
        }
        else if (problem is null && map is not null)
        {
            RuleAddresses<TAddress> addresses = map.AddressesOf<TAddress>();
            if (map.Rule.Kind == NatRuleKind.Bidirectional)
            {
                if (translated.Source != TAddress.Offset(addresses.TranslatedFirst, addresses.SourceOffsetOf(original.Source)) || translated.SourcePort != original.SourcePort)
                {
                    problem = "its source is not the one its bimap rule gives";
                }
            }
            else if (!addresses.TranslatedContains(translated.Source)
                || ((protocol is IpProtocol.Tcp or IpProtocol.Udp || protocol == TAddress.IcmpProtocol) && !map.RangeFor(protocol).Contains(translated.SourcePort)))
            {
                problem = $"its external {Endpoint(translated.Source, translated.SourcePort)} is outside the addresses and ports of {RuleName(map)}";
            }
            else if (map.Rule.Kind == NatRuleKind.MapBlock
                && (!AddressPools<TAddress>.TryBlockOf(map, original.Source, protocol, out TAddress owned, out PortRange block)
                    || translated.Source != owned
                    || ((protocol is IpProtocol.Tcp or IpProtocol.Udp || protocol == TAddress.IcmpProtocol) && !block.Contains(translated.SourcePort))))
            {
                // map-block's point is that the address and port say which inside host it was
                // (RFC 7422): another host's block, however much the rule's, is not this one's.
                problem = $"its external {Endpoint(translated.Source, translated.SourcePort)} is not {original.Source}'s share of {RuleName(map)}, which is {owned} ports {block.First}-{block.Last}";
            }
        }
        else if (problem is null && fromGateway)
        {
            // The gateway reaching its own published port leaves from the address it reached
            // (CreateSession allocates on the pool of the original destination), not from any
            // address some other rule owns.
            if (translated.Source != original.Destination)
            {
                problem = $"its external address {translated.Source} is not {original.Destination}, the one address of {RuleName(rules[ruleIndex]!)} the gateway reached";
            }
        }
        else if (problem is null && (translated.Source != original.Source || (portsMatter && translated.SourcePort != original.SourcePort)))
        {
            problem = "no rule translates its source";
        }
        if (problem is not null)
        {
            throw new NatControlException(NatErrno.EINVAL, $"The session {original} -> {translated} is not one the rules could have made: {problem}.");
        }
    }

    /// <summary>"rule 3 (map eth0 10.0.0.0/24 -> 198.51.100.10/32 ...)": a rule named in a refusal, by number and text.</summary>
    private static string RuleName(RuleSlot slot)
    {
        string text;
        try
        {
            text = Rules.Ipnat.IpnatPrinter.Print(slot.Rule);
        }
        catch (ArgumentException)
        {
            text = slot.Rule.Label ?? slot.Rule.Kind.ToString();
        }
        return $"rule {slot.Index} ({text})";
    }

    /// <summary>Every session of every table (IPv4, NAT66, NAT64) as a record that <see cref="Put"/> would accept back (ipfs -W).</summary>
    public IReadOnlyList<SessionRecord> ExportSessions()
    {
        var records = new List<SessionRecord>(table.Count + Ipv6SessionCount + Nat64SessionCount);
        ExportSessions(0, SessionSlots, records);
        return records;
    }

    /// <summary>
    /// One bounded slice of <see cref="ExportSessions()"/>: the records of the slots from
    /// <paramref name="firstSlot"/> on (<see cref="SessionSlots"/>: IPv4's, then NAT66's, then NAT64's), added to
    /// <paramref name="into"/>; returns where the next slice starts. A save walks the table slice
    /// by slice, so forwarding goes on in between.
    /// </summary>
    public int ExportSessions(int firstSlot, int slotCount, List<SessionRecord> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        return Walk(firstSlot, slotCount, new Exporter(rules, into));
    }

    /// <summary>Each session of a walk as a record, skipping those of a rule that is gone.</summary>
    private sealed class Exporter(RuleSlotTable rules, List<SessionRecord> into) : ISessionVisitor
    {
        public void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>
        {
            FlowTable<TAddress> table = view.Table;
            ref Session<TAddress> session = ref table.At(index);
            RuleSlot? rule = rules[session.RuleIndex];
            if (rule is null)
            {
                return;
            }
            bool outside = (session.Attributes & SessionAttributes.InitiatedOutside) != 0;
            into.Add(new SessionRecord
            {
                Interface = rule.Rule.Interface,
                Rule = rule.Rule,
                // NAT64's IPv4 side in plain IPv4: the tuple the outside sees.
                Original = view.Shown(session.Original, ipv4Side: outside),
                Translated = view.Shown(session.Translated, ipv4Side: !outside),
                InitiatedOutside = outside,
                InMapping = (session.Attributes & SessionAttributes.InMapping) != 0,
                Mapping = FlowTable<TAddress>.BehaviorOf(session.Attributes),
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
    }

    /// <summary>
    /// The slot numbers a walk over every session covers: IPv4's table, then IPv6's (NAT66) when
    /// it exists, then NAT64's when it exists (its ids start after the room of NAT66's, made or
    /// not: <see cref="Nat64FirstId"/>). A session's listed id is its number here.
    /// </summary>
    public int SessionSlots => nat64 is { } translator ? Nat64FirstId + translator.Table.Capacity : table.Capacity + (ipv6?.Table.Capacity ?? 0);

    /// <summary>Something done to each session of a walk: its table, its slot there, and its number in <see cref="SessionSlots"/>.</summary>
    private interface ISessionVisitor
    {
        void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>;
    }

    /// <summary>
    /// Visits the sessions in the slots from <paramref name="firstSlot"/> on (<paramref name="slotCount"/>
    /// of them, IPv4's table first, then NAT66's, then NAT64's); returns where the next slice starts,
    /// <see cref="SessionSlots"/> at the end. A session stays in its slot for life, so a visitor
    /// that removes sessions moves nothing a later slice will look at.
    /// </summary>
    private int Walk(int firstSlot, int slotCount, ISessionVisitor visitor)
    {
        int start = Math.Max(0, firstSlot);
        int end = (int)Math.Min((long)SessionSlots, (long)start + Math.Max(0, slotCount));
        int ipv4Slots = table.Capacity;
        for (int id = start; id < Math.Min(end, ipv4Slots); id++)
        {
            if (!table.IsFree(id))
            {
                visitor.Visit<Ipv4Address>(ipv4, id, id);
            }
        }
        if (ipv6 is { } family)
        {
            for (int id = Math.Max(start, ipv4Slots); id < Math.Min(end, ipv4Slots + family.Table.Capacity); id++)
            {
                if (!family.Table.IsFree(id - ipv4Slots))
                {
                    visitor.Visit<Ipv6Address>(family, id - ipv4Slots, id);
                }
            }
        }
        if (nat64 is { } translator)
        {
            int firstId = Nat64FirstId;
            for (int id = Math.Max(start, firstId); id < end; id++)
            {
                if (!translator.Table.IsFree(id - firstId))
                {
                    visitor.Visit(Nat64View(translator), id - firstId, id);
                }
            }
        }
        return Math.Max(end, start);
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

    /// <summary>Sessions of both families, optionally only those touching an address (either side) or of one protocol.</summary>
    public IReadOnlyList<SessionInfo> ListSessions(IpAddress? address = null, IpProtocol? protocol = null)
    {
        var list = new List<SessionInfo>();
        ListSessions(0, SessionSlots, list, address, protocol);
        return list;
    }

    /// <summary>
    /// One bounded slice of a listing: the sessions in slots <paramref name="firstSlot"/> to
    /// <paramref name="firstSlot"/> + <paramref name="slotCount"/> - 1, added to <paramref name="into"/>.
    /// A caller walks the table slice by slice, letting packets through between slices, so a
    /// listing never stalls forwarding for a whole-table walk (STYLE.md, "The packet thread
    /// does packet work"). Returns the slot to start the next slice at; <see cref="SessionSlots"/> at the end.
    /// </summary>
    public int ListSessions(int firstSlot, int slotCount, List<SessionInfo> into, IpAddress? address = null, IpProtocol? protocol = null)
        => ListSessions(firstSlot, slotCount, into, new SessionFilter { Address = address, Protocol = protocol });

    /// <summary>One bounded slice of a listing of the sessions <paramref name="filter"/> takes; returns where the next slice starts.</summary>
    public int ListSessions(int firstSlot, int slotCount, List<SessionInfo> into, SessionFilter filter)
    {
        ArgumentNullException.ThrowIfNull(into);
        ArgumentNullException.ThrowIfNull(filter);
        return Walk(firstSlot, slotCount, new Lister(this, into, filter));
    }

    /// <summary>The sessions of a walk that the filter takes.</summary>
    private sealed class Lister(NatEngine engine, List<SessionInfo> into, SessionFilter filter) : ISessionVisitor
    {
        public void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>
        {
            if (Takes(filter, view, view.Table.At(index)))
            {
                into.Add(engine.Describe(view, index, id));
            }
        }
    }

    /// <summary>Removes every session of every table (IPv4, NAT66, NAT64; ipnat -F); returns how many. Refused while locked.</summary>
    public int FlushSessions(long nowTicks)
    {
        FlushSessions(0, SessionSlots, nowTicks, out int removed);
        return removed;
    }

    /// <summary>
    /// <see cref="FlushSessions(long)"/> over one slice of the table, the slots from
    /// <paramref name="firstSlot"/> on: the caller walks the table a slice per call, so the
    /// packet thread translates between slices (issue 12, "the packet thread does packet work
    /// only"). Returns where the next slice starts (<see cref="SessionSlots"/> when done).
    /// </summary>
    public int FlushSessions(int firstSlot, int slotCount, long nowTicks, out int removed)
        => RemoveWhere(static _ => true, SessionEndReason.Flushed, nowTicks, firstSlot, slotCount, out removed);

    /// <summary>Removes the sessions of one rule, of any table (ipnat -p, after the rule's removal); returns how many.</summary>
    public int PurgeSessionsOfRule(int ruleIndex, long nowTicks)
    {
        RemoveWhere(rule => rule == ruleIndex, SessionEndReason.Purged, nowTicks, 0, SessionSlots, out int removed);
        return removed;
    }

    /// <summary>Removes the sessions of every removed rule (ipnat -p); returns how many.</summary>
    public int PurgeOrphans(long nowTicks)
    {
        PurgeOrphans(0, SessionSlots, nowTicks, out int removed);
        return removed;
    }

    /// <summary><see cref="PurgeOrphans(long)"/> over one slice of the table; returns where the next starts.</summary>
    public int PurgeOrphans(int firstSlot, int slotCount, long nowTicks, out int removed)
        => RemoveWhere(rule => rules[rule] is { Active: false }, SessionEndReason.Purged, nowTicks, firstSlot, slotCount, out removed);

    /// <summary>
    /// Ends every session on <paramref name="address"/> as an external address (mapped out from
    /// it, or come in to it), because the address left the host: no packet to it arrives any
    /// more, and one from it would leave with a source that is no longer this host's. Counted in
    /// <see cref="NatCounters.AddressGone"/>; works while the table is locked too (it is the
    /// kernel, not an operator, that took the address).
    /// </summary>
    public int FlushSessionsOn(IpAddress address, long nowTicks)
    {
        FlushSessionsOn(address, 0, SessionSlots, nowTicks, out int removed);
        return removed;
    }

    /// <summary><see cref="FlushSessionsOn(IpAddress, long)"/> over one slice of the table; returns where the next starts.</summary>
    public int FlushSessionsOn(IpAddress address, int firstSlot, int slotCount, long nowTicks, out int removed)
    {
        var doomed = new Doomed(static _ => true, address);
        int next = Walk(firstSlot, slotCount, doomed);
        removed = RemoveAll(doomed, SessionEndReason.AddressGone, nowTicks);
        return next;
    }

    /// <summary>Removes one session by id (as listed), of any table.</summary>
    public void RemoveSession(int id, long nowTicks)
    {
        int ipv4Slots = table.Capacity;
        int nat64Slots = Nat64FirstId;
        bool present = id >= 0 && (id < ipv4Slots ? !table.IsFree(id)
            : id < nat64Slots ? ipv6 is { } family && !family.Table.IsFree(id - ipv4Slots)
            : nat64 is { } translator && id - nat64Slots < translator.Table.Capacity && !translator.Table.IsFree(id - nat64Slots));
        if (!present)
        {
            throw new NatControlException(NatErrno.ESRCH, $"No session {id}.");
        }
        ThrowIfLocked();
        RemoveById(id, SessionEndReason.Removed, nowTicks);
    }

    private void RemoveById(int id, SessionEndReason reason, long nowTicks)
    {
        if (id < table.Capacity)
        {
            sessions.Remove(id, reason, nowTicks);
        }
        else if (id < Nat64FirstId)
        {
            ipv6!.Sessions.Remove(id - table.Capacity, reason, nowTicks);
        }
        else
        {
            nat64!.Sessions.Remove(id - Nat64FirstId, reason, nowTicks);
        }
    }

    private int RemoveWhere(Func<int, bool> ruleMatches, SessionEndReason reason, long nowTicks, int firstSlot, int slotCount, out int removed)
    {
        ThrowIfLocked();
        var doomed = new Doomed(ruleMatches, null);
        int next = Walk(firstSlot, slotCount, doomed);
        removed = RemoveAll(doomed, reason, nowTicks);
        return next;
    }

    /// <summary>Removes what a walk collected, after the walk: removing during it would change the slots it reads.</summary>
    private int RemoveAll(Doomed doomed, SessionEndReason reason, long nowTicks)
    {
        foreach (int id in doomed.Ids)
        {
            RemoveById(id, reason, nowTicks);
        }
        return doomed.Ids.Count;
    }

    /// <summary>Collects the sessions whose rule matches and, when an address is given, whose external address it is.</summary>
    private sealed class Doomed(Func<int, bool> ruleMatches, IpAddress? externalAddress) : ISessionVisitor
    {
        public List<int> Ids { get; } = [];

        public void Visit<TAddress>(SessionTableView<TAddress> view, int index, int id)
            where TAddress : unmanaged, IFlowAddress<TAddress>
        {
            ref Session<TAddress> session = ref view.Table.At(index);
            // An IPv4 address that leaves the host ends NAT64's sessions on it too: they share it.
            if (externalAddress is { } address
                && (!view.TryHold(address, out TAddress held) || session.ExternalAddress != held))
            {
                return;
            }
            if (ruleMatches(session.RuleIndex))
            {
                Ids.Add(id);
            }
        }
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
            InUse = table.Count + Ipv6SessionCount + Nat64SessionCount,
            InUseIpv6 = Ipv6SessionCount,
            InUseNat64 = Nat64SessionCount,
            Mappings = table.MappingCount + (ipv6?.Table.MappingCount ?? 0) + (nat64?.Table.MappingCount ?? 0),
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
