using System.Globalization;
using NatGate.Core.Addressing;
using NatGate.Core.Packets;
using NatGate.Core.Ports;

namespace NatGate.Core.Rules.Ipnat;

/// <summary>Reads one rule line, token by token, following the ipnat(5) grammar; every error names the token's column.</summary>
internal sealed class IpnatRuleReader(List<IpnatToken> tokens, int endColumn, string fileName, int line)
{
    private const string OptionList = "tcp, udp, tcp/udp, icmp, ip, proto, frag, age, mssclamp or proxy";

    private readonly HashSet<string> seenOptions = new(StringComparer.Ordinal);
    private int position;

    // The protocol may come from portmap and icmpidmap (IP Filter restricts the rule to what they name) or be written out.
    private RuleProtocols mappedProtocols;
    private IpnatToken? protocolToken;

    // Where "to" named the destination, for errors about it (a NAT64 prefix).
    private IpnatToken? destinationToken;
    private RuleProtocols? writtenProtocols;

    public NatRule Read()
    {
        IpnatToken keyword = Next("a rule: map, bimap, rdr or map-block");
        NatRuleKind kind = keyword.Text switch
        {
            "map" => NatRuleKind.Map,
            "bimap" => NatRuleKind.Bidirectional,
            "rdr" => NatRuleKind.Redirect,
            "map-block" => NatRuleKind.MapBlock,
            _ => throw Fail(keyword, $"expected a rule: map, bimap, rdr or map-block, found '{keyword.Text}'"),
        };
        var rule = new NatRule { Kind = kind, Origin = new RuleOrigin.IpnatLine(fileName, line) };
        rule = ReadInterfaces(rule, keyword.Text);
        rule = kind == NatRuleKind.Redirect ? ReadRedirectMatch(rule) : ReadMapMatch(rule);
        IpnatToken arrowTarget = Peek() ?? keyword;
        rule = kind == NatRuleKind.Redirect ? ReadRedirectTargets(rule) : ReadTranslatedAddresses(rule);
        if (rule.FamilyProblem is { } mixed)
        {
            throw Fail(arrowTarget, $"{mixed}; expected IPv4 or IPv6 addresses throughout");
        }
        if (rule.IsNat64 && Translation.Nat64.Nat64Mapping.ProblemOf(rule) is { } nat64Problem)
        {
            throw Fail(destinationToken ?? arrowTarget, nat64Problem);
        }
        rule = ReadOptions(rule);
        RuleProtocols protocols = kind == NatRuleKind.Redirect ? RuleProtocols.Tcp : RuleProtocols.Any;
        if (mappedProtocols != RuleProtocols.None)
        {
            if (writtenProtocols is { } written && written != mappedProtocols)
            {
                throw Fail(protocolToken!.Value, $"protocol '{protocolToken.Value.Text}' contradicts portmap or icmpidmap, which limit the rule to {IpnatNames.ProtocolWord(mappedProtocols) ?? "tcp, udp and icmp"}; expected it left out");
            }
            protocols = mappedProtocols;
        }
        else if (writtenProtocols is { } written)
        {
            protocols = written;
        }
        return rule with { Protocols = protocols };
    }

    private NatRule ReadInterfaces(NatRule rule, string keyword)
    {
        IpnatToken first = ReadInterfaceName($"after '{keyword}'");
        if (Peek()?.Kind != IpnatTokenKind.Comma)
        {
            return rule with { Interface = NameOrNull(first) };
        }
        Next("','");
        IpnatToken second = ReadInterfaceName($"after '{first.Text},'");
        return rule with { InsideInterface = NameOrNull(first), Interface = NameOrNull(second) };
    }

    private IpnatToken ReadInterfaceName(string where)
    {
        IpnatToken token = Next($"an interface name {where}");
        bool valid = token.Kind == IpnatTokenKind.Word && token.Text.Length <= 15
            && (char.IsAsciiLetter(token.Text[0]) || token.Text == "*")
            && token.Text.All(character => char.IsAsciiLetterOrDigit(character) || character is '_' or '.' or '-' or ':' or '*');
        return valid && token.Text is not ("from" or "any")
            ? token
            : throw Fail(token, $"expected an interface name {where} (such as natgate0, or in0,out0), found '{token.Text}'");
    }

