using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using NatGate.Core.Control;
using NatGate.Core.Rules;

namespace NatGate.Core.State;

/// <summary>
/// Saves every session to a file and loads it back (IP Filter's ipfs -W and -R, DESIGN.md
/// "Control semantics"). The file is UTF-8 JSON Lines: a header
/// {"format":"natgate-sessions","version":1,"savedAt":"...","count":N}, N session lines, and
/// {"sha256":"..."} over every byte before that last line.
/// </summary>
public static class SessionStateFile
{
    public const string FormatName = "natgate-sessions";
    public const int CurrentVersion = 1;

    /// <summary>Longer lines mean the file is not ours; it also bounds what a foreign file can make us buffer.</summary>
    private const int MaximumLineLength = 1 << 20;

    private const string StreamName = "the session stream";

    private static readonly SearchValues<char> LowerHexDigits = SearchValues.Create("0123456789abcdef");

    /// <summary>
    /// Writes atomically: a temporary file beside the target, flushed to disk, then renamed over
    /// it, and the directory flushed where the platform allows. A failure leaves the target as it
    /// was and removes the temporary file.
    /// </summary>
    /// <exception cref="StateFileException">The file could not be written; the message says why.</exception>
    public static void Save(string path, IReadOnlyList<SessionRecord> sessions, DateTimeOffset savedAt)
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
                Save(file, sessions, savedAt);
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
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(sessions);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var line = new ArrayBufferWriter<byte>(1024);
        using var writer = new Utf8JsonWriter(line);
        int count = sessions.Count;

        writer.WriteStartObject();
        writer.WriteString("format", FormatName);
        writer.WriteNumber("version", CurrentVersion);
        writer.WriteString("savedAt", savedAt);
        writer.WriteNumber("count", count);
        writer.WriteEndObject();
        EndLine(stream, hash, line, writer);

        for (int i = 0; i < count; i++)
        {
            SessionRecord session = sessions[i] ?? throw new ArgumentException($"Session {i + 1} is null.", nameof(sessions));
            JsonSerializer.Serialize(writer, session, StateFileJson.Options);
            EndLine(stream, hash, line, writer);
        }

        writer.WriteStartObject();
        writer.WriteString("sha256", Convert.ToHexStringLower(hash.GetHashAndReset()));
        writer.WriteEndObject();
        EndLine(stream, hash: null, line, writer);
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
                return Load(file, path);
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

    private static SavedSessions Load(Stream stream, string name)
    {
        var reader = new LineReader(stream, name);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var sessions = new List<SessionRecord>();
        Header? header = null;
        string? firstError = null;

        // A line is known to be content only once another follows it: the last line is the checksum.
        byte[]? pending = null;
        int lineNumber = 0;
        while (reader.TryReadLine(out ReadOnlySpan<byte> line, out int terminatorLength))
        {
            if (pending is not null)
            {
                hash.AppendData(pending);
                if (lineNumber > 1 && header is { IsOurs: true } && firstError is null)
                {
                    firstError = ReadSession(pending.AsSpan(0, pending.Length - 1), lineNumber, sessions);
                }
            }
            lineNumber++;
            pending = new byte[line.Length + terminatorLength];
            line.CopyTo(pending);
            if (terminatorLength > 0)
            {
                pending[^1] = (byte)'\n';
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

        if (pending is null || header is null)
        {
            throw new StateFileException($"{name} is empty, not a saved session file. Save sessions with natgate save, or give the right file.");
        }
        string? recorded = lineNumber >= 2 ? ReadChecksum(pending) : null;
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
        return new SavedSessions(header.SavedAt, sessions);
    }

    /// <summary>Parses one session line; returns "line N: problem", or null when it was added.</summary>
    private static string? ReadSession(ReadOnlySpan<byte> line, int lineNumber, List<SessionRecord> sessions)
    {
        try
        {
            SessionRecord? session = JsonSerializer.Deserialize<SessionRecord>(line, StateFileJson.Options);
            string? problem = session is null ? "the entry is null" : CheckEnumerations(session);
            if (problem is not null)
            {
                return string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}: {problem}");
            }
            sessions.Add(session!);
            return null;
        }
        catch (JsonException error)
        {
            string where = string.IsNullOrEmpty(error.Path) || error.Path == "$" ? "" : $" at {error.Path}";
            return string.Create(CultureInfo.InvariantCulture, $"line {lineNumber}{where}: {error.Message}");
        }
    }

    /// <summary>The engine trusts these enumerations to hold named values; flags enumerations may hold any bits.</summary>
    private static string? CheckEnumerations(SessionRecord session)
    {
        NatRule rule = session.Rule;
        return !Enum.IsDefined(session.Mapping) ? $"mapping {session.Mapping} is not a mapping behaviour"
            : !Enum.IsDefined(rule.Kind) ? $"rule kind {rule.Kind} is not a rule kind"
            : !Enum.IsDefined(rule.Policy.Mapping) ? $"rule mapping {rule.Policy.Mapping} is not a mapping behaviour"
            : !Enum.IsDefined(rule.Policy.TcpFiltering) ? $"rule TCP filtering {rule.Policy.TcpFiltering} is not a filtering behaviour"
            : !Enum.IsDefined(rule.Policy.UdpFiltering) ? $"rule UDP filtering {rule.Policy.UdpFiltering} is not a filtering behaviour"
            : null;
    }

    /// <summary>The hex digest of a {"sha256":"..."} line, or null when the line is not one.</summary>
    private static string? ReadChecksum(byte[] line)
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

    private static void EndLine(Stream stream, IncrementalHash? hash, ArrayBufferWriter<byte> line, Utf8JsonWriter writer)
    {
        writer.Flush();
        line.Write("\n"u8);
        hash?.AppendData(line.WrittenSpan);
        stream.Write(line.WrittenSpan);
        line.ResetWrittenCount();
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

        /// <summary>Why an otherwise-ours header cannot be used, or null.</summary>
        public string? Problem { get; private init; }

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
                return new Header
                {
                    Format = formatName,
                    IsOurs = true,
                    Version = version,
                    SavedAt = hasSavedAt ? savedAtElement.GetDateTimeOffset() : default,
                    Count = count,
                    Problem = problem,
                };
            }
            catch (JsonException)
            {
                return new Header();
            }
        }
    }

    /// <summary>Splits a stream into lines on '\n' without decoding it, so the checksum sees the exact bytes.</summary>
    private sealed class LineReader(Stream stream, string name)
    {
        private byte[] buffer = new byte[1 << 16];
        private int start;
        private int end;
        private bool finished;

        /// <summary>The next line without its '\n' (<paramref name="terminatorLength"/> 1) or, at the end, without one (0).</summary>
        public bool TryReadLine(out ReadOnlySpan<byte> line, out int terminatorLength)
        {
            while (true)
            {
                int newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    line = buffer.AsSpan(start, newline);
                    terminatorLength = 1;
                    start += newline + 1;
                    return true;
                }
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
                    if (buffer.Length >= MaximumLineLength)
                    {
                        throw new StateFileException($"{name} is not a NatGate session file: it has a line longer than {MaximumLineLength} bytes. Give the file written by natgate save.");
                    }
                    Array.Resize(ref buffer, buffer.Length * 2);
                }
                int read = stream.Read(buffer, end, buffer.Length - end);
                finished = read == 0;
                end += read;
            }
        }
    }
}
