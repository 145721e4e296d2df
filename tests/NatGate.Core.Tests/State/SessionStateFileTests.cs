using System.Security.Cryptography;
using System.Text;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;
using NatGate.Core.State;
using NatGate.Core.Translation;

namespace NatGate.Core.Tests.State;

/// <summary>Save and load through real engines: sessions made by translating packets, restored into a fresh engine.</summary>
public sealed class SessionStateFileTests : IDisposable
{
    private static readonly long Start = new DateTime(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly long Now = Start + 10 * TimeSpan.TicksPerSecond;
    private static readonly DateTimeOffset SavedAt = new(2025, 3, 1, 12, 0, 10, TimeSpan.Zero);
    private static readonly Ipv4Address External = Ipv4Address.Parse("198.51.100.10");
    private static readonly NatRule Rule = NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), External, label: "lan");

    private const int SessionsMade = 5;

    private readonly string directory = Directory.CreateTempSubdirectory("natgate-state-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>A reply from outside to one session's external endpoint, as the remote would send it.</summary>
    private sealed record Reply(byte[] Packet, int Length);

    private static NatEngine NewEngine(bool withRule = true)
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1 }, Start);
        if (withRule)
        {
            engine.AddRule(Rule);
        }
        return engine;
    }

    /// <summary>An engine holding TCP (one on a moved port), UDP (two sessions on one mapping) and ICMP sessions, and a reply packet for each.</summary>
    private static (NatEngine Engine, List<Reply> Replies) EngineWithSessions()
    {
        NatEngine engine = NewEngine();
        var replies = new List<Reply>();
        Ipv4Address remote = Ipv4Address.Parse("203.0.113.7");

        byte[] packet = new byte[1500];
        int length = Ipv4PacketWriter.WriteTcp(packet, Ipv4Address.Parse("10.0.0.5"), 40000, remote, 80, TcpFlags.Syn, 1000, 0, []);
        ushort tcpPort = TranslateOutbound(engine, packet, length, Start + TimeSpan.TicksPerSecond, portOffset: 20);
        replies.Add(Build(buffer => Ipv4PacketWriter.WriteTcp(buffer, remote, 80, External, tcpPort, TcpFlags.Syn | TcpFlags.Ack, 5000, 1001, [])));

        // Another host on the same port: its external port cannot be preserved, so the file must carry the chosen one.
        length = Ipv4PacketWriter.WriteTcp(packet, Ipv4Address.Parse("10.0.0.8"), 40000, remote, 80, TcpFlags.Syn, 7000, 0, []);
        ushort movedPort = TranslateOutbound(engine, packet, length, Start + TimeSpan.TicksPerSecond, portOffset: 20);
        Assert.NotEqual(tcpPort, movedPort);
        replies.Add(Build(buffer => Ipv4PacketWriter.WriteTcp(buffer, remote, 80, External, movedPort, TcpFlags.Syn | TcpFlags.Ack, 9000, 7001, [])));

        length = Ipv4PacketWriter.WriteUdp(packet, Ipv4Address.Parse("10.0.0.6"), 5353, Ipv4Address.Parse("203.0.113.8"), 53, "query"u8);
        ushort udpPort = TranslateOutbound(engine, packet, length, Start + 2 * TimeSpan.TicksPerSecond, portOffset: 20);
        length = Ipv4PacketWriter.WriteUdp(packet, Ipv4Address.Parse("10.0.0.6"), 5353, Ipv4Address.Parse("203.0.113.9"), 53, "query"u8);
        Assert.Equal(udpPort, TranslateOutbound(engine, packet, length, Start + 3 * TimeSpan.TicksPerSecond, portOffset: 20));
        replies.Add(Build(buffer => Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("203.0.113.8"), 53, External, udpPort, "answer"u8)));
        replies.Add(Build(buffer => Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("203.0.113.9"), 53, External, udpPort, "answer"u8)));

        length = Ipv4PacketWriter.WriteIcmpQuery(packet, Ipv4Address.Parse("10.0.0.7"), remote, IcmpType.Echo, 0x1234, 1, "ping"u8);
        ushort icmpIdentifier = TranslateOutbound(engine, packet, length, Start + 4 * TimeSpan.TicksPerSecond, portOffset: 24);
        replies.Add(Build(buffer => Ipv4PacketWriter.WriteIcmpQuery(buffer, remote, External, IcmpType.EchoReply, icmpIdentifier, 1, "ping"u8)));

        Assert.Equal(SessionsMade, engine.SessionCount);
        return (engine, replies);
    }

    private static Reply Build(Func<byte[], int> write)
    {
        byte[] buffer = new byte[1500];
        return new Reply(buffer, write(buffer));
    }

    /// <summary>Translates an outbound packet and returns its new source port (or ICMP identifier).</summary>
    private static ushort TranslateOutbound(NatEngine engine, byte[] packet, int length, long nowTicks, int portOffset)
    {
        TranslationResult result = engine.Translate(packet, length, nowTicks);
        Assert.Equal(Verdict.Forward, result.Verdict);
        Assert.Equal(External, Ipv4Address.Read(packet.AsSpan(Ipv4Packet.Field.SourceAddress)));
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(packet.AsSpan(portOffset));
    }

    private static byte[] SavedBytes(out int sessionCount)
    {
        (NatEngine engine, _) = EngineWithSessions();
        IReadOnlyList<SessionRecord> sessions = engine.ExportSessions();
        sessionCount = sessions.Count;
        using var stream = new MemoryStream();
        SessionStateFile.Save(stream, sessions, SavedAt);
        return stream.ToArray();
    }

    private static StateFileException Refused(byte[] bytes) => Assert.Throws<StateFileException>(() => SessionStateFile.Load(new MemoryStream(bytes)));

    /// <summary>Rewrites the checksum line to match the lines before it, as a careful hand edit would.</summary>
    private static byte[] Reseal(string text)
    {
        string[] lines = text.TrimEnd('\n').Split('\n');
        string body = string.Concat(lines[..^1].Select(line => line + "\n"));
        string digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        return Encoding.UTF8.GetBytes(body + "{\"sha256\":\"" + digest + "\"}\n");
    }

    [Theory]
    [InlineData("/dev/urandom")]
    [InlineData("/dev/zero")]
    public async Task A_device_is_refused_at_once_instead_of_read_forever(string device)
    {
        // Issue 10: restoring from /dev/urandom spun a core until the daemon exited. A load that
        // still runs after ten seconds fails this test with a TimeoutException.
        Task load = Task.Run(() => SessionStateFile.Load(device), TestContext.Current.CancellationToken);
        await Assert.ThrowsAsync<StateFileException>(() => load.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Restored_engine_lists_the_same_sessions_and_translates_replies_to_the_same_bytes()
    {
        (NatEngine original, List<Reply> replies) = EngineWithSessions();
        string path = Path.Combine(directory, "sessions.jsonl");
        SessionStateFile.Save(path, original.ExportSessions(), SavedAt);

        SavedSessions loaded = SessionStateFile.Load(path);
        NatEngine restored = NewEngine();
        RestoreReport report = restored.Restore(loaded.Sessions, Now);

        Assert.Equal(SavedAt, loaded.SavedAt);
        Assert.Empty(report.Failures);
        Assert.Equal(SessionsMade, report.Restored);
        Assert.Equal(original.ListSessions(), restored.ListSessions());
        foreach (Reply reply in replies)
        {
            byte[] throughOriginal = (byte[])reply.Packet.Clone();
            byte[] throughRestored = (byte[])reply.Packet.Clone();
            TranslationResult before = original.Translate(throughOriginal, reply.Length, Now);
            TranslationResult after = restored.Translate(throughRestored, reply.Length, Now);
            Assert.Equal(Verdict.Forward, before.Verdict);
            Assert.Equal(before, after);
            Assert.Equal(throughOriginal.AsSpan(0, before.Length).ToArray(), throughRestored.AsSpan(0, after.Length).ToArray());
        }
        Assert.Equal(original.ListSessions(), restored.ListSessions());
    }

    [Fact]
    public void Loaded_records_equal_the_exported_ones()
    {
        (NatEngine engine, _) = EngineWithSessions();
        IReadOnlyList<SessionRecord> exported = engine.ExportSessions();
        string path = Path.Combine(directory, "sessions.jsonl");
        SessionStateFile.Save(path, exported, SavedAt);

        SessionRecordAssert.Equal(exported, SessionStateFile.Load(path).Sessions);
    }

    [Fact]
    public void File_is_json_lines_with_header_readable_addresses_and_checksum()
    {
        string[] lines = Encoding.UTF8.GetString(SavedBytes(out int count)).Split('\n');

        Assert.Equal(count + 3, lines.Length);
        Assert.Equal("", lines[^1]);
        Assert.StartsWith($"{{\"format\":\"natgate-sessions\",\"version\":1,\"savedAt\":\"2025-03-01T12:00:10+00:00\",\"count\":{count},\"rules\":[{{\"kind\":\"Map\",", lines[0], StringComparison.Ordinal);
        Assert.EndsWith("\"label\":\"lan\"}]}", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"source\":\"10.0.0.0/24\"", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"translatedFirst\":\"198.51.100.10\"", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("translatedCount", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"original\":{\"protocol\":6,\"source\":\"10.0.0.5\",\"sourcePort\":40000,\"destination\":\"203.0.113.7\",\"destinationPort\":80}", lines[1], StringComparison.Ordinal);
        Assert.All(lines[1..^2], line =>
        {
            Assert.Contains("\"rule\":0,", line, StringComparison.Ordinal);
            Assert.DoesNotContain("translatedFirst", line, StringComparison.Ordinal);
        });
        Assert.Matches("^\\{\"sha256\":\"[0-9a-f]{64}\"\\}$", lines[^2]);
    }

    [Fact]
    public void Rules_are_written_once_in_the_header()
    {
        NatRule rule = Rule with { Kind = NatRuleKind.Redirect, RedirectTargets = [Ipv4Address.Parse("10.0.0.80")], RedirectPort = 8080 };
        // Equal rules need not be the same instance: copies, and copies of the target list, share the entry.
        SessionRecord[] sessions = [.. Enumerable.Range(0, 1000).Select(i => Session(
            (i % 3) switch { 0 => rule, 1 => rule with { }, _ => rule with { RedirectTargets = [.. rule.RedirectTargets] } }, i))];
        string path = Path.Combine(directory, "sessions.jsonl");

        SessionStateFile.Save(path, sessions, SavedAt);

        string text = File.ReadAllText(path);
        string ruleJson = System.Text.Json.JsonSerializer.Serialize(rule, StateFileJson.Options);
        Assert.Equal(1, CountOf(text, ruleJson));
        Assert.Equal(1, CountOf(text, "\"translatedFirst\""));
        Assert.Equal(1000, CountOf(text, "\"rule\":0,"));
        // A session line without its rule is still about 555 bytes (two flows as objects, counters, ticks);
        // one that repeated the rule would add this rule's JSON to each.
        Assert.InRange(new FileInfo(path).Length, 0, 600 * sessions.Length);
        Assert.True(ruleJson.Length > 600, "the rule alone outweighs a session line");
        SessionRecordAssert.Equal(sessions, SessionStateFile.Load(path).Sessions);
    }

    [Fact]
    public void Sessions_of_different_rules_come_back_attached_to_their_own_rule()
    {
        NatRule other = NatEngine.MapRule(Ipv4Prefix.Parse("10.1.0.0/16"), Ipv4Address.Parse("198.51.100.20"), label: "guest");
        // Equal to Rule in all but its label: RuleComparer treats them as one rule, so they share its entry.
        NatRule relabelled = Rule with { Label = "renamed" };
        SessionRecord[] sessions = [.. Enumerable.Range(0, 30).Select(i => Session((i % 3) switch { 0 => Rule, 1 => other, _ => relabelled }, i))];
        string path = Path.Combine(directory, "sessions.jsonl");
        SessionStateFile.Save(path, sessions, SavedAt);

        IReadOnlyList<SessionRecord> loaded = SessionStateFile.Load(path).Sessions;

        Assert.Equal(2, CountOf(File.ReadAllText(path), "\"translatedFirst\""));
        Assert.Equal(sessions.Select(session => session.Original), loaded.Select(session => session.Original));
        for (int i = 0; i < sessions.Length; i++)
        {
            NatRule expected = i % 3 == 1 ? other : Rule;
            Assert.True(RuleComparer.Equal(expected, loaded[i].Rule));
            Assert.Equal(expected.Label, loaded[i].Rule.Label);
            Assert.Same(loaded[i % 3 == 1 ? 1 : 0].Rule, loaded[i].Rule);
        }
        Assert.False(RuleComparer.Equal(loaded[0].Rule, loaded[1].Rule));
    }

    [Theory]
    [InlineData("7", "line 3: rule 7 does not exist; the header has 1 rule.")]
    [InlineData("1", "line 3: rule 1 does not exist; the header has 1 rule.")]
    [InlineData("-1", "line 3: rule -1 does not exist; the header has 1 rule.")]
    [InlineData("0.5", "line 3 at $.rule: \"rule\" must be a whole number")]
    [InlineData("\"0\"", "line 3 at $.rule: \"rule\" must be a whole number")]
    [InlineData("null", "line 3")]
    public void Session_naming_a_rule_the_header_lacks_is_refused_with_its_line(string index, string expected)
    {
        string[] lines = Encoding.UTF8.GetString(SavedBytes(out _)).Split('\n');
        lines[2] = lines[2].Replace("\"rule\":0,", $"\"rule\":{index},", StringComparison.Ordinal);

        StateFileException refused = Refused(Reseal(string.Join('\n', lines)));

        Assert.Contains("bad entry", refused.Message, StringComparison.Ordinal);
        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(",\"rules\":[", ",\"rulez\":[", "\"rules\" is missing")]
    [InlineData("\"rules\":[{", "\"rules\":[null,{", "rule 0: it is null")]
    [InlineData("\"translatedFirst\":\"198.51.100.10\"", "\"translatedFirst\":\"198.51.100\"", "rule 0 at $.translatedFirst")]
    public void Bad_rule_in_the_header_is_refused_as_a_bad_header(string good, string bad, string expected)
    {
        string text = Encoding.UTF8.GetString(SavedBytes(out _));
        int at = text.IndexOf(good, StringComparison.Ordinal);
        text = text[..at] + bad + text[(at + good.Length)..];

        StateFileException refused = Refused(Reseal(text));

        Assert.Contains("bad header on line 1", refused.Message, StringComparison.Ordinal);
        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
    }

    /// <summary>A session of <paramref name="rule"/>, distinct for each <paramref name="i"/>, as the engine would export it.</summary>
    internal static SessionRecord Session(NatRule rule, int i) => new()
    {
        Rule = rule,
        Original = new FlowKey(IpProtocol.Tcp, Ipv4Address.Parse("10.0.0.5") + (uint)(i / 50_000), (ushort)(1024 + (i % 50_000)), Ipv4Address.Parse("203.0.113.7"), 443),
        Translated = new FlowKey(IpProtocol.Tcp, External, (ushort)(1024 + (i % 50_000)), Ipv4Address.Parse("203.0.113.7"), 443),
        InMapping = true,
        Mapping = MappingBehavior.EndpointIndependent,
        Tcp = TcpTracking.Established,
        CreatedTicks = Start + i,
        LastSeenTicks = Now + i,
        PacketsForward = 12,
        PacketsReply = 10,
        BytesForward = 1400,
        BytesReply = 52_000,
    };

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }
        return count;
    }

    [Fact]
    public void Every_single_flipped_bit_refuses_the_whole_file()
    {
        byte[] saved = SavedBytes(out _);
        for (int position = 0; position < saved.Length - 1; position++)
        {
            foreach (byte bit in new byte[] { 0x01, 0x08, 0x40 })
            {
                byte[] damaged = (byte[])saved.Clone();
                damaged[position] ^= bit;
                Assert.Throws<StateFileException>(() => SessionStateFile.Load(new MemoryStream(damaged)));
            }
        }
    }

    [Fact]
    public void Flipped_byte_in_a_session_is_reported_as_corrupt()
    {
        byte[] saved = SavedBytes(out _);
        int position = Encoding.UTF8.GetString(saved).IndexOf("10.0.0.5", StringComparison.Ordinal);
        saved[position + 7] ^= 0x01; // 10.0.0.4: still valid JSON and a valid address, only the checksum can tell

        StateFileException refused = Refused(saved);

        Assert.Contains("corrupt", refused.Message, StringComparison.Ordinal);
        Assert.Contains("checksum", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_file_is_refused_at_every_length()
    {
        byte[] saved = SavedBytes(out _);
        int lastLine = Array.LastIndexOf(saved, (byte)'\n', saved.Length - 2) + 1;
        for (int length = 0; length < saved.Length - 1; length++)
        {
            StateFileException refused = Refused(saved[..length]);
            if (length >= lastLine)
            {
                Assert.Contains("truncated", refused.Message, StringComparison.Ordinal);
            }
        }
        // Only the final newline is optional.
        Assert.Equal(SessionsMade, SessionStateFile.Load(new MemoryStream(saved[..^1])).Sessions.Count);
    }

    [Fact]
    public void File_cut_at_a_line_boundary_is_reported_as_truncated()
    {
        byte[] saved = SavedBytes(out _);
        int secondLineEnd = Array.IndexOf(saved, (byte)'\n', Array.IndexOf(saved, (byte)'\n') + 1) + 1;

        StateFileException refused = Refused(saved[..secondLineEnd]);

        Assert.Contains("truncated", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"format\":\"other-tool\",\"version\":1}\n{\"a\":1}\n", "format \"other-tool\"")]
    [InlineData("{\"name\":\"x\"}\n", "not a NatGate session file")]
    [InlineData("[1,2,3]\n", "not a NatGate session file")]
    [InlineData("hello\nworld\n", "not a NatGate session file")]
    public void Foreign_file_is_refused(string text, string expected)
    {
        StateFileException refused = Refused(Encoding.UTF8.GetBytes(text));

        Assert.Contains("not a NatGate session file", refused.Message, StringComparison.Ordinal);
        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
        Assert.Contains(SessionStateFile.FormatName, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_file_is_refused()
        => Assert.Contains("empty", Refused([]).Message, StringComparison.Ordinal);

    [Fact]
    public void Newer_version_is_refused_as_newer()
    {
        int newer = SessionStateFile.CurrentVersion + 1;
        string text = Encoding.UTF8.GetString(SavedBytes(out _)).Replace("\"version\":1", $"\"version\":{newer}", StringComparison.Ordinal);

        StateFileException refused = Refused(Reseal(text));

        Assert.Contains($"version {newer}", refused.Message, StringComparison.Ordinal);
        Assert.Contains("newer", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"10.0.0.5\"", "\"10.0.0.500\"", "10.0.0.500")]
    [InlineData("\"10.0.0.0/24\"", "\"10.0.0.0/33\"", "10.0.0.0/33")]
    [InlineData("\"kind\":\"Map\"", "\"kind\":\"Mop\"", "kind")]
    [InlineData("\"mapping\":\"EndpointIndependent\"", "\"mapping\":7", "mapping")]
    [InlineData("\"sourcePort\":40000", "\"sourcePort\":70000", "sourcePort")]
    [InlineData("\"createdTicks\"", "\"bornTicks\"", "bornTicks")]
    public void Bad_value_in_a_well_checksummed_file_is_refused_with_its_line(string good, string bad, string expected)
    {
        string text = Encoding.UTF8.GetString(SavedBytes(out _));
        int lineOfFirst = text[..text.IndexOf(good, StringComparison.Ordinal)].Count(character => character == '\n') + 1;
        int at = text.IndexOf(good, StringComparison.Ordinal);
        text = text[..at] + bad + text[(at + good.Length)..];

        StateFileException refused = Refused(Reseal(text));

        Assert.Contains($"line {lineOfFirst}", refused.Message, StringComparison.Ordinal);
        Assert.Contains(expected, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Header_count_that_disagrees_with_the_lines_is_refused()
    {
        string text = Encoding.UTF8.GetString(SavedBytes(out int count)).Replace($"\"count\":{count}", $"\"count\":{count + 1}", StringComparison.Ordinal);

        StateFileException refused = Refused(Reseal(text));

        Assert.Contains($"promises {count + 1} sessions but it holds {count}", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Failed_save_leaves_the_previous_file_untouched_and_no_temporary_file()
    {
        (NatEngine engine, _) = EngineWithSessions();
        string path = Path.Combine(directory, "sessions.jsonl");
        SessionStateFile.Save(path, engine.ExportSessions(), SavedAt);
        byte[] before = File.ReadAllBytes(path);

        Assert.Throws<InvalidOperationException>(() => SessionStateFile.Save(path, new FailingList(engine.ExportSessions()), SavedAt));

        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(directory));
    }

    [Fact]
    public void Save_into_a_missing_directory_throws_and_creates_nothing()
    {
        string path = Path.Combine(directory, "missing", "sessions.jsonl");

        StateFileException refused = Assert.Throws<StateFileException>(() => SessionStateFile.Save(path, [], SavedAt));

        Assert.Contains(path, refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(directory, "missing")));
        Assert.Empty(Directory.GetFileSystemEntries(directory));
    }

    [Fact]
    public void Save_replaces_an_existing_file_whole()
    {
        string path = Path.Combine(directory, "sessions.jsonl");
        File.WriteAllText(path, new string('x', 100_000));
        (NatEngine engine, _) = EngineWithSessions();

        SessionStateFile.Save(path, engine.ExportSessions(), SavedAt);

        Assert.Equal(SessionsMade, SessionStateFile.Load(path).Sessions.Count);
        Assert.Equal([path], Directory.GetFileSystemEntries(directory));
    }

    [Fact]
    public void Saved_file_is_readable_by_its_owner_only_and_its_directory_is_synced()
    {
        if (OperatingSystem.IsWindows())
        {
            Assert.Skip("POSIX modes and directory fsync only");
            return;
        }
        string path = Path.Combine(directory, "sessions.jsonl");

        SessionStateFile.Save(path, [], SavedAt);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.True(DirectorySync.TrySync(directory));
    }

    [Fact]
    public void Load_of_a_missing_file_names_it()
    {
        string path = Path.Combine(directory, "absent.jsonl");

        Assert.Contains(path, Assert.Throws<StateFileException>(() => SessionStateFile.Load(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusal_from_a_file_names_the_file()
    {
        string path = Path.Combine(directory, "foreign.json");
        File.WriteAllText(path, "{\"hello\":1}\n");

        Assert.StartsWith(path, Assert.Throws<StateFileException>(() => SessionStateFile.Load(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_table_round_trips()
    {
        string path = Path.Combine(directory, "sessions.jsonl");
        SessionStateFile.Save(path, [], SavedAt);

        SavedSessions loaded = SessionStateFile.Load(path);

        Assert.Empty(loaded.Sessions);
        Assert.Equal(SavedAt, loaded.SavedAt);
    }

    [Fact]
    public void Restore_without_the_rule_reports_ESRCH_for_every_entry()
    {
        (NatEngine engine, _) = EngineWithSessions();
        string path = Path.Combine(directory, "sessions.jsonl");
        SessionStateFile.Save(path, engine.ExportSessions(), SavedAt);

        RestoreReport report = NewEngine(withRule: false).Restore(SessionStateFile.Load(path).Sessions, Now);

        Assert.Equal(0, report.Restored);
        Assert.Equal(Enumerable.Range(1, SessionsMade), report.Failures.Select(failure => failure.Entry));
        Assert.All(report.Failures, failure => Assert.Equal(NatErrno.ESRCH, failure.Errno));
    }

    [Fact]
    public void Restoring_twice_reports_EEXIST_for_every_entry()
    {
        (NatEngine engine, _) = EngineWithSessions();
        string path = Path.Combine(directory, "sessions.jsonl");
        SessionStateFile.Save(path, engine.ExportSessions(), SavedAt);
        IReadOnlyList<SessionRecord> sessions = SessionStateFile.Load(path).Sessions;
        NatEngine restored = NewEngine();
        Assert.Equal(SessionsMade, restored.Restore(sessions, Now).Restored);

        RestoreReport again = restored.Restore(sessions, Now);

        Assert.Equal(0, again.Restored);
        Assert.Equal(Enumerable.Range(1, SessionsMade), again.Failures.Select(failure => failure.Entry));
        Assert.All(again.Failures, failure => Assert.Equal(NatErrno.EEXIST, failure.Errno));
        Assert.Equal(SessionsMade, restored.SessionCount);
    }

    /// <summary>A list whose second element cannot be read, to make a save fail half-way.</summary>
    private sealed class FailingList(IReadOnlyList<SessionRecord> inner) : IReadOnlyList<SessionRecord>
    {
        public SessionRecord this[int index] => index < 1 ? inner[index] : throw new InvalidOperationException("the table changed");

        public int Count => inner.Count;

        public IEnumerator<SessionRecord> GetEnumerator() => inner.GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
