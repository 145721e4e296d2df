namespace NatGate.Linux.FastPath;

/// <summary>natgate_fastpath.h's NATGATE_FLOW_* flags of an entry.</summary>
[Flags]
public enum FastPathFlowAttributes : ushort
{
    None = 0,

    /// <summary>The entry carries the direction in which the session was opened (the engine's "forward").</summary>
    Forward = 1,

    /// <summary>ICMP: this direction carries echo requests (else echo replies); the other kind goes to the engine.</summary>
    IcmpRequests = 2,

    /// <summary>The session was opened from outside (a redirect or a mapping admitted by filtering).</summary>
    InitiatedOutside = 4,
}