    private static string? NameOrNull(IpnatToken token) => token.Text == "*" ? null : token.Text;

    private NatRule ReadMapMatch(NatRule rule)
    {
        NatRule matched;
        IpnatToken sourceToken;
        if (PeekWord("from"))
        {
            (matched, sourceToken) = ReadFromTo(rule);
        }
        else
        {
            sourceToken = Peek() ?? default;
            matched = rule with { Source = ReadAddress("as the source") };
        }
        if (rule.Kind == NatRuleKind.MapBlock && matched.Source.Length < 16)
        {
            throw Fail(sourceToken, $"map-block needs an internal prefix of /16 or longer, found /{matched.Source.Length}; expected a smaller network such as 10.0.0.0/24");
        }
        ExpectArrow("after the source");
        return matched;
    }

    private NatRule ReadRedirectMatch(NatRule rule)
    {
        if (PeekWord("from"))
        {
            (NatRule matched, _) = ReadFromTo(rule);
            ExpectArrow("after the destination");
            return matched;
        }
        rule = rule with { Destination = ReadAddress("as the external address") };
        if (PeekWord("port"))
        {
            IpnatToken keyword = Next("'port'");
            rule = rule with { DestinationPorts = ReadDashedPortRange(keyword.Text) };
        }
        ExpectArrow("after the external address and port");
        return rule;
    }

    private (NatRule Rule, IpnatToken SourceToken) ReadFromTo(NatRule rule)
    {
        Next("'from'");
        IpnatToken sourceToken = Peek() ?? default;
        (IpPrefix source, bool sourceNegated, PortMatch sourcePorts) = ReadObject("after 'from'");
        IpnatToken to = Next("'to' and the destination");
        if (to.Text != "to")
        {
            throw Fail(to, $"expected 'to' and the destination after the source, found '{to.Text}'");
        }
        destinationToken = Peek();
        (IpPrefix destination, bool destinationNegated, PortMatch destinationPorts) = ReadObject("after 'to'");
        return (rule with
        {
            Source = source,
            SourceNegated = sourceNegated,
            SourcePorts = sourcePorts,
            Destination = destination,
            DestinationNegated = destinationNegated,
            DestinationPorts = destinationPorts,
        }, sourceToken);
    }

    private (IpPrefix Prefix, bool Negated, PortMatch Ports) ReadObject(string where)
    {
        bool negated = false;
        if (Peek()?.Kind == IpnatTokenKind.Bang)
        {
            Next("'!'");
            negated = true;
        }
        IpPrefix prefix = ReadAddress(where);
        PortMatch ports = PortMatch.Any;
        if (PeekWord("port"))
        {
            Next("'port'");
            ports = ReadPortCondition();
        }
        return (prefix, negated, ports);
    }

    /// <summary>An address match: "any", a.b.c.d, a.b.c.d/n, a.b.c.d/255.255.255.0, a.b.c.d netmask m, or an IPv6 address or prefix.</summary>
    private IpPrefix ReadAddress(string where)
    {
        IpnatToken token = Next($"an address {where}");
        if (token.Text == "any")
        {
            return IpPrefix.Any;
        }
        return ParsePrefix(token, where, allowNetmask: true);
    }

