namespace NatGate.Benchmarks;

/// <summary>The transport protocol of a benchmark's flows.</summary>
public enum Transport
{
    Tcp,
    Udp,
}
