using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Properties.NatHarness;

namespace NatGate.Core.Tests.Properties;

/// <summary>Outbound then reply restores the inside tuple; mappings are unique and, when endpoint-independent, shared.</summary>
public sealed class RoundTripProperties
{
    [Fact]
    public void Replies_translate_back_to_the_original_inside_tuple()
    {
        Gen.Select(Mapping, Filtering, FlowGen.List[1, 12]).Sample((mapping, filtering, flows) =>
        {
            NatEngine engine = NewEngine(mapping, filtering);
            byte[] buffer = new byte[BufferSize];
            var translations = new List<(Flow Flow, Tuple5 Translated)>();
            var owners = new Dictionary<(IpProtocol, ushort), (Ipv4Address, ushort)>();
            var independent = new Dictionary<(IpProtocol, Ipv4Address, ushort), ushort>();
            foreach (Flow flow in flows)
            {
                int length = WriteOutbound(buffer, flow);
                TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"outbound {flow}");
                Tuple5 translated = Read(buffer.AsSpan(0, result.Length));
                Assert.Equal(External, translated.Source);
                Assert.Equal(flow.Remote, translated.Destination);
                if (flow.Protocol == IpProtocol.Icmp)
                {
                    Assert.Equal(translated.SourcePort, translated.DestinationPort);
                }
                else
                {
                    Assert.Equal(flow.RemotePort, translated.DestinationPort);
                }
                // Distinct inside endpoints never share an external endpoint.
                if (owners.TryGetValue((flow.Protocol, translated.SourcePort), out (Ipv4Address, ushort) owner))
                {
                    Assert.True(owner == (flow.Inside, flow.InsidePort),
                        $"external port {translated.SourcePort} ({flow.Protocol}) given to {flow} but it belongs to {owner}");
                }
                owners[(flow.Protocol, translated.SourcePort)] = (flow.Inside, flow.InsidePort);
                // Endpoint-independent mapping: one external port per inside endpoint, whatever the remote.
                if (mapping == MappingBehavior.EndpointIndependent)
                {
                    if (independent.TryGetValue((flow.Protocol, flow.Inside, flow.InsidePort), out ushort port))
                    {
                        Assert.True(port == translated.SourcePort, $"{flow} got external port {translated.SourcePort}, earlier {port}");
                    }
                    independent[(flow.Protocol, flow.Inside, flow.InsidePort)] = translated.SourcePort;
                }
                translations.Add((flow, translated));
            }

            foreach ((Flow flow, Tuple5 translated) in translations)
            {
                int length = WriteReply(buffer, flow, translated);
                TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"reply to {flow} via {translated}");
                Tuple5 back = Read(buffer.AsSpan(0, result.Length));
                Assert.Equal(flow.Outbound.Reverse(), back);
            }
        }, iter: 400);
    }

    [Fact]
    public void Endpoint_independent_mapping_reuses_the_external_port_for_a_second_remote()
    {
        Gen.Select(Filtering, FlowGen, Gen.Int[1, 250], Gen.UShort[1, 65535]).Sample((filtering, flow, otherRemote, otherPort) =>
        {
            NatEngine engine = NewEngine(MappingBehavior.EndpointIndependent, filtering);
            byte[] buffer = new byte[BufferSize];
            Flow second = flow with { Remote = Remote(otherRemote), RemotePort = otherPort };
            int length = WriteOutbound(buffer, flow);
            Tuple5 first = Read(buffer.AsSpan(0, Translate(engine, buffer, length, Start, Verdict.Forward, "first").Length));
            length = WriteOutbound(buffer, second);
            Tuple5 then = Read(buffer.AsSpan(0, Translate(engine, buffer, length, Start, Verdict.Forward, "second").Length));
            Assert.Equal(first.SourcePort, then.SourcePort);
            Assert.Equal(External, then.Source);
        }, iter: 300);
    }
}
