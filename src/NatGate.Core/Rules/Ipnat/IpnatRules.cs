namespace NatGate.Core.Rules.Ipnat;

/// <summary>The rules of one ipnat.conf file, in file order, and the warnings a person should read.</summary>
/// <param name="Rules">One rule per rule line; each rule's origin is its file and line ("file:line").</param>
/// <param name="Warnings">Lines accepted but not fully acted on, such as proxies, each "file:line: what".</param>
public sealed record IpnatRules(IReadOnlyList<NatRule> Rules, IReadOnlyList<string> Warnings);
