using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.Translation.Nat64;

namespace NatGate.Core.Translation;

/// <summary>
/// NAT64's sessions in the control operations (listings, ids, removal, flush, purge, events,
/// put, save and restore), beside IPv4's and NAT66's. NAT64's table keeps its IPv4 side in
/// IPv4-mapped addresses (::ffff:a.b.c.d); here that side becomes plain IPv4 on the way out
/// (listings, records) and mapped again on the way in (put, restore), so no one outside the
/// engine ever sees the mapped form.
/// </summary>
public sealed partial class NatEngine
{
    /// <summary>
    /// Where NAT64's ids start in <see cref="SessionSlots"/>: after IPv4's table and NAT66's,
    /// whether NAT66's is made yet or not (it is made with the limits' size), so an id stays
    /// the session's for life even when the NAT66 table comes after NAT64's.
    /// </summary>
    private int Nat64FirstId => table.Capacity + Options.Limits.MaximumSessions;

    /// <summary>
    /// How many sessions <paramref name="family"/>'s table holds: IPv4's <see cref="Capacity"/>;
    /// NAT66's and NAT64's, made with their first session, the same limits' size whether made yet or not.
    /// </summary>
    public int CapacityOf(SessionFamily family) => family switch
    {
        SessionFamily.Ipv4 => table.Capacity,
        SessionFamily.Ipv6 => ipv6?.Table.Capacity ?? Options.Limits.MaximumSessions,
        SessionFamily.Nat64 => nat64?.Table.Capacity ?? Options.Limits.MaximumSessions,
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "Not a session family."),
    };

    /// <summary>NAT64's parts, made with its first session (a packet, a put or a restore), observed for events when someone listens.</summary>
    private Nat64Parts MakeNat64Parts()
    {
        var parts = new Nat64Parts(new FlowTable<Ipv6Address>(Options.Limits, table.EpochTicks, seed), rules, pools, Counters, census,
            new FragmentTracker<Ipv6Address>(Options));
        if (eventsObserved)
        {
            parts.Sessions.Observe(new SessionEvents<Ipv6Address>(this, Nat64View(parts), Nat64FirstId));
        }
        RecordNat64Events(parts);
        return parts;
    }

    private static SessionTableView<Ipv6Address> Nat64View(Nat64Parts parts) => new(parts.Table, parts.Sessions, SessionFamily.Nat64);

    /// <summary>One of the engine's session tables as the control operations walk it: the table, its store, and which family it is.</summary>
    private readonly record struct SessionTableView<TAddress>(FlowTable<TAddress> Table, SessionStore<TAddress> Sessions, SessionFamily Family)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        public static implicit operator SessionTableView<TAddress>(FamilyParts<TAddress> parts)
            => new(parts.Table, parts.Sessions, TAddress.Size == Ipv4Address.Size ? SessionFamily.Ipv4 : SessionFamily.Ipv6);

        /// <summary>
        /// A session's tuple as people and files see it: NAT64's IPv4 side (<paramref name="ipv4Side"/>)
        /// in plain IPv4, its echo as ICMP; any other tuple as it is.
        /// </summary>
        public IpFlow Shown(in FlowKey<TAddress> key, bool ipv4Side)
        {
            IpFlow flow = IpFlow.Of(key);
            if (Family != SessionFamily.Nat64 || !ipv4Side)
            {
                return flow;
            }
            return new IpFlow(flow.Protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : flow.Protocol,
                flow.Source.AsIpv6.MappedIpv4, flow.SourcePort, flow.Destination.AsIpv6.MappedIpv4, flow.DestinationPort);
        }

        /// <summary>
        /// <paramref name="address"/> as this table holds it, or false when no session here can hold
        /// it: NAT64's table holds an IPv6 address as it is and an IPv4 one mapped.
        /// </summary>
        public bool TryHold(IpAddress address, out TAddress held)
        {
            bool ipv6Table = TAddress.Size != Ipv4Address.Size;
            if (Family == SessionFamily.Nat64 && !address.IsIpv6)
            {
                held = TAddress.From(Ipv6Address.MapIpv4(address.AsIpv4));
                return true;
            }
            held = address.IsIpv6 == ipv6Table ? TAddress.From(address) : default;
            return address.IsIpv6 == ipv6Table;
        }
    }

    /// <summary>
    /// A record's tuple in NAT64's table: the IPv6 one as it is, the IPv4 one in mapped addresses
    /// with ICMP as ICMPv6 (the table keys both tuples by the inside's protocol).
    /// </summary>
    private static FlowKey<Ipv6Address> Nat64Key(IpFlow flow)
    {
        if (flow.IsIpv6)
        {
            return flow.AsIpv6;
        }
        FlowKey<Ipv4Address> key = flow.AsIpv4;
        IpProtocol protocol = key.Protocol switch
        {
            IpProtocol.Icmp => IpProtocol.Icmpv6,
            IpProtocol.Icmpv6 => 0, // no IPv4 packet carries ICMPv6: refused as a protocol mismatch
            _ => key.Protocol,
        };
        return new FlowKey<Ipv6Address>(protocol, Ipv6Address.MapIpv4(key.Source), key.SourcePort, Ipv6Address.MapIpv4(key.Destination), key.DestinationPort);
    }

    /// <summary>
    /// SIOCSTPUT for a NAT64 record: its tuples mapped into NAT64's table, checked as
    /// <see cref="CheckNat64AsIfMade"/> says, its new mapping's port reserved in the IPv4
    /// allocator that NAT64 shares with IPv4 NAPT (so neither hands it out again). Returns the
    /// session's index in NAT64's table.
    /// </summary>
    private int PutNat64(SessionRecord record, int ruleIndex, long nowTicks)
    {
        RuleSlot slot = rules[ruleIndex]!;
        if (slot.Nat64 is null)
        {
            throw new NatControlException(NatErrno.EINVAL, $"Bad session record: its tuples are of two families, as a NAT64 session's are, but rule {ruleIndex} is not a NAT64 map.");
        }
        FlowKey<Ipv6Address> original = Nat64Key(record.Original);
        FlowKey<Ipv6Address> translated = Nat64Key(record.Translated);
        if (original.Protocol == 0 || translated.Protocol == 0)
        {
            throw new NatControlException(NatErrno.EINVAL, "Bad session record: an IPv4 tuple names ICMPv6; a NAT64 session's IPv4 side carries ICMP.");
        }
        Validate(record, original, translated);
        Nat64Parts parts = Nat64State();
        CheckNat64AsIfMade(parts, slot, record, original, translated);
        int index = Insert<Ipv6Family, Ipv6Address>(Nat64View(parts), new Nat64Ports(pools), record, original, translated, ruleIndex, nowTicks);
        // Its packets reach NAT64 through the prefix even if the rule goes later.
        parts.Remember(slot.Nat64.Prefix);
        return index;
    }

    /// <summary>
    /// A NAT64 record must be a session <c>CreateNat64Outbound</c> or <c>CreateNat64Inbound</c>
    /// could have made under the rules loaded now, or it is refused with EINVAL (a port forward
    /// planted in an edited file is not one): from the inside, through the first NAT64 map that
    /// takes it, to the IPv4 host its destination embeds (RFC 6052 2.2), from an external
    /// address and port of the rule; from outside, only into a mapping that exists, from the
    /// remote host's IPv4-embedded address (RFC 6146 3.5.1.1 and 3.5.2.2).
    /// </summary>
    private void CheckNat64AsIfMade(Nat64Parts parts, RuleSlot slot, SessionRecord record, in FlowKey<Ipv6Address> original, in FlowKey<Ipv6Address> translated)
    {
        Nat64Mapping mapping = slot.Nat64!;
        IpProtocol protocol = original.Protocol;
        bool ported = protocol is IpProtocol.Tcp or IpProtocol.Udp;
        string? problem = null;
        if (protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmpv6))
        {
            problem = "NAT64 translates TCP, UDP and ICMP only";
        }
        else if (!record.InMapping)
        {
            problem = "a NAT64 session always belongs to a mapping";
        }
        else if (!record.InitiatedOutside)
        {
            RuleSlot? first = null;
            foreach (RuleSlot candidate in ruleSet.Matcher.Nat64)
            {
                if (candidate.Nat64!.Prefix.Contains(original.Destination) && candidate.Nat64.Matches(original))
                {
                    first = candidate;
                    break;
                }
            }
            Ipv4Address external = translated.Source.MappedIpv4;
            if (first is null)
            {
                problem = "no NAT64 map takes it";
            }
            else if (first.Index != slot.Index)
            {
                problem = $"its first packet would have gone through rule {first.Index}, not rule {slot.Index}";
            }
            else if (!mapping.Prefix.TryExtract(original.Destination, out Ipv4Address server) || !mapping.Allows(server))
            {
                problem = $"{original.Destination} stands for no IPv4 host this NAT64 may reach";
            }
            else if (translated.Destination != Ipv6Address.MapIpv4(server) || (ported && translated.DestinationPort != original.DestinationPort))
            {
                problem = $"its IPv4 destination is not {server}:{original.DestinationPort}, the host its IPv6 destination embeds";
            }
            else if (!translated.Source.IsIpv4Mapped || external < mapping.TranslatedFirst || external > mapping.TranslatedLast
                || !slot.RangeFor(protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : protocol).Contains(translated.SourcePort))
            {
                problem = $"its external {external}:{translated.SourcePort} is outside the addresses and ports of {RuleName(slot)}";
            }
        }
        else
        {
            int representative = ported ? parts.Table.FindMappingByExternal(protocol, original.Destination, original.DestinationPort) : -1;
            if (representative < 0)
            {
                problem = $"no NAT64 mapping holds {original.Destination.MappedIpv4}:{original.DestinationPort}, so nothing from outside could have come in there";
            }
            else
            {
                ref Session<Ipv6Address> owner = ref parts.Table.At(representative);
                if (owner.RuleIndex != slot.Index)
                {
                    problem = $"the mapping it joins belongs to rule {owner.RuleIndex}, not rule {slot.Index}";
                }
                else if (translated.Destination != owner.InsideAddress || translated.DestinationPort != owner.InsidePort)
                {
                    problem = $"{original.Destination.MappedIpv4}:{original.DestinationPort} belongs to [{owner.InsideAddress}]:{owner.InsidePort}";
                }
                else if (!original.Source.IsIpv4Mapped || translated.Source != mapping.Prefix.Embed(original.Source.MappedIpv4) || translated.SourcePort != original.SourcePort)
                {
                    problem = $"its IPv6 source is not the remote host's address in the NAT64 prefix {mapping.Prefix}";
                }
            }
        }
        if (problem is not null)
        {
            throw new NatControlException(NatErrno.EINVAL, $"The session {record.Original} -> {record.Translated} is not one the NAT64 rules could have made: {problem}.");
        }
    }

    /// <summary>How a session put back takes its new mapping's external port, and gives it back when the put fails.</summary>
    private interface IReservedPorts<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        /// <summary>Holds the port; false when it is taken.</summary>
        bool TryReserve(TAddress external, IpProtocol protocol, ushort port);

        void Release(TAddress external, IpProtocol protocol, ushort port, TAddress inside, long nowTicks);
    }

    /// <summary>A family's own pools (IPv4 NAPT, NAT66).</summary>
    private sealed class FamilyPorts<TAddress>(AddressPools<TAddress> pools) : IReservedPorts<TAddress>
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        public bool TryReserve(TAddress external, IpProtocol protocol, ushort port)
            => pools.AllocatorOf(pools.PoolOf(external), protocol).TryReserve(port);

        public void Release(TAddress external, IpProtocol protocol, ushort port, TAddress inside, long nowTicks)
            => pools.Release(external, protocol, port, inside, nowTicks);
    }

    /// <summary>NAT64's: IPv4's allocators, the external address out of its mapped form, ICMPv6's identifiers as ICMP's.</summary>
    private sealed class Nat64Ports(AddressPools<Ipv4Address> pools) : IReservedPorts<Ipv6Address>
    {
        public bool TryReserve(Ipv6Address external, IpProtocol protocol, ushort port)
            => pools.AllocatorOf(pools.PoolOf(external.MappedIpv4), Ipv4Protocol(protocol)).TryReserve(port);

        public void Release(Ipv6Address external, IpProtocol protocol, ushort port, Ipv6Address inside, long nowTicks)
            => pools.Release(external.MappedIpv4, Ipv4Protocol(protocol), port, inside, nowTicks);

        private static IpProtocol Ipv4Protocol(IpProtocol protocol) => protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : protocol;
    }

    /// <summary>
    /// SIOCGNATL names a redirected connection's two ends. A NAT64 session redirects nothing: its
    /// client reached an IPv4 host through the prefix, and no local end accepted it. Asked about
    /// one (the IPv6 client and the IPv4-embedded address it connected to), the lookup says so
    /// with EINVAL instead of "no session".
    /// </summary>
    private void RefuseNat64Lookup(IpProtocol protocol, Ipv6Address insideAddress, ushort insidePort, Ipv6Address outsideAddress, ushort outsidePort)
    {
        if (nat64 is null)
        {
            return;
        }
        int index = nat64.Table.Find(new FlowKey<Ipv6Address>(protocol, outsideAddress, outsidePort, insideAddress, insidePort), out bool forward);
        if (index >= 0 && forward)
        {
            ref Session<Ipv6Address> session = ref nat64.Table.At(index);
            throw new NatControlException(NatErrno.EINVAL,
                $"The connection from [{outsideAddress}]:{outsidePort} to [{insideAddress}]:{insidePort} is a NAT64 session to IPv4 {session.Translated.Destination.MappedIpv4}:{session.Translated.DestinationPort}; "
                + "NAT64 redirects nothing to a local end, so there is nothing to look up (lookups are for connections a rdr rule redirected).");
        }
    }
}
