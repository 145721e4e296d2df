using Microsoft.Extensions.Logging;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.Offload;
using NatGate.Core.Translation;
using NatGate.Linux.FastPath;
using NatGate.Linux.Routing;

namespace NatGate.Daemon;

/// <summary>
/// The kernel fast path as the daemon runs it (DESIGN.md, "Two paths"): the tc program loaded
/// with its maps pinned under a directory of this network namespace and this TUN, attached at
/// ingress of the inside-facing interfaces (those the plumbing admits inside sources from) and
/// of the outside-facing ones (--outside-interface, or the devices of the default routes), and
/// kept attached where the plan says as rules and routes change.
/// </summary>
internal sealed class GatewayFastPath : IDisposable
{
    private readonly ILogger logger;
    private readonly HashSet<string> attached = new(StringComparer.Ordinal);

    private GatewayFastPath(FastPathProgram program, string pinDirectory, ILogger logger)
    {
        Program = program;
        PinDirectory = pinDirectory;
        Offload = new KernelSessionOffload(program);
        this.logger = logger;
    }

    public FastPathProgram Program { get; }

    public KernelSessionOffload Offload { get; }

    public string PinDirectory { get; }

    /// <summary>The interfaces it is attached to now.</summary>
    public IReadOnlyCollection<string> Interfaces => attached;

    /// <summary>
    /// Loads the program (two map entries per session of the table's capacity), adopting the maps
    /// of an earlier run in this namespace when there are any: pinned, or those of its program
    /// still attached at <paramref name="interfaces"/> (a crash, a hand-over, or a run in a mount
    /// namespace of its own whose pins went with it). <see cref="TakeOver"/> then brings their
    /// sessions into the table.
    /// </summary>
    public static GatewayFastPath Open(GatewayRunOptions options, IReadOnlyList<string> interfaces, ILogger logger)
    {
        string pinDirectory = PinDirectoryOf(options.TunName);
        // NATGATE_FAST_PATH_OBJECT: another build of the program (a test, a custom one).
        string objectPath = Environment.GetEnvironmentVariable("NATGATE_FAST_PATH_OBJECT") is { Length: > 0 } given ? given : FastPathProgram.DefaultObjectPath;
        FastPathProgram program = FastPathProgram.Load(pinDirectory, (int)Math.Min(int.MaxValue, 2L * options.MaximumSessions), objectPath,
            [.. interfaces.Select(InterfaceIndex).Where(index => index > 0)]);
        return new GatewayFastPath(program, pinDirectory, logger);
    }

    /// <summary>
    /// Hands the engine its cache, after taking in what an adopted map carries: each session the
    /// kernel kept rewriting while no process ran (or since the state file's last checkpoint)
    /// comes into the table through put's checks, those opened from inside first (a session
    /// admitted through another's mapping needs that mapping). The engine then writes its
    /// sessions in again, and entries of no session go. Called with the engine held, before the
    /// workers start.
    /// </summary>
    public (int Adopted, int Refused, int Stale) TakeOver(NatEngine engine, long nowTicks)
    {
        int adopted = 0, refused = 0;
        if (Program.AdoptedMaps)
        {
            List<KeyValuePair<FastPathFlowKey, FastPathFlowValue>> forward = [.. Program.EnumerateEntries()
                .Where(entry => (entry.Value.Flags & FastPathFlowAttributes.Forward) != 0)
                .OrderBy(entry => (entry.Value.Flags & FastPathFlowAttributes.InitiatedOutside) != 0)];
            foreach ((FastPathFlowKey key, FastPathFlowValue value) in forward)
            {
                bool taken;
                string? problem;
                if (key.Family == 4)
                {
                    (OffloadedSession<Ipv4Address> session, long lastSeen) = KernelSessionOffload.SessionOf<Ipv4Address>(key, value, nowTicks);
                    taken = engine.AdoptOffloaded(session, lastSeen, nowTicks, out problem);
                }
                else
                {
                    (OffloadedSession<Ipv6Address> session, long lastSeen) = KernelSessionOffload.SessionOf<Ipv6Address>(key, value, nowTicks);
                    taken = engine.AdoptOffloaded(session, lastSeen, nowTicks, out problem);
                }
                adopted += taken ? 1 : 0;
                if (problem is not null)
                {
                    refused++;
                    if (refused <= 10)
                    {
                        GatewayLog.FastPathAdoptRefused(logger, key.ToString(), problem);
                    }
                }
            }
        }
        engine.UseOffload(Offload);
        int stale = 0;
        try
        {
            foreach (KeyValuePair<FastPathFlowKey, FastPathFlowValue> entry in StaleEntries(engine))
            {
                stale += Program.Remove(entry.Key) ? 1 : 0;
            }
        }
        catch (FastPathException error)
        {
            // The engine uses the cache from here on: a stale entry left is one the checker
            // reports (natgate fastpath --check), never a reason to stop translating.
            GatewayLog.FastPathStaleLeft(logger, error.Message);
        }
        return (adopted, refused, stale);
    }

