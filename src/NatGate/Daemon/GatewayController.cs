using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Rules;
using NatGate.Core.State;
using NatGate.Core.Translation;

namespace NatGate.Daemon;

/// <summary>
/// The one door to the engine for everything that is not the packet path: the control API,
/// timers, metrics and the daemon's start and stop. The engine is single-threaded: while one
/// worker owns it (a single TUN queue) every call here runs on that worker between batches;
/// otherwise every call, and every batch of packets, holds <see cref="EngineLock"/>. Errors
/// are <see cref="NatControlException"/>s with the seed's errno names.
/// </summary>
public sealed class GatewayController
{
    private readonly TimeProvider clock;
    private NetNatModel netNat = new();
    private readonly Dictionary<string, List<int>> rulesOfInstance = new(StringComparer.OrdinalIgnoreCase);

    public GatewayController(NatEngine engine, TimeProvider clock)
    {
        Engine = engine;
        this.clock = clock;
    }

    /// <summary>
    /// The engine; touch it only through <see cref="Run"/>, or while holding
    /// <see cref="EngineLock"/> when no thread owns it, or from the owning thread.
    /// </summary>
    public NatEngine Engine { get; }

    public Lock EngineLock { get; } = new();

    private EngineOwner? owner;

    public long NowTicks => clock.GetUtcNow().UtcTicks;

    /// <summary>
    /// Makes the calling thread the engine's owner (see <see cref="EngineOwner"/>): from now on
    /// it may use the engine without the lock, and must call <see cref="EngineOwner.RunPending"/>
    /// between batches and whenever <paramref name="wake"/> wakes it.
    /// </summary>
    public EngineOwner TakeOwnership(Action wake)
    {
        ArgumentNullException.ThrowIfNull(wake);
        var taken = new EngineOwner(wake);
        lock (EngineLock)
        {
            if (owner is not null)
            {
                throw new InvalidOperationException("Another thread already owns the engine.");
            }
            // Set under the lock: a caller already inside it finishes first, and a caller
            // waiting for it sees the owner once it gets in (Run checks again there).
            Volatile.Write(ref owner, taken);
        }
        return taken;
    }

