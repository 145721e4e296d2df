using System.Runtime.InteropServices;
using System.Text;
using NatGate.Linux.Interop;

namespace NatGate.Linux.FastPath;

/// <summary>
/// The kernel fast path (DESIGN.md, "Two paths"; issue 13): natgate_fastpath.bpf.o, loaded with
/// libbpf, its maps pinned in bpffs, its tc program attached at the ingress of the inside-facing
/// and outside-facing interfaces. The engine writes two entries per session it offloads (one per
/// direction, keyed by each direction's arriving tuple); the program rewrites matching packets.
/// <para>
/// Disposing closes this process's handles only: attached filters keep their program and the
/// pinned maps keep their entries, so traffic keeps flowing while NatGate restarts, and the next
/// <see cref="Load(string, int)"/> adopts the maps (<see cref="AdoptedMaps"/>) and replaces the filters.
/// <see cref="Detach"/> and <see cref="Unpin"/> tear everything down.
/// </para>
/// Map operations are system calls, safe from any thread, and so are Attach and Detach (each in
/// its calling thread's network namespace); none after Dispose but Detach.
/// </summary>
public sealed unsafe class FastPathProgram : IDisposable
{
    /// <summary>The compiled program, built beside NatGate.Linux's assembly (NatGate.Linux.csproj).</summary>
    public const string ObjectFileName = "natgate_fastpath.bpf.o";

    /// <summary>Where bpffs is mounted (and mounted by <see cref="Load(string, int)"/> when it is not).</summary>
    public const string BpfMountPoint = BpfFileSystem.MountPoint;

    /// <summary>The tc program's name in the object (SEC("tc"), natgate_ingress).</summary>
    public const string ProgramName = "natgate_ingress";

    /// <summary>natgate_fastpath.h's NATGATE_FLOWS_MAP and NATGATE_STATS_MAP: the pinned files' names.</summary>
    public const string FlowsMapName = "natgate_flows";

    public const string StatisticsMapName = "natgate_stats";

    /// <summary>natgate_fastpath.h's NATGATE_PREFIXES_MAP: the engine's NPTv6 mappings, an LPM trie.</summary>
    public const string PrefixesMapName = "natgate_prefixes";

    /// <summary>NatGate's filter at tc ingress: a fixed handle and priority, so a new process replaces it in place.</summary>
    public const uint FilterHandle = 0x4E47; // "NG"

    public const uint FilterPriority = 1;

    private readonly int programFileDescriptor;
    private readonly int flowsFileDescriptor;
    private readonly int statisticsFileDescriptor;
    private readonly int prefixesFileDescriptor;
    private readonly ulong[] perProcessorCounters;
    private readonly HashSet<int> createdHooks = [];
    private nint bpfObject;

    private FastPathProgram(nint bpfObject, string pinDirectory, int maximumEntries, bool adoptedMaps, bool mountedFileSystem)
    {
        this.bpfObject = bpfObject;
        PinDirectory = pinDirectory;
        MaximumEntries = maximumEntries;
        AdoptedMaps = adoptedMaps;
        MountedFileSystem = mountedFileSystem;
        programFileDescriptor = Libbpf.ProgramFileDescriptor(Libbpf.ObjectFindProgramByName(bpfObject, ProgramName));
        flowsFileDescriptor = Libbpf.MapFileDescriptor(Libbpf.ObjectFindMapByName(bpfObject, FlowsMapName));
        statisticsFileDescriptor = Libbpf.MapFileDescriptor(Libbpf.ObjectFindMapByName(bpfObject, StatisticsMapName));
        prefixesFileDescriptor = Libbpf.MapFileDescriptor(Libbpf.ObjectFindMapByName(bpfObject, PrefixesMapName));
        ProgramId = ObjectId(programFileDescriptor);
        perProcessorCounters = new ulong[Math.Max(1, Libbpf.PossibleProcessorCount())];
    }

