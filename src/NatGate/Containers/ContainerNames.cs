using System.Security.Cryptography;
using System.Text;

namespace NatGate.Containers;

/// <summary>
/// The names of a NAT's host side, derived from the NAT's name alone so that attach, detach, the
/// CNI plugin and the daemon agree without asking each other: one bridge per NAT
/// ("ngb-" and ten hex digits of a SHA-256), one host-side veth per lease ("ngv-" and ten).
/// Linux allows 15 characters in an interface name (IFNAMSIZ 16 with the NUL); these use 14.
/// </summary>
public static class ContainerNames
{
    private const int HashDigits = 10;

    /// <summary>The bridge holding the gateway address of NAT <paramref name="natName"/>, e.g. "ngb-3f2a9c01de".</summary>
    public static string BridgeFor(string natName)
    {
        ArgumentException.ThrowIfNullOrEmpty(natName);
        return "ngb-" + Hash(natName);
    }

    /// <summary>The host end of the veth pair of one lease (an attached namespace, or a CNI container and interface).</summary>
    public static string HostInterfaceFor(string natName, string owner)
    {
        ArgumentException.ThrowIfNullOrEmpty(natName);
        ArgumentException.ThrowIfNullOrEmpty(owner);
        return "ngv-" + Hash(natName + "\n" + owner);
    }

    private static string Hash(string text)
        => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..HashDigits];
}
