using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

/// <summary>
/// Issue 10, "Leaks and admission": every protocol from the inside has an answer, and an ICMP
/// query session tells its host's requests from the outside's.
/// </summary>
public sealed class ProtocolAndQueryDirectionTests
{
    private const byte Gre = 47;
    private const byte Esp = 50;
    private const byte Experimental = 253;

    private static byte[] Raw(Ipv4Address source, Ipv4Address destination, byte protocol)
    {
        var buffer = new byte[128];
        int header = Ipv4PacketWriter.WriteIpv4Header(buffer, source, destination, (IpProtocol)protocol, 24);
        "payload of another protocol"u8[..24].CopyTo(buffer.AsSpan(header));
        return buffer[..(header + 24)];
    }

    [Theory]
    [InlineData(Gre)]
    [InlineData(Esp)]
    [InlineData(Experimental)]
    public void A_protocol_the_rule_does_not_translate_is_dropped_and_counted_never_passed(byte protocol)
    {
        // The NetNat and --inside/--external rules translate TCP, UDP and ICMP only, as WinNAT does.
        var lab = new Lab(addMapRule: false);
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External) with { Protocols = RuleProtocols.TcpUdp | RuleProtocols.Icmp });

        Assert.Equal(DropReason.ProtocolNotTranslated, lab.Dropped(Raw(Lab.InsideA, Lab.Remote, protocol)));

        var statistics = lab.Engine.Statistics();
        Assert.Equal(0, statistics.Passed);
        Assert.Equal(1, statistics.Drops[nameof(DropReason.ProtocolNotTranslated)]);
    }

    [Fact]
    public void A_map_rule_for_every_protocol_translates_gre_by_address_alone_and_lets_the_answer_back()
    {
        var lab = new Lab();
        byte[] output = lab.Forward(Raw(Lab.InsideA, Lab.Remote, Gre));
        Assert.Equal(Convert.ToHexString(Raw(Lab.External, Lab.Remote, Gre)), Convert.ToHexString(output));
        byte[] back = lab.Forward(Raw(Lab.Remote, Lab.External, Gre));
        Assert.Equal(Convert.ToHexString(Raw(Lab.Remote, Lab.InsideA, Gre)), Convert.ToHexString(back));
    }

    [Fact]
    public void Address_only_translation_gives_one_inside_host_per_remote_and_protocol_and_counts_the_conflict()
    {
        var lab = new Lab();
        lab.Forward(Raw(Lab.InsideA, Lab.Remote, Gre));
        // Refused, and told so (administratively prohibited), as every refused new session is.
        Assert.Equal(DropReason.Conflict, lab.Send(Raw(Lab.InsideB, Lab.Remote, Gre)).Result.Reason);
        // Another remote, or another protocol, is free.
        lab.Forward(Raw(Lab.InsideB, Lab.OtherRemote, Gre));
        lab.Forward(Raw(Lab.InsideB, Lab.Remote, Esp));
    }

    [Fact]
    public void Traffic_matching_no_rule_from_outside_the_inside_prefixes_still_passes()
    {
        var lab = new Lab();
        lab.Forward(Raw(Lab.Router, Lab.Remote, Gre));
        Assert.Equal(1, lab.Engine.Statistics().Passed);
    }

    [Fact]
    public void An_outside_echo_request_with_an_inside_hosts_identifier_is_not_delivered()
    {
        var lab = new Lab();
        byte[] request = lab.Forward(Lab.Echo(Lab.InsideA, Lab.Remote, 0x4242));
        var (_, identifier, _, _) = Lab.Tuple(request);

        // The remote asks the external address with that identifier: it is not a reply.
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Echo(Lab.Remote, Lab.External, identifier)));
        // The inside host's own reply-shaped packet outward is not a request either.
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Echo(Lab.InsideA, Lab.Remote, 0x4242, reply: true)));
        // The real answer still comes back.
        byte[] reply = lab.Forward(Lab.Echo(Lab.Remote, Lab.External, identifier, reply: true));
        Assert.Equal(Convert.ToHexString(Lab.Echo(Lab.Remote, Lab.InsideA, 0x4242, reply: true)), Convert.ToHexString(reply));
    }

    [Fact]
    public void An_echo_reply_with_no_request_behind_it_starts_no_session()
    {
        var lab = new Lab();
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Echo(Lab.InsideA, Lab.Remote, 7, reply: true)));
        Assert.Empty(lab.Engine.ListSessions());
    }
}
