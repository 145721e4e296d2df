using System.Net;

namespace NatGate.SessionLog;

/// <summary>
/// Where the session log goes (natgate run --session-log, --session-syslog, --session-ipfix, or
/// the [Daemon] table's SessionLog, SessionSyslog, SessionIpfix): any of a rotated JSON lines
/// file, syslog and an IPFIX collector; none by default.
/// </summary>
public sealed record SessionLogOptions
{
    public const int DefaultFileMegabytes = 100;
    public const int DefaultFilesKept = 10;

    /// <summary>The JSON lines file; null: none.</summary>
    public string? File { get; init; }

    /// <summary>The size at which the file is rotated.</summary>
    public long FileMaximumBytes { get; init; } = DefaultFileMegabytes * 1024L * 1024;

    /// <summary>Files kept in all (the one being written and FILE.1 to FILE.N-1).</summary>
    public int FilesKept { get; init; } = DefaultFilesKept;

    /// <summary>Syslog's target (unix:PATH or udp:ADDRESS[:PORT]); null: none.</summary>
    internal SyslogTarget? Syslog { get; init; }

    /// <summary>The IPFIX collector; null: none.</summary>
    public IPEndPoint? Ipfix { get; init; }

    /// <summary>True when any sink is configured.</summary>
    public bool Any => File is not null || Syslog is not null || Ipfix is not null;

    /// <summary>Reads --session-syslog's text; a bad one is a configuration error naming <paramref name="where"/>.</summary>
    public SessionLogOptions WithSyslog(string? text, string where)
    {
        if (text is null)
        {
            return this;
        }
        return SyslogTarget.TryParse(text, out string? problem) is { } target
            ? this with { Syslog = target }
            : throw new Configuration.ConfigurationException($"{where}{text}: {problem}.");
    }

    /// <summary>Reads --session-ipfix's ADDRESS[:PORT] (4739 by default).</summary>
    public SessionLogOptions WithIpfix(string? text, string where)
    {
        if (text is null)
        {
            return this;
        }
        return Endpoints.TryParse(text, IpfixExporter.DefaultPort, out IPEndPoint? collector)
            ? this with { Ipfix = collector }
            : throw new Configuration.ConfigurationException($"{where}{text}: give the collector as ADDRESS[:PORT] (192.0.2.9:4739, [2001:db8::9]:4739).");
    }

    /// <summary>The sinks, opened (the file created): at start, before anything else is touched, so a bad path stops the start.</summary>
    internal List<ISessionLogSink> OpenSinks()
    {
        var sinks = new List<ISessionLogSink>();
        try
        {
            if (File is not null)
            {
                try
                {
                    sinks.Add(new JsonLinesFileSink(File, FileMaximumBytes, FilesKept));
                }
                catch (Exception error) when (error is IOException or UnauthorizedAccessException)
                {
                    throw new Configuration.ConfigurationException($"--session-log {File}: cannot write it: {error.Message}");
                }
            }
            if (Syslog is not null)
            {
                sinks.Add(new SyslogSink(Syslog));
            }
            if (Ipfix is not null)
            {
                sinks.Add(new IpfixExporter(Ipfix));
            }
        }
        catch
        {
            foreach (ISessionLogSink sink in sinks)
            {
                sink.Dispose();
            }
            throw;
        }
        return sinks;
    }
}
