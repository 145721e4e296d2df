using NatGate.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Rules;
using NatGate.Core.Sessions;

namespace NatGate.Tests.Control;

public sealed class ControlContractsTests
{
    /// <summary>The server converts these enumerations by value, and bodies carry their names: both must agree.</summary>
    [Fact]
    public void The_wire_enumerations_have_the_engines_names_and_values()
    {
        AssertAlike<NatMappingBehavior, MappingBehavior>();
        AssertAlike<NatFilteringBehavior, FilteringBehavior>();
        AssertAlike<NatStaticMappingProtocol, StaticMappingProtocol>();
        AssertAlike<SessionTcpTracking, TcpTracking>();
    }

    [Fact]
    public void The_contracts_assembly_does_not_reference_the_engine()
    {
        Assert.DoesNotContain(typeof(ControlJson).Assembly.GetReferencedAssemblies(), name => name.Name == "NatGate.Core");
        Assert.DoesNotContain(typeof(ControlClient).Assembly.GetReferencedAssemblies(), name => name.Name == "NatGate.Core");
    }

    private static void AssertAlike<TWire, TEngine>()
        where TWire : struct, Enum
        where TEngine : struct, Enum
    {
        Assert.Equal(Enum.GetNames<TEngine>(), Enum.GetNames<TWire>());
        Assert.Equal(Enum.GetValues<TEngine>().Select(value => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)),
            Enum.GetValues<TWire>().Select(value => Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)));
    }
}
