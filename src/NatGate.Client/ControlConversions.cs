using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.Translation;

namespace NatGate.Control;

/// <summary>Between the engine's objects and the API's bodies.</summary>
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
        return new RuleView(rule.Index, RuleText(rule.Rule), rule.Rule.Label, rule.Active, rule.OnThisGateway, rule.Sessions);
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
            Original = record.Original,
            Translated = record.Translated,
            InitiatedOutside = record.InitiatedOutside,
            InMapping = record.InMapping,
            Mapping = record.Mapping,
            IpChecksumDelta = record.IpChecksumDelta,
            TransportChecksumDelta = record.TransportChecksumDelta,
            Tcp = record.Tcp,
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
            Original = view.Original,
            Translated = view.Translated,
            InitiatedOutside = view.InitiatedOutside,
            InMapping = view.InMapping,
            Mapping = view.Mapping,
            IpChecksumDelta = view.IpChecksumDelta,
            TransportChecksumDelta = view.TransportChecksumDelta,
            Tcp = view.Tcp,
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
            ExternalAddresses = [.. instance.ExternalAddresses.Select(external => new ExternalAddressView(Ipv4Address.Format(external.IPAddress), external.PortStart, external.PortEnd))],
            TcpEstablishedConnectionTimeout = Seconds(instance.TcpEstablishedConnectionTimeout),
            TcpTransientConnectionTimeout = Seconds(instance.TcpTransientConnectionTimeout),
            UdpIdleSessionTimeout = Seconds(instance.UdpIdleSessionTimeout),
            IcmpQueryTimeout = Seconds(instance.IcmpQueryTimeout),
            TcpFilteringBehavior = instance.TcpFilteringBehavior,
            UdpFilteringBehavior = instance.UdpFilteringBehavior,
            UdpInboundRefresh = instance.UdpInboundRefresh,
            MappingBehavior = instance.MappingBehavior,
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
                : [.. patch.ExternalAddresses.Select(external => new NatExternalAddress(ControlText.Address(external.IPAddress, "External address"), external.PortStart, external.PortEnd))],
            TcpEstablishedConnectionTimeout = Timeout(patch.TcpEstablishedConnectionTimeout) ?? instance.TcpEstablishedConnectionTimeout,
            TcpTransientConnectionTimeout = Timeout(patch.TcpTransientConnectionTimeout) ?? instance.TcpTransientConnectionTimeout,
            UdpIdleSessionTimeout = Timeout(patch.UdpIdleSessionTimeout) ?? instance.UdpIdleSessionTimeout,
            IcmpQueryTimeout = Timeout(patch.IcmpQueryTimeout) ?? instance.IcmpQueryTimeout,
            TcpFilteringBehavior = patch.TcpFilteringBehavior ?? instance.TcpFilteringBehavior,
            UdpFilteringBehavior = patch.UdpFilteringBehavior ?? instance.UdpFilteringBehavior,
            UdpInboundRefresh = patch.UdpInboundRefresh ?? instance.UdpInboundRefresh,
            MappingBehavior = patch.MappingBehavior ?? instance.MappingBehavior,
        };
    }

    public static StaticMappingView ToView(NatStaticMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        return new StaticMappingView
        {
            NatName = mapping.NatName,
            StaticMappingID = mapping.StaticMappingID,
            Protocol = mapping.Protocol,
            ExternalIPAddress = Ipv4Address.Format(mapping.ExternalIPAddress),
            ExternalPort = mapping.ExternalPort,
            InternalIPAddress = Ipv4Address.Format(mapping.InternalIPAddress),
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
            Protocol = view.Protocol,
            ExternalIPAddress = string.IsNullOrEmpty(view.ExternalIPAddress) ? 0 : ControlText.Address(view.ExternalIPAddress, "ExternalIPAddress"),
            ExternalPort = view.ExternalPort,
            InternalIPAddress = ControlText.Address(view.InternalIPAddress, "InternalIPAddress"),
            InternalPort = view.InternalPort,
            RemoteExternalIPAddressPrefix = Prefix(view.RemoteExternalIPAddressPrefix, "RemoteExternalIPAddressPrefix") ?? Ipv4Prefix.Any,
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

    private static Ipv4Prefix? Prefix(string? text, string what) => text is null ? null : ControlText.Prefix(text, what);

    private static int Seconds(TimeSpan value) => (int)Math.Min(value.TotalSeconds, int.MaxValue);

    private static TimeSpan? Timeout(int? seconds) => seconds is { } value ? TimeSpan.FromSeconds(value) : null;
}
