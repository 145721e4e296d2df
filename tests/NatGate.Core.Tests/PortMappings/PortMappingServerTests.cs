using System.Buffers.Binary;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.PortMappings;
using NatGate.Core.State;
using NatGate.Core.Tests.Translation;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.PortMappings;

public sealed class PortMappingServerTests
{
    private static byte[] Ask(Lab lab, byte[] request, Ipv4Address? from = null)
    {
        byte[] response = new byte[PortMappingServer.MaximumResponseLength];
        PortMappingReply reply = PortMappingServer.Answer(lab.Engine, request, from ?? Lab.InsideA, response, lab.Now);
        return response[..reply.Length];
    }

    private static byte[] Map(Lab lab, ushort internalPort, uint lifetime = 3600, ushort suggested = 0, byte[]? nonce = null, Ipv4Address? from = null, IpProtocol protocol = IpProtocol.Udp, params byte[][] options)
        => Ask(lab, PcpBytes.Map(from ?? Lab.InsideA, protocol, internalPort, lifetime, nonce, suggested, options: options), from);

    [Fact]
    public void A_map_request_opens_the_external_port_to_the_inside_host()
    {
        var lab = new Lab();
        byte[] response = Map(lab, 5000, suggested: 6000);
        Assert.Equal((byte)PcpResultCode.Success, PcpBytes.ResultCode(response));
        Assert.Equal(6000, PcpBytes.AssignedPort(response));
        Assert.Equal(Lab.External, PcpBytes.AssignedAddress(response));
        Assert.Equal(3600u, PcpBytes.Lifetime(response));
        // The nonce comes back (RFC 6887 11.1).
        Assert.Equal(Convert.ToHexString(PcpBytes.Nonce), Convert.ToHexString(response, 24, 12));

        byte[] inbound = lab.Forward(Lab.Udp(Lab.Remote, 40000, Lab.External, 6000));
        Assert.Equal((Lab.Remote, (ushort)40000, Lab.InsideA, (ushort)5000), Lab.Tuple(inbound));
        RuleInfo rule = Assert.Single(lab.Engine.ListRules(), rule => rule.Rule.Kind == Core.Rules.NatRuleKind.Redirect);
        Assert.Equal("pcp 10.0.0.2:5000/udp", rule.Rule.Label);
        PortMapping mapping = Assert.Single(lab.Engine.PortMappings.List());
        Assert.Equal((Lab.InsideA, (ushort)5000, Lab.External, (ushort)6000), (mapping.InternalAddress, mapping.InternalPort, mapping.ExternalAddress, mapping.ExternalPort));
    }

    [Fact]
    public void Without_a_suggestion_the_internal_port_is_kept_and_a_taken_one_is_replaced()
    {
        var lab = new Lab();
        Assert.Equal(7000, PcpBytes.AssignedPort(Map(lab, 7000)));
        ushort other = PcpBytes.AssignedPort(Map(lab, 7000, from: Lab.InsideB));
        Assert.NotEqual(7000, other);
        Assert.NotEqual(0, other);
        Assert.Equal((Lab.Remote, (ushort)1, Lab.InsideB, (ushort)7000), Lab.Tuple(lab.Forward(Lab.Udp(Lab.Remote, 1, Lab.External, other))));
    }

    [Fact]
    public void Prefer_failure_refuses_rather_than_give_another_port()
    {
        var lab = new Lab();
        Map(lab, 7000);
        byte[] refused = Map(lab, 7001, suggested: 7000, from: Lab.InsideB, options: PcpBytes.PreferFailure());
        Assert.Equal((byte)PcpResultCode.CannotProvideExternal, PcpBytes.ResultCode(refused));
        Assert.Equal(PortMappingServer.ShortErrorLifetimeSeconds, PcpBytes.Lifetime(refused));
    }

    [Fact]
    public void A_refresh_keeps_the_port_and_another_nonce_is_not_authorized()
    {
        var lab = new Lab();
        ushort port = PcpBytes.AssignedPort(Map(lab, 5000, lifetime: 600));
        lab.Advance(TimeSpan.FromSeconds(500));
        byte[] refreshed = Map(lab, 5000, lifetime: 600, suggested: 9999);
        Assert.Equal((byte)PcpResultCode.Success, PcpBytes.ResultCode(refreshed));
        Assert.Equal(port, PcpBytes.AssignedPort(refreshed));
        lab.Advance(TimeSpan.FromSeconds(500));
        Assert.Equal(0, lab.Engine.PortMappings.Expire(lab.Engine, lab.Now));

        byte[] stolen = Map(lab, 5000, lifetime: 0, nonce: PcpBytes.OtherNonce);
        Assert.Equal((byte)PcpResultCode.NotAuthorized, PcpBytes.ResultCode(stolen));
        Assert.Equal(1, lab.Engine.PortMappings.Count);
    }

