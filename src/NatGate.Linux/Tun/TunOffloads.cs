namespace NatGate.Linux.Tun;

/// <summary>TUNSETOFFLOAD flags (linux/if_tun.h).</summary>
[Flags]
public enum TunOffloads
{
    None = 0,

    /// <summary>TUN_F_CSUM: packets may carry a partial checksum (NEEDS_CSUM); needed by every other offload.</summary>
    Checksum = 0x01,

    /// <summary>TUN_F_TSO4: TCP over IPv4 super-packets.</summary>
    Tso4 = 0x02,

    /// <summary>TUN_F_TSO6: TCP over IPv6 super-packets.</summary>
    Tso6 = 0x04,

    /// <summary>TUN_F_USO4: UDP over IPv4 super-packets (Linux 6.2 and later).</summary>
    Uso4 = 0x20,

    /// <summary>TUN_F_USO6: UDP over IPv6 super-packets (Linux 6.2 and later).</summary>
    Uso6 = 0x40,

    /// <summary>What the data path uses: checksum, TSO and USO for both families.</summary>
    All = Checksum | Tso4 | Tso6 | Uso4 | Uso6,
}
