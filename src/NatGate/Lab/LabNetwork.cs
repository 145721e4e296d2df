using System.Security.Cryptography;
using NatGate.Linux.Namespaces;

namespace NatGate.Lab;

/// <summary>
/// The lab the demo and the end-to-end tests run on, in network namespaces of its own (names
/// start with the given prefix plus random hex, so runs never collide). Dispose deletes them.
/// Nothing is added to the namespace the process runs in.
///
///   in1 10.77.0.2 ─┐
///                  br0 10.77.0.1 [gateway] wan0 198.51.100.1 ── out 198.51.100.2, 198.51.100.3
///   in2 10.77.0.3 ─┘            external address 198.51.100.10 (on-link outside)
///
/// With IPv6 the same links also carry fd00:77::/64 inside (gateway fd00:77::1, in1 ::2, in2 ::3)
/// and 2001:db8:100::/64 outside (gateway 2001:db8:100::1, out ::2 and ::3); the outside routes
/// 2001:db8:77::/48, the NAT's external IPv6 prefix, to the gateway. Addresses are added without
/// duplicate address detection, so they work at once.
///
/// With a far network, "out" is also a router to a server beyond it, for paths longer than one
/// link (traceroute, path MTU discovery):
///
///   [gateway] wan0 ── out (router) far0 203.0.113.1, 2001:db8:200::1 ── far 203.0.113.2, 2001:db8:200::2
///
/// Every interface keeps MTU 1500, so the hosts' TCP MSS is 1460 (1440 over IPv6); the router's
/// routes to the far link carry a locked MTU of 1280, so a bigger packet forwarded there is
/// answered with ICMP "fragmentation needed" or ICMPv6 Packet Too Big, which only path MTU
/// discovery (and a NAT that translates those errors) can act on.
/// </summary>
internal sealed class LabNetwork : IDisposable
{
    public const string InsidePrefix = "10.77.0.0/24";
    public const string GatewayInside = "10.77.0.1";
    public const string Inside1 = "10.77.0.2";
    public const string Inside2 = "10.77.0.3";
    public const string GatewayOutside = "198.51.100.1";
    public const string Outside = "198.51.100.2";
    public const string OutsideSecond = "198.51.100.3";
    public const string External = "198.51.100.10";

    /// <summary>The gateway's outside interface.</summary>
    public const string OutsideInterface = "wan0";

    public const string InsidePrefix6 = "fd00:77::/64";
    public const string GatewayInside6 = "fd00:77::1";
    public const string Inside1v6 = "fd00:77::2";
    public const string Inside2v6 = "fd00:77::3";
    public const string GatewayOutside6 = "2001:db8:100::1";
    public const string Outside6 = "2001:db8:100::2";
    public const string OutsideSecond6 = "2001:db8:100::3";

    /// <summary>The NAT's external IPv6 prefix, routed to the gateway by the outside.</summary>
    public const string ExternalPrefix6 = "2001:db8:77::/48";

    public const string FarPrefix = "203.0.113.0/24";
    public const string RouterFar = "203.0.113.1";
    public const string Far = "203.0.113.2";
    public const string FarPrefix6 = "2001:db8:200::/64";
    public const string RouterFar6 = "2001:db8:200::1";
    public const string Far6 = "2001:db8:200::2";

    /// <summary>The path MTU to the far network: the IPv6 minimum (RFC 8200 5).</summary>
    public const int FarMtu = 1280;

    private readonly List<NetworkNamespace> spaces = [];
    private readonly Action<string>? progress;
    private readonly CancellationToken cancellation;

