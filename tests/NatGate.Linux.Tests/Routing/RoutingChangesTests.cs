using NatGate.Linux.Routing;
using NatGate.Linux.Tests.Namespaces;

namespace NatGate.Linux.Tests.Routing;

/// <summary>The trigger that makes the daemon reconcile when the host's addresses or routes change.</summary>
public sealed class RoutingChangesTests
{
    [Fact]
    public void An_ipv6_address_or_route_added_to_the_namespace_triggers_the_handler()
    {
        Requires.Root();
        using NetworkNamespace network = NetworkNamespace.Create("changes");
        network.Ip("link", "add", "ngin0", "type", "veth", "peer", "name", "ngin1");
        network.Ip("link", "set", "ngin0", "up");
        network.Run(() =>
        {
            using var changed = new SemaphoreSlim(0);
            using RoutingChanges changes = RoutingChanges.Start(() => changed.Release());
            // Whatever the link coming up still announces settles first.
            while (changed.Wait(RoutingChanges.Settle * 3))
            {
            }
            network.Ip("-6", "addr", "add", "fd00:5::1/64", "dev", "ngin0", "nodad");
            Assert.True(changed.Wait(TimeSpan.FromSeconds(3)), "adding an IPv6 address did not trigger");
            while (changed.Wait(RoutingChanges.Settle * 3))
            {
            }
            network.Ip("-6", "route", "add", "fd00:6::/64", "via", "fd00:5::2", "dev", "ngin0");
            Assert.True(changed.Wait(TimeSpan.FromSeconds(3)), "adding an IPv6 route did not trigger");
        });
    }
}
