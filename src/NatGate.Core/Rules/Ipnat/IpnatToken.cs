namespace NatGate.Core.Rules.Ipnat;

internal enum IpnatTokenKind : byte
{
    /// <summary>A keyword, name, address, number or range such as "10.0.0.0/8" or "1024:65535".</summary>
    Word,

    /// <summary>"->".</summary>
    Arrow,

    /// <summary>"," between interfaces or redirect targets.</summary>
    Comma,

    /// <summary>"!" before an address: negation.</summary>
    Bang,

    /// <summary>A port comparison: =, !=, &lt;, &gt;, &lt;=, &gt;=, &lt;&gt;, &gt;&lt;.</summary>
    Operator,
}

/// <summary>One token of an ipnat.conf line; <see cref="Column"/> is 1-based.</summary>
internal readonly record struct IpnatToken(string Text, int Column, IpnatTokenKind Kind)
{
    /// <summary>Part of a word, such as "2000" in "1000:2000", with its own column for error messages.</summary>
    public IpnatToken Part(int start, int length) => new(Text.Substring(start, length), Column + start, IpnatTokenKind.Word);
}
