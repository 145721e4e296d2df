using NatGate.Containers;

namespace NatGate.Tests.Containers;

public sealed class ContainerNamesTests
{
    [Fact]
    public void The_bridge_name_is_ngb_and_ten_hex_digits_of_the_sha256_of_the_nat_name()
    {
        // sha256("containers") = dc64336a2d...; documented in OPERATIONS.md, so the daemon side and scripts can compute it.
        Assert.Equal("ngb-dc64336a2d", ContainerNames.BridgeFor("containers"));
        Assert.NotEqual(ContainerNames.BridgeFor("containers"), ContainerNames.BridgeFor("Containers"));
    }

    [Theory]
    [InlineData("containers", "netns:web1")]
    [InlineData("a-very-long-nat-instance-name-indeed", "cni:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/eth0")]
    public void Names_fit_in_an_interface_name_and_differ_per_owner(string nat, string owner)
    {
        string bridge = ContainerNames.BridgeFor(nat);
        string host = ContainerNames.HostInterfaceFor(nat, owner);
        Assert.True(bridge.Length <= 15, bridge);
        Assert.True(host.Length <= 15, host);
        Assert.StartsWith("ngv-", host, StringComparison.Ordinal);
        Assert.Equal(host, ContainerNames.HostInterfaceFor(nat, owner));
        Assert.NotEqual(host, ContainerNames.HostInterfaceFor(nat, owner + "x"));
        Assert.NotEqual(host, ContainerNames.HostInterfaceFor(nat + "x", owner));
    }
}
