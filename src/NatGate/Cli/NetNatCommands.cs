using System.CommandLine;
using System.Globalization;
using NatGate.Control;
using NatGate.Core.Addressing;
using NatGate.Core.NetNat;
using NatGate.Core.Packets;
using NatGate.Core.Rules;
using Spectre.Console;
using static NatGate.Cli.ControlInvocation;

namespace NatGate.Cli;

/// <summary>
/// The NetNat face of the daemon: natgate nat (New/Set/Get/Remove-NetNat), natgate mapping
/// (the NetNatStaticMapping cmdlets) and natgate hairpinning (Set-NetNatGlobal).
/// </summary>
internal static class NetNatCommands
{
    public static IEnumerable<Command> Create() => [Nat(), Mapping(), Hairpinning()];

    /// <summary>The New-NetNat and Set-NetNat settings as options.</summary>
    private sealed class InstanceOptions
    {
        public Option<string> Name { get; } = new("--name") { Description = "The NAT instance's name.", Required = true };
        public Option<string> InternalPrefix { get; } = new("--internal-prefix") { Description = "InternalIPInterfaceAddressPrefix: the inside network, a.b.c.d/n (or an IPv6 prefix for NAT66, such as fd00:77::/64)." };
        public Option<string> ExternalPrefix { get; } = new("--external-prefix") { Description = "ExternalIPInterfaceAddressPrefix: use this gateway's addresses in a.b.c.d/n when no --external-address is given." };
        public Option<string[]> ExternalAddresses { get; } = new("--external-address") { Description = "An external address, A or A:LO-HI for its port range (default 1024-65535); repeat for several.", AllowMultipleArgumentsPerToken = false };
        public Option<int?> TcpEstablishedTimeout { get; } = new("--tcp-established-timeout") { Description = "TcpEstablishedConnectionTimeout in seconds (default 7440)." };
        public Option<int?> TcpTransientTimeout { get; } = new("--tcp-transient-timeout") { Description = "TcpTransientConnectionTimeout in seconds (default 240)." };
        public Option<int?> UdpIdleTimeout { get; } = new("--udp-idle-timeout") { Description = "UdpIdleSessionTimeout in seconds (default 300, at least 120)." };
        public Option<int?> IcmpQueryTimeout { get; } = new("--icmp-query-timeout") { Description = "IcmpQueryTimeout in seconds (default 60)." };
        public Option<string> TcpFiltering { get; } = new("--tcp-filtering")
        {
            HelpName = "VALUE",
            Description = "TcpFilteringBehavior: EndpointIndependentFiltering, AddressDependentFiltering or AddressAndPortDependentFiltering (the word Filtering may be left off).",
        };
        public Option<string> UdpFiltering { get; } = new("--udp-filtering")
        {
            HelpName = "VALUE",
            Description = "UdpFilteringBehavior: EndpointIndependentFiltering, AddressDependentFiltering or AddressAndPortDependentFiltering (the word Filtering may be left off).",
        };
        public Option<string> UdpInboundRefresh { get; } = new("--udp-inbound-refresh") { HelpName = "true|false", Description = "UdpInboundRefresh: true or false ($true, $false)." };
        public Option<string> Mapping { get; } = new("--mapping-behavior") { HelpName = "VALUE", Description = "NatGate's addition: EndpointIndependent, AddressDependent or AddressAndPortDependent." };
        public Option<string> PreservePortParity { get; } = new("--preserve-port-parity")
        {
            HelpName = "true|false",
            Description = "NatGate's addition: true gives a new mapping an external port of the inside port's parity when one is free (RFC 4787 REQ-4); default false.",
        };

        public Command AddTo(Command command)
        {
            command.Options.Add(Name);
            command.Options.Add(InternalPrefix);
            command.Options.Add(ExternalPrefix);
            command.Options.Add(ExternalAddresses);
            command.Options.Add(TcpEstablishedTimeout);
            command.Options.Add(TcpTransientTimeout);
            command.Options.Add(UdpIdleTimeout);
            command.Options.Add(IcmpQueryTimeout);
            command.Options.Add(TcpFiltering);
            command.Options.Add(UdpFiltering);
            command.Options.Add(UdpInboundRefresh);
            command.Options.Add(Mapping);
            command.Options.Add(PreservePortParity);
            return command;
        }

