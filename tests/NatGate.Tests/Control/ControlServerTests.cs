using NatGate.Core.Addressing;
using NatGate.Control;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Sessions;
using FlowKey = NatGate.Core.Sessions.FlowKey<NatGate.Core.Addressing.Ipv4Address>;
using NatGate.Core.Translation;

namespace NatGate.Tests.Control;

public sealed class ControlServerTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Sockets_are_owner_only_read_write_and_world_read_only()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(lab.Server.ReadWriteSocket));
        Assert.Equal((UnixFileMode)Convert.ToInt32("666", 8), File.GetUnixFileMode(lab.Server.ReadOnlySocket));
        Assert.False(lab.Client.IsReadOnly);
    }

    [Fact]
    public async Task Sessions_made_by_real_packets_are_listed_and_filtered()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);

        IReadOnlyList<SessionView> sessions = await lab.Client.SessionsAsync(token: Token);
        SessionView session = Assert.Single(sessions);
        Assert.Equal("udp", session.Protocol);
        Assert.Equal("10.0.0.2", session.InternalSourceAddress);
        Assert.Equal(40000, session.InternalSourcePort);
        Assert.Equal("198.51.100.10", session.ExternalSourceAddress);
        Assert.Equal("203.0.113.5", session.ExternalDestinationAddress);
        Assert.Equal(ControlConversions.ToView(new FlowKey(IpProtocol.Udp, ControlLab.InsideA, 40000, ControlLab.Remote, 53)), session.Original);
        Assert.Equal(1, session.PacketsOut);

        Assert.Single(await lab.Client.SessionsAsync("10.0.0.2", "udp", Token));
        Assert.Empty(await lab.Client.SessionsAsync("10.0.0.9", token: Token));
        Assert.Empty(await lab.Client.SessionsAsync(protocol: "tcp", token: Token));
        NatControlException bad = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.SessionsAsync("10.0.0", token: Token));
        Assert.Equal(NatErrno.EINVAL, bad.Errno);

        StatisticsView statistics = await lab.Client.StatisticsAsync(Token);
        Assert.Equal(1, statistics.InUse);
        Assert.Equal(1, statistics.Rules);

        await lab.Client.RemoveSessionAsync(session.Id, Token);
        Assert.Empty(await lab.Client.SessionsAsync(token: Token));
        NatControlException gone = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.RemoveSessionAsync(session.Id, Token));
        Assert.Equal(NatErrno.ESRCH, gone.Errno);

        await lab.MakeUdpSessionAsync(40001);
        await lab.MakeUdpSessionAsync(40002);
        Assert.Equal(2, await lab.Client.FlushSessionsAsync(Token));
    }

    [Fact]
    public async Task Loaded_rules_are_listed_in_ipnat_form_and_can_be_removed_flushed_and_purged()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        LoadRulesResult loaded = await lab.Client.LoadRulesAsync($"# lab\n{ControlLab.MapRule}\n{ControlLab.WebRedirect}\n", "lab.conf", Token);
        Assert.Equal(2, loaded.Indexes.Count);
        Assert.Empty(loaded.Warnings);

        IReadOnlyList<RuleView> rules = await lab.Client.RulesAsync(Token);
        Assert.Equal(2, rules.Count);
        Assert.StartsWith("map * 10.0.0.0/24 -> 198.51.100.10/32", rules[0].Text, StringComparison.Ordinal);
        Assert.Equal("rdr * 198.51.100.10/32 port 8080 -> 10.0.0.3 port 80", rules[1].Text);
        Assert.Equal("lab.conf:2", rules[0].Label);
        Assert.True(rules[0].Active);

        Assert.Equal(1, await lab.Client.RemoveRulesAsync(ControlLab.WebRedirect, "remove.conf", Token));
        Assert.Single(await lab.Client.RulesAsync(Token));

        await lab.MakeUdpSessionAsync();
        Assert.Equal(1, await lab.Client.FlushRulesAsync(Token));
        Assert.Equal(1, (await lab.Client.StatisticsAsync(Token)).Orphans);
        Assert.Equal(1, await lab.Client.PurgeAsync(Token));
        Assert.Empty(await lab.Client.SessionsAsync(token: Token));
    }

    [Fact]
    public async Task A_syntax_error_is_EINVAL_with_file_line_and_column()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        NatControlException refused = await Assert.ThrowsAsync<NatControlException>(
            () => lab.Client.LoadRulesAsync($"{ControlLab.MapRule}\nmap * 10.0.0.0/24 -> nonsense\n", "broken.conf", Token));
        Assert.Equal(NatErrno.EINVAL, refused.Errno);
        Assert.Matches(@"^broken\.conf:2:\d+: ", refused.Message);
        Assert.Empty(await lab.Client.RulesAsync(Token));
    }

    [Fact]
    public async Task The_read_only_socket_refuses_every_change_with_EPERM_and_serves_reads()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync();
        using (lab.HideReadWriteSocket())
        {
            using ControlClient reader = ControlClient.Connect(lab.Directory);
            Assert.True(reader.IsReadOnly);
            Assert.EndsWith(ControlServer.ReadOnlySocketName, reader.SocketPath, StringComparison.Ordinal);

            Func<Task>[] changes =
            [
                () => reader.FlushSessionsAsync(Token),
                () => reader.RemoveSessionAsync(0, Token),
                () => reader.LoadRulesAsync(ControlLab.WebRedirect, "x.conf", Token),
                () => reader.RemoveRulesAsync(ControlLab.MapRule, "x.conf", Token),
                () => reader.FlushRulesAsync(Token),
                () => reader.PurgeAsync(Token),
                () => reader.LockAsync(true, Token),
                () => reader.SaveStateAsync(Path.Combine(lab.Directory, "state"), Token),
                () => reader.RestoreStateAsync(Path.Combine(lab.Directory, "state"), Token),
                () => reader.AddNatAsync(new NatInstanceView { Name = "lan", InternalIPInterfaceAddressPrefix = "10.1.0.0/24" }, Token),
                () => reader.SetNatAsync("lan", new NatInstanceView { UdpIdleSessionTimeout = 600 }, Token),
                () => reader.RemoveNatAsync("lan", Token),
                () => reader.RemoveMappingAsync("lan", 1, Token),
                () => reader.SetHairpinningAsync("Disabled", Token),
            ];
            foreach (Func<Task> change in changes)
            {
                NatControlException refused = await Assert.ThrowsAsync<NatControlException>(change);
                Assert.Equal(NatErrno.EPERM, refused.Errno);
                Assert.Contains("this socket is read-only; use control.sock as root", refused.Message, StringComparison.Ordinal);
            }

            Assert.Single(await reader.SessionsAsync(token: Token));
            Assert.Single(await reader.RulesAsync(Token));
            Assert.Equal(1, (await reader.StatisticsAsync(Token)).InUse);
            Assert.Empty(await reader.NatInstancesAsync(Token));
            Assert.Empty(await reader.MappingsAsync(Token));
            Assert.Equal("Enabled", await reader.HairpinningAsync(Token));
            // A lookup only reads, so the read-only socket answers it (here: no such session).
            NatControlException lookup = await Assert.ThrowsAsync<NatControlException>(
                () => reader.LookupAsync(new LookupRequest("tcp", "10.0.0.3", 80, "203.0.113.5", 33000, false), Token));
            Assert.Equal(NatErrno.ESRCH, lookup.Errno);
        }
        Assert.Single(await lab.Client.SessionsAsync(token: Token));
        Assert.Single(await lab.Client.RulesAsync(Token));
    }

    [Fact]
    public async Task A_stale_socket_file_is_replaced_but_a_live_daemon_is_not()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        IOException live = await Assert.ThrowsAsync<IOException>(
            () => ControlServer.StartAsync(lab.Controller, lab.Directory, null, Token));
        Assert.Contains("Another natgate answers", live.Message, StringComparison.Ordinal);

        string directory = Path.Combine(Path.GetTempPath(), "ngc-stale-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(directory);
        try
        {
            // A socket file nobody listens on, as a daemon that died leaves behind.
            using var dead = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            dead.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(directory, ControlServer.ReadWriteSocketName)));
            Assert.True(File.Exists(Path.Combine(directory, ControlServer.ReadWriteSocketName)));
            await using ControlServer server = await ControlServer.StartAsync(lab.Controller, directory, null, Token);
            using ControlClient client = ControlClient.Connect(directory);
            Assert.False(client.IsReadOnly);
            Assert.Equal(0, (await client.StatisticsAsync(Token)).InUse);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Connect_uses_control_sock_when_it_opens()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        using ControlClient client = ControlClient.Connect(lab.Directory);
        Assert.False(client.IsReadOnly);
        Assert.Equal(lab.Server.ReadWriteSocket, client.SocketPath);
    }

    [Fact]
    public async Task An_absent_daemon_is_reported_as_unreachable()
    {
        string directory = Path.Combine(Path.GetTempPath(), "ngc-absent-" + Guid.NewGuid().ToString("N")[..8]);
        using ControlClient client = ControlClient.Connect(directory);
        DaemonUnreachableException error = await Assert.ThrowsAsync<DaemonUnreachableException>(() => client.StatisticsAsync(Token));
        Assert.Equal($"cannot reach the daemon at {directory}/control.sock: is `natgate run` running?", error.Message);
    }

    [Fact]
    public async Task Lookup_answers_ESRCH_without_a_session_and_the_real_destination_with_one()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(ControlLab.WebRedirect, "rdr.conf", Token);
        var request = new LookupRequest("tcp", "10.0.0.3", 80, "203.0.113.5", 33000, FindForward: true);
        NatControlException missing = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.LookupAsync(request, Token));
        Assert.Equal(NatErrno.ESRCH, missing.Errno);

        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Tcp(ControlLab.Remote, 33000, ControlLab.External, 8080, TcpFlags.Syn)).Verdict);
        LookupAnswer answer = await lab.Client.LookupAsync(request, Token);
        Assert.Equal("198.51.100.10", answer.RealAddress);
        Assert.Equal(8080, answer.RealPort);
        Assert.True(answer.ForwardPossible);

        NatControlException badProtocol = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.LookupAsync(request with { Protocol = "sctp" }, Token));
        Assert.Equal(NatErrno.EINVAL, badProtocol.Errno);
    }

    [Fact]
    public async Task Put_needs_the_lock_then_inserts_and_refuses_a_duplicate()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(ControlLab.MapRule, "lab.conf", Token);
        var record = new SessionRecordView
        {
            Rule = ControlLab.MapRule,
            Original = ControlConversions.ToView(new FlowKey(IpProtocol.Udp, ControlLab.InsideB, 5000, ControlLab.Remote, 53)),
            Translated = ControlConversions.ToView(new FlowKey(IpProtocol.Udp, ControlLab.External, 5000, ControlLab.Remote, 53)),
        };

        NatControlException unlocked = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.PutAsync(record, Token));
        Assert.Equal(NatErrno.EACCES, unlocked.Errno);

        Assert.False(await lab.Client.LockAsync(true, Token));
        int id = await lab.Client.PutAsync(record, Token);
        SessionView session = Assert.Single(await lab.Client.SessionsAsync(token: Token));
        Assert.Equal(id, session.Id);
        Assert.Equal("10.0.0.3", session.InternalSourceAddress);

        NatControlException duplicate = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.PutAsync(record, Token));
        Assert.Equal(NatErrno.EEXIST, duplicate.Errno);
        NatControlException noRule = await Assert.ThrowsAsync<NatControlException>(
            () => lab.Client.PutAsync(record with { Rule = "map * 10.9.0.0/24 -> 198.51.100.10/32" }, Token));
        Assert.Equal(NatErrno.ESRCH, noRule.Errno);
        Assert.True(await lab.Client.LockAsync(false, Token));
    }

    [Fact]
    public async Task A_listing_of_many_sessions_streams_every_one_across_slices_of_the_table()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.LoadRulesAsync(ControlLab.MapRule, "lab.conf", Token);
        // More sessions than one slice of the table holds, spread over its slots.
        const int count = NatGate.Daemon.GatewayController.SlotsPerSlice + 5000;
        for (int i = 0; i < count; i++)
        {
            Ipv4Address inside = ControlLab.InsideA + (uint)(i % 200);
            Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Udp(inside, (ushort)(10000 + (i / 200)), ControlLab.Remote, 53)).Verdict);
        }
        IReadOnlyList<SessionView> listed = await lab.Client.SessionsAsync(token: Token);
        Assert.Equal(count, listed.Count);
        Assert.Equal(count, listed.Select(session => (session.InternalSourceAddress, session.InternalSourcePort)).Distinct().Count());
        Assert.Equal(count, lab.Controller.CountSessions().Values.Sum());
    }

    [Fact]
    public async Task State_save_writes_only_in_its_directory_and_only_over_its_own_files()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        // Issue 10: the root socket could replace any file the daemon can write, /etc/passwd included.
        string outside = Path.Combine(Path.GetTempPath(), "natgate-should-not-exist-" + Guid.NewGuid().ToString("N"));
        NatControlException elsewhere = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.SaveStateAsync(outside, Token));
        Assert.Equal(NatErrno.EACCES, elsewhere.Errno);
        Assert.False(File.Exists(outside));
        NatControlException climbing = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.SaveStateAsync(Path.Combine(lab.Directory, "..", "passwd"), Token));
        Assert.Equal(NatErrno.EACCES, climbing.Errno);

        string precious = Path.Combine(lab.Directory, "precious.txt");
        await File.WriteAllTextAsync(precious, "not a session file\n", Token);
        NatControlException foreign = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.SaveStateAsync(precious, Token));
        Assert.Equal(NatErrno.EEXIST, foreign.Errno);
        Assert.Equal("not a session file\n", await File.ReadAllTextAsync(precious, Token));

        // A new file, then the same file again (NatGate wrote it), are fine.
        string path = Path.Combine(lab.Directory, "sessions.ipf");
        Assert.Equal(1, await lab.Client.SaveStateAsync(path, Token));
        Assert.Equal(1, await lab.Client.SaveStateAsync(path, Token));
    }

    [Fact]
    public async Task A_state_file_others_may_write_is_not_restored()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        string path = Path.Combine(lab.Directory, "sessions.ipf");
        await lab.Client.SaveStateAsync(path, Token);
        await lab.Client.FlushSessionsAsync(Token);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        NatControlException refused = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.RestoreStateAsync(path, Token));
        Assert.Equal(NatErrno.EACCES, refused.Errno);
        Assert.Contains("writable by everyone", refused.Message, StringComparison.Ordinal);
        Assert.Empty(await lab.Client.SessionsAsync(token: Token));
    }

    [Fact]
    public async Task State_saved_to_a_file_is_restored_after_a_flush()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.MakeUdpSessionAsync(40000);
        await lab.MakeUdpSessionAsync(40001);
        Assert.Equal(Verdict.Forward, lab.Send(ControlLab.Tcp(ControlLab.InsideB, 41000, ControlLab.Remote, 443, TcpFlags.Syn)).Verdict);
        string path = Path.Combine(lab.Directory, "sessions.ipf");

        Assert.Equal(3, await lab.Client.SaveStateAsync(path, Token));
        Assert.True(File.Exists(path));
        Assert.Equal(3, await lab.Client.FlushSessionsAsync(Token));

        RestoreAnswer restored = await lab.Client.RestoreStateAsync(path, Token);
        Assert.Equal(3, restored.Restored);
        Assert.Empty(restored.Failures);
        Assert.Equal(3, (await lab.Client.SessionsAsync(token: Token)).Count);

        // Restoring again: every entry is a duplicate, reported per entry.
        RestoreAnswer again = await lab.Client.RestoreStateAsync(path, Token);
        Assert.Equal(0, again.Restored);
        Assert.Equal([1, 2, 3], again.Failures.Select(failure => failure.Entry));
        Assert.All(again.Failures, failure => Assert.Equal("EEXIST", failure.Error));

        NatControlException missing = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.RestoreStateAsync(Path.Combine(lab.Directory, "absent.ipf"), Token));
        Assert.Equal(NatErrno.EINVAL, missing.Errno);
    }

    [Fact]
    public async Task NetNat_instances_are_added_changed_and_removed_with_EEXIST_and_ESRCH()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        var lan = new NatInstanceView
        {
            Name = "lan",
            InternalIPInterfaceAddressPrefix = "10.1.0.0/24",
            ExternalAddresses = [new ExternalAddressView("198.51.100.20", 2000, 3000)],
        };
        NatInstanceView added = await lab.Client.AddNatAsync(lan, Token);
        Assert.Equal(300, added.UdpIdleSessionTimeout);
        RuleView rule = Assert.Single(await lab.Client.RulesAsync(Token));
        Assert.Equal("nat lan", rule.Label);

        NatControlException exists = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.AddNatAsync(lan with { Name = "LAN" }, Token));
        Assert.Equal(NatErrno.EEXIST, exists.Errno);

        NatInstanceView changed = await lab.Client.SetNatAsync("lan", new NatInstanceView { UdpIdleSessionTimeout = 600, UdpFilteringBehavior = NatFilteringBehavior.EndpointIndependent }, Token);
        Assert.Equal(600, changed.UdpIdleSessionTimeout);
        Assert.Equal(NatFilteringBehavior.EndpointIndependent, changed.UdpFilteringBehavior);
        Assert.Equal("10.1.0.0/24", changed.InternalIPInterfaceAddressPrefix);
        Assert.Equal(600, Assert.Single(await lab.Client.NatInstancesAsync(Token)).UdpIdleSessionTimeout);

        NatControlException tooShort = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.SetNatAsync("lan", new NatInstanceView { UdpIdleSessionTimeout = 30 }, Token));
        Assert.Equal(NatErrno.EINVAL, tooShort.Errno);
        Assert.Contains("RFC 4787 REQ-5", tooShort.Message, StringComparison.Ordinal);

        NatControlException absent = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.SetNatAsync("wan", new NatInstanceView { UdpIdleSessionTimeout = 600 }, Token));
        Assert.Equal(NatErrno.ESRCH, absent.Errno);

        StaticMappingView mapping = await lab.Client.AddMappingAsync(new StaticMappingView { NatName = "lan", ExternalPort = 8080, InternalIPAddress = "10.1.0.5", InternalPort = 80 }, Token);
        Assert.Equal(1, mapping.StaticMappingID);
        Assert.Equal(2, (await lab.Client.RulesAsync(Token)).Count);
        NatControlException sameId = await Assert.ThrowsAsync<NatControlException>(
            () => lab.Client.AddMappingAsync(new StaticMappingView { NatName = "lan", StaticMappingID = 1, ExternalPort = 8081, InternalIPAddress = "10.1.0.5" }, Token));
        Assert.Equal(NatErrno.EEXIST, sameId.Errno);
        NatControlException noNat = await Assert.ThrowsAsync<NatControlException>(
            () => lab.Client.AddMappingAsync(new StaticMappingView { NatName = "wan", ExternalPort = 8081, InternalIPAddress = "10.1.0.5" }, Token));
        Assert.Equal(NatErrno.ESRCH, noNat.Errno);

        await lab.Client.RemoveNatAsync("lan", Token);
        Assert.Empty(await lab.Client.NatInstancesAsync(Token));
        Assert.Empty(await lab.Client.MappingsAsync(Token));
        Assert.Empty(await lab.Client.RulesAsync(Token));
        NatControlException removedTwice = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.RemoveNatAsync("lan", Token));
        Assert.Equal(NatErrno.ESRCH, removedTwice.Errno);
    }

    [Fact]
    public async Task Static_mappings_are_removed_by_id_and_hairpinning_is_set()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        await lab.Client.AddNatAsync(new NatInstanceView { Name = "lan", InternalIPInterfaceAddressPrefix = "10.1.0.0/24", ExternalAddresses = [new ExternalAddressView("198.51.100.20")] }, Token);
        await lab.Client.AddMappingAsync(new StaticMappingView { NatName = "lan", Protocol = NatStaticMappingProtocol.UDP, ExternalPort = 5353, InternalIPAddress = "10.1.0.5" }, Token);
        StaticMappingView second = await lab.Client.AddMappingAsync(new StaticMappingView { NatName = "lan", ExternalPort = 2222, InternalIPAddress = "10.1.0.6", InternalPort = 22 }, Token);
        Assert.Equal(2, second.StaticMappingID);

        await lab.Client.RemoveMappingAsync("lan", 1, Token);
        Assert.Equal(2, Assert.Single(await lab.Client.MappingsAsync(Token)).StaticMappingID);
        NatControlException absent = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.RemoveMappingAsync("lan", 1, Token));
        Assert.Equal(NatErrno.ESRCH, absent.Errno);

        Assert.Equal("Disabled", await lab.Client.SetHairpinningAsync("Disabled", Token));
        Assert.Equal("Disabled", await lab.Client.HairpinningAsync(Token));
        Assert.Equal(Core.Rules.HairpinningMode.Disabled, lab.Controller.Hairpinning);
        NatControlException bad = await Assert.ThrowsAsync<NatControlException>(() => lab.Client.SetHairpinningAsync("Sometimes", Token));
        Assert.Equal(NatErrno.EINVAL, bad.Errno);
    }

    [Fact]
    public async Task Malformed_JSON_is_EINVAL_with_a_sentence()
    {
        await using ControlLab lab = await ControlLab.StartAsync();
        using HttpClient http = lab.RawHttpClient();
        using var body = new StringContent("{\"locked\": tru", System.Text.Encoding.UTF8, "application/json");
        HttpResponseMessage response = await http.PostAsync("v1/lock", body, Token);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        string text = await response.Content.ReadAsStringAsync(Token);
        Assert.StartsWith("{\"error\":\"EINVAL\",\"message\":\"The request body is not the JSON this route takes", text, StringComparison.Ordinal);

        HttpResponseMessage unknown = await http.GetAsync("v1/nothing", Token);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Contains("\"error\":\"ESRCH\"", await unknown.Content.ReadAsStringAsync(Token), StringComparison.Ordinal);
    }
}
