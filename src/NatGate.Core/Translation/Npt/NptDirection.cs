namespace NatGate.Core.Translation.Npt;

/// <summary>Which way a packet crosses an NPTv6 translator, and so which of its addresses is rewritten.</summary>
public enum NptDirection : byte
{
    /// <summary>From the internal network out: the source moves from the internal prefix to the external one (RFC 6296 3.2).</summary>
    Outbound,

    /// <summary>From the external network in: the destination moves from the external prefix to the internal one (RFC 6296 3.3).</summary>
    Inbound,
}