    /// <summary>
    /// Receives libbpf's own messages (its warnings, the verifier's log), for a debug log. Unset,
    /// they are dropped, except that a <see cref="FastPathException"/> quotes the last of them.
    /// </summary>
    public static Action<string>? LibbpfMessages
    {
        get => FastPath.LibbpfMessages.Sink;
        set => FastPath.LibbpfMessages.Sink = value;
    }

    /// <summary>Where <see cref="Load(string, int)"/> looks for the object by default: beside the application.</summary>
    public static string DefaultObjectPath => Path.Combine(AppContext.BaseDirectory, ObjectFileName);

    /// <summary>The bpffs directory holding the pinned maps.</summary>
    public string PinDirectory { get; }

    /// <summary>The flow map's size in entries (two per session); an adopted map keeps the size it was made with.</summary>
    public int MaximumEntries { get; }

    /// <summary>True when the maps were already pinned (an earlier process's) and are reused with their entries.</summary>
    public bool AdoptedMaps { get; }

    /// <summary>True when bpffs was not mounted at /sys/fs/bpf and this load mounted it (worth a line in the log).</summary>
    public bool MountedFileSystem { get; }

    /// <summary>The kernel's id of the loaded program, as <see cref="AttachedProgramId"/> reports it.</summary>
    public uint ProgramId { get; }

    /// <summary>
    /// Opens the object at <see cref="DefaultObjectPath"/>, reuses the maps pinned under
    /// <paramref name="pinDirectory"/> (for example /sys/fs/bpf/natgate/&lt;instance&gt;) or pins new
    /// ones there, and loads the program. Mounts bpffs at /sys/fs/bpf when it is missing.
    /// </summary>
    /// <param name="pinDirectory">A directory on bpffs, made when missing.</param>
    /// <param name="maximumEntries">The flow map's size for a new map: two entries per session.</param>
    public static FastPathProgram Load(string pinDirectory, int maximumEntries) => Load(pinDirectory, maximumEntries, DefaultObjectPath);

    /// <summary><see cref="Load(string, int)"/> with the object at <paramref name="objectPath"/>.</summary>
    public static FastPathProgram Load(string pinDirectory, int maximumEntries, string objectPath) => Load(pinDirectory, maximumEntries, objectPath, []);

