using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Sessions;
using NatGate.Core.Translation;

namespace NatGate.Control;

/// <summary>Between the engine's objects and the API's bodies (NatGate.Contracts, which knows nothing of the engine).</summary>
public static class ControlConversions
{
    /// <summary>A rule in ipnat form; a rule ipnat.conf cannot express (some NetNat rules) is described instead.</summary>
    public static string RuleText(NatRule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        try
        {
            return IpnatPrinter.Print(rule).TrimEnd();
        }
        catch (ArgumentException)
        {
            return $"# {rule.Kind} rule with no ipnat form ({rule.Label ?? "unlabelled"})";
        }
    }

    public static RuleView ToView(RuleInfo rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return new RuleView(rule.Index, RuleText(rule.Rule), rule.Rule.Label, rule.Active, rule.OnThisGateway, rule.Sessions, rule.Hits);
    }

    /// <summary>Parses ipnat text; a syntax error is EINVAL with its file:line:column message.</summary>
    public static IpnatRules ParseRules(RulesText body)
    {
        ArgumentNullException.ThrowIfNull(body);
        bool named = !string.IsNullOrWhiteSpace(body.Source);
        IpnatRules parsed;
        try
        {
            parsed = IpnatParser.Parse(body.Text ?? "", named ? body.Source! : RuleOrigin.ControlApi.SourceName);
        }
        catch (RuleSyntaxException error)
        {
            throw new NatControlException(NatErrno.EINVAL, error.Message);
        }
        // Text sent without a file's name came from the API itself, not from a file called "control".
        return named ? parsed : parsed with
        {
            Rules = [.. parsed.Rules.Select(rule => rule.Origin is RuleOrigin.IpnatLine line ? rule with { Origin = new RuleOrigin.ControlApi(line.Line) } : rule)],
        };
    }

    public static SessionRecordView ToView(SessionRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return new SessionRecordView
        {
            Interface = record.Interface,
            Rule = IpnatPrinter.Print(record.Rule).TrimEnd(),
            Original = ToView(record.Original),
            Translated = ToView(record.Translated),
            InitiatedOutside = record.InitiatedOutside,
            InMapping = record.InMapping,
            Mapping = (NatMappingBehavior)record.Mapping,
            IpChecksumDelta = record.IpChecksumDelta,
            TransportChecksumDelta = record.TransportChecksumDelta,
            Tcp = (SessionTcpTracking)record.Tcp,
            CreatedTicks = record.CreatedTicks,
            LastSeenTicks = record.LastSeenTicks,
            PacketsForward = record.PacketsForward,
            PacketsReply = record.PacketsReply,
            BytesForward = record.BytesForward,
            BytesReply = record.BytesReply,
        };
    }

    public static SessionRecord ToRecord(SessionRecordView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        IReadOnlyList<NatRule> rules = ParseRules(new RulesText(view.Rule ?? "", "rule")).Rules;
        if (rules.Count != 1)
        {
            throw new NatControlException(NatErrno.EINVAL, $"A session's \"rule\" must be exactly one ipnat rule; it holds {rules.Count}.");
        }
        return new SessionRecord
        {
            Interface = view.Interface,
            Rule = rules[0],
            Original = ToFlow(view.Original, "original"),
            Translated = ToFlow(view.Translated, "translated"),
            InitiatedOutside = view.InitiatedOutside,
            InMapping = view.InMapping,
            Mapping = (MappingBehavior)view.Mapping,
            IpChecksumDelta = view.IpChecksumDelta,
            TransportChecksumDelta = view.TransportChecksumDelta,
            Tcp = (TcpTracking)view.Tcp,
            CreatedTicks = view.CreatedTicks,
            LastSeenTicks = view.LastSeenTicks,
            PacketsForward = view.PacketsForward,
            PacketsReply = view.PacketsReply,
            BytesForward = view.BytesForward,
            BytesReply = view.BytesReply,
        };
    }

