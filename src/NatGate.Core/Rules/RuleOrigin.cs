using System.Globalization;
using NatGate.Core.Addressing;

namespace NatGate.Core.Rules;

/// <summary>
/// Where a rule came from: an ipnat.conf line, a NetNat object, the command line, the control API.
/// Code that needs the source reads these members; <see cref="Text"/> is only for people (listings,
/// error messages) and is never parsed back.
/// </summary>
/// <remarks>Origins compare by value, but <see cref="Control.RuleComparer"/> ignores them: the same
/// translation from two places is one rule.</remarks>
public abstract record RuleOrigin
{
    private RuleOrigin()
    {
    }

    /// <summary>What listings and messages show: "ipnat.conf:12", "nat lan", "nat lan mapping 3".</summary>
    public abstract string Text { get; }

    /// <summary>The NetNat instance the rule belongs to, for an instance's rule or one of its static mappings; else null.</summary>
    public virtual string? NetNatInstanceName => null;

    public sealed override string ToString() => Text;

    /// <summary>A rule line of an ipnat.conf file (or of text sent with a file's name).</summary>
    public sealed record IpnatLine(string File, int Line) : RuleOrigin
    {
        public override string Text => string.Create(CultureInfo.InvariantCulture, $"{File}:{Line}");
    }

    /// <summary>A rule line of ipnat text sent over the control API without a file's name.</summary>
    public sealed record ControlApi(int Line) : RuleOrigin
    {
        /// <summary>The name such text goes by in labels and errors.</summary>
        public const string SourceName = "control";

        public override string Text => string.Create(CultureInfo.InvariantCulture, $"{SourceName}:{Line}");
    }

    /// <summary>A NetNat instance's map rule (one per external address).</summary>
    public sealed record NetNatInstance(string Name) : RuleOrigin
    {
        public override string Text => $"nat {Name}";

        public override string? NetNatInstanceName => Name;
    }

    /// <summary>
    /// A NetNat static mapping's redirect (one per external address it covers). A container's
    /// published port is one of these: the containers code adds it through the control API.
    /// </summary>
    public sealed record NetNatStaticMapping(string InstanceName, int StaticMappingID) : RuleOrigin
    {
        public override string Text => string.Create(CultureInfo.InvariantCulture, $"nat {InstanceName} mapping {StaticMappingID}");

        public override string? NetNatInstanceName => InstanceName;
    }

    /// <summary>
    /// A port mapping an inside host asked for with PCP or NAT-PMP (RFC 6887, RFC 6886): a
    /// redirect that lives as long as the mapping's lifetime (<see cref="PortMappings.PortMappingTable"/>).
    /// </summary>
    public sealed record PortMappingRequest(string Protocol, IpAddress InternalAddress, ushort InternalPort, string RequestedWith) : RuleOrigin
    {
        public override string Text => string.Create(CultureInfo.InvariantCulture, $"{RequestedWith} {InternalAddress}:{InternalPort}/{Protocol}");
    }

    /// <summary>The map rule of <c>--inside P --external E</c>; <paramref name="External"/> as given (an address or an interface's name).</summary>
    public sealed record CommandLine(IpPrefix Inside, string External) : RuleOrigin
    {
        public override string Text => $"--inside {Inside} --external {External}";
    }

    /// <summary>
    /// A rule known only by a text: one read back from a state file (which stores the text), or
    /// one a caller labelled by hand (<see cref="NatRule.Label"/>).
    /// </summary>
    public sealed record Described(string Description) : RuleOrigin
    {
        public override string Text => Description;
    }
}