        /// <summary>The settings given on the command line; the others stay null (Set-NetNat changes only those).</summary>
        public NatInstanceView Read(ParseResult parseResult)
        {
            string[]? externals = parseResult.GetValue(ExternalAddresses);
            return new NatInstanceView
            {
                Name = parseResult.GetValue(Name),
                InternalIPInterfaceAddressPrefix = parseResult.GetValue(InternalPrefix),
                ExternalIPInterfaceAddressPrefix = parseResult.GetValue(ExternalPrefix),
                ExternalAddresses = externals is { Length: > 0 } ? [.. externals.Select(ExternalAddress)] : null,
                TcpEstablishedConnectionTimeout = parseResult.GetValue(TcpEstablishedTimeout),
                TcpTransientConnectionTimeout = parseResult.GetValue(TcpTransientTimeout),
                UdpIdleSessionTimeout = parseResult.GetValue(UdpIdleTimeout),
                IcmpQueryTimeout = parseResult.GetValue(IcmpQueryTimeout),
                TcpFilteringBehavior = (NatFilteringBehavior?)Value(parseResult, TcpFiltering, NetNatValues.Filtering),
                UdpFilteringBehavior = (NatFilteringBehavior?)Value(parseResult, UdpFiltering, NetNatValues.Filtering),
                UdpInboundRefresh = Value(parseResult, UdpInboundRefresh, NetNatValues.Switch),
                MappingBehavior = (NatMappingBehavior?)Value(parseResult, Mapping, NetNatValues.Mapping),
                PreservePortParity = Value(parseResult, PreservePortParity, NetNatValues.Switch),
            };
        }

        /// <summary>
        /// A NetNat parameter's value as the option gave it, read through the table the TOML
        /// configuration reads (<see cref="NetNatValues"/>), so both accept the same words; null
        /// when not given. Read here, not by the parser, so a wrong word is bad input (exit 2)
        /// with the words there are, and "$true" stays one value.
        /// </summary>
        private static T? Value<T>(ParseResult parseResult, Option<string> option, IReadOnlyList<(string Name, T Value)> choices)
            where T : struct
        {
            string? text = parseResult.GetValue(option);
            if (text is null)
            {
                return null;
            }
            return NetNatValues.TryRead(choices, text, out T value)
                ? value
                : throw new InputException($"{option.Name} '{text}' is not one of {NetNatValues.Names(choices)}.");
        }
    }

