namespace NatGate.Core.Control;

/// <summary>
/// Which of the engine's session tables a session lives in: IPv4 NAPT, NAT66 (IPv6 to IPv6), or
/// stateful NAT64 (an IPv6 inside reaching IPv4 hosts, RFC 6146), whose inside tuple is IPv6 and
/// outside tuple IPv4.
/// </summary>
public enum SessionFamily
{
    Ipv4,
    Ipv6,
    Nat64,
}

/// <summary>The families' names as metrics and listings write them.</summary>
public static class SessionFamilyNames
{
    /// <summary>"ipv4", "ipv6" (NAT66) or "nat64".</summary>
    public static string Of(SessionFamily family) => family switch
    {
        SessionFamily.Ipv4 => "ipv4",
        SessionFamily.Ipv6 => "ipv6",
        SessionFamily.Nat64 => "nat64",
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "Not a session family."),
    };
}
