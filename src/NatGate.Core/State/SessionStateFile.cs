using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using NatGate.Core.Control;
using NatGate.Core.PortMappings;
using NatGate.Core.Rules;

namespace NatGate.Core.State;

/// <summary>
/// Saves every session to a file and loads it back (IP Filter's ipfs -W and -R, DESIGN.md
/// "Control semantics"). The file is UTF-8 JSON Lines: a header
/// {"format":"natgate-sessions","version":1,"savedAt":"...","count":N,"rules":[...]} holding each
/// distinct rule once, N session lines naming their rule by its position in "rules" ("rule":0),
/// and {"sha256":"..."} over every byte before that last line. Version 2 adds IPv6 (NAT66)
/// sessions, their flows' addresses in IPv6 text; version 3 adds NAT64 sessions, whose two flows
/// are of two families (the IPv6 one inside, the IPv4 one outside). A file is written in the
/// oldest version that holds its sessions (1 without IPv6, 2 without NAT64), so an older NatGate
/// still reads it, and refuses a newer one with a message that names both versions; every older
/// version loads as it always did. Version 4 adds the port mappings inside hosts asked for (PCP,
/// NAT-PMP) to the header: "portMappings" (each its redirect rule, nonce, end and protocol) and
/// "portMappingEpoch" (when the server's epoch began, RFC 6887 8.5); a file without mappings is
/// written as before.
/// </summary>
public static class SessionStateFile
{
    public const string FormatName = "natgate-sessions";

    /// <summary>The newest version this NatGate reads and writes.</summary>
    public const int CurrentVersion = 4;

    /// <summary>The first version whose flows may be IPv6.</summary>
    public const int Ipv6Version = 2;

    /// <summary>
    /// The first version that may hold NAT64 sessions, whose flows are of two families. A NatGate
    /// of version 2 would take such a line for a damaged one and refuse it alone, restoring the
    /// rest; from version 3 on it refuses the whole file as newer than it understands, instead.
    /// </summary>
    public const int Nat64Version = 3;

    /// <summary>The first version whose header may hold port mappings (PCP, NAT-PMP).</summary>
    public const int PortMappingVersion = 4;

    /// <summary>Longer lines mean the file is not ours; it also bounds what a foreign file can make us buffer.</summary>
    private const int MaximumLineLength = 1 << 20;

    /// <summary>The header holds every distinct rule (about 1.3 KB each): room for some 50,000.</summary>
    private const int MaximumHeaderLength = 64 << 20;

    private const string StreamName = "the session stream";

    private static readonly SearchValues<char> LowerHexDigits = SearchValues.Create("0123456789abcdef");

    /// <summary>
    /// Writes atomically: a temporary file beside the target, flushed to disk, then renamed over
    /// it, and the directory flushed where the platform allows. A failure leaves the target as it
    /// was and removes the temporary file.
    /// </summary>
    /// <exception cref="StateFileException">The file could not be written; the message says why.</exception>
    public static void Save(string path, IReadOnlyList<SessionRecord> sessions, DateTimeOffset savedAt)
        => Save(path, sessions, savedAt, [], -1);

