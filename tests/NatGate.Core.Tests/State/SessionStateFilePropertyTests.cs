using NatGate.Core.Packets;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.State;

namespace NatGate.Core.Tests.State;

public sealed class SessionStateFilePropertyTests
{
    // Quotes, backslashes, control and non-ASCII characters must survive JSON escaping.
    private static readonly Gen<string> Text = Gen.Char["ab9 -_.:\"\\\n\té中"].Array[0, 12].Select(characters => new string(characters));
    private static readonly Gen<TimeSpan> Duration = Gen.Long.Select(ticks => new TimeSpan(ticks));
    private static readonly Gen<Ipv4Address> Address = Gen.UInt.Select(v => new Ipv4Address(v));
    private static readonly Gen<Ipv4Prefix> Prefix = Gen.Select(Address, Gen.Int[0, 32], (address, length) => new Ipv4Prefix(address, length));
    private static readonly Gen<PortMatch> Ports = Gen.Select(Gen.UShort, Gen.UShort, (first, last) => new PortMatch(first, last));
    private static readonly Gen<PortRange?> Range = Gen.Select(Gen.UShort, Gen.UShort, (first, last) => new PortRange(first, last)).Nullable();
    private static readonly Gen<Ipv6Address> Address6 = Gen.Select(Gen.ULong, Gen.ULong, (upper, lower) => new Ipv6Address(upper, lower));

    // Flows of both families: a version 2 file holds IPv6 (NAT66) sessions beside IPv4 ones.
    private static readonly Gen<IpFlow> Flow = Gen.OneOf(
        Gen.Select(Gen.Byte, Address, Gen.UShort, Address, Gen.UShort,
            (protocol, source, sourcePort, destination, destinationPort) => (IpFlow)new FlowKey((IpProtocol)protocol, source, sourcePort, destination, destinationPort)),
        Gen.Select(Gen.Byte, Address6, Gen.UShort, Address6, Gen.UShort,
            (protocol, source, sourcePort, destination, destinationPort) => (IpFlow)new FlowKey<Ipv6Address>((IpProtocol)protocol, source, sourcePort, destination, destinationPort)));

    private static readonly Gen<NatPolicy> Policy = Gen.Select(
        Gen.Select(Gen.Enum<MappingBehavior>(), Gen.Enum<FilteringBehavior>(), Gen.Enum<FilteringBehavior>(), Gen.Bool, Gen.Bool),
        Gen.Select(Duration, Duration, Duration, Duration, Duration),
        (behaviour, timeouts) => new NatPolicy
        {
            Mapping = behaviour.Item1,
            TcpFiltering = behaviour.Item2,
            UdpFiltering = behaviour.Item3,
            UdpInboundRefresh = behaviour.Item4,
            PreservePortParity = behaviour.Item5,
            UdpIdleTimeout = timeouts.Item1,
            TcpEstablishedTimeout = timeouts.Item2,
            TcpTransitoryTimeout = timeouts.Item3,
            IcmpQueryTimeout = timeouts.Item4,
            OtherIdleTimeout = timeouts.Item5,
        });

    private static readonly Gen<NatRule> Rule = Gen.Select(
        Gen.Select(Gen.Enum<NatRuleKind>(), Text.Null(), Gen.Byte.Select(bits => (RuleProtocols)bits), Prefix, Ports, Prefix, Ports),
        Gen.Select(Address, Address, Range, Range, Gen.Int, Address.Array[0, 4], Gen.UShort),
        Gen.Select(Gen.Bool, Gen.Bool, Policy, Text.Null()),
        (matching, translation, rest) => new NatRule
        {
            Kind = matching.Item1,
            Interface = matching.Item2,
            Protocols = matching.Item3,
            Source = matching.Item4,
            SourcePorts = matching.Item5,
            Destination = matching.Item6,
            DestinationPorts = matching.Item7,
            TranslatedFirst = translation.Item1,
            TranslatedLast = translation.Item2,
            TranslatedPorts = translation.Item3,
            TranslatedIcmpIdentifiers = translation.Item4,
            PortsPerAddress = translation.Item5,
            RedirectTargets = [.. translation.Item6.Select(target => (IpAddress)target)],
            RedirectPort = translation.Item7,
            RoundRobin = rest.Item1,
            Sticky = rest.Item2,
            Policy = rest.Item3,
            Label = rest.Item4,
        });

    private static readonly Gen<SessionRecord> Session = Gen.Select(
        Gen.Select(Text.Null(), Rule, Flow, Flow, Gen.Bool, Gen.Bool, Gen.Enum<MappingBehavior>()),
        Gen.Select(Gen.UShort.Nullable(), Gen.UShort.Nullable(), Gen.Byte.Select(bits => (TcpTracking)bits)),
        Gen.Select(Gen.Long, Gen.Long, Gen.Long, Gen.Long, Gen.Long, Gen.Long),
        (identity, state, numbers) => new SessionRecord
        {
            Interface = identity.Item1,
            Rule = identity.Item2,
            Original = identity.Item3,
            Translated = identity.Item4,
            InitiatedOutside = identity.Item5,
            InMapping = identity.Item6,
            Mapping = identity.Item7,
            IpChecksumDelta = state.Item1,
            TransportChecksumDelta = state.Item2,
            Tcp = state.Item3,
            CreatedTicks = numbers.Item1,
            LastSeenTicks = numbers.Item2,
            PacketsForward = numbers.Item3,
            PacketsReply = numbers.Item4,
            BytesForward = numbers.Item5,
            BytesReply = numbers.Item6,
        });

    private static readonly Gen<DateTimeOffset> Moment = Gen.Select(Gen.Long[0, DateTime.MaxValue.Ticks - 2 * TimeSpan.TicksPerDay], Gen.Int[-14 * 60, 14 * 60],
        (ticks, offsetMinutes) => new DateTimeOffset(ticks + TimeSpan.TicksPerDay, TimeSpan.FromMinutes(offsetMinutes)));

    [Fact]
    public void Saved_records_load_back_equal()
    {
        Gen.Select(Session.Array[0, 6], Gen.Int[0, 3], Moment).Sample((generated, shared, savedAt) =>
        {
            // The last few sessions take a copy of the first's rule, as sessions of one rule do: the header holds it once.
            SessionRecord[] sessions = [.. generated.Select((session, i) => i > 0 && i >= generated.Length - shared
                ? session with { Rule = generated[0].Rule with { RedirectTargets = [.. generated[0].Rule.RedirectTargets] } }
                : session)];
            using var stream = new MemoryStream();
            SessionStateFile.Save(stream, sessions, savedAt);
            stream.Position = 0;

            SavedSessions loaded = SessionStateFile.Load(stream);

            Assert.Equal(savedAt, loaded.SavedAt);
            Assert.Equal(savedAt.Offset, loaded.SavedAt.Offset);
            SessionRecordAssert.Equal(sessions, loaded.Sessions);
        }, iter: 2_000);
    }
}
