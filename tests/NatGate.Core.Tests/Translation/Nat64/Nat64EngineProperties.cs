using System.Buffers.Binary;
using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Checksums;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;
using NatGate.Core.Translation.Nat64;
using static NatGate.Core.Tests.Translation.Nat64.Nat64TestPackets;

namespace NatGate.Core.Tests.Translation.Nat64;

/// <summary>
/// Stateful NAT64 in the engine, by property: round trips under every mapping and filtering
/// behaviour with every checksum recomputed in full, and random or mutated bytes of either family
/// that never throw, never break the table, and never disturb a known flow.
/// </summary>
public sealed class Nat64EngineProperties
{
    private static readonly Ipv4Address External = Ipv4Address.Parse("203.0.113.10");
    private static readonly Nat64Prefix Prefix = Nat64Prefix.WellKnown;
    private static readonly IpProtocol[] Protocols = [IpProtocol.Tcp, IpProtocol.Udp, IpProtocol.Icmpv6];

    /// <summary>One inside flow: host fd00:77::2 to ::5, a global IPv4 server, a protocol, ports (or the echo identifier) and a payload.</summary>
    private readonly record struct Flow(Ipv6Address Inside, Ipv4Address Server, IpProtocol Protocol, ushort SourcePort, ushort DestinationPort, byte[] Payload)
    {
        public override string ToString() => $"{Protocol} [{Inside}]:{SourcePort} -> {Server}:{DestinationPort} ({Payload.Length} bytes)";
    }

    private static readonly Gen<Flow> FlowGen = Gen.Select(Gen.Int[2, 5], Gen.Int[0, 1], Gen.Byte[1, 254], Gen.Int[0, 2], Gen.UShort[1, 65535], Gen.UShort[1, 65535],
        Gen.Byte.Array[0, 120]).Select((host, network, last, protocol, sourcePort, destinationPort, payload) => new Flow(
            new Ipv6Address(Ipv6Address.Parse("fd00:77::", null).Value + (uint)host),
            new Ipv4Address((network == 0 ? 0xC6336400u : 0x08080800u) | last), // 198.51.100.x or 8.8.8.x
            Protocols[protocol], sourcePort, protocol == 2 ? sourcePort : destinationPort, payload));

    private static byte[] Outbound(Flow flow) => Ipv6(flow.Inside, Prefix.Embed(flow.Server), flow.Protocol, flow.Protocol switch
    {
        IpProtocol.Tcp => Tcp(flow.SourcePort, flow.DestinationPort, flow.Payload),
        IpProtocol.Udp => Udp(flow.SourcePort, flow.DestinationPort, flow.Payload),
        _ => Echo(Icmpv6Type.EchoRequest, flow.SourcePort, 1, flow.Payload),
    });

    private static byte[] Reply(Flow flow, ushort externalPort) => Ipv4(flow.Server, External, flow.Protocol == IpProtocol.Icmpv6 ? IpProtocol.Icmp : flow.Protocol, flow.Protocol switch
    {
        IpProtocol.Tcp => Tcp(flow.DestinationPort, externalPort, flow.Payload),
        IpProtocol.Udp => Udp(flow.DestinationPort, externalPort, flow.Payload),
        _ => Echo(IcmpType.EchoReply, externalPort, 1, flow.Payload),
    });

    private static NatEngine Engine(MappingBehavior mapping, FilteringBehavior filtering)
        => Nat64EngineTests.Engine(policy: NatPolicy.Default with { Mapping = mapping, UdpFiltering = filtering, TcpFiltering = filtering });

