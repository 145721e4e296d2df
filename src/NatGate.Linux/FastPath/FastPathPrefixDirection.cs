namespace NatGate.Linux.FastPath;

/// <summary>natgate_fastpath.h's NATGATE_PREFIX_*: which address of a packet a prefix entry is matched against.</summary>
public enum FastPathPrefixDirection : byte
{
    /// <summary>An internal prefix, matched on the source; the source moves into the external prefix (RFC 6296 3.2).</summary>
    Outbound = 1,

    /// <summary>An external prefix, matched on the destination; the destination moves into the internal prefix (RFC 6296 3.3).</summary>
    Inbound = 2,
}
