using Microsoft.Extensions.Logging;

namespace NatGate.Daemon;

/// <summary>The daemon's log messages, generated so that a disabled level costs nothing.</summary>
internal static partial class GatewayLog
{
    [LoggerMessage(Message = "session {Kind} {Protocol} {InsideAddress}:{InsidePort} as {ExternalAddress}:{ExternalPort} with {RemoteAddress}:{RemotePort} {Reason}")]
    public static partial void Session(ILogger logger, LogLevel level, Core.Control.SessionEventKind kind, string protocol, string insideAddress, ushort insidePort,
        string externalAddress, ushort externalPort, string remoteAddress, ushort remotePort, Core.Control.SessionEndReason reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "restored {Restored} sessions from {File}; {Failed} refused")]
    public static partial void Restored(ILogger logger, int restored, string file, int failed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "state entry {Entry}: {Errno} {Detail}")]
    public static partial void RestoreRefused(ILogger logger, int entry, Core.Control.NatErrno errno, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "loaded {Rules} rules")]
    public static partial void RulesLoaded(ILogger logger, int rules);

    [LoggerMessage(Level = LogLevel.Warning, Message = "--no-plumbing: NatGate installs no routing; do this yourself:\n{Plan}")]
    public static partial void NoPlumbing(ILogger logger, string plan);

    [LoggerMessage(Level = LogLevel.Information, Message = "routing installed:\n{Plan}")]
    public static partial void PlumbingInstalled(ILogger logger, string plan);

    [LoggerMessage(Level = LogLevel.Information, Message = "routing: {Note}")]
    public static partial void PlumbingNote(ILogger logger, string note);

    [LoggerMessage(Level = LogLevel.Error, Message = "removing the routing failed: {Detail}")]
    public static partial void PlumbingRemovalFailed(ILogger logger, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "fast path on: established flows are rewritten in the kernel (tc ingress on {Interfaces}; maps in {PinDirectory})")]
    public static partial void FastPathOn(ILogger logger, string interfaces, string pinDirectory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fast path off: {Reason}; every packet goes through the TUN")]
    public static partial void FastPathUnavailable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "fast path: took over the kernel's map of an earlier run: {Adopted} sessions it carried came into the table, {Refused} refused, {Stale} stale entries removed")]
    public static partial void FastPathTookOver(ILogger logger, int adopted, int refused, int stale);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fast path: removing the stale entries of an earlier run failed: {Detail}")]
    public static partial void FastPathStaleLeft(ILogger logger, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fast path: the kernel's session {Key} was not taken over: {Problem}")]
    public static partial void FastPathAdoptRefused(ILogger logger, string key, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "handed over: the kernel keeps carrying the established flows and the routing stays, failing closed; start natgate again to take them over")]
    public static partial void HandedOver(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "fast path: no interface {Name} here; not attached to it")]
    public static partial void FastPathNoInterface(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Error, Message = "fast path: detaching from {Name} failed: {Detail}")]
    public static partial void FastPathRemovalFailed(ILogger logger, string name, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "timer run failed")]
    public static partial void TimerFailed(ILogger logger, Exception error);

    [LoggerMessage(Level = LogLevel.Error, Message = "a packet made the engine fail ({Faults} so far); it was dropped")]
    public static partial void PacketFault(ILogger logger, long faults, Exception error);

    [LoggerMessage(Level = LogLevel.Information, Message = "saved {Sessions} sessions to {File}")]
    public static partial void Saved(ILogger logger, int sessions, string file);

    [LoggerMessage(Level = LogLevel.Debug, Message = "checkpoint: saved {Sessions} sessions to {File}")]
    public static partial void Checkpointed(ILogger logger, int sessions, string file);

    [LoggerMessage(Level = LogLevel.Error, Message = "could not save sessions to {File}: {Detail}")]
    public static partial void SaveFailed(ILogger logger, string file, string detail);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Detail}")]
    public static partial void StartFailed(ILogger logger, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "natgate running on {Tun}; control in {Control}")]
    public static partial void Running(ILogger logger, string tun, string control);

    [LoggerMessage(Level = LogLevel.Information, Message = "stopping")]
    public static partial void Stopping(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "watchdog: a packet worker or the timers have not gone round for {Seconds} s; keep-alives withheld, so systemd restarts the service")]
    public static partial void WatchdogWithheld(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Interface}'s address {Old} is gone (now: {New}): {Sessions} sessions on it ended; the rules and the routing follow")]
    public static partial void AddressGone(ILogger logger, string @interface, string old, string @new, int sessions);

    [LoggerMessage(Level = LogLevel.Debug, Message = "the host's links, addresses or routes changed: reading them again")]
    public static partial void FollowingHost(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "following a change of the host's addresses or routes failed: {Detail}")]
    public static partial void FollowFailed(ILogger logger, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "NatGate {Version} starting")]
    public static partial void Starting(ILogger logger, string version);
}