    /// <summary>"A" or "A:LO-HI"; IPv6 as "2001:db8::10" or "[2001:db8::10]:LO-HI".</summary>
    internal static ExternalAddressView ExternalAddress(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int colon;
        string address;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            address = close < 0 ? text : text[1..close];
            colon = close < 0 || close + 1 == text.Length ? -1 : close + 1;
            if (close < 0 || (colon >= 0 && text[colon] != ':') || !Ipv6Address.TryParse(address, out _))
            {
                throw new InputException($"--external-address \"{text}\": not an IPv6 address in brackets ([2001:db8::10] or [2001:db8::10]:LO-HI).");
            }
        }
        else if (text.Count(character => character == ':') > 1)
        {
            (address, colon) = (text, -1);
            if (!Ipv6Address.TryParse(address, out _))
            {
                throw new InputException($"--external-address \"{text}\": not an IPv6 address (give a range as [2001:db8::10]:LO-HI).");
            }
        }
        else
        {
            colon = text.IndexOf(':', StringComparison.Ordinal);
            address = colon < 0 ? text : text[..colon];
            if (!Ipv4Address.TryParse(address, out _))
            {
                throw new InputException($"--external-address \"{text}\": \"{address}\" is not an IP address (A or A:LO-HI, [IPv6] or [IPv6]:LO-HI).");
            }
        }
        if (colon < 0)
        {
            return new ExternalAddressView(address);
        }
        string[] range = text[(colon + 1)..].Split('-');
        if (range.Length != 2
            || !ushort.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out ushort low)
            || !ushort.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort high))
        {
            throw new InputException($"--external-address \"{text}\": the port range must be LO-HI, for example 1024-65535.");
        }
        return new ExternalAddressView(address, low, high);
    }

    private static Command Nat()
    {
        var invocation = new ControlInvocation();

        var list = new Command("list", "List the NAT instances (Get-NetNat).");
        invocation.SetAction(list, async (_, client, token) =>
        {
            IReadOnlyList<NatInstanceView> instances = await client.NatInstancesAsync(token).ConfigureAwait(false);
            return new ControlReply(console =>
            {
                if (instances.Count == 0)
                {
                    console.WriteLine("No NAT instances.");
                    return;
                }
                var table = Table("Name", "Internal prefix", "External", "Timeouts (s) TCP est/trans, UDP, ICMP", "Filtering TCP/UDP", "Mapping", "UDP inbound refresh", "Port parity");
                foreach (NatInstanceView instance in instances)
                {
                    string externals = instance.ExternalAddresses is { Count: > 0 } addresses
                        ? string.Join(", ", addresses.Select(external => $"{ControlText.EndpointText(external.IPAddress, external.PortStart)}-{external.PortEnd}"))
                        : $"addresses in {instance.ExternalIPInterfaceAddressPrefix}";
                    Row(table,
                        instance.Name ?? "",
                        instance.InternalIPInterfaceAddressPrefix ?? "",
                        externals,
                        string.Create(CultureInfo.InvariantCulture, $"{instance.TcpEstablishedConnectionTimeout}/{instance.TcpTransientConnectionTimeout}, {instance.UdpIdleSessionTimeout}, {instance.IcmpQueryTimeout}"),
                        $"{instance.TcpFilteringBehavior}/{instance.UdpFilteringBehavior}",
                        $"{instance.MappingBehavior}",
                        instance.UdpInboundRefresh == true ? "yes" : "no",
                        instance.PreservePortParity == true ? "kept" : "not kept");
                }
                console.Write(table);
            });
        });

        var addOptions = new InstanceOptions();
        Command add = addOptions.AddTo(new Command("add", "Add a NAT instance (New-NetNat); --name and --internal-prefix are required."));
        invocation.SetAction(add, async (parseResult, client, token) =>
        {
            NatInstanceView added = await client.AddNatAsync(addOptions.Read(parseResult), token).ConfigureAwait(false);
            return Say($"Added NAT '{added.Name}' for {added.InternalIPInterfaceAddressPrefix}.");
        });

        var setOptions = new InstanceOptions();
        Command set = setOptions.AddTo(new Command("set", "Change a NAT instance (Set-NetNat); only the options given change."));
        invocation.SetAction(set, async (parseResult, client, token) =>
        {
            NatInstanceView changes = setOptions.Read(parseResult);
            NatInstanceView changed = await client.SetNatAsync(changes.Name!, changes, token).ConfigureAwait(false);
            return Say($"Changed NAT '{changed.Name}'.");
        });

        var removeName = new Option<string>("--name") { Description = "The NAT instance to remove, with its static mappings.", Required = true };
        var remove = new Command("remove", "Remove a NAT instance and its static mappings (Remove-NetNat).") { removeName };
        invocation.SetAction(remove, async (parseResult, client, token) =>
        {
            string name = parseResult.GetValue(removeName)!;
            await client.RemoveNatAsync(name, token).ConfigureAwait(false);
            return Say($"Removed NAT '{name}'.");
        });

        return invocation.AddTo(new Command("nat", "List, add, change and remove NetNat instances.") { list, add, set, remove });
    }

    private static Command Mapping()
    {
        var invocation = new ControlInvocation();

        var list = new Command("list", "List the static mappings (Get-NetNatStaticMapping).");
        invocation.SetAction(list, async (_, client, token) =>
        {
            // The port mappings first, so that --json prints the static mappings' reply, as it always has.
            IReadOnlyList<PortMappingView> requested = await client.PortMappingsAsync(token).ConfigureAwait(false);
            IReadOnlyList<StaticMappingView> mappings = await client.MappingsAsync(token).ConfigureAwait(false);
            return new ControlReply(console =>
            {
                if (requested.Count > 0)
                {
                    // The mappings inside hosts asked for (PCP, NAT-PMP), which live as long as their lifetime.
                    var asked = Table("Asked with", "Protocol", "External", "Internal", "Lifetime left (s)");
                    foreach (PortMappingView mapping in requested)
                    {
                        Row(asked, mapping.RequestedWith, mapping.Protocol.ToUpperInvariant(), ControlText.EndpointText(mapping.ExternalAddress, mapping.ExternalPort),
                            ControlText.EndpointText(mapping.InternalAddress, mapping.InternalPort), mapping.SecondsLeft.ToString(CultureInfo.InvariantCulture));
                    }
                    console.Write(asked);
                }
                if (mappings.Count == 0)
                {
                    console.WriteLine("No static mappings.");
                    return;
                }
                var table = Table("NAT", "Id", "Protocol", "External", "Internal", "Remotes");
                foreach (StaticMappingView mapping in mappings)
                {
                    Row(table,
                        mapping.NatName,
                        mapping.StaticMappingID.ToString(CultureInfo.InvariantCulture),
                        mapping.Protocol.ToString(),
                        mapping.ExternalIPAddress is null or "0.0.0.0" or "::" ? $"*:{mapping.ExternalPort}" : ControlText.EndpointText(mapping.ExternalIPAddress, mapping.ExternalPort),
                        ControlText.EndpointText(mapping.InternalIPAddress, mapping.InternalPort ?? mapping.ExternalPort),
                        mapping.RemoteExternalIPAddressPrefix ?? "0.0.0.0/0");
                }
                console.Write(table);
            });
        });

        var natName = new Option<string>("--nat-name") { Description = "NatName: the NAT instance the mapping belongs to.", Required = true };
        var id = new Option<int>("--id") { Description = "StaticMappingID; 0 or absent takes the next free one." };
        var protocol = new Option<StaticMappingProtocol>("--protocol") { Description = "TCP or UDP.", DefaultValueFactory = _ => StaticMappingProtocol.TCP };
        var externalAddress = new Option<string>("--external-address") { Description = "ExternalIPAddress; 0.0.0.0 or absent means every external address of the instance." };
        var externalPort = new Option<ushort>("--external-port") { Description = "ExternalPort.", Required = true };
        var internalAddress = new Option<string>("--internal-address") { Description = "InternalIPAddress.", Required = true };
        var internalPort = new Option<ushort?>("--internal-port") { Description = "InternalPort; defaults to the external port." };
        var remotePrefix = new Option<string>("--remote-prefix") { Description = "RemoteExternalIPAddressPrefix: only remotes in a.b.c.d/n may use the mapping." };
        var add = new Command("add", "Add a static mapping (Add-NetNatStaticMapping).") { natName, id, protocol, externalAddress, externalPort, internalAddress, internalPort, remotePrefix };
        invocation.SetAction(add, async (parseResult, client, token) =>
        {
            var mapping = new StaticMappingView
            {
                NatName = parseResult.GetValue(natName)!,
                StaticMappingID = parseResult.GetValue(id),
                Protocol = (NatStaticMappingProtocol)parseResult.GetValue(protocol),
                ExternalIPAddress = parseResult.GetValue(externalAddress),
                ExternalPort = parseResult.GetValue(externalPort),
                InternalIPAddress = parseResult.GetValue(internalAddress)!,
                InternalPort = parseResult.GetValue(internalPort),
                RemoteExternalIPAddressPrefix = parseResult.GetValue(remotePrefix),
            };
            StaticMappingView added = await client.AddMappingAsync(mapping, token).ConfigureAwait(false);
            return Say($"Added static mapping {added.StaticMappingID} to NAT '{added.NatName}'.");
        });

        var removeNat = new Option<string>("--nat-name") { Description = "The NAT instance.", Required = true };
        var removeId = new Option<int>("--id") { Description = "The StaticMappingID to remove.", Required = true };
        var remove = new Command("remove", "Remove a static mapping (Remove-NetNatStaticMapping).") { removeNat, removeId };
        invocation.SetAction(remove, async (parseResult, client, token) =>
        {
            string name = parseResult.GetValue(removeNat)!;
            int mappingId = parseResult.GetValue(removeId);
            await client.RemoveMappingAsync(name, mappingId, token).ConfigureAwait(false);
            return Say($"Removed static mapping {mappingId} of NAT '{name}'.");
        });

        return invocation.AddTo(new Command("mapping", "List, add and remove NetNat static mappings.") { list, add, remove });
    }

    private static Command Hairpinning()
    {
        var mode = new Argument<string?>("mode") { Description = "enabled or disabled; without it, show the mode.", Arity = ArgumentArity.ZeroOrOne };
        mode.AcceptOnlyFromAmong("enabled", "disabled", "Enabled", "Disabled");
        var invocation = new ControlInvocation();
        Command command = invocation.AddTo(new Command("hairpinning", "Show or set hairpinning (Set-NetNatGlobal -InterRoutingDomainHairpinningMode).") { mode });
        invocation.SetAction(command, async (parseResult, client, token) =>
        {
            string? wanted = parseResult.GetValue(mode);
            string current = wanted is null
                ? await client.HairpinningAsync(token).ConfigureAwait(false)
                : await client.SetHairpinningAsync(wanted, token).ConfigureAwait(false);
            return Say($"Hairpinning: {current}");
        });
        return command;
    }
}
