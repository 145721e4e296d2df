using NatGate.Core.SessionLog;

namespace NatGate.SessionLog;

/// <summary>
/// Where the session log goes: a JSON lines file, syslog, an IPFIX collector. Called on the log
/// pump's thread only, never on the packet path. A sink that cannot deliver throws
/// (<see cref="IOException"/>, <see cref="System.Net.Sockets.SocketException"/>): the pump counts
/// the record as lost and goes on.
/// </summary>
internal interface ISessionLogSink : IDisposable
{
    /// <summary>What the log and the metrics call it: "file /var/log/natgate/sessions.jsonl", "syslog udp 192.0.2.1:514".</summary>
    string Name { get; }

    /// <summary>Takes one record (the pump gives sinks sessions and port blocks, never TCP state changes).</summary>
    void Write(in SessionLogRecord record);

    /// <summary>Sends what is buffered; called when the ring is empty and at stop, with the time.</summary>
    void Flush(long nowTicks);
}
