using NatGate.Core.Control;

namespace NatGate.Core.SessionLog;

/// <summary>
/// A bounded ring of session log records between the engine's thread, which writes, and one
/// reader thread (the daemon's log pump), which drains it. Writing never blocks and never
/// allocates: when the ring is full the record is counted as lost (<see cref="Lost"/>) and the
/// packet goes on. One writer at a time: the engine is called by one thread at a time, and with
/// several queues the engine lock orders the writers as it orders everything else.
/// </summary>
public sealed class SessionEventRing
{
    private readonly SessionLogRecord[] records;
    private readonly int mask;

    // Counts of records written and read since the start; the slot is the count masked. Each is
    // written by its own side only and read by the other (a single-producer, single-consumer ring).
    private long written;
    private long read;
    private long lost;
    private volatile bool recording;
    private volatile bool recordingUpdates;

    /// <param name="capacity">Records the ring holds; rounded up to a power of two.</param>
    public SessionEventRing(int capacity = 1 << 15)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, 1 << 24);
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity);
        records = new SessionLogRecord[size];
        mask = size - 1;
    }

    public int Capacity => records.Length;

    /// <summary>
    /// Whether the engine writes at all: on while there is a sink or a watcher. Off, an event costs
    /// the engine one test of this flag.
    /// </summary>
    public bool Recording
    {
        get => recording;
        set => recording = value;
    }

    /// <summary>Whether TCP state changes are written too (only watchers want them; the logs do not).</summary>
    public bool RecordingUpdates
    {
        get => recordingUpdates;
        set => recordingUpdates = value;
    }

    /// <summary>True when an event of <paramref name="kind"/> is to be written now.</summary>
    public bool Wants(SessionEventKind kind) => recording && (kind != SessionEventKind.Updated || recordingUpdates);

    /// <summary>Records written and not yet read.</summary>
    public int Count => (int)(Volatile.Read(ref written) - Volatile.Read(ref read));

    /// <summary>Room left before records are lost.</summary>
    public int Free => records.Length - Count;

    /// <summary>Records lost since the start because the ring was full (the reader fell behind).</summary>
    public long Lost => Interlocked.Read(ref lost);

    /// <summary>Records written since the start.</summary>
    public long Written => Volatile.Read(ref written);

    /// <summary>Writes a record; false (and counted as lost) when the ring is full. The writer's side.</summary>
    public bool TryWrite(in SessionLogRecord record)
    {
        long position = written;
        if (position - Volatile.Read(ref read) >= records.Length)
        {
            Interlocked.Increment(ref lost);
            return false;
        }
        records[(int)(position & mask)] = record;
        // Published after the record is in place: the reader sees the count only with the record.
        Volatile.Write(ref written, position + 1);
        return true;
    }

    /// <summary>Takes up to <paramref name="into"/>'s length of records, oldest first; returns how many. The reader's side.</summary>
    public int Read(Span<SessionLogRecord> into)
    {
        long position = read;
        int count = (int)Math.Min(Volatile.Read(ref written) - position, into.Length);
        for (int i = 0; i < count; i++)
        {
            int slot = (int)((position + i) & mask);
            into[i] = records[slot];
            // The slot lets go of its rule reference, so a removed rule is not kept alive by the ring.
            records[slot] = default;
        }
        Volatile.Write(ref read, position + count);
        return count;
    }
}