    /// <summary>Gives the engine back to the lock; calls still posted run here first.</summary>
    public void ReleaseOwnership(EngineOwner released)
    {
        ArgumentNullException.ThrowIfNull(released);
        lock (EngineLock)
        {
            if (owner != released)
            {
                throw new InvalidOperationException("This owner does not own the engine.");
            }
            Volatile.Write(ref owner, null);
            released.RunPending(Engine);
        }
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on the engine: on the owning worker when there is one
    /// (posted, and waited for), otherwise under <see cref="EngineLock"/>.
    /// </summary>
    public T Run<T>(Func<NatEngine, T> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        while (true)
        {
            EngineOwner? current = Volatile.Read(ref owner);
            if (current is null)
            {
                lock (EngineLock)
                {
                    if (Volatile.Read(ref owner) is null)
                    {
                        return operation(Engine);
                    }
                }
                continue;
            }
            if (current.IsCurrentThread)
            {
                return operation(Engine);
            }
            var work = new EngineWork(engine => operation(engine));
            current.Post(work);
            bool reclaimed = false;
            while (!work.Wait(TimeSpan.FromMilliseconds(50)))
            {
                // The owner left (the daemon stopping) before it reached this call: take it
                // back and run it the ordinary way. Otherwise the owner has it, or will.
                if (Volatile.Read(ref owner) != current && work.TryClaim())
                {
                    reclaimed = true;
                    break;
                }
            }
            if (!reclaimed)
            {
                return (T)work.Result!;
            }
        }
    }

    /// <summary>Slots walked per call on the engine's thread: a listing or count lets packets through between slices.</summary>
    public const int SlotsPerSlice = 2048;

    public IReadOnlyList<SessionInfo> Sessions(IpAddress? address, IpProtocol? protocol) => [.. StreamSessions(address, protocol).SelectMany(page => page)];

    /// <summary>The sessions of both families, a slice of the tables at a time (each slice one short call on the engine's thread).</summary>
    public IEnumerable<List<SessionInfo>> StreamSessions(IpAddress? address, IpProtocol? protocol)
        => StreamSessions(new SessionFilter { Address = address, Protocol = protocol });

    /// <summary>The sessions <paramref name="filter"/> takes, a slice of the tables at a time.</summary>
    public IEnumerable<List<SessionInfo>> StreamSessions(SessionFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        int capacity = Run(engine => engine.SessionSlots);
        for (int slot = 0; slot < capacity;)
        {
            var page = new List<SessionInfo>();
            int first = slot;
            slot = Run(engine => engine.ListSessions(first, SlotsPerSlice, page, filter));
            if (page.Count > 0)
            {
                yield return page;
            }
        }
    }

    /// <summary>
    /// How many sessions <paramref name="filter"/> takes: with no condition the count the engine
    /// keeps (no walk), otherwise counted a slice of the tables per call on the engine's thread.
    /// </summary>
    public int CountSessions(SessionFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (filter.IsEmpty)
        {
            return Statistics().InUse;
        }
        int capacity = Run(engine => engine.SessionSlots);
        int count = 0;
        for (int slot = 0; slot < capacity;)
        {
            int first = slot;
            (slot, int found) = Run(engine =>
            {
                int inSlice = 0;
                int next = engine.CountSessions(first, SlotsPerSlice, filter, ref inSlice);
                return (next, inSlice);
            });
            count += found;
        }
        return count;
    }

    /// <summary>Removes the sessions <paramref name="filter"/> takes (conntrack -D), a slice per call, through the session store.</summary>
    public int RemoveSessions(SessionFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return RemoveInSlices((engine, first) => (engine.RemoveSessions(filter, first, SlotsPerSlice, NowTicks, out int removed), removed));
    }

    /// <summary>Sessions by protocol and state: counts the engine keeps as sessions change, no walk.</summary>
    public IReadOnlyDictionary<(string Protocol, string State), int> CountSessions() => Run(engine => engine.CountSessions());

    public NatStatistics Statistics() => Run(engine => engine.Statistics());

    public IReadOnlyList<RuleInfo> Rules() => Run(engine => engine.ListRules());

    /// <summary>
    /// Called after every change to the rules (a load, a removal, a flush, a NAT model applied),
    /// on the caller's thread, before the change is reported: the daemon reconciles the routing
    /// here, so that what the control API reports as done is done in the kernel too.
    /// </summary>
    public Action? RulesChanged { get; set; }

    /// <summary>
    /// Fills in what a rule leaves to the host (the interface's address of "-> 0/32", the ports
    /// of an address shared with the host) before the engine sees it, on every way in: start,
    /// load, replace, removal, NetNat. Throws <see cref="NatControlException"/> when it cannot.
    /// </summary>
    public Func<NatRule, NatRule> ResolveRule { get; set; } = static rule => rule;

    private List<NatRule> Resolved(IEnumerable<NatRule> rules) => [.. rules.Select(rule => ResolveRule(rule))];

    /// <summary>
    /// The behaviours and timeouts every ipnat rule takes, whichever way it comes (at start, and
    /// through <see cref="LoadRules"/>, <see cref="ReplaceRules"/> and <see cref="RemoveRules"/>:
    /// ipnat -f, -C -f, -r -f): the daemon's --mapping, --filtering and timeout flags. ipnat.conf
    /// has no words for them, so without this a file loaded later would get the RFC defaults
    /// while the same file given at start got the flags. Null leaves each rule its own policy.
    /// </summary>
    public NatPolicy? IpnatPolicy { get; set; }

    /// <summary>The rules of an ipnat load, replacement or removal, each under <see cref="IpnatPolicy"/>, then resolved.</summary>
    private List<NatRule> IpnatRules(IEnumerable<NatRule> rules)
        => Resolved(IpnatPolicy is { } policy ? rules.Select(rule => UnderPolicy(rule, policy)) : rules);

    /// <summary>
    /// An ipnat rule under the daemon's policy (its --mapping, --filtering and timeout flags),
    /// keeping what the rule itself says: "parity" (NatGate's ipnat option, RFC 4787 REQ-4), for
    /// which the flags have no word. At start (--rules) and on every load alike.
    /// </summary>
    public static NatRule UnderPolicy(NatRule rule, NatPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(rule);
        ArgumentNullException.ThrowIfNull(policy);
        return rule with { Policy = policy with { PreservePortParity = policy.PreservePortParity || rule.Policy.PreservePortParity } };
    }

    /// <summary>ipnat -f: the rules are added, each under <see cref="IpnatPolicy"/>.</summary>
    public IReadOnlyList<int> LoadRules(IReadOnlyList<NatRule> rules)
    {
        List<NatRule> resolved = IpnatRules(rules);
        return Changed(Run(engine => engine.LoadRules(resolved)));
    }

    /// <summary>
    /// Resolves every loaded rule again (an interface's address changed) and, when any differs,
    /// replaces the set with the resolved one at once; NetNat's bookkeeping follows the new
    /// numbers. Returns whether anything changed.
    /// </summary>
    public bool ResolveAgain()
    {
        IReadOnlyList<RuleInfo> loaded = Rules();
        List<NatRule> current = [.. loaded.Where(rule => rule.Active).Select(rule => rule.Rule)];
        List<NatRule> resolved = Resolved(current);
        if (current.SequenceEqual(resolved))
        {
            return false;
        }
        PreparedRuleSet prepared = Engine.PrepareReplacement(resolved);
        Changed(Run(engine =>
        {
            IReadOnlyList<int> indexes = engine.ReplaceRules(prepared);
            rulesOfInstance.Clear();
            for (int i = 0; i < resolved.Count; i++)
            {
                if (resolved[i].Origin?.NetNatInstanceName is string instance)
                {
                    if (!rulesOfInstance.TryGetValue(instance, out List<int>? list))
                    {
                        rulesOfInstance[instance] = list = [];
                    }
                    list.Add(indexes[i]);
                }
            }
            return 0;
        }));
        return true;
    }

    /// <summary>ipnat -C -f FILE: the new set replaces every rule, or, if it is refused, nothing changes.</summary>
    /// <remarks>The set is checked and its matching order built here, on the caller's thread; the
    /// engine's thread only numbers the rules and swaps the order in.</remarks>
    public IReadOnlyList<int> ReplaceRules(IReadOnlyList<NatRule> rules)
    {
        PreparedRuleSet prepared = Engine.PrepareReplacement(IpnatRules(rules));
        return Changed(Run(engine => engine.ReplaceRules(prepared)));
    }

    /// <summary>ipnat -r -f: removes the loaded rules equal to these, taken under <see cref="IpnatPolicy"/> as they were loaded.</summary>
    public int RemoveRules(IReadOnlyList<NatRule> rules)
    {
        List<NatRule> resolved = IpnatRules(rules);
        return Changed(Run(engine => engine.RemoveRules(resolved)));
    }

    public int FlushRules() => Changed(Run(engine => engine.FlushRules()));

    private T Changed<T>(T result)
    {
        try
        {
            RulesChanged?.Invoke();
        }
        catch (Linux.Routing.PlumbingException error)
        {
            throw new NatControlException(NatErrno.EINVAL, $"The rules changed, but the routing could not follow: {error.Message}");
        }
        return result;
    }

    /// <summary>ipnat -F: every session removed, a slice of the table per call on the engine's thread.</summary>
    public int FlushSessions() => RemoveInSlices((engine, first) => (engine.FlushSessions(first, SlotsPerSlice, NowTicks, out int removed), removed));

    /// <summary>The sessions on an external address that left the host, ended a slice at a time.</summary>
    public int FlushSessionsOn(IpAddress address) => RemoveInSlices((engine, first) => (engine.FlushSessionsOn(address, first, SlotsPerSlice, NowTicks, out int removed), removed));

    /// <summary>
    /// A bulk removal walked a slice per call, so the packet thread translates between slices
    /// (issue 12: a flush of a million sessions is otherwise one long pause on the data path).
    /// </summary>
    private int RemoveInSlices(Func<NatEngine, int, (int Next, int Removed)> slice)
    {
        int capacity = Run(engine => engine.SessionSlots);
        int total = 0;
        for (int slot = 0; slot < capacity;)
        {
            int first = slot;
            (slot, int removed) = Run(engine => slice(engine, first));
            total += removed;
        }
        return total;
    }

    public int PurgeOrphans() => RemoveInSlices((engine, first) => (engine.PurgeOrphans(first, SlotsPerSlice, NowTicks, out int removed), removed));

    public void RemoveSession(int id) => Run(engine =>
    {
        engine.RemoveSession(id, NowTicks);
        return 0;
    });

    public LookupResult Lookup(IpProtocol protocol, IpAddress inside, ushort insidePort, IpAddress outside, ushort outsidePort, bool findForward)
        => Run(engine => engine.Lookup(protocol, inside, insidePort, outside, outsidePort, findForward));

    public int Put(SessionRecord record) => Run(engine => engine.Put(record, NowTicks));

    public bool Lock(bool locked) => Run(engine => engine.Lock(locked));

    public HairpinningMode Hairpinning
    {
        get => Run(engine => engine.Hairpinning);
        set => Run(engine => engine.Hairpinning = value);
    }

    /// <summary>
    /// Saves every session (ipfs -W), copied a slice of the table at a time so that forwarding
    /// goes on meanwhile. As with IP Filter's ipfs, an exact snapshot is one taken with the table
    /// locked first (natgate lock on); without the lock, sessions made or ended during the copy
    /// may or may not be in it, which suits the periodic checkpoint.
    /// </summary>
    public int SaveState(string path)
    {
        var sessions = new List<SessionRecord>();
        int capacity = Run(engine => engine.SessionSlots);
        for (int slot = 0; slot < capacity;)
        {
            int first = slot;
            slot = Run(engine => engine.ExportSessions(first, SlotsPerSlice, sessions));
        }
        // The port mappings (PCP, NAT-PMP) go with them: their redirects are what their sessions name.
        (IReadOnlyList<Core.PortMappings.PortMapping> mappings, long epoch) = Run(engine => (engine.PortMappings.List(), engine.PortMappings.EpochStartTicks));
        SessionStateFile.Save(path, sessions, clock.GetUtcNow(), mappings, epoch);
        return sessions.Count;
    }

    /// <summary>Restores sessions (ipfs -R); each goes through Put's checks.</summary>
    public RestoreReport RestoreState(string path)
    {
        SavedSessions saved = SessionStateFile.Load(path);
        bool mappingsBack = false;
        RestoreReport report = Run(engine =>
        {
            // The port mappings first: their sessions name their redirects.
            mappingsBack = engine.PortMappings.Restore(engine, saved.PortMappings, saved.PortMappingEpochTicks, NowTicks) > 0;
            return engine.Restore(saved.Sessions, NowTicks);
        });
        return mappingsBack ? Changed(report) : report;
    }

    // ------------------------------------------------------------ NetNat objects

    public NetNatModel NetNat => Run(_ => netNat);

    /// <summary>
    /// Replaces the NetNat model: it is validated whole, compiled, and its rules swap in for the
    /// previous model's (rules loaded from ipnat.conf are not touched). Nothing changes on error.
    /// </summary>
    public void ApplyNetNat(NetNatModel model, Func<Core.Addressing.IpPrefix, IEnumerable<Core.Addressing.IpAddress>>? localAddresses = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        IReadOnlyList<string> problems = model.Validate(localAddresses);
        if (problems.Count > 0)
        {
            throw new NatControlException(NatErrno.EINVAL, string.Join(" ", problems));
        }
        IReadOnlyList<NatRule> compiled = Resolved(model.Compile(localAddresses));
        Run(engine =>
        {
            engine.RemoveRules(rulesOfInstance.Values.SelectMany(indexes => indexes));
            try
            {
                LoadInstanceRules(engine, compiled);
                engine.Hairpinning = model.InterRoutingDomainHairpinningMode;
                netNat = model;
            }
            catch (NatControlException)
            {
                // Put the previous model's rules back as they were, and remember where they went.
                LoadInstanceRules(engine, Resolved(netNat.Compile(localAddresses)));
                throw;
            }
            return 0;
        });
        Changed(0);
    }

    /// <summary>Loads a model's compiled rules and records which instance each belongs to.</summary>
    private void LoadInstanceRules(NatEngine engine, IReadOnlyList<NatRule> compiled)
    {
        IReadOnlyList<int> added = engine.LoadRules(compiled);
        rulesOfInstance.Clear();
        for (int i = 0; i < compiled.Count; i++)
        {
            // Every compiled rule has a NetNat origin (NetNatModel.Compile).
            string instance = compiled[i].Origin?.NetNatInstanceName ?? "";
            if (!rulesOfInstance.TryGetValue(instance, out List<int>? list))
            {
                rulesOfInstance[instance] = list = [];
            }
            list.Add(added[i]);
        }
    }
}