    /// <summary>
    /// Builds the lab, reporting each step to <paramref name="progress"/> as it starts. A
    /// cancelled <paramref name="cancellation"/> stops the set-up between two steps; a set-up
    /// that stops, for that or any reason, removes the namespaces it had made before it throws.
    /// </summary>
    public LabNetwork(string prefix, Action<string>? progress = null, bool ipv6 = false, bool farNetwork = false, CancellationToken cancellation = default)
    {
        Prefix = prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        this.progress = progress;
        this.cancellation = cancellation;
        try
        {
            In1 = Add("in1");
            In2 = Add("in2");
            Gateway = Add("gw");
            Out = Add("out");
            Step($"creating the bridge gw:br0 ({GatewayInside}/24)");
            Gateway.Ip("link", "add", "br0", "type", "bridge");
            Gateway.Ip("addr", "add", GatewayInside + "/24", "dev", "br0");
            Gateway.Ip("link", "set", "br0", "up");
            Connect(In1, Inside1 + "/24", "lan1", null);
            Connect(In2, Inside2 + "/24", "lan2", null);
            Step("attaching gw:lan1 and gw:lan2 to gw:br0");
            Gateway.Ip("link", "set", "lan1", "master", "br0");
            Gateway.Ip("link", "set", "lan2", "master", "br0");
            Connect(Out, Outside + "/24", OutsideInterface, GatewayOutside + "/24");
            Step($"adding the second outside address out:eth0 ({OutsideSecond}/24)");
            Out.Ip("addr", "add", OutsideSecond + "/24", "dev", "eth0");
            Step($"adding the inside hosts' default route via {GatewayInside}");
            In1.Ip("route", "add", "default", "via", GatewayInside);
            In2.Ip("route", "add", "default", "via", GatewayInside);
            // The outside knows nothing of the inside: it reaches only the gateway's link.
            if (ipv6)
            {
                AddIpv6();
            }
            if (farNetwork)
            {
                AddFarNetwork(ipv6);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private void AddIpv6()
    {
        Step($"adding IPv6: {InsidePrefix6} inside, 2001:db8:100::/64 outside, {ExternalPrefix6} routed to the gateway");
        Gateway.Ip("-6", "addr", "add", GatewayInside6 + "/64", "dev", "br0", "nodad");
        In1.Ip("-6", "addr", "add", Inside1v6 + "/64", "dev", "eth0", "nodad");
        In2.Ip("-6", "addr", "add", Inside2v6 + "/64", "dev", "eth0", "nodad");
        Gateway.Ip("-6", "addr", "add", GatewayOutside6 + "/64", "dev", OutsideInterface, "nodad");
        Out.Ip("-6", "addr", "add", Outside6 + "/64", "dev", "eth0", "nodad");
        // Deprecated at once (preferred lifetime 0): like IPv4's secondary address, never the
        // source the outside picks (RFC 6724 section 5, rule 3), only one a program binds to.
        Out.Ip("-6", "addr", "add", OutsideSecond6 + "/64", "dev", "eth0", "nodad", "preferred_lft", "0");
        In1.Ip("-6", "route", "add", "default", "via", GatewayInside6);
        In2.Ip("-6", "route", "add", "default", "via", GatewayInside6);
        Out.Ip("-6", "route", "add", ExternalPrefix6, "via", GatewayOutside6);
    }

    private void AddFarNetwork(bool ipv6)
    {
        NetworkNamespace far = FarHost = Add("far");
        Connect(far, Far + "/24", "far0", null);
        // Connect names the peer in the gateway; the far link's peer belongs to the router, out.
        Step("moving the far link's peer from gw to out");
        Gateway.Ip("link", "set", "far0", "netns", Out.Name);
        Out.Ip("addr", "add", RouterFar + "/24", "dev", "far0");
        Out.Ip("link", "set", "far0", "up");
        Step($"making out a router to {FarPrefix} (path MTU {FarMtu}) and routing it from gw and far");
        Out.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
        Out.Ip("route", "replace", FarPrefix, "dev", "far0", "mtu", "lock", FarMtu.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Gateway.Ip("route", "add", FarPrefix, "via", Outside);
        far.Ip("route", "add", "default", "via", RouterFar);
        if (ipv6)
        {
            Out.Exec("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1");
            Out.Ip("-6", "addr", "add", RouterFar6 + "/64", "dev", "far0", "nodad");
            far.Ip("-6", "addr", "add", Far6 + "/64", "dev", "eth0", "nodad");
            // In the kernel's own route's place (metric 256), else that one would still win.
            Out.Ip("-6", "route", "replace", FarPrefix6, "dev", "far0", "metric", "256", "mtu", "lock", FarMtu.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Gateway.Ip("-6", "route", "add", FarPrefix6, "via", Outside6);
            far.Ip("-6", "route", "add", "default", "via", RouterFar6);
        }
    }

    public string Prefix { get; }

    public NetworkNamespace In1 { get; } = null!;
    public NetworkNamespace In2 { get; } = null!;
    public NetworkNamespace Gateway { get; } = null!;
    public NetworkNamespace Out { get; } = null!;

    /// <summary>The server beyond the router (out), with a far network only.</summary>
    public NetworkNamespace? FarHost { get; private set; }

    private NetworkNamespace Add(string role)
    {
        Step($"creating namespace {Prefix + role}");
        NetworkNamespace space = NetworkNamespace.Create(Prefix + role);
        spaces.Add(space);
        return space;
    }

    /// <summary>A namespace's role in the lab ("in1", "gw"...): its name without the prefix.</summary>
    private string Role(NetworkNamespace space) => space.Name[Prefix.Length..];

    /// <summary>Where an interrupted set-up stops: before the next step, never half-way through one.</summary>
    private void Step(string description)
    {
        cancellation.ThrowIfCancellationRequested();
        progress?.Invoke(description);
    }

    private void Connect(NetworkNamespace host, string hostAddress, string gatewayName, string? gatewayAddress)
    {
        // The peer is born in the gateway under a unique temporary name, then renamed there.
        string temporary = "t" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        Step($"creating the veth pair {Role(host)}:eth0 ({hostAddress}) <-> gw:{gatewayName}{(gatewayAddress is null ? "" : $" ({gatewayAddress})")}");
        host.Ip("link", "add", "eth0", "type", "veth", "peer", "name", temporary, "netns", Gateway.Name);
        Gateway.Ip("link", "set", temporary, "name", gatewayName);
        host.Ip("addr", "add", hostAddress, "dev", "eth0");
        if (gatewayAddress is not null)
        {
            Gateway.Ip("addr", "add", gatewayAddress, "dev", gatewayName);
        }
        host.Ip("link", "set", "eth0", "up");
        Gateway.Ip("link", "set", gatewayName, "up");
    }

    public void Dispose()
    {
        for (int i = spaces.Count - 1; i >= 0; i--)
        {
            spaces[i].Dispose();
        }
        spaces.Clear();
    }
}
