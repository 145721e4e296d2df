using NatGate.Configuration;
using NatGate.Core.NetNat;
using NatGate.Core.Rules;

namespace NatGate.Tests.Configuration;

/// <summary>The configuration file and natgate nat read NetNat's values through one table, so they take the same words.</summary>
public sealed class NetNatValuesTests
{
    [Theory]
    [InlineData("EndpointIndependentFiltering", FilteringBehavior.EndpointIndependent)]
    [InlineData("endpointindependent", FilteringBehavior.EndpointIndependent)]
    [InlineData("AddressDependentFiltering", FilteringBehavior.AddressDependent)]
    [InlineData("AddressAndPortDependentFiltering", FilteringBehavior.AddressAndPortDependent)]
    public void Every_filtering_word_the_file_takes_the_table_reads(string word, FilteringBehavior expected)
    {
        GatewayConfiguration configuration = GatewayConfigurationFile.Parse($"""
            [[Nat]]
            Name = "lab"
            InternalIPInterfaceAddressPrefix = "10.1.0.0/24"
            TcpFilteringBehavior = "{word}"
            [[Nat.ExternalAddress]]
            IPAddress = "203.0.113.1"
            """, "natgate.toml");
        Assert.Equal(expected, Assert.Single(configuration.NetNat.Instances).TcpFilteringBehavior);
        Assert.True(NetNatValues.TryRead(NetNatValues.Filtering, word, out FilteringBehavior read));
        Assert.Equal(expected, read);
    }

    [Fact]
    public void An_unknown_word_is_refused_by_both_with_the_words_there_are()
    {
        Assert.False(NetNatValues.TryRead(NetNatValues.Filtering, "PortRestricted", out FilteringBehavior _));
        ConfigurationException refused = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Parse("""
            [[Nat]]
            Name = "lab"
            InternalIPInterfaceAddressPrefix = "10.1.0.0/24"
            UdpFilteringBehavior = "PortRestricted"
            """, "natgate.toml"));
        Assert.Contains("natgate.toml:4:1:", refused.Message, StringComparison.Ordinal);
        Assert.Contains("AddressDependentFiltering", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Port_parity_is_a_nat_setting_off_unless_asked()
    {
        GatewayConfiguration configuration = GatewayConfigurationFile.Parse("""
            [[Nat]]
            Name = "kept"
            InternalIPInterfaceAddressPrefix = "10.1.0.0/24"
            PreservePortParity = true
            [[Nat.ExternalAddress]]
            IPAddress = "203.0.113.1"
            [[Nat]]
            Name = "plain"
            InternalIPInterfaceAddressPrefix = "10.2.0.0/24"
            [[Nat.ExternalAddress]]
            IPAddress = "203.0.113.2"
            """, "natgate.toml");
        Assert.True(configuration.NetNat.Instances[0].Policy.PreservePortParity);
        Assert.False(configuration.NetNat.Instances[1].Policy.PreservePortParity);
    }
}
