using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.Packets;
using NatGate.Core.Ports;
using NatGate.Core.Rules;
using NatGate.Core.Translation;

namespace NatGate.Core.PortMappings;

/// <summary>The bounds of the port mappings inside hosts may ask for.</summary>
public sealed record PortMappingLimits
{
    /// <summary>The default of <see cref="MaximumPerHost"/>: a few applications' worth, so no host takes an address's ports.</summary>
    public const int DefaultMaximumPerHost = 16;

    /// <summary>Mappings one inside host may hold (USER_EX_QUOTA past it, RFC 6887 7.4); 0: no limit.</summary>
    public int MaximumPerHost { get; init; } = DefaultMaximumPerHost;

    /// <summary>Shorter lifetimes asked for are raised to this (RFC 6887 15 suggests 120 s).</summary>
    public uint MinimumLifetimeSeconds { get; init; } = 120;

    /// <summary>Longer lifetimes asked for are cut to this (RFC 6887 15 suggests 24 hours).</summary>
    public uint MaximumLifetimeSeconds { get; init; } = 86400;
}

/// <summary>
/// What an inside host asked of a MAP (PCP) or a mapping request (NAT-PMP). A lifetime of 0
/// deletes, with internal port 0 too every mapping of the protocol the nonce owns; the suggested
/// address is <see cref="Ipv4Address.Any"/> for none; the nonce is 96 bits in hex,
/// <see cref="PortMapping.NoNonce"/> for NAT-PMP.
/// </summary>
public readonly record struct PortMappingAsk(IpProtocol Protocol, Ipv4Address InternalAddress, ushort InternalPort, ushort SuggestedPort,
    Ipv4Address SuggestedAddress, uint LifetimeSeconds, string Nonce, bool PreferFailure, PortMappingClient RequestedWith);

/// <summary>The answer to a <see cref="PortMappingAsk"/>; <paramref name="RulesChanged"/> when a redirect was loaded or removed (the routing may follow).</summary>
public readonly record struct PortMappingAnswer(PcpResultCode Result, Ipv4Address ExternalAddress, ushort ExternalPort, uint LifetimeSeconds, bool RulesChanged = false);

/// <summary>
/// The port mappings inside hosts asked for with PCP (RFC 6887) or NAT-PMP (RFC 6886), each a
/// redirect rule in the engine that lives as long as its lifetime, owned by its nonce, at most
/// <see cref="PortMappingLimits.MaximumPerHost"/> per host; and the server's epoch (RFC 6887 8.5).
/// Time is passed in. Used on the engine's thread, as the engine is.
/// </summary>
public sealed class PortMappingTable
{
    private readonly Dictionary<(IpProtocol Protocol, Ipv4Address Address, ushort Port), PortMapping> mappings = [];
    private readonly Dictionary<Ipv4Address, int> perHost = [];

    public PortMappingLimits Limits { get; set; } = new();

    /// <summary>Mappings held now.</summary>
    public int Count => mappings.Count;

    /// <summary>Counts every mapping made or ended: a watcher that sees it move knows the redirects changed (the routing follows).</summary>
    public long Changes { get; private set; }

    /// <summary>When the epoch began (RFC 6887 8.5): the start, unless restored mappings carried theirs; -1 before <see cref="StartEpoch"/>.</summary>
    public long EpochStartTicks { get; private set; } = -1;

    /// <summary>
    /// Starts the epoch: at the server's start, and again whenever the mappings were lost, so that
    /// clients see the epoch go back and map again (RFC 6887 8.5, RFC 6886 3.6).
    /// </summary>
    public void StartEpoch(long nowTicks) => EpochStartTicks = nowTicks;

    /// <summary>Seconds since the epoch began (RFC 6887 8.5: one a second, wrapping at 2^32).</summary>
    public uint Epoch(long nowTicks)
    {
        if (EpochStartTicks < 0)
        {
            EpochStartTicks = nowTicks;
        }
        return (uint)(Math.Max(0, nowTicks - EpochStartTicks) / TimeSpan.TicksPerSecond);
    }