    [Fact]
    public void Lifetime_zero_deletes_the_mapping_and_frees_its_port()
    {
        // TCP: a UDP port freed is kept from other hosts a while (RFC 6888 REQ-8).
        var lab = new Lab();
        ushort port = PcpBytes.AssignedPort(Map(lab, 5000, protocol: IpProtocol.Tcp));
        byte[] deleted = Map(lab, 5000, lifetime: 0, protocol: IpProtocol.Tcp);
        Assert.Equal((byte)PcpResultCode.Success, PcpBytes.ResultCode(deleted));
        Assert.Equal(0u, PcpBytes.Lifetime(deleted));
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Tcp(Lab.Remote, 40000, Lab.External, port, TcpFlags.Syn)));
        Assert.Equal(0, lab.Engine.PortMappings.Count);
        Assert.DoesNotContain(lab.Engine.ListRules(), rule => rule.Active && rule.Rule.Kind == Core.Rules.NatRuleKind.Redirect);
        // The port is free again: another host may have it.
        Assert.Equal(port, PcpBytes.AssignedPort(Map(lab, 6000, suggested: port, from: Lab.InsideB, protocol: IpProtocol.Tcp)));
        // Deleting what is not there is a success too (RFC 6887 15).
        Assert.Equal((byte)PcpResultCode.Success, PcpBytes.ResultCode(Map(lab, 5000, lifetime: 0, protocol: IpProtocol.Tcp)));
    }

    [Fact]
    public void Outbound_traffic_from_a_mapped_port_leaves_through_the_mapping()
    {
        var lab = new Lab();
        Map(lab, 5000, suggested: 6000);
        Assert.Equal((Lab.External, (ushort)6000, Lab.Remote, (ushort)3478), Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.Remote, 3478))));
        // A PEER for that endpoint names the same port (RFC 6887 11.1: MAP's mapping is used both ways).
        byte[] peer = Ask(lab, PcpBytes.Peer(Lab.InsideA, IpProtocol.Udp, 5000, 600, Lab.OtherRemote, 3478));
        Assert.Equal(6000, PcpBytes.AssignedPort(peer));
        // Other ports of the host are not affected.
        Assert.NotEqual((ushort)6000, Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 5001, Lab.Remote, 3478))).SourcePort);
    }

    [Fact]
    public void A_mapping_deleted_while_its_port_carries_outbound_traffic_leaves_the_port_to_that_traffic()
    {
        var lab = new Lab();
        Map(lab, 5000, suggested: 6000, protocol: IpProtocol.Tcp);
        lab.Forward(Lab.Tcp(Lab.InsideA, 5000, Lab.Remote, 443, TcpFlags.Syn));
        Map(lab, 5000, lifetime: 0, protocol: IpProtocol.Tcp);
        byte[] refused = Map(lab, 7000, suggested: 6000, from: Lab.InsideB, protocol: IpProtocol.Tcp, options: PcpBytes.PreferFailure());
        Assert.Equal((byte)PcpResultCode.CannotProvideExternal, PcpBytes.ResultCode(refused));
        Assert.Equal((Lab.External, (ushort)6000, Lab.Remote, (ushort)443), Lab.Tuple(lab.Forward(Lab.Tcp(Lab.InsideA, 5000, Lab.Remote, 443, TcpFlags.Ack))));
        // When that traffic ends, the port is free again.
        lab.Engine.FlushSessions(lab.Now);
        Assert.Equal(6000, PcpBytes.AssignedPort(Map(lab, 7000, suggested: 6000, from: Lab.InsideB, protocol: IpProtocol.Tcp)));
    }

    [Fact]
    public void A_mapping_ends_with_its_lifetime()
    {
        var lab = new Lab();
        ushort port = PcpBytes.AssignedPort(Map(lab, 5000, lifetime: 200));
        lab.Advance(TimeSpan.FromSeconds(199));
        Assert.Equal(0, lab.Engine.PortMappings.Expire(lab.Engine, lab.Now));
        lab.Forward(Lab.Udp(Lab.Remote, 40000, Lab.External, port));
        lab.Advance(TimeSpan.FromSeconds(1));
        long changes = lab.Engine.PortMappings.Changes;
        lab.Engine.ExpireSessions(lab.Now); // the engine's timers end it
        Assert.Equal(0, lab.Engine.PortMappings.Count);
        Assert.NotEqual(changes, lab.Engine.PortMappings.Changes);
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Udp(Lab.OtherRemote, 40000, Lab.External, port)));
    }

    [Theory]
    [InlineData(10u, 120u)]
    [InlineData(1_000_000u, 86400u)]
    public void Lifetimes_are_kept_within_the_bounds(uint asked, uint granted)
    {
        var lab = new Lab();
        Assert.Equal(granted, PcpBytes.Lifetime(Map(lab, 5000, lifetime: asked)));
    }

    [Fact]
    public void A_host_past_its_quota_is_refused_with_user_ex_quota_and_nat_pmp_out_of_resources()
    {
        var lab = new Lab();
        lab.Engine.PortMappings.Limits = new PortMappingLimits { MaximumPerHost = 2 };
        Map(lab, 5000);
        Map(lab, 5001);
        byte[] refused = Map(lab, 5002);
        Assert.Equal((byte)PcpResultCode.UserExceededQuota, PcpBytes.ResultCode(refused));
        byte[] natPmp = Ask(lab, PcpBytes.NatPmpMap(1, 5003, 0, 3600));
        Assert.Equal((ushort)NatPmpResultCode.OutOfResources, BinaryPrimitives.ReadUInt16BigEndian(natPmp.AsSpan(2)));
        // Another host has its own quota.
        Assert.Equal((byte)PcpResultCode.Success, PcpBytes.ResultCode(Map(lab, 5002, from: Lab.InsideB)));
    }

    [Fact]
    public void Third_party_filter_and_a_wrong_client_address_are_refused()
    {
        var lab = new Lab();
        Assert.Equal((byte)PcpResultCode.NotAuthorized, PcpBytes.ResultCode(Map(lab, 5000, options: PcpBytes.ThirdParty(Lab.InsideB))));
        Assert.Equal((byte)PcpResultCode.UnsupportedOption, PcpBytes.ResultCode(Map(lab, 5000, options: PcpBytes.Filter(Lab.Remote))));
        byte[] mismatch = Ask(lab, PcpBytes.Map(Lab.InsideB, IpProtocol.Udp, 5000, 600), Lab.InsideA);
        Assert.Equal((byte)PcpResultCode.AddressMismatch, PcpBytes.ResultCode(mismatch));
        Assert.Equal(0, lab.Engine.PortMappings.Count);
    }

    [Fact]
    public void Nothing_is_answered_to_an_address_no_rule_translates()
    {
        var lab = new Lab();
        Assert.Empty(Map(lab, 5000, from: Lab.Remote));
        Assert.Empty(Ask(lab, [0, 0], Lab.Remote));
        Assert.Equal(0, lab.Engine.PortMappings.Count);
    }

    [Fact]
    public void Unsupported_protocols_and_all_ports_are_refused()
    {
        var lab = new Lab();
        Assert.Equal((byte)PcpResultCode.UnsupportedProtocol, PcpBytes.ResultCode(Map(lab, 0, protocol: 0)));
        Assert.Equal((byte)PcpResultCode.UnsupportedProtocol, PcpBytes.ResultCode(Map(lab, 5000, protocol: (IpProtocol)132)));
        Assert.Equal((byte)PcpResultCode.NotAuthorized, PcpBytes.ResultCode(Map(lab, 0)));
    }

    [Fact]
    public void The_epoch_counts_seconds_since_the_start()
    {
        var lab = new Lab();
        lab.Engine.PortMappings.StartEpoch(lab.Now);
        lab.Advance(TimeSpan.FromSeconds(42.5));
        Assert.Equal(42u, PcpBytes.Epoch(Ask(lab, PcpBytes.Announce(Lab.InsideA))));
        byte[] natPmp = Ask(lab, [0, 0]);
        Assert.Equal(42u, BinaryPrimitives.ReadUInt32BigEndian(natPmp.AsSpan(4)));
    }

    [Fact]
    public void Nat_pmp_tells_the_external_address_maps_and_deletes()
    {
        var lab = new Lab();
        byte[] address = Ask(lab, [0, 0]);
        Assert.Equal("00800000", Convert.ToHexString(address, 0, 4));
        Assert.Equal(Lab.External, Ipv4Address.Read(address.AsSpan(8)));

        byte[] mapped = Ask(lab, PcpBytes.NatPmpMap(2, 8080, 8080, 7200));
        Assert.Equal("00820000", Convert.ToHexString(mapped, 0, 4));
        Assert.Equal(8080, BinaryPrimitives.ReadUInt16BigEndian(mapped.AsSpan(8)));
        Assert.Equal(8080, BinaryPrimitives.ReadUInt16BigEndian(mapped.AsSpan(10)));
        Assert.Equal(7200u, BinaryPrimitives.ReadUInt32BigEndian(mapped.AsSpan(12)));
        lab.Forward(Lab.Tcp(Lab.Remote, 33000, Lab.External, 8080, TcpFlags.Syn));

        byte[] deleted = Ask(lab, PcpBytes.NatPmpMap(2, 8080, 0, 0));
        Assert.Equal("0082" + "0000", Convert.ToHexString(deleted, 0, 4));
        Assert.Equal("1F90" + "0000" + "00000000", Convert.ToHexString(deleted, 8, 8));
        Assert.Equal(DropReason.NoSession, lab.Dropped(Lab.Tcp(Lab.OtherRemote, 33000, Lab.External, 8080, TcpFlags.Syn)));
    }

    [Fact]
    public void Nat_pmp_cannot_take_over_a_pcp_mapping()
    {
        var lab = new Lab();
        Map(lab, 5000);
        byte[] natPmp = Ask(lab, PcpBytes.NatPmpMap(1, 5000, 0, 0));
        Assert.Equal((ushort)NatPmpResultCode.NotAuthorized, BinaryPrimitives.ReadUInt16BigEndian(natPmp.AsSpan(2)));
        Assert.Equal(1, lab.Engine.PortMappings.Count);
    }

    [Fact]
    public void Peer_makes_the_outbound_mapping_the_peer_can_answer_through()
    {
        var lab = new Lab();
        byte[] response = Ask(lab, PcpBytes.Peer(Lab.InsideA, IpProtocol.Udp, 4000, 600, Lab.Remote, 3478, suggestedPort: 4500));
        Assert.Equal((byte)PcpResultCode.Success, PcpBytes.ResultCode(response));
        ushort port = PcpBytes.AssignedPort(response);
        Assert.Equal(4500, port);
        Assert.Equal(Lab.External, PcpBytes.AssignedAddress(response));
        Assert.InRange(PcpBytes.Lifetime(response), 300u, 301u); // the UDP session's idle timeout
        // The peer reaches the host through it; the host's packets leave through it.
        Assert.Equal((Lab.Remote, (ushort)3478, Lab.InsideA, (ushort)4000), Lab.Tuple(lab.Forward(Lab.Udp(Lab.Remote, 3478, Lab.External, port))));
        Assert.Equal((Lab.External, port, Lab.Remote, (ushort)3478), Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 4000, Lab.Remote, 3478))));
        Assert.Equal(1, lab.Engine.SessionCount);
    }

    [Fact]
    public void Peer_reports_the_session_traffic_already_made()
    {
        var lab = new Lab();
        ushort port = Lab.Tuple(lab.Forward(Lab.Udp(Lab.InsideA, 4000, Lab.Remote, 3478))).SourcePort;
        lab.Advance(TimeSpan.FromSeconds(100));
        byte[] response = Ask(lab, PcpBytes.Peer(Lab.InsideA, IpProtocol.Udp, 4000, 600, Lab.Remote, 3478));
        Assert.Equal(port, PcpBytes.AssignedPort(response));
        Assert.InRange(PcpBytes.Lifetime(response), 199u, 201u);
        Assert.Equal(1, lab.Engine.SessionCount);
    }

    [Fact]
    public void Peer_for_a_flow_the_peer_began_through_a_mapping_names_the_mapped_port()
    {
        var lab = new Lab();
        ushort port = PcpBytes.AssignedPort(Map(lab, 5000, suggested: 6000));
        lab.Forward(Lab.Udp(Lab.Remote, 3478, Lab.External, port));
        byte[] response = Ask(lab, PcpBytes.Peer(Lab.InsideA, IpProtocol.Udp, 5000, 600, Lab.Remote, 3478));
        Assert.Equal((byte)PcpResultCode.Success, PcpBytes.ResultCode(response));
        Assert.Equal(port, PcpBytes.AssignedPort(response));
        Assert.Equal(1, lab.Engine.SessionCount);
    }

    [Fact]
    public void Mappings_are_saved_with_the_sessions_and_come_back_with_them()
    {
        var lab = new Lab();
        lab.Engine.PortMappings.StartEpoch(lab.Now);
        ushort port = PcpBytes.AssignedPort(Map(lab, 5000, lifetime: 7200));
        lab.Forward(Lab.Udp(Lab.Remote, 40000, Lab.External, port));
        lab.Forward(Lab.Udp(Lab.InsideA, 5000, Lab.OtherRemote, 53)); // out through the mapping's port
        lab.Advance(TimeSpan.FromSeconds(60));
        var file = new MemoryStream();
        SessionStateFile.Save(file, lab.Engine.ExportSessions(), DateTimeOffset.UnixEpoch, lab.Engine.PortMappings.List(), lab.Engine.PortMappings.EpochStartTicks);
        Assert.Contains("\"version\":4", System.Text.Encoding.UTF8.GetString(file.ToArray()), StringComparison.Ordinal);

        file.Position = 0;
        SavedSessions saved = SessionStateFile.Load(file);
        var restarted = new Lab { Now = lab.Now + TimeSpan.TicksPerSecond };
        Assert.Equal(1, restarted.Engine.PortMappings.Restore(restarted.Engine, saved.PortMappings, saved.PortMappingEpochTicks, restarted.Now));
        RestoreReport report = restarted.Engine.Restore(saved.Sessions, restarted.Now);
        Assert.Empty(report.Failures);
        Assert.Equal(2, report.Restored);
        Assert.Equal(61u, restarted.Engine.PortMappings.Epoch(restarted.Now));
        Assert.Equal((Lab.OtherRemote, (ushort)1, Lab.InsideA, (ushort)5000), Lab.Tuple(restarted.Forward(Lab.Udp(Lab.OtherRemote, 1, Lab.External, port))));
        Assert.Equal(port, PcpBytes.AssignedPort(Ask(restarted, PcpBytes.Map(Lab.InsideA, IpProtocol.Udp, 5000, 7200))));
    }

    [Fact]
    public void A_saved_mapping_that_is_no_one_port_redirect_refuses_the_file()
    {
        var lab = new Lab();
        Map(lab, 5000);
        var saved = new MemoryStream();
        SessionStateFile.Save(saved, lab.Engine.ExportSessions(), DateTimeOffset.UnixEpoch, lab.Engine.PortMappings.List(), lab.Now);
        string[] lines = System.Text.Encoding.UTF8.GetString(saved.ToArray()).Split('\n');
        Assert.Contains("\"portMappings\":[{\"rule\":{\"kind\":\"Redirect\"", lines[0], StringComparison.Ordinal);
        // An edited file that plants a map rule where a mapping's redirect stands, checksummed again.
        lines[0] = lines[0].Replace("\"portMappings\":[{\"rule\":{\"kind\":\"Redirect\"", "\"portMappings\":[{\"rule\":{\"kind\":\"Map\"", StringComparison.Ordinal);
        string content = string.Join('\n', lines[..^2]) + "\n";
        string digest = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(content)));
        var edited = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(content + "{\"sha256\":\"" + digest + "\"}\n"));
        StateFileException refused = Assert.Throws<StateFileException>(() => SessionStateFile.Load(edited));
        Assert.Contains("port mapping 0: its rule is not a redirect of one IPv4 TCP or UDP port to one address", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_without_mappings_is_still_written_as_before()
    {
        var lab = new Lab();
        lab.Forward(Lab.Udp(Lab.InsideA, 4000, Lab.Remote, 53));
        var file = new MemoryStream();
        SessionStateFile.Save(file, lab.Engine.ExportSessions(), DateTimeOffset.UnixEpoch, [], -1);
        string text = System.Text.Encoding.UTF8.GetString(file.ToArray());
        Assert.Contains("\"version\":1", text, StringComparison.Ordinal);
        Assert.DoesNotContain("portMappings", text, StringComparison.Ordinal);
        file.Position = 0;
        Assert.Empty(SessionStateFile.Load(file).PortMappings);
    }

    [Fact]
    public void Random_requests_never_throw_and_never_pass_the_limits()
    {
        var lab = new Lab();
        lab.Engine.PortMappings.Limits = new PortMappingLimits { MaximumPerHost = 3 };
        var random = new Random(6886);
        byte[] response = new byte[PortMappingServer.MaximumResponseLength];
        Ipv4Address[] clients = [Lab.InsideA, Lab.InsideB, Lab.Remote];
        int most = 0;
        for (int i = 0; i < 20000; i++)
        {
            Ipv4Address client = clients[random.Next(clients.Length)];
            // Well-formed requests with random fields, or random bytes, half each.
            byte[] request = random.Next(2) == 0
                ? PcpBytes.Map(client, random.Next(3) switch { 0 => IpProtocol.Tcp, 1 => IpProtocol.Udp, _ => (IpProtocol)random.Next(256) },
                    (ushort)random.Next(4), (uint)random.Next(3) * 100, random.Next(2) == 0 ? PcpBytes.Nonce : PcpBytes.OtherNonce, (ushort)random.Next(1020, 1030))
                : new byte[random.Next(0, 120)];
            if (request.Length > 0 && request[0] == 0 && random.Next(2) == 0)
            {
                random.NextBytes(request);
                request[0] = (byte)random.Next(3);
            }
            PortMappingReply reply = PortMappingServer.Answer(lab.Engine, request, client, response, lab.Now);
            Assert.InRange(reply.Length, 0, PortMappingServer.MaximumResponseLength);
            if (client == Lab.Remote)
            {
                Assert.Equal(0, reply.Length);
            }
            most = Math.Max(most, lab.Engine.PortMappings.Count);
            if (i % 1000 == 0)
            {
                lab.Advance(TimeSpan.FromSeconds(150));
                lab.Engine.ExpireSessions(lab.Now);
            }
        }
        Assert.Equal(6, most); // both hosts reached their limit at some time
        Assert.InRange(lab.Engine.PortMappings.MappingsOf(Lab.InsideA), 0, 3);
        Assert.InRange(lab.Engine.PortMappings.MappingsOf(Lab.InsideB), 0, 3);
        Assert.Equal(0, lab.Engine.PortMappings.MappingsOf(Lab.Remote));
        // Every mapping held has its redirect, and no redirect is left without its mapping.
        int redirects = lab.Engine.ListRules().Count(rule => rule.Active && rule.Rule.Kind == Core.Rules.NatRuleKind.Redirect);
        Assert.Equal(lab.Engine.PortMappings.Count, redirects);
    }

    [Fact]
    public void Mappings_the_rules_lost_end_at_the_next_timer_and_the_epoch_starts_again()
    {
        var lab = new Lab();
        lab.Engine.PortMappings.StartEpoch(lab.Now);
        Map(lab, 5000);
        lab.Advance(TimeSpan.FromSeconds(100));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(1, lab.Engine.PortMappings.Count);
        Assert.Equal(100u, lab.Engine.PortMappings.Epoch(lab.Now));
        // The host's external address moved (an interface's new address): the mapping cannot hold.
        lab.Engine.FlushRules();
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Ipv4Address.Parse("198.51.100.11")));
        lab.Engine.ExpireSessions(lab.Now);
        Assert.Equal(0, lab.Engine.PortMappings.Count);
        Assert.Equal(0u, lab.Engine.PortMappings.Epoch(lab.Now));
        Assert.Equal(Ipv4Address.Parse("198.51.100.11"), PcpBytes.AssignedAddress(Map(lab, 5000)));
    }

    [Fact]
    public void A_mapping_whose_redirect_was_flushed_is_made_again_on_refresh()
    {
        var lab = new Lab();
        ushort port = PcpBytes.AssignedPort(Map(lab, 5000));
        lab.Engine.FlushRules();
        lab.Engine.AddRule(NatEngine.MapRule(Lab.InsidePrefix, Lab.External));
        Assert.Equal(port, PcpBytes.AssignedPort(Map(lab, 5000)));
        lab.Forward(Lab.Udp(Lab.Remote, 40000, Lab.External, port));
    }
}
