using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Properties.NatHarness;

namespace NatGate.Core.Tests.Properties;

/// <summary>
/// When an ICMP echo's identifier cannot be preserved, the translated tuple must carry the new
/// identifier as both ports, or the echo reply and ICMP errors about the echo match no session
/// (a bug these tests caught; fixed in CreateSession).
/// </summary>
public sealed class IcmpIdentifierProperties
{
    [Fact]
    public void Two_hosts_pinging_with_the_same_identifier_both_get_their_replies()
    {
        NatEngine engine = NewEngine(MappingBehavior.EndpointIndependent, FilteringBehavior.AddressDependent);
        byte[] buffer = new byte[BufferSize];
        Ipv4Address remote = Remote(1);
        foreach (int host in new[] { 1, 2 })
        {
            // Windows ping uses identifier 1 on every host.
            int length = Write(buffer, IpProtocol.Icmp, Inside(host), 1, remote, 1, [0x61]);
            TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"echo from 10.0.0.{host}");
            Tuple5 translated = Read(buffer.AsSpan(0, result.Length));
            byte[] translatedEcho = buffer[..result.Length];

            length = Write(buffer, IpProtocol.Icmp, remote, translated.SourcePort, External, translated.SourcePort, [0x61], reply: true);
            result = Translate(engine, buffer, length, Start, Verdict.Forward, $"echo reply to 10.0.0.{host} via identifier {translated.SourcePort}");
            Assert.Equal(new Tuple5(IpProtocol.Icmp, remote, 1, Inside(host), 1), Read(buffer.AsSpan(0, result.Length)));

            length = Ipv4PacketWriter.WriteIcmpError(buffer, Router, External, IcmpType.DestinationUnreachable, 1, translatedEcho);
            Translate(engine, buffer, length, Start, Verdict.Forward, $"icmp error about the echo from 10.0.0.{host}");
        }
    }

    [Fact]
    public void Echo_replies_translate_back_when_identifiers_collide()
    {
        Gen.Select(Mapping, Filtering, FlowGenCollidingIdentifiers.Where(flow => flow.Protocol == IpProtocol.Icmp).List[1, 8]).Sample((mapping, filtering, flows) =>
        {
            NatEngine engine = NewEngine(mapping, filtering);
            byte[] buffer = new byte[BufferSize];
            var translations = new List<(Flow Flow, Tuple5 Translated)>();
            foreach (Flow flow in flows)
            {
                int length = WriteOutbound(buffer, flow);
                TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"outbound {flow}");
                translations.Add((flow, Read(buffer.AsSpan(0, result.Length))));
            }
            foreach ((Flow flow, Tuple5 translated) in translations)
            {
                int length = WriteReply(buffer, flow, translated);
                TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"reply to {flow} via {translated}");
                Assert.Equal(flow.Outbound.Reverse(), Read(buffer.AsSpan(0, result.Length)));
            }
        }, iter: 300);
    }
}