    [Fact]
    public void Flows_round_trip_under_every_mapping_and_filtering_behaviour_with_checksums_recomputed_in_full()
    {
        Gen.Select(Gen.Enum<MappingBehavior>(), Gen.Enum<FilteringBehavior>(), FlowGen.Array[1, 8]).Sample((mapping, filtering, flows) =>
        {
            NatEngine engine = Engine(mapping, filtering);
            var externalPorts = new ushort[flows.Length];
            for (int i = 0; i < flows.Length; i++)
            {
                Flow flow = flows[i];
                (TranslationResult result, byte[] sent) = Nat64EngineTests.Send(engine, Outbound(flow));
                Assert.True(result.Verdict == Verdict.Forward, $"{flow}: {result}");
                Assert.True(Ipv4ChecksumsValid(sent), $"{flow}: {Hex(sent)}");
                Assert.Equal(External, Ipv4Address.Read(sent.AsSpan(Ipv4Packet.Field.SourceAddress)));
                Assert.Equal(flow.Server, Ipv4Address.Read(sent.AsSpan(Ipv4Packet.Field.DestinationAddress)));
                externalPorts[i] = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(20 + (flow.Protocol == IpProtocol.Icmpv6 ? 4 : 0)));
                if (flow.Protocol != IpProtocol.Icmpv6)
                {
                    Assert.Equal(flow.DestinationPort, BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(22)));
                }
            }
            for (int i = 0; i < flows.Length; i++)
            {
                Flow flow = flows[i];
                (TranslationResult result, byte[] received) = Nat64EngineTests.Send(engine, Reply(flow, externalPorts[i]));
                Assert.True(result.Verdict == Verdict.Forward, $"reply to {flow}: {result}");
                Assert.True(Ipv6ChecksumValid(received), $"reply to {flow}: {Hex(received)}");
                Assert.Equal(Prefix.Embed(flow.Server), Ipv6Address.Read(received.AsSpan(Ipv6Packet.Field.SourceAddress)));
                Assert.Equal(flow.Inside, Ipv6Address.Read(received.AsSpan(Ipv6Packet.Field.DestinationAddress)));
                Assert.Equal(flow.SourcePort, BinaryPrimitives.ReadUInt16BigEndian(received.AsSpan(40 + (flow.Protocol == IpProtocol.Icmpv6 ? 4 : 2))));
            }
            // Endpoint-independent mapping: one inside endpoint, one external port, whatever the server.
            if (mapping == MappingBehavior.EndpointIndependent)
            {
                foreach (var same in Enumerable.Range(0, flows.Length).GroupBy(i => (flows[i].Inside, flows[i].Protocol, flows[i].SourcePort)))
                {
                    Assert.Single(same.Select(i => externalPorts[i]).Distinct());
                }
            }
            Assert.Empty(engine.CheckNat64Consistency());
        }, iter: 300);
    }

    /// <summary>A piece of garbage: what it starts from, and the bytes it changes.</summary>
    private readonly record struct Garbage(int Kind, byte[] Random, (int Position, byte Value)[] Changes)
    {
        public override string ToString() => $"kind {Kind}, {Random.Length} random bytes, changes {string.Join(' ', Changes.Select(change => $"{change.Position}={change.Value}"))}";
    }

    private static readonly Gen<Garbage> GarbageGen = Gen.Select(Gen.Int[0, 5], Gen.Byte.Array[0, 160], Gen.Select(Gen.Int[0, 220], Gen.Byte).Array[0, 4])
        .Select((kind, random, changes) => new Garbage(kind, random, changes));

    /// <summary>
    /// Kind 0: random bytes as IPv6 to the prefix; 1: random bytes as IPv4 to the external address
    /// (header checksum right); 2: the known flow's packet, mutated; 3: its reply, mutated (header
    /// checksum right); 4: an ICMPv4 error quoting random bytes; 5: an ICMPv6 error from the inside
    /// quoting random bytes (checksums right, so they reach the quote).
    /// </summary>
    private static byte[] Build(Garbage garbage, Flow known, ushort knownPort)
    {
        byte[] packet;
        switch (garbage.Kind)
        {
            case 0:
                packet = new byte[40 + garbage.Random.Length];
                garbage.Random.CopyTo(packet, 40);
                packet[0] = 0x60;
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)garbage.Random.Length);
                packet[6] = garbage.Random.Length > 0 ? garbage.Random[0] : (byte)IpProtocol.Udp;
                known.Inside.Write(packet.AsSpan(8));
                Prefix.Embed(known.Server).Write(packet.AsSpan(24));
                break;
            case 1:
                packet = Ipv4(known.Server, External, garbage.Random.Length > 0 ? (IpProtocol)garbage.Random[0] : IpProtocol.Tcp, garbage.Random, fillChecksum: false);
                break;
            case 2:
                packet = Outbound(known);
                break;
            case 3:
                packet = Reply(known, knownPort);
                break;
            case 4:
                packet = Ipv4(known.Server, External, IpProtocol.Icmp, Icmp(IcmpType.DestinationUnreachable, 3, 0, garbage.Random));
                break;
            default:
                packet = Ipv6(known.Inside, Prefix.Embed(known.Server), IpProtocol.Icmpv6, Icmp(Icmpv6Type.DestinationUnreachable, 4, 0, garbage.Random));
                break;
        }
        foreach ((int position, byte value) in garbage.Changes)
        {
            if (position < packet.Length)
            {
                packet[position] = value;
            }
        }
        if (garbage.Kind is 1 or 3 or 4 && packet.Length >= 20 && packet[0] == 0x45)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), 0);
            BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(10), InternetChecksum.Compute(packet.AsSpan(0, 20)));
        }
        return packet;
    }

    [Fact]
    public void Random_and_mutated_bytes_of_either_family_never_throw_and_a_known_flow_keeps_working()
    {
        var known = new Flow(Ipv6Address.Parse("fd00:77::2", null), Ipv4Address.Parse("198.51.100.20"), IpProtocol.Udp, 40000, 53, [1, 2, 3, 4]);
        Gen.Select(Gen.Enum<FilteringBehavior>(), GarbageGen.Array[1, 16]).Sample((filtering, garbage) =>
        {
            NatEngine engine = Engine(MappingBehavior.EndpointIndependent, filtering);
            (TranslationResult first, byte[] sent) = Nat64EngineTests.Send(engine, Outbound(known));
            Assert.Equal(Verdict.Forward, first.Verdict);
            ushort knownPort = BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(20));

            foreach (Garbage piece in garbage)
            {
                byte[] packet = Build(piece, known, knownPort);
                var buffer = new byte[packet.Length + 64];
                packet.CopyTo(buffer, 0);
                TranslationResult result = engine.Translate(buffer, packet.Length, 0);
                Assert.InRange(result.Length, 0, buffer.Length);
            }

            Assert.Empty(engine.CheckNat64Consistency());
            (TranslationResult again, byte[] resent) = Nat64EngineTests.Send(engine, Outbound(known));
            Assert.Equal(Verdict.Forward, again.Verdict);
            Assert.Equal(Hex(sent.AsSpan(20)), Hex(resent.AsSpan(20)));
            (TranslationResult reply, byte[] received) = Nat64EngineTests.Send(engine, Reply(known, knownPort));
            Assert.Equal(Verdict.Forward, reply.Verdict);
            Assert.Equal(Hex(Ipv6(Prefix.Embed(known.Server), known.Inside, IpProtocol.Udp, Udp(53, 40000, known.Payload))), Hex(received));
        }, iter: 500);
    }
}