    /// <summary>
    /// <see cref="Load(string, int)"/>, and when nothing is pinned, the maps of NatGate's program
    /// still attached at one of <paramref name="adoptFrom"/> (interface indexes) are adopted: a
    /// process that died, or handed over, in a mount namespace of its own (`ip netns exec` makes
    /// one, with a bpffs that went with it) left its program rewriting, and its maps alive.
    /// </summary>
    public static FastPathProgram Load(string pinDirectory, int maximumEntries, string objectPath, IReadOnlyList<int> adoptFrom)
    {
        ArgumentNullException.ThrowIfNull(adoptFrom);
        ArgumentException.ThrowIfNullOrEmpty(pinDirectory);
        ArgumentException.ThrowIfNullOrEmpty(objectPath);
        ArgumentOutOfRangeException.ThrowIfLessThan(maximumEntries, 2);
        if (!File.Exists(objectPath))
        {
            throw new FastPathException($"the fast path program was not built: {objectPath} is missing (install clang and libbpf-dev, then build NatGate again).");
        }
        FastPath.LibbpfMessages.Install();
        FastPath.LibbpfMessages.Clear();
        bool mounted = BpfFileSystem.EnsureMounted();
        // The directory and its parents may not exist yet (they are made below): the nearest one
        // that does must be on bpffs.
        string? existing = Path.GetFullPath(pinDirectory);
        while (existing is not null && !Directory.Exists(existing))
        {
            existing = Path.GetDirectoryName(existing);
        }
        if (existing is null || !BpfFileSystem.IsMounted(existing))
        {
            throw new FastPathException($"pinning the fast path's maps failed: {pinDirectory} is not on bpffs (use a directory under {BpfFileSystem.MountPoint}).");
        }
        Directory.CreateDirectory(pinDirectory);

        string pinnedFlows = Path.Combine(pinDirectory, FlowsMapName);
        // An earlier version's counters map may be shorter (counters are added at the end of enum
        // natgate_stat): libbpf would refuse to reuse it, so it is unpinned and made anew, and the
        // counters start again from zero. The old program keeps its own until it is replaced.
        string pinnedStatistics = Path.Combine(pinDirectory, StatisticsMapName);
        if (File.Exists(pinnedStatistics) && PinnedMapShape(pinnedStatistics).MaximumEntries != FastPathStatistics.Count)
        {
            File.Delete(pinnedStatistics);
        }
        bool adopted = File.Exists(pinnedFlows);
        // libbpf reuses a pinned map only when it matches the definition, max_entries included
        // (map_is_reuse_compat): an adopted map keeps its size, whatever this process asks for.
        int entries = adopted ? PinnedMaximumEntries(pinnedFlows) : maximumEntries;
        (int Flows, int? Statistics, int Entries)? attached = adopted ? null : AttachedMaps(adoptFrom);
        if (attached is { } found)
        {
            adopted = true;
            entries = found.Entries;
        }

        byte[] pinRoot = Encoding.UTF8.GetBytes(pinDirectory + "\0");
        nint bpfObject;
        fixed (byte* pinRootPath = pinRoot)
        {
            var options = new Libbpf.ObjectOpenOptions { Size = (nuint)sizeof(Libbpf.ObjectOpenOptions), PinRootPath = pinRootPath };
            bpfObject = Libbpf.ObjectOpenFile(objectPath, &options);
        }
        if (bpfObject == 0)
        {
            throw new FastPathException($"opening {objectPath}", Marshal.GetLastPInvokeError(), quoteLibbpf: true);
        }
        try
        {
            nint flows = Libbpf.ObjectFindMapByName(bpfObject, FlowsMapName);
            if (flows == 0 || Libbpf.ObjectFindMapByName(bpfObject, StatisticsMapName) == 0 || Libbpf.ObjectFindMapByName(bpfObject, PrefixesMapName) == 0
                || Libbpf.ObjectFindProgramByName(bpfObject, ProgramName) == 0)
            {
                throw new FastPathException($"{objectPath} is not NatGate's fast path program: it lacks {FlowsMapName}, {StatisticsMapName}, {PrefixesMapName} or {ProgramName}.");
            }
            int result = Libbpf.MapSetMaximumEntries(flows, (uint)entries);
            if (result != 0)
            {
                throw new FastPathException($"sizing {FlowsMapName} to {entries} entries", Libbpf.ErrorOf(result), quoteLibbpf: true);
            }
            if (attached is { } maps)
            {
                // libbpf dups the descriptors it is given; ours are closed below either way.
                result = Libbpf.MapReuseFileDescriptor(flows, maps.Flows);
                if (result == 0 && maps.Statistics is int statistics)
                {
                    result = Libbpf.MapReuseFileDescriptor(Libbpf.ObjectFindMapByName(bpfObject, StatisticsMapName), statistics);
                }
                if (result != 0)
                {
                    throw new FastPathException("adopting the maps of the attached program", Libbpf.ErrorOf(result), quoteLibbpf: true);
                }
            }
            result = Libbpf.ObjectLoad(bpfObject);
            if (result != 0)
            {
                throw new FastPathException("loading the fast path program", Libbpf.ErrorOf(result), quoteLibbpf: true);
            }
            var program = new FastPathProgram(bpfObject, pinDirectory, entries, adopted, mounted);
            bpfObject = 0;
            return program;
        }
        finally
        {
            if (bpfObject != 0)
            {
                Libbpf.ObjectClose(bpfObject);
            }
            if (attached is { } maps)
            {
                _ = Libc.Close(maps.Flows);
                if (maps.Statistics is int statistics)
                {
                    _ = Libc.Close(statistics);
                }
            }
        }
    }