    private IpPrefix ParsePrefix(IpnatToken token, string where, bool allowNetmask)
    {
        string text = token.Text;
        int slash = text.IndexOf('/', StringComparison.Ordinal);
        if (text.Contains(':', StringComparison.Ordinal))
        {
            // IPv6: an address (a /128) or a prefix; no netmask form.
            if (token.Kind != IpnatTokenKind.Word || !IpPrefix.TryParse(text, out IpPrefix ipv6) || !ipv6.IsIpv6)
            {
                throw Fail(token, $"expected an IPv6 address or prefix such as fd00:77::/64 {where}, found '{text}'");
            }
            return ipv6;
        }
        string addressText = slash < 0 ? text : text[..slash];
        if (token.Kind != IpnatTokenKind.Word || !TryAddress(addressText, out Ipv4Address address))
        {
            throw Fail(token, $"expected an address such as 10.0.0.0/24 or 'any' {where}, found '{text}'");
        }
        if (slash < 0)
        {
            if (allowNetmask && PeekWord("netmask"))
            {
                Next("'netmask'");
                IpnatToken maskToken = Next("a netmask after 'netmask'");
                return new Ipv4Prefix(address, MaskLength(maskToken, maskToken.Text));
            }
            return Ipv4Prefix.Host(address);
        }
        return new Ipv4Prefix(address, MaskLength(token.Part(slash + 1, text.Length - slash - 1), text[(slash + 1)..]));
    }

