namespace NatGate.Linux.FastPath;

/// <summary>
/// Where a walk over the flow map stands, for <see cref="FastPathProgram.ReadEntries"/>: the walk
/// goes in bounded chunks (bpf_map_get_next_key), so a listing never holds the map for long. A
/// hash map's order is its buckets'; when the last key read is deleted meanwhile, the kernel
/// starts again from the first key, so a walk may see an entry twice but never misses one that
/// stayed in the map throughout.
/// </summary>
public struct FastPathMapCursor
{
    internal FastPathFlowKey Last;
    internal bool Started;

    /// <summary>True once the walk has passed the last entry.</summary>
    public bool Finished { get; internal set; }
}