    /// <summary>As <see cref="Save(string, IReadOnlyList{SessionRecord}, DateTimeOffset)"/>, with the port mappings and their epoch's start.</summary>
    public static void Save(string path, IReadOnlyList<SessionRecord> sessions, DateTimeOffset savedAt, IReadOnlyList<PortMapping> portMappings, long portMappingEpochTicks)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(sessions);
        string target = Path.GetFullPath(path);
        string directory = Path.GetDirectoryName(target) ?? throw new StateFileException($"Cannot save sessions to {path}: it names no file.");
        string temporary = Path.Combine(directory, $".{Path.GetFileName(target)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp");
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16 };
        if (!OperatingSystem.IsWindows())
        {
            // Sessions say who talks to whom: readable by the owner only.
            fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        try
        {
            using (var file = new FileStream(temporary, fileOptions))
            {
                Save(file, sessions, savedAt, portMappings, portMappingEpochTicks);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, target, overwrite: true);
        }
        catch (Exception error)
        {
            TryDelete(temporary);
            if (error is IOException or UnauthorizedAccessException)
            {
                throw new StateFileException($"Cannot save sessions to {target}: {error.Message} Check that the directory exists and is writable; the previous file, if any, is unchanged.", error);
            }
            throw;
        }
        DirectorySync.TrySync(directory);
    }

    /// <summary>Writes the file's bytes to <paramref name="stream"/>; the caller makes it durable.</summary>
    public static void Save(Stream stream, IReadOnlyList<SessionRecord> sessions, DateTimeOffset savedAt)
        => Save(stream, sessions, savedAt, [], -1);

    /// <summary>Writes the file's bytes, port mappings included (version 4 when there are any).</summary>
    public static void Save(Stream stream, IReadOnlyList<SessionRecord> sessions, DateTimeOffset savedAt, IReadOnlyList<PortMapping> portMappings, long portMappingEpochTicks)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sessions);
        ArgumentNullException.ThrowIfNull(portMappings);
        int count = sessions.Count;
        var rules = new RuleTable();
        bool anyIpv6 = false;
        bool anyNat64 = false;
        for (int i = 0; i < count; i++)
        {
            SessionRecord session = sessions[i] ?? throw new ArgumentException($"Session {i + 1} is null.", nameof(sessions));
            rules.Add(session.Rule ?? throw new ArgumentException($"Session {i + 1} has no rule.", nameof(sessions)));
            anyIpv6 |= session.Original.Source.IsIpv6 || session.Original.Destination.IsIpv6 || session.Translated.Source.IsIpv6 || session.Translated.Destination.IsIpv6;
            anyNat64 |= IsNat64(session);
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var content = new HashingStream(stream, hash);
        using var writer = new Utf8JsonWriter(content);

        writer.WriteStartObject();
        writer.WriteString("format", FormatName);
        // Only IPv6 sessions need version 2, and only NAT64 ones version 3: without them an older NatGate can still read the file.
        writer.WriteNumber("version", portMappings.Count > 0 ? PortMappingVersion : anyNat64 ? Nat64Version : anyIpv6 ? Ipv6Version : 1);
        writer.WriteString("savedAt", savedAt);
        writer.WriteNumber("count", count);
        writer.WriteStartArray("rules");
        foreach (NatRule rule in rules.Rules)
        {
            JsonSerializer.Serialize(writer, rule, StateFileJson.Options);
        }
        writer.WriteEndArray();
        if (portMappings.Count > 0)
        {
            writer.WriteNumber("portMappingEpoch", portMappingEpochTicks);
            writer.WriteStartArray("portMappings");
            foreach (PortMapping mapping in portMappings)
            {
                JsonSerializer.Serialize(writer, mapping, StateFileJson.Options);
            }
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
        if (writer.BytesPending + writer.BytesCommitted > MaximumHeaderLength)
        {
            throw new StateFileException(
                $"Cannot save sessions: their {rules.Rules.Count} distinct rules take more than the {MaximumHeaderLength} bytes a session file's header may hold.");
        }
        EndLine(writer, content);

        using (RuleIndexJsonConverter.Use(rules))
        {
            for (int i = 0; i < count; i++)
            {
                JsonSerializer.Serialize(writer, sessions[i], StateFileJson.SessionOptions);
                EndLine(writer, content);
            }
        }

        // The checksum line covers everything before it, not itself.
        string digest = Convert.ToHexStringLower(hash.GetHashAndReset());
        writer.Reset(stream);
        writer.WriteStartObject();
        writer.WriteString("sha256", digest);
        writer.WriteEndObject();
        writer.Flush();
        stream.Write("\n"u8);
        stream.Flush();
    }

    /// <summary>
    /// Reads and checks the whole file before returning anything. A corrupt, truncated, foreign or
    /// newer-version file, or one with a bad entry, throws; nothing partial is returned.
    /// </summary>
    /// <exception cref="StateFileException">The file is refused; the message names it, says what is wrong and what to do.</exception>
    public static SavedSessions Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new StateFileException($"Cannot read the session file {path}: {error.Message}", error);
        }
        using (file)
        {
            try
            {
                return Load(file, path, file.CanSeek ? file.Length : 0);
            }
            catch (IOException error)
            {
                throw new StateFileException($"Cannot read the session file {path}: {error.Message}", error);
            }
        }
    }

    /// <inheritdoc cref="Load(string)"/>
    public static SavedSessions Load(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return Load(stream, StreamName);
    }

    private static SavedSessions Load(Stream stream, string name, long budget = long.MaxValue)
    {
        var reader = new LineReader(stream, name, budget);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var sessions = new List<SessionRecord>();
        Header? header = null;
        string? firstError = null;

        // A line is known to be content only once another follows it: the last line is the checksum.
        byte[] pending = new byte[1024];
        int pendingLength = -1;
        int lineNumber = 0;
        while (reader.TryReadLine(lineNumber == 0 ? MaximumHeaderLength : MaximumLineLength, out ReadOnlySpan<byte> line, out int terminatorLength))
        {
            if (pendingLength >= 0)
            {
                hash.AppendData(pending, 0, pendingLength);
                if (lineNumber > 1 && header is { IsOurs: true, Problem: null, Rules: not null } && firstError is null)
                {
                    firstError = ReadSession(pending.AsSpan(0, pendingLength - 1), lineNumber, header, sessions);
                }
            }
            lineNumber++;
            pendingLength = line.Length + terminatorLength;
            if (pending.Length < pendingLength)
            {
                pending = new byte[Math.Max(pendingLength, 2 * pending.Length)];
            }
            line.CopyTo(pending);
            if (terminatorLength > 0)
            {
                pending[line.Length] = (byte)'\n';
            }
            if (lineNumber == 1)
            {
                header = Header.Parse(line);
                if (header.IsOurs && header.Version > CurrentVersion)
                {
                    throw new StateFileException(
                        $"{name} is a {FormatName} file of version {header.Version}, newer than this NatGate understands (version {CurrentVersion}). Load it with the NatGate that wrote it, or a newer one.");
                }
            }
        }

        if (pendingLength < 0 || header is null)
        {
            throw new StateFileException($"{name} is empty, not a saved session file. Save sessions with natgate save, or give the right file.");
        }
        string? recorded = lineNumber >= 2 ? ReadChecksum(pending.AsMemory(0, pendingLength)) : null;
        if (recorded is not null && !string.Equals(recorded, Convert.ToHexStringLower(hash.GetHashAndReset()), StringComparison.Ordinal))
        {
            throw new StateFileException(
                $"{name} is corrupt: its SHA-256 checksum does not match its contents, so none of it was loaded. Restore from another copy of the file.");
        }
        if (!header.IsOurs)
        {
            throw new StateFileException(
                $"{name} is not a NatGate session file: its first line is not a {{\"format\":\"{FormatName}\",...}} header{(header.Format is null ? "" : $" (it says format \"{header.Format}\")")}. Give the file written by natgate save.");
        }
        if (recorded is null)
        {
            throw new StateFileException(
                $"{name} is truncated: it has no checksum line at the end (the save was interrupted or the file was cut short), so none of it was loaded. Restore from another copy of the file.");
        }
        if (header.Problem is not null)
        {
            throw new StateFileException($"{name} has a bad header on line 1: {header.Problem}. The file was not written by natgate save; restore from another copy.");
        }
        if (firstError is not null)
        {
            throw new StateFileException($"{name} has a bad entry on {firstError}. Nothing was loaded; correct or remove that line (and its checksum) or restore from another copy.");
        }
        int found = lineNumber - 2;
        if (found != header.Count)
        {
            throw new StateFileException(
                $"{name} is inconsistent: its header promises {header.Count} sessions but it holds {found}. Nothing was loaded; restore from another copy of the file.");
        }
        return new SavedSessions(header.SavedAt, sessions) { PortMappings = header.PortMappings, PortMappingEpochTicks = header.PortMappingEpochTicks };
    }

    /// <summary>Parses one session line; returns "line N: problem", or null when it was added.</summary>
    private static string? ReadSession(ReadOnlySpan<byte> line, int lineNumber, Header header, List<SessionRecord> sessions)
    {
        try
        {
            SessionRecord? session;
            using (RuleIndexJsonConverter.Use(header.Rules!))
            {
                session = JsonSerializer.Deserialize<SessionRecord>(line, StateFileJson.SessionOptions);
            }
            string? problem = session is null ? "the entry is null"
                : !Enum.IsDefined(session.Mapping) ? $"mapping {session.Mapping} is not a mapping behaviour"
                : header.Version < Ipv6Version && (session.Original.Source.IsIpv6 || session.Translated.Source.IsIpv6)
                    ? $"an IPv6 session in a version {header.Version} file (IPv6 sessions came with version {Ipv6Version})"
                : header.Version < Nat64Version && IsNat64(session)
                    ? $"a NAT64 session (an IPv6 flow and an IPv4 one) in a version {header.Version} file (NAT64 sessions came with version {Nat64Version})"
                : null;
            if (problem is not null)
            {
                return string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}: {problem}");
            }
            sessions.Add(session!);
            return null;
        }
        catch (JsonException error)
        {
            return string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}{Where(error)}: {error.Message}");
        }
    }

    /// <summary>A NAT64 session's record: its two flows are of two families.</summary>
    private static bool IsNat64(SessionRecord session) => session.Original.IsIpv6 != session.Translated.IsIpv6;

    /// <summary>" at $.path" for a serializer error, or nothing when the path adds nothing.</summary>
    private static string Where(JsonException error)
        => error is RuleIndexException || string.IsNullOrEmpty(error.Path) || error.Path == "$" ? "" : $" at {error.Path}";

    /// <summary>The engine trusts these enumerations to hold named values; flags enumerations may hold any bits.</summary>
    private static string? CheckEnumerations(NatRule rule)
        => !Enum.IsDefined(rule.Kind) ? $"rule kind {rule.Kind} is not a rule kind"
            : !Enum.IsDefined(rule.Policy.Mapping) ? $"rule mapping {rule.Policy.Mapping} is not a mapping behaviour"
            : !Enum.IsDefined(rule.Policy.TcpFiltering) ? $"rule TCP filtering {rule.Policy.TcpFiltering} is not a filtering behaviour"
            : !Enum.IsDefined(rule.Policy.UdpFiltering) ? $"rule UDP filtering {rule.Policy.UdpFiltering} is not a filtering behaviour"
            : null;

    /// <summary>The hex digest of a {"sha256":"..."} line, or null when the line is not one.</summary>
    private static string? ReadChecksum(ReadOnlyMemory<byte> line)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(line);
            JsonElement root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.GetPropertyCount() == 1
                && root.TryGetProperty("sha256", out JsonElement digest) && digest.ValueKind == JsonValueKind.String
                && digest.GetString() is { Length: 64 } text && !text.AsSpan().ContainsAnyExcept(LowerHexDigits))
            {
                return text;
            }
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Ends a top-level value with '\n' and readies the writer for the next.</summary>
    private static void EndLine(Utf8JsonWriter writer, HashingStream content)
    {
        writer.Flush();
        content.Write("\n"u8);
        writer.Reset();
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // The original failure is the one worth reporting.
        }
    }

    /// <summary>The first line, read leniently enough to tell a foreign file from ours.</summary>
    private sealed class Header
    {
        public string? Format { get; private init; }
        public bool IsOurs { get; private init; }
        public long Version { get; private init; }
        public DateTimeOffset SavedAt { get; private init; }
        public long Count { get; private init; }

        /// <summary>The rules the session lines name by position; null when the header has a problem.</summary>
        public RuleTable? Rules { get; private init; }

        /// <summary>Why an otherwise-ours header cannot be used, or null.</summary>
        public string? Problem { get; private init; }

        /// <summary>Version 4's port mappings; empty before.</summary>
        public IReadOnlyList<PortMapping> PortMappings { get; private init; } = [];

        public long PortMappingEpochTicks { get; private init; } = -1;

        public static Header Parse(ReadOnlySpan<byte> line)
        {
            try
            {
                var reader = new Utf8JsonReader(line);
                using JsonDocument document = JsonDocument.ParseValue(ref reader);
                JsonElement root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("format", out JsonElement format) || format.ValueKind != JsonValueKind.String)
                {
                    return new Header();
                }
                string formatName = format.GetString()!;
                if (formatName != FormatName)
                {
                    return new Header { Format = formatName };
                }
                long version = root.TryGetProperty("version", out JsonElement versionElement) && versionElement.ValueKind == JsonValueKind.Number
                    && versionElement.TryGetInt64(out long number) ? number : 0;
                bool hasSavedAt = root.TryGetProperty("savedAt", out JsonElement savedAtElement) && savedAtElement.ValueKind == JsonValueKind.String
                    && savedAtElement.TryGetDateTimeOffset(out _);
                long count = root.TryGetProperty("count", out JsonElement countElement) && countElement.ValueKind == JsonValueKind.Number
                    && countElement.TryGetInt64(out long countNumber) ? countNumber : -1;
                string? problem = version < 1 ? "\"version\" is missing or not a positive whole number"
                    : !hasSavedAt ? "\"savedAt\" is missing or not a date and time"
                    : count < 0 ? "\"count\" is missing or not a whole number"
                    : null;
                RuleTable? rules = null;
                List<PortMapping> portMappings = [];
                long epoch = -1;
                if (problem is null && version <= CurrentVersion)
                {
                    problem = ReadRules(root, out rules) ?? ReadPortMappings(root, version, portMappings, out epoch);
                }
                return new Header
                {
                    Format = formatName,
                    IsOurs = true,
                    Version = version,
                    SavedAt = hasSavedAt ? savedAtElement.GetDateTimeOffset() : default,
                    Count = count,
                    Rules = problem is null ? rules : null,
                    Problem = problem,
                    PortMappings = portMappings,
                    PortMappingEpochTicks = epoch,
                };
            }
            catch (JsonException)
            {
                return new Header();
            }
        }

        /// <summary>Reads version 4's "portMappings" and "portMappingEpoch" when present, strictly; returns the first problem, or null.</summary>
        private static string? ReadPortMappings(JsonElement root, long version, List<PortMapping> into, out long epoch)
        {
            epoch = -1;
            if (!root.TryGetProperty("portMappings", out JsonElement array))
            {
                return null;
            }
            if (version < PortMappingVersion)
            {
                return string.Create(CultureInfo.InvariantCulture, $"\"portMappings\" in a version {version} file (port mappings came with version {PortMappingVersion})");
            }
            if (array.ValueKind != JsonValueKind.Array)
            {
                return "\"portMappings\" is not an array";
            }
            if (!root.TryGetProperty("portMappingEpoch", out JsonElement epochElement) || epochElement.ValueKind != JsonValueKind.Number || !epochElement.TryGetInt64(out epoch))
            {
                return "\"portMappingEpoch\" is missing or not a whole number";
            }
            foreach (JsonElement element in array.EnumerateArray())
            {
                string at = string.Create(CultureInfo.InvariantCulture, $"port mapping {into.Count}");
                try
                {
                    PortMapping? mapping = element.Deserialize<PortMapping>(StateFileJson.Options);
                    string? problem = mapping is null ? "it is null"
                        : CheckEnumerations(mapping.Rule)
                            ?? (mapping.Rule is { Kind: NatRuleKind.Redirect, IsIpv6: false, RedirectTargets.Count: 1, Protocols: RuleProtocols.Tcp or RuleProtocols.Udp }
                                && mapping.Rule.Destination.Length == 32 && mapping.Rule.DestinationPorts.First == mapping.Rule.DestinationPorts.Last
                                ? null : "its rule is not a redirect of one IPv4 TCP or UDP port to one address");
                    if (problem is not null)
                    {
                        return $"{at}: {problem}";
                    }
                    into.Add(mapping!);
                }
                catch (JsonException error)
                {
                    return $"{at}{Where(error)}: {error.Message}";
                }
            }
            return null;
        }

        /// <summary>Reads "rules" strictly, as session lines are read; returns the first problem, or null.</summary>
        private static string? ReadRules(JsonElement root, out RuleTable? table)
        {
            table = null;
            if (!root.TryGetProperty("rules", out JsonElement array) || array.ValueKind != JsonValueKind.Array)
            {
                return "\"rules\" is missing or not an array";
            }
            var rules = new List<NatRule>(array.GetArrayLength());
            foreach (JsonElement element in array.EnumerateArray())
            {
                string at = string.Create(CultureInfo.InvariantCulture, $"rule {rules.Count}");
                try
                {
                    NatRule? rule = element.Deserialize<NatRule>(StateFileJson.Options);
                    string? problem = rule is null ? "it is null" : CheckEnumerations(rule);
                    if (problem is not null)
                    {
                        return $"{at}: {problem}";
                    }
                    rules.Add(rule!);
                }
                catch (JsonException error)
                {
                    return $"{at}{Where(error)}: {error.Message}";
                }
            }
            table = new RuleTable(rules);
            return null;
        }
    }

    /// <summary>Splits a stream into lines on '\n' without decoding it, so the checksum sees the exact bytes.</summary>
    private sealed class LineReader(Stream stream, string name, long budget = long.MaxValue)
    {
        // Never more than the file's size when it was opened: a device such as /dev/urandom, or
        // a file that keeps growing, ends here instead of being read forever.
        private long remaining = budget;

        private byte[] buffer = new byte[1 << 16];
        private int start;
        private int end;
        private bool finished;

        /// <summary>
        /// The next line without its '\n' (<paramref name="terminatorLength"/> 1) or, at the end, without one (0);
        /// a line longer than <paramref name="maximumLength"/> bytes means the file is not ours.
        /// </summary>
        public bool TryReadLine(int maximumLength, out ReadOnlySpan<byte> line, out int terminatorLength)
        {
            int searched = 0;
            while (true)
            {
                int newline = buffer.AsSpan(start + searched, end - start - searched).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    newline += searched;
                    CheckLength(newline, maximumLength);
                    line = buffer.AsSpan(start, newline);
                    terminatorLength = 1;
                    start += newline + 1;
                    return true;
                }
                searched = end - start;
                CheckLength(searched, maximumLength);
                if (finished)
                {
                    line = buffer.AsSpan(start, end - start);
                    terminatorLength = 0;
                    start = end;
                    return !line.IsEmpty;
                }
                if (start > 0)
                {
                    buffer.AsSpan(start, end - start).CopyTo(buffer);
                    end -= start;
                    start = 0;
                }
                if (end == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }
                int read = remaining <= 0 ? 0 : stream.Read(buffer, end, (int)Math.Min(buffer.Length - end, remaining));
                remaining -= read;
                finished = read == 0;
                end += read;
            }
        }

        private void CheckLength(int length, int maximumLength)
        {
            if (length > maximumLength)
            {
                throw new StateFileException($"{name} is not a NatGate session file: it has a line longer than {maximumLength} bytes. Give the file written by natgate save.");
            }
        }
    }

    /// <summary>Passes writes through to a stream and into a hash; flushing is left to the caller, once, at the end.</summary>
    private sealed class HashingStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        /// <summary>Utf8JsonWriter flushes its stream on every Flush: passed on, that would be a write to the disk per line.</summary>
        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
