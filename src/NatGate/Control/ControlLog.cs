using Microsoft.Extensions.Logging;

namespace NatGate.Control;

/// <summary>The control server's log lines: reads at Debug, each change once at Information (the audit trail).</summary>
internal static partial class ControlLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "change by uid {UserId} (pid {ProcessId}): {Method} {Path}: {Result}")]
    public static partial void Change(ILogger logger, long userId, int processId, string method, string path, string result);

    [LoggerMessage(Level = LogLevel.Debug, Message = "read by uid {UserId} (pid {ProcessId}): {Method} {Path}: {Result}")]
    public static partial void Read(ILogger logger, long userId, int processId, string method, string path, string result);
}
