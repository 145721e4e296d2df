using CsCheck;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Translation;
using static NatGate.Core.Tests.Properties.NatHarness;

namespace NatGate.Core.Tests.Properties;

/// <summary>Every packet the engine emits carries correct checksums, checked by full recomputation.</summary>
public sealed class ChecksumProperties
{
    [Fact]
    public void Outbound_reply_and_icmp_error_packets_have_valid_checksums()
    {
        Gen.Select(Mapping, Filtering, FlowGen.List[1, 6], Gen.Bool, Gen.Int[28, 140]).Sample((mapping, filtering, flows, errorFromRemote, quoteLimit) =>
        {
            NatEngine engine = NewEngine(mapping, filtering);
            byte[] buffer = new byte[BufferSize];
            foreach (Flow flow in flows)
            {
                // Outbound.
                int length = WriteOutbound(buffer, flow);
                byte[] original = buffer[..length];
                TranslationResult result = Translate(engine, buffer, length, Start, Verdict.Forward, $"outbound {flow}");
                AssertChecksumsValid(buffer.AsSpan(0, result.Length), $"outbound {flow}");
                Tuple5 translated = Read(buffer.AsSpan(0, result.Length));
                Assert.Equal(External, translated.Source);
                if (flow.Protocol == IpProtocol.Udp && flow.UdpWithoutChecksum)
                {
                    Assert.True(buffer[20 + 6] == 0 && buffer[20 + 7] == 0, "a UDP checksum of 0 must stay 0");
                }
                byte[] translatedOutbound = buffer[..result.Length];

                // An ICMP error about the translated packet, from a router or the remote itself, to the external address.
                Ipv4Address sender = errorFromRemote ? flow.Remote : Router;
                byte code = flow.Protocol == IpProtocol.Udp && errorFromRemote ? (byte)3 : (byte)1;
                length = Ipv4PacketWriter.WriteIcmpError(buffer, sender, External, IcmpType.DestinationUnreachable, code, translatedOutbound, quoteLimit);
                result = Translate(engine, buffer, length, Start, Verdict.Forward, $"icmp error about outbound {flow}");
                AssertChecksumsValid(buffer.AsSpan(0, result.Length), $"icmp error about outbound {flow}");
                Tuple5 outer = Read(buffer.AsSpan(0, result.Length));
                Assert.Equal(flow.Inside, outer.Destination);
                Assert.Equal(sender, outer.Source);
                byte[] quoted = Quoted(buffer.AsSpan(0, result.Length));
                Assert.Equal(WithoutChecksums(original.AsSpan(0, quoted.Length)), WithoutChecksums(quoted));

                // The reply.
                length = WriteReply(buffer, flow, translated);
                result = Translate(engine, buffer, length, Start, Verdict.Forward, $"reply to {flow}");
                AssertChecksumsValid(buffer.AsSpan(0, result.Length), $"reply to {flow}");
                if (flow.Protocol == IpProtocol.Udp && flow.UdpWithoutChecksum)
                {
                    Assert.True(buffer[20 + 6] == 0 && buffer[20 + 7] == 0, "a UDP checksum of 0 must stay 0 on the reply");
                }
                byte[] translatedReply = buffer[..result.Length];

                // The inside host answers the reply with an ICMP error of its own.
                length = Ipv4PacketWriter.WriteIcmpError(buffer, flow.Inside, flow.Remote, IcmpType.DestinationUnreachable, 3, translatedReply, quoteLimit);
                result = Translate(engine, buffer, length, Start, Verdict.Forward, $"inside icmp error about reply {flow}");
                AssertChecksumsValid(buffer.AsSpan(0, result.Length), $"inside icmp error about reply {flow}");
                outer = Read(buffer.AsSpan(0, result.Length));
                Assert.Equal(External, outer.Source);
                Assert.Equal(flow.Remote, outer.Destination);
            }
        }, iter: 300);
    }

    [Fact]
    public void Refusals_answer_with_valid_icmp_errors_quoting_the_packet()
    {
        // Two external ports for everything: most flows are refused and answered (type 3 code 13).
        Gen.Select(Mapping, Filtering, FlowGen.List[3, 10]).Sample((mapping, filtering, flows) =>
        {
            NatEngine engine = NewEngine(mapping, filtering, ports: new PortRange(2000, 2001));
            byte[] buffer = new byte[BufferSize];
            foreach (Flow flow in flows)
            {
                int length = WriteOutbound(buffer, flow);
                byte[] original = buffer[..length];
                TranslationResult result = engine.Translate(buffer, length, Start);
                Assert.NotEqual(Verdict.Held, result.Verdict);
                if (result.Verdict == Verdict.Drop)
                {
                    continue;
                }
                AssertChecksumsValid(buffer.AsSpan(0, result.Length), $"{result.Verdict} for {flow}");
                if (result.Verdict == Verdict.Reply)
                {
                    Assert.Equal(DropReason.PortsExhausted, result.Reason);
                    Tuple5 outer = Read(buffer.AsSpan(0, result.Length));
                    Assert.Equal(new Tuple5(IpProtocol.Icmp, External, 0, flow.Inside, 0), outer with { SourcePort = 0, DestinationPort = 0 });
                    Assert.Equal(original, Quoted(buffer.AsSpan(0, result.Length)));
                }
            }
        }, iter: 300);
    }
}