    /// <summary>
    /// The maps of NatGate's program attached at the first of <paramref name="interfaces"/> that
    /// has it (tc's filter of our handle and priority names the program by id; the program names
    /// its maps by id): descriptors of both maps and the flow map's size, or null. An earlier
    /// version's counters map of another size is left (null): the new program makes its own.
    /// Its prefix map is not taken either: the engine writes its mappings again when it starts.
    /// </summary>
    private static (int Flows, int? Statistics, int Entries)? AttachedMaps(IReadOnlyList<int> interfaces)
    {
        const int Room = 8;
        uint* mapIds = stackalloc uint[Room];
        foreach (int interfaceIndex in interfaces)
        {
            if (interfaceIndex <= 0 || AttachedProgramId(interfaceIndex) is not uint programId)
            {
                continue;
            }
            int program = Libbpf.ProgramGetFileDescriptorById(programId);
            if (program < 0)
            {
                continue;
            }
            try
            {
                var information = new Libbpf.ProgramInformation { MapIdCount = Room, MapIds = (ulong)mapIds };
                uint length = (uint)sizeof(Libbpf.ProgramInformation);
                if (Libbpf.ObjectGetInformation(program, &information, &length) != 0)
                {
                    continue;
                }
                int flows = -1, statistics = -1, entries = 0;
                for (int i = 0; i < Math.Min(Room, (int)information.MapIdCount); i++)
                {
                    int map = Libbpf.MapGetFileDescriptorById(mapIds[i]);
                    if (map < 0)
                    {
                        continue;
                    }
                    Libbpf.MapInformation mapInformation = default;
                    uint mapLength = (uint)sizeof(Libbpf.MapInformation);
                    string name = Libbpf.ObjectGetInformation(map, &mapInformation, &mapLength) == 0
                        ? Marshal.PtrToStringUTF8((nint)mapInformation.Name) ?? ""
                        : "";
                    // The kernel keeps the first 15 bytes of a map's name (BPF_OBJ_NAME_LEN).
                    if (flows < 0 && name == FlowsMapName && mapInformation.KeySize == FastPathFlowKey.Size && mapInformation.ValueSize == FastPathFlowValue.Size)
                    {
                        flows = map;
                        entries = (int)mapInformation.MaximumEntries;
                    }
                    else if (statistics < 0 && name == StatisticsMapName && mapInformation.MaximumEntries == FastPathStatistics.Count)
                    {
                        statistics = map;
                    }
                    else
                    {
                        _ = Libc.Close(map);
                    }
                }
                if (flows >= 0)
                {
                    return (flows, statistics >= 0 ? statistics : null, entries);
                }
                if (statistics >= 0)
                {
                    _ = Libc.Close(statistics);
                }
            }
            finally
            {
                _ = Libc.Close(program);
            }
        }
        return null;
    }