    private int MaskLength(IpnatToken token, string text)
    {
        if (text.Contains('.', StringComparison.Ordinal))
        {
            if (Ipv4Address.TryParse(text, out Ipv4Address mask) && Ipv4Prefix.TryMaskLength(mask.Value, out int fromMask))
            {
                return fromMask;
            }
        }
        else if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int length) && length <= 32)
        {
            return length;
        }
        throw Fail(token, $"expected a prefix length 0 to 32 or a contiguous netmask such as 255.255.255.0, found '{text}'");
    }

    /// <summary>An IPv4 or IPv6 address, or IP Filter's shorthand "0" for 0.0.0.0.</summary>
    private static bool TryAnyAddress(string text, out IpAddress address)
    {
        if (TryAddress(text, out Ipv4Address ipv4))
        {
            address = ipv4;
            return true;
        }
        return IpAddress.TryParse(text, out address);
    }

    /// <summary>a.b.c.d, or IP Filter's shorthand "0" for 0.0.0.0.</summary>
    private static bool TryAddress(string text, out Ipv4Address address)
    {
        if (text == "0")
        {
            address = Ipv4Address.Any;
            return true;
        }
        return Ipv4Address.TryParse(text, out address);
    }

    private NatRule ReadTranslatedAddresses(NatRule rule)
    {
        const string Expected = "expected the external addresses after '->', such as 192.0.2.1/32 or 'range 192.0.2.1-192.0.2.9'";
        IpnatToken token = Next("the external addresses after '->'");
        IpAddress first;
        IpAddress last;
        if (token.Text == "range")
        {
            IpnatToken range = Next("two addresses a.b.c.d-e.f.g.h after 'range'");
            int dash = range.Text.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0 || !TryAnyAddress(range.Text[..dash], out first) || !TryAnyAddress(range.Text[(dash + 1)..], out last)
                || first.IsIpv6 != last.IsIpv6)
            {
                throw Fail(range, $"expected two addresses a.b.c.d-e.f.g.h after 'range', found '{range.Text}'");
            }
            if (last < first)
            {
                throw Fail(range, $"address range {range.Text} is reversed; expected the lower address first");
            }
        }
        else
        {
            if (token.Kind != IpnatTokenKind.Word || token.Text == "any")
            {
                throw Fail(token, $"{Expected}, found '{token.Text}'");
            }
            IpPrefix prefix = ParsePrefix(token, "after '->'", allowNetmask: true);
            if (!prefix.IsIpv6 && prefix.First == (IpAddress)Ipv4Address.Any && prefix.Length == 32)
            {
                // IP Filter reads "-> 0/32" as "the interface's address at the time" (ipnat(5)):
                // the daemon fills it in, and moves the rule when the address changes.
                if (rule.Kind is not (NatRuleKind.Map or NatRuleKind.MapBlock) || rule.Interface is null)
                {
                    throw Fail(token, $"'-> {token.Text}' means the interface's own address: only a map or map-block rule naming an interface may use it");
                }
                return rule with { TranslatedFirst = Ipv4Address.Any, TranslatedLast = Ipv4Address.Any, TranslatedInterface = rule.Interface };
            }
            first = prefix.First;
            last = prefix.Last;
        }
        UInt128 count = IpAddress.CountFrom(first, last);
        if (rule.Kind == NatRuleKind.Bidirectional && count != rule.Source.Count)
        {
            throw Fail(token, string.Create(CultureInfo.InvariantCulture,
                $"bimap maps addresses one to one: the source {rule.Source} has {rule.Source.Count} addresses but the external side has {count}; expected equal sizes"));
        }
        return rule with { TranslatedFirst = first, TranslatedLast = last };
    }

    private NatRule ReadRedirectTargets(NatRule rule)
    {
        var targets = new List<IpAddress> { ReadRedirectTarget("'->'") };
        while (Peek()?.Kind == IpnatTokenKind.Comma)
        {
            Next("','");
            targets.Add(ReadRedirectTarget("','"));
        }
        return rule with { RedirectTargets = targets };
    }

    private IpAddress ReadRedirectTarget(string after)
    {
        IpnatToken token = Next($"an internal address after {after}");
        string text = token.Text.EndsWith("/32", StringComparison.Ordinal) ? token.Text[..^3]
            : token.Text.EndsWith("/128", StringComparison.Ordinal) ? token.Text[..^4] : token.Text;
        return token.Kind == IpnatTokenKind.Word && IpAddress.TryParse(text, out IpAddress address)
            ? address
            : throw Fail(token, $"expected an internal address such as 10.0.0.5 or fd00:77::5 after {after}, found '{token.Text}'");
    }

    private NatRule ReadOptions(NatRule rule)
    {
        while (Peek() is { } token)
        {
            Next("an option");
            if (IpnatNames.TryProtocol(token.Text, out RuleProtocols named))
            {
                SetWrittenProtocols(token, named);
                continue;
            }
            rule = token.Text switch
            {
                "proto" => ReadProto(rule, token),
                "portmap" => ReadPortmap(rule, token),
                "icmpidmap" => ReadIcmpIdMap(rule, token),
                "ports" => ReadPortsPerAddress(rule, token),
                "port" => ReadRedirectPort(rule, token),
                "round-robin" => Once(token, rule, NatRuleKind.Redirect) with { RoundRobin = true },
                "sticky" => Once(token, rule, NatRuleKind.Redirect) with { Sticky = true },
                "frag" => Once(token, rule, null) with { Fragments = true },
                "age" => ReadAge(Once(token, rule, null)),
                "mssclamp" => ReadMssClamp(Once(token, rule, null)),
                "parity" => ReadParity(Once(token, rule, null), token),
                "proxy" => ReadProxy(Once(token, rule, null)),
                _ => throw Fail(token, $"expected an option ({OptionsFor(rule.Kind)}), found '{token.Text}'"),
            };
        }
        return rule;
    }

    /// <summary>
    /// NatGate's "parity": a new mapping's external port keeps the inside port's parity when one of
    /// that parity is free (RFC 4787 REQ-4). Only rules that allocate ports take it.
    /// </summary>
    private NatRule ReadParity(NatRule rule, IpnatToken token)
        => rule.Kind is NatRuleKind.Map or NatRuleKind.MapBlock
            ? rule with { Policy = rule.Policy with { PreservePortParity = true } }
            : throw Fail(token, $"'parity' applies to map and map-block rules, which allocate ports; expected it left out of this {KindWord(rule.Kind)} rule");

    private static string OptionsFor(NatRuleKind kind) => kind switch
    {
        NatRuleKind.Map => "portmap, icmpidmap, parity, " + OptionList,
        NatRuleKind.MapBlock => "ports, parity, " + OptionList,
        NatRuleKind.Redirect => "port, round-robin, sticky, " + OptionList,
        _ => OptionList,
    };

    /// <summary>Records an option, refusing a repeat and an option that belongs to another kind of rule.</summary>
    private NatRule Once(IpnatToken token, NatRule rule, NatRuleKind? only)
    {
        if (only is { } kind && rule.Kind != kind)
        {
            throw Fail(token, $"'{token.Text}' applies to {KindWord(kind)} rules only; expected it left out of this {KindWord(rule.Kind)} rule");
        }
        return seenOptions.Add(token.Text) ? rule : throw Fail(token, $"'{token.Text}' is given twice; expected it once");
    }

    private static string KindWord(NatRuleKind kind) => kind switch
    {
        NatRuleKind.Map => "map",
        NatRuleKind.Redirect => "rdr",
        NatRuleKind.Bidirectional => "bimap",
        _ => "map-block",
    };

    private void SetWrittenProtocols(IpnatToken token, RuleProtocols protocols)
    {
        if (writtenProtocols is not null)
        {
            throw Fail(token, $"a second protocol '{token.Text}'; expected one protocol per rule (tcp/udp covers both)");
        }
        writtenProtocols = protocols;
        protocolToken = token;
    }

    private NatRule ReadProto(NatRule rule, IpnatToken keyword)
    {
        IpnatToken token = Next("a protocol after 'proto'");
        if (IpnatNames.TryProtocol(token.Text, out RuleProtocols protocols) || IpnatNames.TryProtocolNumber(token.Text, out protocols))
        {
            SetWrittenProtocols(keyword, protocols);
            return rule;
        }
        throw Fail(token, $"expected tcp (6), udp (17), icmp (1) or ip (0, every protocol) after 'proto', found '{token.Text}'");
    }

    private NatRule ReadPortmap(NatRule rule, IpnatToken keyword)
    {
        Once(keyword, rule, NatRuleKind.Map);
        IpnatToken protocolWord = Next("tcp, udp or tcp/udp after 'portmap'");
        if (!IpnatNames.TryProtocol(protocolWord.Text, out RuleProtocols protocols) || (protocols & ~RuleProtocols.TcpUdp) != 0)
        {
            throw Fail(protocolWord, $"expected tcp, udp or tcp/udp after 'portmap', found '{protocolWord.Text}'");
        }
        mappedProtocols |= protocols;
        IpnatToken range = Next($"a port range lo:hi or 'auto' after 'portmap {protocolWord.Text}'");
        if (range.Text == "auto")
        {
            return rule with { PortmapAuto = true };
        }
        return rule with { TranslatedPorts = ReadColonRange(range, $"a port range lo:hi or 'auto' after 'portmap {protocolWord.Text}'") };
    }

    private NatRule ReadIcmpIdMap(NatRule rule, IpnatToken keyword)
    {
        Once(keyword, rule, NatRuleKind.Map);
        IpnatToken protocolWord = Next("'icmp' after 'icmpidmap'");
        if (protocolWord.Text != "icmp")
        {
            throw Fail(protocolWord, $"expected 'icmp' after 'icmpidmap', found '{protocolWord.Text}'");
        }
        mappedProtocols |= RuleProtocols.Icmp;
        IpnatToken range = Next("an identifier range lo:hi after 'icmpidmap icmp'");
        return rule with { TranslatedIcmpIdentifiers = ReadColonRange(range, "an identifier range lo:hi after 'icmpidmap icmp'") };
    }

    private NatRule ReadPortsPerAddress(NatRule rule, IpnatToken keyword)
    {
        Once(keyword, rule, NatRuleKind.MapBlock);
        IpnatToken token = Next("a number of ports or 'auto' after 'ports'");
        if (token.Text == "auto")
        {
            return rule with { PortsPerAddress = 0 };
        }
        if (int.TryParse(token.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int ports) && ports is > 0 and <= 65535)
        {
            return rule with { PortsPerAddress = ports };
        }
        throw Fail(token, $"expected a number of ports 1 to 65535 or 'auto' after 'ports', found '{token.Text}'");
    }

    private NatRule ReadRedirectPort(NatRule rule, IpnatToken keyword)
    {
        Once(keyword, rule, NatRuleKind.Redirect);
        return rule with { RedirectPort = ReadPort(Next("a port number or service name after 'port'"), "'port'") };
    }

    private NatRule ReadAge(NatRule rule)
    {
        IpnatToken token = Next("seconds after 'age', such as 'age 30' or 'age 30/10'");
        int slash = token.Text.IndexOf('/', StringComparison.Ordinal);
        string idle = slash < 0 ? token.Text : token.Text[..slash];
        if (TrySeconds(idle, out int seconds))
        {
            if (slash < 0)
            {
                return rule with { AgeSeconds = seconds };
            }
            if (TrySeconds(token.Text[(slash + 1)..], out int closing))
            {
                return rule with { AgeSeconds = seconds, AgeClosingSeconds = closing };
            }
        }
        throw Fail(token, $"expected seconds 1 to 2147483647 after 'age', such as 'age 30' or 'age 30/10', found '{token.Text}'");
    }

    private static bool TrySeconds(string text, out int seconds)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out seconds) && seconds > 0;

    private NatRule ReadMssClamp(NatRule rule)
    {
        IpnatToken token = Next("a segment size after 'mssclamp'");
        return ushort.TryParse(token.Text, NumberStyles.None, CultureInfo.InvariantCulture, out ushort size) && size > 0
            ? rule with { MssClamp = size }
            : throw Fail(token, $"expected a segment size 1 to 65535 after 'mssclamp', found '{token.Text}'");
    }

    private NatRule ReadProxy(NatRule rule)
    {
        IpnatToken keyword = Next("'port' after 'proxy', as in 'proxy port ftp ftp/tcp'");
        if (keyword.Text != "port")
        {
            throw Fail(keyword, $"expected 'port' after 'proxy', as in 'proxy port ftp ftp/tcp', found '{keyword.Text}'");
        }
        ushort port = ReadPort(Next("a port number or service name after 'proxy port'"), "'proxy port'");
        string expected = string.Create(CultureInfo.InvariantCulture, $"a proxy NAME/PROTOCOL such as ftp/tcp after 'proxy port {port}'");
        IpnatToken proxy = Next(expected);
        int slash = proxy.Text.IndexOf('/', StringComparison.Ordinal);
        string name = slash < 0 ? "" : proxy.Text[..slash];
        string protocol = slash < 0 ? "" : proxy.Text[(slash + 1)..];
        if (name.Length == 0 || !name.All(char.IsAsciiLetterOrDigit) || protocol is not ("tcp" or "udp"))
        {
            throw Fail(proxy, $"expected {expected}, found '{proxy.Text}'");
        }
        if (name == "ftp" && protocol != "tcp")
        {
            throw Fail(proxy, $"the ftp helper follows FTP's control connection, which is TCP: write 'ftp/tcp', not '{proxy.Text}'");
        }
        return rule with { Proxy = new ProxyReference(port, name, protocol) };
    }

    /// <summary>A port condition after "port": = n, != n, &lt; n, &gt; n, &lt;= n, &gt;= n, n &lt;&gt; m, n &gt;&lt; m, n:m, or a bare n.</summary>
    private PortMatch ReadPortCondition()
    {
        IpnatToken token = Next("a port condition after 'port', such as '= 80' or '1024:65535'");
        if (token.Kind == IpnatTokenKind.Operator)
        {
            if (token.Text is "<>" or "><")
            {
                throw Fail(token, $"expected a comparison (=, !=, <, >, <=, >=) or a port number after 'port', found '{token.Text}'");
            }
            IpnatToken operand = Next($"a port number or service name after '{token.Text}'");
            ushort port = ReadPort(operand, $"'{token.Text}'");
            return token.Text switch
            {
                "=" => PortMatch.Exactly(port),
                "!=" => new PortMatch(port, port, Excluding: true),
                "<" => port > 0 ? new PortMatch(0, (ushort)(port - 1)) : throw Fail(operand, "no port lies below 0; expected a port above 0 after '<'"),
                ">" => port < 65535 ? new PortMatch((ushort)(port + 1), 65535) : throw Fail(operand, "no port lies above 65535; expected a port below 65535 after '>'"),
                "<=" => new PortMatch(0, port),
                _ => new PortMatch(port, 65535),
            };
        }
        if (token.Text.Contains(':', StringComparison.Ordinal))
        {
            PortRange range = ReadColonRange(token, "a port condition after 'port', such as '= 80' or '1024:65535'");
            return new PortMatch(range.First, range.Last);
        }
        ushort first = ReadPort(token, "'port'");
        if (Peek() is { Kind: IpnatTokenKind.Operator, Text: "<>" or "><" } rangeOperator)
        {
            Next("'<>' or '><'");
            IpnatToken secondToken = Next($"a port number after '{rangeOperator.Text}'");
            ushort second = ReadPort(secondToken, $"'{rangeOperator.Text}'");
            if (rangeOperator.Text == "<>")
            {
                // "n <> m": outside n..m, both bounds excluded from the match.
                return second >= first
                    ? new PortMatch(first, second, Excluding: true)
                    : throw Fail(secondToken, string.Create(CultureInfo.InvariantCulture, $"port range {first} <> {second} is reversed; expected the lower port first"));
            }
            return second - first >= 2
                ? new PortMatch((ushort)(first + 1), (ushort)(second - 1))
                : throw Fail(secondToken, string.Create(CultureInfo.InvariantCulture, $"no port lies strictly between {first} and {second}; expected the second port at least 2 above the first"));
        }
        return PortMatch.Exactly(first);
    }

    /// <summary>An rdr external port or range: "80" or "8000-8010".</summary>
    private PortMatch ReadDashedPortRange(string keyword)
    {
        IpnatToken token = Next($"a port number or service name after '{keyword}'");
        int dash = token.Text.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0 || IpnatNames.TryService(token.Text, out _))
        {
            return PortMatch.Exactly(ReadPort(token, $"'{keyword}'"));
        }
        ushort first = ReadPort(token.Part(0, dash), $"'{keyword}'");
        IpnatToken lastToken = token.Part(dash + 1, token.Text.Length - dash - 1);
        ushort last = ReadPort(lastToken, "'-'");
        return last >= first
            ? new PortMatch(first, last)
            : throw Fail(token, $"port range {token.Text} is reversed; expected the lower port first");
    }

    /// <summary>"lo:hi", inclusive.</summary>
    private PortRange ReadColonRange(IpnatToken token, string expected)
    {
        int colon = token.Text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == token.Text.Length - 1)
        {
            throw Fail(token, $"expected {expected}, found '{token.Text}'");
        }
        ushort first = ReadPort(token.Part(0, colon), "'port'", expected);
        ushort last = ReadPort(token.Part(colon + 1, token.Text.Length - colon - 1), "':'", expected);
        return last >= first
            ? new PortRange(first, last)
            : throw Fail(token, $"port range {token.Text} is reversed; expected the lower port first");
    }

    private ushort ReadPort(IpnatToken token, string after, string? expected = null)
    {
        if (token.Kind == IpnatTokenKind.Word && token.Text.Length > 0 && token.Text.All(char.IsAsciiDigit))
        {
            return int.TryParse(token.Text, NumberStyles.None, CultureInfo.InvariantCulture, out int number) && number <= 65535
                ? (ushort)number
                : throw Fail(token, $"port {token.Text} is out of range; expected a port number 0 to 65535");
        }
        if (IpnatNames.TryService(token.Text, out ushort port))
        {
            return port;
        }
        throw Fail(token, expected is null
            ? $"expected a port number or service name after {after}, found '{token.Text}'"
            : $"expected {expected}, found '{token.Text}'");
    }

    private void ExpectArrow(string where)
    {
        IpnatToken token = Next($"'->' {where}");
        if (token.Kind != IpnatTokenKind.Arrow)
        {
            throw Fail(token, $"expected '->' {where}, found '{token.Text}'");
        }
    }

    private IpnatToken? Peek() => position < tokens.Count ? tokens[position] : null;

    private bool PeekWord(string word) => Peek() is { Kind: IpnatTokenKind.Word } token && token.Text == word;

    private IpnatToken Next(string expected)
    {
        if (position >= tokens.Count)
        {
            throw new RuleSyntaxException(fileName, line, endColumn, $"expected {expected}, found the end of the line");
        }
        return tokens[position++];
    }

    private RuleSyntaxException Fail(IpnatToken token, string problem) => new(fileName, line, token.Column, problem);
}