    public static NatInstanceView ToView(NatInstance instance)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return new NatInstanceView
        {
            Name = instance.Name,
            InternalIPInterfaceAddressPrefix = instance.InternalIPInterfaceAddressPrefix.ToString(),
            ExternalIPInterfaceAddressPrefix = instance.ExternalIPInterfaceAddressPrefix?.ToString(),
            ExternalAddresses = [.. instance.ExternalAddresses.Select(external => new ExternalAddressView(external.IPAddress.ToString(), external.PortStart, external.PortEnd))],
            TcpEstablishedConnectionTimeout = Seconds(instance.TcpEstablishedConnectionTimeout),
            TcpTransientConnectionTimeout = Seconds(instance.TcpTransientConnectionTimeout),
            UdpIdleSessionTimeout = Seconds(instance.UdpIdleSessionTimeout),
            IcmpQueryTimeout = Seconds(instance.IcmpQueryTimeout),
            TcpFilteringBehavior = (NatFilteringBehavior)instance.TcpFilteringBehavior,
            UdpFilteringBehavior = (NatFilteringBehavior)instance.UdpFilteringBehavior,
            UdpInboundRefresh = instance.UdpInboundRefresh,
            MappingBehavior = (NatMappingBehavior)instance.MappingBehavior,
            PreservePortParity = instance.PreservePortParity,
        };
    }

    /// <summary>New-NetNat: Name and InternalIPInterfaceAddressPrefix are required, the rest default.</summary>
    public static NatInstance NewInstance(NatInstanceView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        if (string.IsNullOrWhiteSpace(view.Name))
        {
            throw new NatControlException(NatErrno.EINVAL, "A NAT instance needs a name (--name).");
        }
        var instance = new NatInstance
        {
            Name = view.Name,
            InternalIPInterfaceAddressPrefix = Prefix(view.InternalIPInterfaceAddressPrefix, "InternalIPInterfaceAddressPrefix")
                ?? throw new NatControlException(NatErrno.EINVAL, $"NAT '{view.Name}' needs an InternalIPInterfaceAddressPrefix (--internal-prefix)."),
        };
        return Apply(instance, view with { Name = null, InternalIPInterfaceAddressPrefix = null });
    }

    /// <summary>Set-NetNat: the members given replace the instance's; a name, if given, must match.</summary>
    public static NatInstance Apply(NatInstance instance, NatInstanceView patch)
    {
        ArgumentNullException.ThrowIfNull(instance);
        ArgumentNullException.ThrowIfNull(patch);
        if (patch.Name is not null && !string.Equals(patch.Name, instance.Name, StringComparison.OrdinalIgnoreCase))
        {
            throw new NatControlException(NatErrno.EINVAL, $"A NAT instance cannot be renamed ('{instance.Name}' to '{patch.Name}'); remove it and add it again.");
        }
        return instance with
        {
            InternalIPInterfaceAddressPrefix = Prefix(patch.InternalIPInterfaceAddressPrefix, "InternalIPInterfaceAddressPrefix") ?? instance.InternalIPInterfaceAddressPrefix,
            ExternalIPInterfaceAddressPrefix = Prefix(patch.ExternalIPInterfaceAddressPrefix, "ExternalIPInterfaceAddressPrefix") ?? instance.ExternalIPInterfaceAddressPrefix,
            ExternalAddresses = patch.ExternalAddresses is null
                ? instance.ExternalAddresses
                : [.. patch.ExternalAddresses.Select(external => new NatExternalAddress(ControlText.AnyAddress(external.IPAddress, "External address"), external.PortStart, external.PortEnd))],
            TcpEstablishedConnectionTimeout = Timeout(patch.TcpEstablishedConnectionTimeout) ?? instance.TcpEstablishedConnectionTimeout,
            TcpTransientConnectionTimeout = Timeout(patch.TcpTransientConnectionTimeout) ?? instance.TcpTransientConnectionTimeout,
            UdpIdleSessionTimeout = Timeout(patch.UdpIdleSessionTimeout) ?? instance.UdpIdleSessionTimeout,
            IcmpQueryTimeout = Timeout(patch.IcmpQueryTimeout) ?? instance.IcmpQueryTimeout,
            TcpFilteringBehavior = (FilteringBehavior?)patch.TcpFilteringBehavior ?? instance.TcpFilteringBehavior,
            UdpFilteringBehavior = (FilteringBehavior?)patch.UdpFilteringBehavior ?? instance.UdpFilteringBehavior,
            UdpInboundRefresh = patch.UdpInboundRefresh ?? instance.UdpInboundRefresh,
            MappingBehavior = (MappingBehavior?)patch.MappingBehavior ?? instance.MappingBehavior,
            PreservePortParity = patch.PreservePortParity ?? instance.PreservePortParity,
        };
    }

    public static StaticMappingView ToView(NatStaticMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        return new StaticMappingView
        {
            NatName = mapping.NatName,
            StaticMappingID = mapping.StaticMappingID,
            Protocol = (NatStaticMappingProtocol)mapping.Protocol,
            ExternalIPAddress = mapping.ExternalIPAddress.ToString(),
            ExternalPort = mapping.ExternalPort,
            InternalIPAddress = mapping.InternalIPAddress.ToString(),
            InternalPort = mapping.InternalPort,
            RemoteExternalIPAddressPrefix = mapping.RemoteExternalIPAddressPrefix.ToString(),
        };
    }

    public static NatStaticMapping ToMapping(StaticMappingView view, int id)
    {
        ArgumentNullException.ThrowIfNull(view);
        return new NatStaticMapping
        {
            NatName = view.NatName,
            StaticMappingID = id,
            Protocol = (StaticMappingProtocol)view.Protocol,
            ExternalIPAddress = string.IsNullOrEmpty(view.ExternalIPAddress) ? Ipv4Address.Any : ControlText.AnyAddress(view.ExternalIPAddress, "ExternalIPAddress"),
            ExternalPort = view.ExternalPort,
            InternalIPAddress = ControlText.AnyAddress(view.InternalIPAddress, "InternalIPAddress"),
            InternalPort = view.InternalPort,
            RemoteExternalIPAddressPrefix = Prefix(view.RemoteExternalIPAddressPrefix, "RemoteExternalIPAddressPrefix") ?? IpPrefix.Any,
        };
    }

    public static FlowView ToView(IpFlow flow)
        => new((byte)flow.Protocol, flow.Source.ToString(), flow.SourcePort, flow.Destination.ToString(), flow.DestinationPort);

    /// <summary>
    /// A flow's addresses are checked when its body is read; this checks them again for a view made
    /// in code. Both are of one family (IPv4, or IPv6 for a NAT66 session).
    /// </summary>
    public static IpFlow ToFlow(FlowView view, string what)
    {
        IpAddress source = ControlText.AnyAddress(view.Source, what + ".source");
        IpAddress destination = ControlText.AnyAddress(view.Destination, what + ".destination");
        if (source.IsIpv6 != destination.IsIpv6)
        {
            throw new NatControlException(NatErrno.EINVAL, $"{what} has an {(source.IsIpv6 ? "IPv6" : "IPv4")} source ({source}) and an {(destination.IsIpv6 ? "IPv6" : "IPv4")} destination ({destination}); a flow's addresses are of one family.");
        }
        return new IpFlow((IpProtocol)view.Protocol, source, view.SourcePort, destination, view.DestinationPort);
    }

    public static SessionView ToView(SessionInfo session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return new SessionView
        {
            Id = session.Id,
            Family = SessionFamilyNames.Of(session.Family),
            Protocol = session.Protocol,
            ProtocolNumber = session.ProtocolNumber,
            Original = ToView(session.Original),
            Translated = ToView(session.Translated),
            InitiatedOutside = session.InitiatedOutside,
            InternalSourceAddress = session.InternalSourceAddress,
            InternalSourcePort = session.InternalSourcePort,
            InternalDestinationAddress = session.InternalDestinationAddress,
            InternalDestinationPort = session.InternalDestinationPort,
            ExternalSourceAddress = session.ExternalSourceAddress,
            ExternalSourcePort = session.ExternalSourcePort,
            ExternalDestinationAddress = session.ExternalDestinationAddress,
            ExternalDestinationPort = session.ExternalDestinationPort,
            CreationTime = session.CreationTime,
            LastSeen = session.LastSeen,
            Expires = session.Expires,
            State = session.State,
            Rule = session.Rule,
            RuleLabel = session.RuleLabel,
            PacketsOut = session.PacketsOut,
            PacketsIn = session.PacketsIn,
            BytesOut = session.BytesOut,
            BytesIn = session.BytesIn,
        };
    }

    public static StatisticsView ToView(NatStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        return new StatisticsView
        {
            MappedIn = statistics.MappedIn,
            MappedOut = statistics.MappedOut,
            BytesIn = statistics.BytesIn,
            BytesOut = statistics.BytesOut,
            Added = statistics.Added,
            Expired = statistics.Expired,
            Removed = statistics.Removed,
            AddressGone = statistics.AddressGone,
            NoMemory = statistics.NoMemory,
            Bad = statistics.Bad,
            Passed = statistics.Passed,
            InUse = statistics.InUse,
            InUseIpv6 = statistics.InUseIpv6,
            InUseNat64 = statistics.InUseNat64,
            Mappings = statistics.Mappings,
            Orphans = statistics.Orphans,
            Rules = statistics.Rules,
            Locked = statistics.Locked,
            IcmpErrorsTranslated = statistics.IcmpErrorsTranslated,
            RefusalRepliesSuppressed = statistics.RefusalRepliesSuppressed,
            FragmentsTranslated = statistics.FragmentsTranslated,
            Drops = statistics.Drops,
        };
    }

    /// <summary>NetNat's "Enabled" is RFC 4787 hairpinning with the external source.</summary>
    public static string HairpinningName(HairpinningMode mode) => mode == HairpinningMode.Disabled ? "Disabled" : "Enabled";

    public static HairpinningMode Hairpinning(string? name) => name?.Trim().ToUpperInvariant() switch
    {
        "ENABLED" => HairpinningMode.ExternalSource,
        "DISABLED" => HairpinningMode.Disabled,
        _ => throw new NatControlException(NatErrno.EINVAL, $"Hairpinning mode \"{name}\" is neither Enabled nor Disabled."),
    };

    /// <summary>A prefix of either family: an IPv6 instance (NAT66) has IPv6 prefixes.</summary>
    private static IpPrefix? Prefix(string? text, string what) => text is null ? null : ControlText.AnyPrefix(text, what);

    private static int Seconds(TimeSpan value) => (int)Math.Min(value.TotalSeconds, int.MaxValue);

    private static TimeSpan? Timeout(int? seconds) => seconds is { } value ? TimeSpan.FromSeconds(value) : null;
}
