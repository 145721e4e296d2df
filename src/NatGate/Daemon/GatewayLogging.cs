using System.Text.Encodings.Web;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using NatGate.Configuration;

namespace NatGate.Daemon;

/// <summary>How the daemon's log lines look (--log-format).</summary>
public enum LogFormat
{
    /// <summary>Systemd under journald (JOURNAL_STREAM is set), Simple otherwise.</summary>
    Auto,

    /// <summary>One line each, led by its syslog priority ("&lt;6&gt;"), which journald files under the right level; journald adds the time.</summary>
    Systemd,

    /// <summary>One line each with a UTC timestamp, for a terminal or a plain log file.</summary>
    Simple,

    /// <summary>One JSON object a line, for log shippers.</summary>
    Json,
}

/// <summary>
/// The daemon's logger (issue 11, "Logs that an operator can use"). The least level comes, from
/// weakest to strongest, from the [Daemon] table's LogLevel, the usual Logging__LogLevel__*
/// variables, and --log-level. ASP.NET Core's own categories stay at Warning unless a variable
/// says otherwise: at Information they would write four lines per control request.
/// </summary>
internal static class GatewayLogging
{
    public static ILoggerFactory Create(LogLevel? fromFile, LogLevel? fromFlag, LogFormat format)
    {
        IConfiguration configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Logging:LogLevel:Default"] = (fromFile ?? LogLevel.Information).ToString(),
                ["Logging:LogLevel:Microsoft"] = nameof(LogLevel.Warning),
            })
            .AddEnvironmentVariables()
            .AddInMemoryCollection(fromFlag is { } level ? new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = level.ToString() } : [])
            .Build();
        if (format == LogFormat.Auto)
        {
            // systemd sets JOURNAL_STREAM when standard output or error is connected to the journal.
            format = string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM")) ? LogFormat.Simple : LogFormat.Systemd;
        }
        return LoggerFactory.Create(builder =>
        {
            builder.AddConfiguration(configuration.GetSection("Logging"));
            switch (format)
            {
                case LogFormat.Systemd:
                    builder.AddSystemdConsole(systemd => systemd.IncludeScopes = false);
                    break;
                case LogFormat.Json:
                    builder.AddJsonConsole(json =>
                    {
                        json.IncludeScopes = false;
                        json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                        json.UseUtcTimestamp = true;
                        // Addresses, names and quotes as they are, not as \u0027 escapes.
                        json.JsonWriterOptions = new System.Text.Json.JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
                    });
                    break;
                default:
                    builder.AddSimpleConsole(simple =>
                    {
                        simple.SingleLine = true;
                        simple.IncludeScopes = false;
                        simple.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                        simple.UseUtcTimestamp = true;
                        simple.ColorBehavior = LoggerColorBehavior.Default;
                    });
                    break;
            }
        });
    }

    public static LogLevel? ParseLevel(string? text)
        => text is null ? null
            : Enum.TryParse(text, ignoreCase: true, out LogLevel level) && Enum.IsDefined(level) && !char.IsAsciiDigit(text[0]) ? level
            : throw new ConfigurationException($"--log-level {text}: use Trace, Debug, Information, Warning, Error, Critical or None.");

    public static LogFormat ParseFormat(string? text)
        => text is null ? LogFormat.Auto
            : Enum.TryParse(text, ignoreCase: true, out LogFormat format) && Enum.IsDefined(format) && !char.IsAsciiDigit(text[0]) ? format
            : throw new ConfigurationException($"--log-format {text}: use auto, systemd, simple or json.");
}