    /// <summary>Every mapping, ordered by internal address, port and protocol.</summary>
    public IReadOnlyList<PortMapping> List()
        => [.. mappings.Values.OrderBy(mapping => mapping.InternalAddress).ThenBy(mapping => mapping.InternalPort).ThenBy(mapping => mapping.Protocol)];

    /// <summary>The external endpoint of the mapping of <paramref name="address"/>:<paramref name="port"/>, if it has one.</summary>
    public bool TryFindByInternal(IpProtocol protocol, Ipv4Address address, ushort port, out Ipv4Address external, out ushort externalPort)
    {
        if (mappings.TryGetValue((protocol, address, port), out PortMapping? mapping))
        {
            (external, externalPort) = (mapping.ExternalAddress, mapping.ExternalPort);
            return true;
        }
        (external, externalPort) = (Ipv4Address.Any, 0);
        return false;
    }

    /// <summary>Mappings <paramref name="host"/> holds.</summary>
    public int MappingsOf(Ipv4Address host) => perHost.GetValueOrDefault(host);

    /// <summary>A MAP or a NAT-PMP mapping request (RFC 6887 11.3, RFC 6886 3.3).</summary>
    public PortMappingAnswer Map(NatEngine engine, in PortMappingAsk ask, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var key = (ask.Protocol, ask.InternalAddress, ask.InternalPort);
        mappings.TryGetValue(key, out PortMapping? existing);
        if (ask.LifetimeSeconds == 0)
        {
            return Delete(engine, ask, existing, nowTicks);
        }
        if (ask.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp))
        {
            // Only TCP and UDP have ports to map; "all protocols" (0) would be a DMZ host.
            return new PortMappingAnswer(PcpResultCode.UnsupportedProtocol, Ipv4Address.Any, 0, 0);
        }
        if (ask.InternalPort == 0)
        {
            // "All ports" (RFC 6887 11.1) is not offered: refused by policy.
            return new PortMappingAnswer(PcpResultCode.NotAuthorized, Ipv4Address.Any, 0, 0);
        }
        uint lifetime = Math.Clamp(ask.LifetimeSeconds, Limits.MinimumLifetimeSeconds, Limits.MaximumLifetimeSeconds);
        long expires = nowTicks + lifetime * TimeSpan.TicksPerSecond;
        if (existing is not null)
        {
            if (!string.Equals(existing.Nonce, ask.Nonce, StringComparison.OrdinalIgnoreCase))
            {
                // Another client's (or another run of this one's) mapping (RFC 6887 11.3).
                return new PortMappingAnswer(PcpResultCode.NotAuthorized, Ipv4Address.Any, 0, existing.SecondsLeft(nowTicks));
            }
            if (!engine.IsLoaded(existing.Rule))
            {
                // Its redirect went (ipnat -C): made again on the same port when the host still goes
                // out by that address and the port is free (the host's own: its quarantine does not
                // count), else as a new mapping.
                Forget(existing);
                if (engine.TryFindExternalFor(ask.InternalAddress, ask.Protocol, out Ipv4Address still, out _, out _) && still == existing.ExternalAddress
                    && engine.TryReservePort(existing.ExternalAddress, existing.Protocol, existing.ExternalPort))
                {
                    try
                    {
                        engine.AddRule(existing.Rule);
                        Remember(existing with { ExpiresTicks = expires });
                        return new PortMappingAnswer(PcpResultCode.Success, existing.ExternalAddress, existing.ExternalPort, lifetime, RulesChanged: true);
                    }
                    catch (NatControlException)
                    {
                        engine.ReleasePort(existing.ExternalAddress, existing.Protocol, existing.ExternalPort);
                    }
                }
                existing = null;
            }
        }
        if (existing is not null)
        {
            // A refresh: the same external port, a new lifetime (RFC 6887 11.3, RFC 6886 3.3).
            PortMapping refreshed = existing with { ExpiresTicks = expires };
            mappings[key] = refreshed;
            return new PortMappingAnswer(PcpResultCode.Success, refreshed.ExternalAddress, refreshed.ExternalPort, lifetime);
        }
        if (Limits.MaximumPerHost > 0 && MappingsOf(ask.InternalAddress) >= Limits.MaximumPerHost)
        {
            return new PortMappingAnswer(PcpResultCode.UserExceededQuota, Ipv4Address.Any, 0, 0);
        }
        if (!engine.TryFindExternalFor(ask.InternalAddress, ask.Protocol, out Ipv4Address external, out PortRange ports, out NatRule? mapRule))
        {
            // No rule translates this host: it has nothing outside to map to.
            return new PortMappingAnswer(PcpResultCode.NotAuthorized, Ipv4Address.Any, 0, 0);
        }
        if (ask.SuggestedAddress != Ipv4Address.Any && ask.SuggestedAddress != external && ask.PreferFailure)
        {
            return new PortMappingAnswer(PcpResultCode.CannotProvideExternal, Ipv4Address.Any, 0, 0);
        }
        // The suggested port when free, else the internal port, else any of the rule's range (RFC 6887 11.3).
        ushort preferred = ask.SuggestedPort != 0 ? ask.SuggestedPort : ask.InternalPort;
        if (!engine.TryTakePort(external, ask.Protocol, ports, preferred, ask.InternalAddress, ask.PreferFailure, nowTicks, out ushort port))
        {
            return new PortMappingAnswer(ask.PreferFailure ? PcpResultCode.CannotProvideExternal : PcpResultCode.NoResources, Ipv4Address.Any, 0, 0);
        }
        NatRule rule = PortMapping.RuleFor(ask.Protocol, ask.InternalAddress, ask.InternalPort, external, port, mapRule!.Policy, ask.RequestedWith);
        try
        {
            engine.AddRule(rule);
        }
        catch (NatControlException)
        {
            engine.ReleasePort(external, ask.Protocol, port);
            return new PortMappingAnswer(PcpResultCode.NoResources, Ipv4Address.Any, 0, 0);
        }
        Remember(new PortMapping { Rule = rule, Nonce = ask.Nonce, ExpiresTicks = expires, RequestedWith = ask.RequestedWith });
        return new PortMappingAnswer(PcpResultCode.Success, external, port, lifetime, RulesChanged: true);
    }

    /// <summary>Lifetime 0 (RFC 6887 15, RFC 6886 3.4): a deletion, of one mapping or, with internal port 0, of all the nonce owns for the protocol; deleting none is a success.</summary>
    private PortMappingAnswer Delete(NatEngine engine, in PortMappingAsk ask, PortMapping? existing, long nowTicks)
    {
        if (ask.InternalPort == 0)
        {
            string nonce = ask.Nonce;
            IpProtocol protocol = ask.Protocol;
            Ipv4Address host = ask.InternalAddress;
            PortMapping[] owned = [.. mappings.Values.Where(mapping => mapping.InternalAddress == host
                && (protocol == 0 || mapping.Protocol == protocol) && string.Equals(mapping.Nonce, nonce, StringComparison.OrdinalIgnoreCase))];
            foreach (PortMapping mapping in owned)
            {
                Remove(engine, mapping);
            }
            return new PortMappingAnswer(PcpResultCode.Success, Ipv4Address.Any, 0, 0, owned.Length > 0);
        }
        if (existing is null)
        {
            return new PortMappingAnswer(PcpResultCode.Success, Ipv4Address.Any, 0, 0);
        }
        if (!string.Equals(existing.Nonce, ask.Nonce, StringComparison.OrdinalIgnoreCase))
        {
            return new PortMappingAnswer(PcpResultCode.NotAuthorized, Ipv4Address.Any, 0, existing.SecondsLeft(nowTicks));
        }
        Remove(engine, existing);
        return new PortMappingAnswer(PcpResultCode.Success, existing.ExternalAddress, existing.ExternalPort, 0, true);
    }

    /// <summary>Ends the mappings whose lifetime is over; returns how many. The engine's timers call it (<see cref="NatEngine.ExpireSessions"/>).</summary>
    public int Expire(NatEngine engine, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(engine);
        if (mappings.Count == 0)
        {
            return 0;
        }
        PortMapping[] ended = [.. mappings.Values.Where(mapping => mapping.ExpiresTicks <= nowTicks)];
        foreach (PortMapping mapping in ended)
        {
            Remove(engine, mapping);
        }
        return ended.Length;
    }

    /// <summary>
    /// Ends the mappings the rules no longer carry: a redirect removed with every other rule
    /// (ipnat -C), or an external address that is no longer the one the host's map rule gives (the
    /// interface's address changed). Their state is lost, so the epoch starts again (RFC 6887 8.5)
    /// and clients map again. Returns how many ended.
    /// </summary>
    public int EndLost(NatEngine engine, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(engine);
        PortMapping[] lost = [.. mappings.Values.Where(mapping => !engine.IsLoaded(mapping.Rule)
            || !engine.TryFindExternalFor(mapping.InternalAddress, mapping.Protocol, out Ipv4Address external, out _, out _)
            || external != mapping.ExternalAddress)];
        foreach (PortMapping mapping in lost)
        {
            Remove(engine, mapping);
        }
        if (lost.Length > 0)
        {
            StartEpoch(nowTicks);
        }
        return lost.Length;
    }

    /// <summary>Removes every mapping (their redirects too); returns how many.</summary>
    public int Clear(NatEngine engine)
    {
        ArgumentNullException.ThrowIfNull(engine);
        PortMapping[] all = [.. mappings.Values];
        foreach (PortMapping mapping in all)
        {
            Remove(engine, mapping);
        }
        return all.Length;
    }

    /// <summary>
    /// Brings saved mappings back (a restart with --state), before their sessions: each that has
    /// not ended and whose external port is free gets its redirect again. The epoch goes on from
    /// the saved one when any came back (the server kept its state, RFC 6887 8.5). Returns how many.
    /// </summary>
    public int Restore(NatEngine engine, IEnumerable<PortMapping> saved, long epochStartTicks, long nowTicks)
    {
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(saved);
        int restored = 0;
        foreach (PortMapping mapping in saved)
        {
            if (mapping.ExpiresTicks <= nowTicks || mapping.Rule.Kind != NatRuleKind.Redirect || mapping.Rule.RedirectTargets.Count != 1
                || mapping.Rule.IsIpv6 || mappings.ContainsKey((mapping.Protocol, mapping.InternalAddress, mapping.InternalPort)))
            {
                continue;
            }
            if (!engine.TryTakePort(mapping.ExternalAddress, mapping.Protocol, new PortRange(mapping.ExternalPort, mapping.ExternalPort), mapping.ExternalPort,
                mapping.InternalAddress, exactly: true, nowTicks, out _))
            {
                continue;
            }
            try
            {
                engine.AddRule(mapping.Rule);
            }
            catch (NatControlException)
            {
                engine.ReleasePort(mapping.ExternalAddress, mapping.Protocol, mapping.ExternalPort);
                continue;
            }
            Remember(mapping);
            restored++;
        }
        if (restored > 0 && epochStartTicks >= 0 && epochStartTicks <= nowTicks)
        {
            EpochStartTicks = epochStartTicks;
        }
        return restored;
    }

    private void Remove(NatEngine engine, PortMapping mapping)
    {
        engine.RemoveRules([mapping.Rule]);
        Forget(mapping);
        engine.KeepPortOfOutboundMapping(mapping.Protocol, mapping.ExternalAddress, mapping.ExternalPort);
    }

    private void Remember(PortMapping mapping)
    {
        mappings[(mapping.Protocol, mapping.InternalAddress, mapping.InternalPort)] = mapping;
        perHost[mapping.InternalAddress] = MappingsOf(mapping.InternalAddress) + 1;
        Changes++;
    }

    private void Forget(PortMapping mapping)
    {
        if (mappings.Remove((mapping.Protocol, mapping.InternalAddress, mapping.InternalPort)))
        {
            Changes++;
            int left = MappingsOf(mapping.InternalAddress) - 1;
            if (left > 0)
            {
                perHost[mapping.InternalAddress] = left;
            }
            else
            {
                perHost.Remove(mapping.InternalAddress);
            }
        }
    }
}