    /// <summary>
    /// /sys/fs/bpf/natgate/NETNS-TUN: bpffs is shared by every network namespace of the mount
    /// namespace, so the directory names this namespace (its inode) and this daemon's TUN; a
    /// restart in the same namespace finds it again.
    /// </summary>
    public static string PinDirectoryOf(string tunName)
    {
        string? target = new FileInfo("/proc/thread-self/ns/net").LinkTarget;
        string namespaceId = target is not null && target.StartsWith("net:[", StringComparison.Ordinal) ? target[5..^1] : "0";
        return Path.Combine(FastPathProgram.BpfMountPoint, "natgate", $"{namespaceId}-{tunName}");
    }

    /// <summary>The interfaces the plan puts the program on: the inside-facing ones and the outside-facing ones.</summary>
    public static IReadOnlyList<string> InterfacesOf(PlumbingPlan plan, GatewayRunOptions options)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (GuardRule guard in plan.Guard)
        {
            names.UnionWith(guard.AllowedInterfaces.Where(name => name != "lo" && name != plan.TunName));
        }
        if (options.OutsideInterface is string outside)
        {
            names.Add(outside);
        }
        else
        {
            names.UnionWith(DefaultRouteDevices().Where(name => name != plan.TunName));
        }
        return [.. names];
    }

    /// <summary>Attaches where the plan says and detaches where it no longer does.</summary>
    public void Follow(IReadOnlyList<string> interfaces)
    {
        foreach (string name in attached.Except(interfaces).ToList())
        {
            int index = InterfaceIndex(name);
            if (index > 0)
            {
                Program.Detach(index);
            }
            attached.Remove(name);
        }
        foreach (string name in interfaces.Where(name => !attached.Contains(name)))
        {
            int index = InterfaceIndex(name);
            if (index <= 0)
            {
                GatewayLog.FastPathNoInterface(logger, name);
                continue;
            }
            Program.Attach(index);
            attached.Add(name);
        }
    }

    /// <summary>
    /// The maps against the engine (called with the engine held, so neither changes meanwhile):
    /// each offloaded session's two entries must be there as the engine decided them (tuple,
    /// deltas, flags, session number; the counters are the kernel's own), each NPTv6 mapping of
    /// its rules two prefix entries as it computed them, and nothing else.
    /// </summary>
    public FastPathCheckView Check(NatEngine engine)
    {
        Dictionary<FastPathFlowKey, FastPathFlowValue> expected = Expected(engine);
        int found = 0, stale = 0, differing = 0;
        List<string> examples = [];
        var seen = new HashSet<FastPathFlowKey>();
        foreach (KeyValuePair<FastPathFlowKey, FastPathFlowValue> entry in Program.EnumerateEntries())
        {
            found++;
            if (!expected.TryGetValue(entry.Key, out FastPathFlowValue wanted))
            {
                stale++;
                Note(examples, $"stale: {entry.Key} (session {entry.Value.Session})");
            }
            else
            {
                seen.Add(entry.Key);
                if (!SameDecision(wanted, entry.Value))
                {
                    differing++;
                    Note(examples, $"differs: {entry.Key} (session {entry.Value.Session})");
                }
            }
        }
        int missing = 0;
        foreach (FastPathFlowKey key in expected.Keys.Where(key => !seen.Contains(key)))
        {
            missing++;
            Note(examples, $"missing: {key} (session {expected[key].Session})");
        }

        Dictionary<FastPathPrefixKey, FastPathPrefixValue> expectedPrefixes = KernelSessionOffload.PrefixEntriesOf(engine.OffloadablePrefixTranslations());
        var seenPrefixes = new HashSet<FastPathPrefixKey>();
        foreach ((FastPathPrefixKey key, FastPathPrefixValue value) in Program.ReadPrefixes())
        {
            found++;
            if (!expectedPrefixes.TryGetValue(key, out FastPathPrefixValue wanted))
            {
                stale++;
                Note(examples, $"stale prefix: {key} -> {value}");
                continue;
            }
            seenPrefixes.Add(key);
            if (wanted != value)
            {
                differing++;
                Note(examples, $"differs: prefix {key} -> {value}, the engine's {wanted}");
            }
        }
        foreach (FastPathPrefixKey key in expectedPrefixes.Keys.Where(key => !seenPrefixes.Contains(key)))
        {
            missing++;
            Note(examples, $"missing prefix: {key} -> {expectedPrefixes[key]}");
        }
        return new FastPathCheckView(expected.Count + expectedPrefixes.Count, found, missing, stale, differing, examples);
    }

    /// <summary>The entries the engine's offloaded sessions make.</summary>
    private static Dictionary<FastPathFlowKey, FastPathFlowValue> Expected(NatEngine engine)
    {
        var expected = new Dictionary<FastPathFlowKey, FastPathFlowValue>();
        (List<OffloadedSession<Ipv4Address>> ipv4, List<OffloadedSession<Ipv6Address>> ipv6) = engine.OffloadedSessions();
        foreach (OffloadedSession<Ipv4Address> session in ipv4)
        {
            Expect(expected, session);
        }
        foreach (OffloadedSession<Ipv6Address> session in ipv6)
        {
            Expect(expected, session);
        }
        return expected;
    }

    /// <summary>The map's entries of no offloaded session.</summary>
    private List<KeyValuePair<FastPathFlowKey, FastPathFlowValue>> StaleEntries(NatEngine engine)
    {
        Dictionary<FastPathFlowKey, FastPathFlowValue> expected = Expected(engine);
        return [.. Program.EnumerateEntries().Where(entry => !expected.ContainsKey(entry.Key))];
    }

    private static void Expect<TAddress>(Dictionary<FastPathFlowKey, FastPathFlowValue> expected, OffloadedSession<TAddress> session)
        where TAddress : unmanaged, IFlowAddress<TAddress>
    {
        ((FastPathFlowKey Key, FastPathFlowValue Value) forward, (FastPathFlowKey Key, FastPathFlowValue Value) reply) = KernelSessionOffload.EntriesOf(session);
        expected[forward.Key] = forward.Value;
        expected[reply.Key] = reply.Value;
    }

    private static bool SameDecision(FastPathFlowValue wanted, FastPathFlowValue found)
        => wanted.Source == found.Source && wanted.Destination == found.Destination && wanted.SourcePort == found.SourcePort
        && wanted.DestinationPort == found.DestinationPort && wanted.IpDelta == found.IpDelta && wanted.PseudoHeaderDelta == found.PseudoHeaderDelta
        && wanted.PortDelta == found.PortDelta && wanted.Flags == found.Flags && wanted.Session == found.Session;

    private static void Note(List<string> examples, string example)
    {
        if (examples.Count < 10)
        {
            examples.Add(example);
        }
    }

    /// <summary>A hand-over: this process lets go of the program and its maps, which stay attached and pinned for the next start.</summary>
    public void Leave()
    {
        attached.Clear();
        Program.Dispose();
    }

    /// <summary>Detaches from every interface and unpins the maps: nothing of it stays in the kernel.</summary>
    public void Dispose()
    {
        foreach (string name in attached)
        {
            int index = InterfaceIndex(name);
            if (index > 0)
            {
                try
                {
                    Program.Detach(index);
                }
                catch (FastPathException error)
                {
                    GatewayLog.FastPathRemovalFailed(logger, name, error.Message);
                }
            }
        }
        attached.Clear();
        Program.Dispose();
        FastPathProgram.Unpin(PinDirectory);
    }

    private static int InterfaceIndex(string name) => InterfaceNames.IndexOf(name);

    private static IEnumerable<string> DefaultRouteDevices()
    {
        foreach (string family in new[] { "-4", "-6" })
        {
            string output = Linux.Processes.Command.Run("ip", [family, "-o", "route", "show", "default"], null, TimeSpan.FromSeconds(5)) is { ExitCode: 0 } result ? result.Output : "";
            foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                int dev = Array.IndexOf(words, "dev");
                if (dev >= 0 && dev + 1 < words.Length)
                {
                    yield return words[dev + 1];
                }
            }
        }
    }
}
