using NatGate.Core.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.Translation;

public sealed class OutboundAndReplyTests
{
    [Fact]
    public void Outbound_udp_is_rewritten_byte_for_byte_to_the_external_address_with_the_port_preserved()
    {
        var lab = new Lab();
        byte[] output = lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        // What the remote must receive: the same datagram, from the external address and the same port.
        byte[] expected = Lab.Udp(Lab.External, 5000, Lab.Remote, 53);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(output));
    }

    [Fact]
    public void A_reply_comes_back_byte_for_byte_to_the_inside_host()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53));
        byte[] back = lab.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, 5000, "answer"));
        Assert.Equal(Convert.ToHexString(Lab.Udp(Lab.Remote, 53, Lab.InsideA, 5000, "answer")), Convert.ToHexString(back));
    }

    [Fact]
    public void Udp_without_a_checksum_keeps_a_zero_checksum()
    {
        var lab = new Lab();
        byte[] output = lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53, withChecksum: false));
        Assert.Equal(Convert.ToHexString(Lab.Udp(Lab.External, 5000, Lab.Remote, 53, withChecksum: false)), Convert.ToHexString(output));
    }

    [Fact]
    public void Tcp_syn_out_and_syn_ack_back_are_translated_and_the_connection_becomes_established()
    {
        var lab = new Lab();
        byte[] syn = lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Syn));
        Assert.Equal(Convert.ToHexString(Lab.Tcp(Lab.External, 40000, Lab.Remote, 80, TcpFlags.Syn)), Convert.ToHexString(syn));
        byte[] synAck = lab.Forward(Lab.Tcp(Lab.Remote, 80, Lab.External, 40000, TcpFlags.Syn | TcpFlags.Ack));
        Assert.Equal(Convert.ToHexString(Lab.Tcp(Lab.Remote, 80, Lab.InsideA, 40000, TcpFlags.Syn | TcpFlags.Ack)), Convert.ToHexString(synAck));
        Assert.Equal("SynReceived", Assert.Single(lab.Engine.ListSessions()).State);
        lab.Forward(Lab.Tcp(Lab.InsideA, 40000, Lab.Remote, 80, TcpFlags.Ack));
        SessionInfo session = Assert.Single(lab.Engine.ListSessions());
        Assert.Equal("Established", session.State);
        Assert.Equal("10.0.0.2", session.InternalSourceAddress);
        Assert.Equal("198.51.100.10", session.ExternalSourceAddress);
        Assert.Equal("203.0.113.5", session.ExternalDestinationAddress);
        Assert.Equal(2, session.PacketsOut);
        Assert.Equal(1, session.PacketsIn);
    }

    [Fact]
    public void Two_hosts_with_the_same_port_get_different_external_ports()
    {
        var lab = new Lab();
        var (_, portA, _, _) = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53)));
        var (_, portB, _, _) = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 5000, Lab.Remote, 53)));
        Assert.Equal(5000, portA);
        Assert.NotEqual(5000, portB);
        Assert.True(portB >= 1024, "the 1024-65535 class is kept (RFC 4787 REQ-3a)");
        byte[] toB = lab.Forward(Lab.Udp(Lab.Remote, 53, Lab.External, portB));
        Assert.Equal((Lab.Remote, (ushort)53, Lab.InsideB, (ushort)5000), Lab.Tuple(toB));
    }

    [Fact]
    public void A_privileged_inside_port_keeps_a_privileged_external_port()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 123, Lab.Remote, 123));
        var (_, port, _, _) = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideB, 123, Lab.Remote, 123)));
        Assert.NotEqual(123, port);
        Assert.True(port < 1024);
    }

    [Fact]
    public void Icmp_echo_identifiers_are_translated_and_replies_find_their_host()
    {
        var lab = new Lab();
        var (_, idA, _, _) = Lab.Tuple(lab.Forward(Lab.Echo(Lab.InsideA, Lab.Remote, 77)));
        var (_, idB, _, _) = Lab.Tuple(lab.Forward(Lab.Echo(Lab.InsideB, Lab.Remote, 77)));
        Assert.Equal(77, idA);
        Assert.NotEqual(77, idB);
        byte[] replyB = lab.Forward(Lab.Echo(Lab.Remote, Lab.External, idB, reply: true));
        Assert.Equal(Convert.ToHexString(Lab.Echo(Lab.Remote, Lab.InsideB, 77, reply: true)), Convert.ToHexString(replyB));
        byte[] replyA = lab.Forward(Lab.Echo(Lab.Remote, Lab.External, idA, reply: true));
        Assert.Equal(Lab.InsideA, Lab.Tuple(replyA).Destination);
    }

    [Fact]
    public void Traffic_that_matches_no_rule_passes_untouched()
    {
        var lab = new Lab();
        byte[] packet = Lab.Udp(Lab.Remote, 1, Lab.OtherRemote, 2);
        byte[] output = lab.Forward(packet);
        Assert.Equal(packet, output);
        Assert.Equal(0, lab.Engine.SessionCount);
        Assert.Equal(1, lab.Engine.Statistics().Passed);
    }

    [Fact]
    public void Unsolicited_inbound_syn_is_dropped_and_creates_no_session()
    {
        var lab = new Lab();
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Tcp(Lab.Remote, 5555, Lab.External, 22, TcpFlags.Syn)));
        Assert.Equal(0, lab.Engine.SessionCount);
    }

    [Fact]
    public void Malformed_packets_are_counted_and_dropped()
    {
        var lab = new Lab();
        byte[] good = Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 53);
        byte[] badChecksum = (byte[])good.Clone();
        badChecksum[10] ^= 0xFF;
        Assert.Equal(DropReason.Malformed, lab.Dropped(badChecksum));
        Assert.Equal(DropReason.Malformed, lab.Dropped(good[..10]));
        byte[] shortTcp = Lab.Tcp(Lab.InsideA, 1, Lab.Remote, 2, TcpFlags.Syn)[..30];
        shortTcp[2] = 0;
        shortTcp[3] = 30;
        Ipv4Packet.TryParse(shortTcp, out Ipv4Packet ip);
        ip.UpdateHeaderChecksum();
        Assert.Equal(DropReason.Malformed, lab.Dropped(shortTcp));
        Assert.Equal(3, lab.Engine.Statistics().Bad);
        // Four bytes that claim to be IPv6 are too short for its header.
        Assert.Equal(DropReason.Malformed, lab.Dropped([0x60, 0, 0, 0]));
    }

    [Fact]
    public void The_gateways_own_packets_to_an_inside_host_are_not_translated()
    {
        // They reach the TUN only because their source is in the inside prefix; a map rule is for leaving.
        var lab = new Lab();
        byte[] packet = Lab.Tcp(Ipv4Address.Parse("10.0.0.1"), 3128, Lab.InsideA, 40000, TcpFlags.Syn | TcpFlags.Ack);
        Assert.Equal(packet, lab.Forward(packet));
        Assert.Equal(0, lab.Engine.SessionCount);
    }
}
