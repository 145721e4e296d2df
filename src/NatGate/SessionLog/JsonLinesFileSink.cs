using System.Buffers;
using System.Globalization;
using System.Text.Json;
using NatGate.Core.SessionLog;

namespace NatGate.SessionLog;

/// <summary>
/// The session log as JSON lines in a file (one <see cref="Control.SessionEventView"/> a line),
/// rotated by size: when the next line would pass <see cref="MaximumBytes"/>, FILE becomes FILE.1,
/// FILE.1 becomes FILE.2 and so on, and the oldest beyond <see cref="FilesKept"/> goes, as
/// logrotate's "rotate N" does. Created 0640: the log says who talked to whom.
/// </summary>
internal sealed class JsonLinesFileSink : ISessionLogSink
{
    private readonly ArrayBufferWriter<byte> line = new(1024);
    private readonly Utf8JsonWriter writer;
    private FileStream stream;

    public JsonLinesFileSink(string path, long maximumBytes, int filesKept)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(maximumBytes, 256);
        ArgumentOutOfRangeException.ThrowIfLessThan(filesKept, 1);
        Path = System.IO.Path.GetFullPath(path);
        MaximumBytes = maximumBytes;
        FilesKept = filesKept;
        writer = new Utf8JsonWriter(line);
        stream = Open();
    }

    public string Path { get; }

    public long MaximumBytes { get; }

    /// <summary>Files kept in all, the one being written included.</summary>
    public int FilesKept { get; }

    public string Name => $"file {Path}";

    public void Write(in SessionLogRecord record)
    {
        line.ResetWrittenCount();
        writer.Reset(line);
        SessionEventJson.Write(writer, record);
        writer.Flush();
        line.GetSpan(1)[0] = (byte)'\n';
        line.Advance(1);
        if (stream.Length > 0 && stream.Length + line.WrittenCount > MaximumBytes)
        {
            Rotate();
        }
        stream.Write(line.WrittenSpan);
    }

    public void Flush(long nowTicks) => stream.Flush();

    public void Dispose()
    {
        stream.Dispose();
        writer.Dispose();
    }

    private FileStream Open()
    {
        string? directory = System.IO.Path.GetDirectoryName(Path);
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        var options = new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            Share = FileShare.Read,
            BufferSize = 1 << 16,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        }
        return new FileStream(Path, options);
    }

    private void Rotate()
    {
        stream.Dispose();
        string Numbered(int number) => string.Create(CultureInfo.InvariantCulture, $"{Path}.{number}");
        File.Delete(Numbered(FilesKept - 1));
        for (int number = FilesKept - 2; number >= 1; number--)
        {
            if (File.Exists(Numbered(number)))
            {
                File.Move(Numbered(number), Numbered(number + 1), overwrite: true);
            }
        }
        if (FilesKept > 1)
        {
            File.Move(Path, Numbered(1), overwrite: true);
        }
        else
        {
            File.Delete(Path);
        }
        stream = Open();
    }
}
