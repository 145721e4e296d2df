using Microsoft.Extensions.Logging;

namespace NatGate.SessionLog;

/// <summary>The daemon's log lines about the session log itself.</summary>
internal static partial class SessionLogMessages
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "session log: {Sink} could not take a record ({Failures} so far): {Detail}")]
    public static partial void SinkFailed(ILogger logger, string sink, long failures, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "session log: {Sinks}")]
    public static partial void Logging(ILogger logger, string sinks);

    [LoggerMessage(Level = LogLevel.Information, Message = "session log: {Recorded} records, {Lost} lost to a full ring, {Failures} a sink could not take")]
    public static partial void Stopped(ILogger logger, long recorded, long lost, long failures);
}