    /// <summary>
    /// Attaches the program at tc ingress of the interface (in the calling thread's network
    /// namespace), making its clsact qdisc when it has none. It replaces NatGate's earlier filter
    /// (the same handle and priority) in one step, so no packet goes by unfiltered.
    /// </summary>
    public void Attach(int interfaceIndex)
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        FastPath.LibbpfMessages.Clear();
        Libbpf.TcHook hook = Hook(interfaceIndex, Libbpf.TcIngress);
        int result = Libbpf.TcHookCreate(&hook);
        if (result == 0)
        {
            lock (createdHooks)
            {
                createdHooks.Add(interfaceIndex);
            }
        }
        else if (Libbpf.ErrorOf(result) != Errno.Exists)
        {
            throw new FastPathException($"creating the clsact qdisc on interface {interfaceIndex}", Libbpf.ErrorOf(result), quoteLibbpf: true);
        }
        var options = new Libbpf.TcOptions
        {
            Size = (nuint)sizeof(Libbpf.TcOptions),
            ProgramFileDescriptor = programFileDescriptor,
            Flags = Libbpf.TcReplace,
            Handle = FilterHandle,
            Priority = FilterPriority,
        };
        FastPath.LibbpfMessages.Clear(); // the refusal of an existing qdisc is no part of an attach failure
        result = Libbpf.TcAttach(&hook, &options);
        if (result != 0)
        {
            throw new FastPathException($"attaching the fast path at tc ingress of interface {interfaceIndex}", Libbpf.ErrorOf(result), quoteLibbpf: true);
        }
    }

    /// <summary>
    /// Removes NatGate's filter from tc ingress of the interface (nothing when there is none), and
    /// the clsact qdisc when this object made it: one an earlier process made stays, empty.
    /// </summary>
    public void Detach(int interfaceIndex)
    {
        Libbpf.TcHook hook = Hook(interfaceIndex, Libbpf.TcIngress);
        var options = new Libbpf.TcOptions { Size = (nuint)sizeof(Libbpf.TcOptions), Handle = FilterHandle, Priority = FilterPriority };
        FastPath.LibbpfMessages.Install();
        FastPath.LibbpfMessages.Clear();
        int result = Libbpf.TcDetach(&hook, &options);
        if (result != 0 && Libbpf.ErrorOf(result) != Errno.NoEntry)
        {
            throw new FastPathException($"detaching the fast path from tc ingress of interface {interfaceIndex}", Libbpf.ErrorOf(result), quoteLibbpf: true);
        }
        bool created;
        lock (createdHooks)
        {
            created = createdHooks.Remove(interfaceIndex);
        }
        if (created)
        {
            // Ingress and egress together name the clsact qdisc itself (libbpf's bpf_tc_hook_destroy).
            hook.AttachPoint = Libbpf.TcIngress | Libbpf.TcEgress;
            result = Libbpf.TcHookDestroy(&hook);
            if (result != 0 && Libbpf.ErrorOf(result) != Errno.NoEntry)
            {
                throw new FastPathException($"removing the clsact qdisc of interface {interfaceIndex}", Libbpf.ErrorOf(result), quoteLibbpf: true);
            }
        }
    }

    /// <summary>The id of the program in NatGate's filter at tc ingress of the interface; null when there is no such filter.</summary>
    public static uint? AttachedProgramId(int interfaceIndex)
    {
        Libbpf.TcHook hook = Hook(interfaceIndex, Libbpf.TcIngress);
        var options = new Libbpf.TcOptions { Size = (nuint)sizeof(Libbpf.TcOptions), Handle = FilterHandle, Priority = FilterPriority };
        FastPath.LibbpfMessages.Install();
        FastPath.LibbpfMessages.Clear();
        int result = Libbpf.TcQuery(&hook, &options);
        if (result == 0)
        {
            return options.ProgramId;
        }
        int errno = Libbpf.ErrorOf(result);
        if (errno is Errno.NoEntry or Errno.InvalidArgument)
        {
            return null; // no filter, or no clsact qdisc at all
        }
        throw new FastPathException($"querying tc ingress of interface {interfaceIndex}", errno, quoteLibbpf: true);
    }

    /// <summary>Adds or replaces an entry; false when the map is full (E2BIG), and the session stays with the engine.</summary>
    public bool TryAdd(in FastPathFlowKey key, in FastPathFlowValue value)
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        fixed (FastPathFlowKey* keyPointer = &key)
        fixed (FastPathFlowValue* valuePointer = &value)
        {
            int result = Libbpf.MapUpdateElement(flowsFileDescriptor, keyPointer, valuePointer, Libbpf.UpdateAny);
            if (result == 0)
            {
                return true;
            }
            int errno = Libbpf.ErrorOf(result);
            return errno == MapFull ? false : throw new FastPathException($"adding {key} to {FlowsMapName}", errno);
        }
    }

    /// <summary>Removes an entry; false when there was none.</summary>
    public bool Remove(in FastPathFlowKey key)
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        fixed (FastPathFlowKey* keyPointer = &key)
        {
            int result = Libbpf.MapDeleteElement(flowsFileDescriptor, keyPointer);
            if (result == 0)
            {
                return true;
            }
            int errno = Libbpf.ErrorOf(result);
            return errno == Errno.NoEntry ? false : throw new FastPathException($"removing {key} from {FlowsMapName}", errno);
        }
    }

    /// <summary>Reads an entry with the program's counters and last-seen time; false when there is none.</summary>
    public bool TryGet(in FastPathFlowKey key, out FastPathFlowValue value)
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        value = default;
        fixed (FastPathFlowKey* keyPointer = &key)
        fixed (FastPathFlowValue* valuePointer = &value)
        {
            int result = Libbpf.MapLookupElement(flowsFileDescriptor, keyPointer, valuePointer);
            if (result == 0)
            {
                return true;
            }
            int errno = Libbpf.ErrorOf(result);
            return errno == Errno.NoEntry ? false : throw new FastPathException($"reading {key} from {FlowsMapName}", errno);
        }
    }

    /// <summary>
    /// Reads the next entries of a walk over the flow map into <paramref name="keys"/> and
    /// <paramref name="values"/> (at most the shorter's length); returns how many it read, 0 once
    /// <paramref name="cursor"/> is <see cref="FastPathMapCursor.Finished"/>. Start with a default cursor.
    /// </summary>
    public int ReadEntries(ref FastPathMapCursor cursor, Span<FastPathFlowKey> keys, Span<FastPathFlowValue> values)
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        int limit = Math.Min(keys.Length, values.Length);
        int read = 0;
        while (read < limit && !cursor.Finished)
        {
            FastPathFlowKey next;
            FastPathFlowKey last = cursor.Last;
            int result = Libbpf.MapGetNextKey(flowsFileDescriptor, cursor.Started ? &last : null, &next);
            if (result != 0)
            {
                int errno = Libbpf.ErrorOf(result);
                cursor.Finished = errno == Errno.NoEntry ? true : throw new FastPathException($"walking {FlowsMapName}", errno);
                break;
            }
            cursor.Started = true;
            cursor.Last = next;
            // An entry removed between the two calls is skipped: it is no longer in the map.
            if (TryGet(next, out values[read]))
            {
                keys[read] = next;
                read++;
            }
        }
        return read;
    }

    /// <summary>Every entry, in chunks of 256 (for adoption and checks; allocates).</summary>
    public IEnumerable<KeyValuePair<FastPathFlowKey, FastPathFlowValue>> EnumerateEntries()
    {
        var keys = new FastPathFlowKey[256];
        var values = new FastPathFlowValue[256];
        var cursor = default(FastPathMapCursor);
        while (true)
        {
            int read = ReadEntries(ref cursor, keys, values);
            if (read == 0)
            {
                yield break;
            }
            for (int index = 0; index < read; index++)
            {
                yield return new KeyValuePair<FastPathFlowKey, FastPathFlowValue>(keys[index], values[index]);
            }
        }
    }

    /// <summary>
    /// Adds or replaces an NPTv6 entry of natgate_prefixes; false when the trie is full (E2BIG or
    /// ENOSPC), and the mapping stays with the engine.
    /// </summary>
    public bool TryAddPrefix(in FastPathPrefixKey key, in FastPathPrefixValue value)
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        fixed (FastPathPrefixKey* keyPointer = &key)
        fixed (FastPathPrefixValue* valuePointer = &value)
        {
            int result = Libbpf.MapUpdateElement(prefixesFileDescriptor, keyPointer, valuePointer, Libbpf.UpdateAny);
            if (result == 0)
            {
                return true;
            }
            int errno = Libbpf.ErrorOf(result);
            // kernel/bpf/lpm_trie.c refuses a new node past max_entries with ENOSPC.
            return errno is MapFull or NoSpace ? false : throw new FastPathException($"adding {key} to {PrefixesMapName}", errno);
        }
    }

    /// <summary>Removes an NPTv6 entry (the exact key, not the longest match); false when there was none.</summary>
    public bool RemovePrefix(in FastPathPrefixKey key)
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        fixed (FastPathPrefixKey* keyPointer = &key)
        {
            int result = Libbpf.MapDeleteElement(prefixesFileDescriptor, keyPointer);
            if (result == 0)
            {
                return true;
            }
            int errno = Libbpf.ErrorOf(result);
            return errno == Errno.NoEntry ? false : throw new FastPathException($"removing {key} from {PrefixesMapName}", errno);
        }
    }

    /// <summary>
    /// Every NPTv6 entry (for reconciling and checks; allocates). A trie holds a mapping's two
    /// entries, so it is small: read whole, keys first, then each value by its exact key (an LPM
    /// trie's lookup is a longest match, which for a stored key of full length is itself).
    /// </summary>
    public List<KeyValuePair<FastPathPrefixKey, FastPathPrefixValue>> ReadPrefixes()
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        var keys = new List<FastPathPrefixKey>();
        FastPathPrefixKey last = default, next;
        while (true)
        {
            int result = Libbpf.MapGetNextKey(prefixesFileDescriptor, keys.Count == 0 ? null : &last, &next);
            if (result != 0)
            {
                int errno = Libbpf.ErrorOf(result);
                if (errno == Errno.NoEntry)
                {
                    break;
                }
                throw new FastPathException($"walking {PrefixesMapName}", errno);
            }
            keys.Add(next);
            last = next;
        }
        var entries = new List<KeyValuePair<FastPathPrefixKey, FastPathPrefixValue>>(keys.Count);
        foreach (FastPathPrefixKey key in keys)
        {
            // The lookup key is the stored one, so the longest match is the entry itself.
            FastPathPrefixKey lookup = key;
            FastPathPrefixValue value;
            int result = Libbpf.MapLookupElement(prefixesFileDescriptor, &lookup, &value);
            if (result == 0)
            {
                entries.Add(new KeyValuePair<FastPathPrefixKey, FastPathPrefixValue>(key, value));
            }
            else if (Libbpf.ErrorOf(result) != Errno.NoEntry)
            {
                throw new FastPathException($"reading {key} from {PrefixesMapName}", Libbpf.ErrorOf(result));
            }
        }
        return entries;
    }

    /// <summary>The program's counters, summed over CPUs.</summary>
    public FastPathStatistics ReadStatistics()
    {
        ObjectDisposedException.ThrowIf(bpfObject == 0, this);
        Span<ulong> totals = stackalloc ulong[FastPathStatistics.Count];
        fixed (ulong* counters = perProcessorCounters)
        {
            for (uint index = 0; index < FastPathStatistics.Count; index++)
            {
                // A per-CPU array's lookup fills one 8-byte slot per possible CPU (Documentation/bpf/map_array.rst).
                int result = Libbpf.MapLookupElement(statisticsFileDescriptor, &index, counters);
                if (result != 0)
                {
                    throw new FastPathException($"reading {StatisticsMapName}", Libbpf.ErrorOf(result));
                }
                foreach (ulong counter in perProcessorCounters)
                {
                    totals[(int)index] += counter;
                }
            }
        }
        return new FastPathStatistics(totals[0], totals[1], totals[2], totals[3], totals[4], totals[5], totals[6], totals[7], totals[8], totals[9], totals[10]);
    }

    /// <summary>
    /// Removes the pinned maps and their directory: the last step of a full teardown, after
    /// <see cref="Detach"/> (a still attached program keeps its maps alive, unpinned, until detached).
    /// </summary>
    public static void Unpin(string pinDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(pinDirectory);
        if (!Directory.Exists(pinDirectory))
        {
            return;
        }
        File.Delete(Path.Combine(pinDirectory, FlowsMapName));
        File.Delete(Path.Combine(pinDirectory, StatisticsMapName));
        File.Delete(Path.Combine(pinDirectory, PrefixesMapName));
        Directory.Delete(pinDirectory);
        // The daemon pins under /sys/fs/bpf/natgate/INSTANCE: the shared parent goes with the
        // last instance, so nothing of NatGate is left in bpffs after a stop.
        string? parent = Path.GetDirectoryName(Path.GetFullPath(pinDirectory).TrimEnd('/'));
        if (parent is not null && parent != BpfFileSystem.MountPoint && BpfFileSystem.IsMounted(parent)
            && Directory.Exists(parent) && !Directory.EnumerateFileSystemEntries(parent).Any())
        {
            try
            {
                Directory.Delete(parent);
            }
            catch (IOException)
            {
                // Another instance pinned beside it meanwhile: it stays, and goes with that one.
            }
        }
    }

    /// <summary>Closes this process's handles; attached filters and pinned maps stay (see the class remarks).</summary>
    public void Dispose()
    {
        if (bpfObject != 0)
        {
            Libbpf.ObjectClose(bpfObject);
            bpfObject = 0;
        }
    }

    private const int MapFull = 7; // E2BIG: a hash map at max_entries refuses a new key (kernel/bpf/hashtab.c)
    private const int NoSpace = 28; // ENOSPC: an LPM trie at max_entries refuses a new node (kernel/bpf/lpm_trie.c)

    private static Libbpf.TcHook Hook(int interfaceIndex, int attachPoint) =>
        new() { Size = (nuint)sizeof(Libbpf.TcHook), InterfaceIndex = interfaceIndex, AttachPoint = attachPoint };

    private static int PinnedMaximumEntries(string pinnedMap)
    {
        Libbpf.MapInformation information = PinnedMapShape(pinnedMap);
        if (information.KeySize != FastPathFlowKey.Size || information.ValueSize != FastPathFlowValue.Size)
        {
            throw new FastPathException($"the pinned map {pinnedMap} has {information.KeySize}-byte keys and {information.ValueSize}-byte values, not {FastPathFlowKey.Size} and {FastPathFlowValue.Size}: another version's; remove it (rm {pinnedMap}) to start afresh.");
        }
        return (int)information.MaximumEntries;
    }

    /// <summary>A pinned map's sizes, as the kernel reports them.</summary>
    private static Libbpf.MapInformation PinnedMapShape(string pinnedMap)
    {
        int fileDescriptor = Libbpf.ObjectGetPinned(pinnedMap);
        if (fileDescriptor < 0)
        {
            throw new FastPathException($"opening the pinned map {pinnedMap}", Libbpf.ErrorOf(fileDescriptor));
        }
        try
        {
            Libbpf.MapInformation information = default;
            uint length = (uint)sizeof(Libbpf.MapInformation);
            int result = Libbpf.ObjectGetInformation(fileDescriptor, &information, &length);
            if (result != 0)
            {
                throw new FastPathException($"reading the pinned map {pinnedMap}", Libbpf.ErrorOf(result));
            }
            return information;
        }
        finally
        {
            _ = Libc.Close(fileDescriptor);
        }
    }

    private static uint ObjectId(int fileDescriptor)
    {
        // struct bpf_prog_info and struct bpf_map_info both begin with type and id (linux/bpf.h).
        Libbpf.MapInformation information = default;
        uint length = 8;
        return Libbpf.ObjectGetInformation(fileDescriptor, &information, &length) == 0 ? information.Id : 0;
    }
}
