using NatGate.Core.Addressing;
using NatGate.Core.Packets;

namespace NatGate.Core.Control;

/// <summary>
/// Which sessions a listing, a count or a removal takes (natgate sessions, conntrack -L and -D
/// with filters). Every condition given must hold; an empty filter takes every session.
/// </summary>
public sealed record SessionFilter
{
    /// <summary>The names a session's state is listed under: TCP's tracked states, and "Active" for every other protocol.</summary>
    public static IReadOnlyList<string> StateNames { get; } = ["SynSent", "SynReceived", "Established", "Closing", "TimeWait", "Reset", "Active"];

    /// <summary>Takes every session.</summary>
    public static SessionFilter All { get; } = new();

    /// <summary>An address on either side of either tuple (the inside host, the external address, the remote).</summary>
    public IpAddress? Address { get; init; }

    public IpProtocol? Protocol { get; init; }

    /// <summary>A port (or ICMP identifier) on either side of either tuple.</summary>
    public ushort? Port { get; init; }

    /// <summary>One of <see cref="StateNames"/>, as <see cref="WithState"/> spells it.</summary>
    public string? State { get; init; }

    /// <summary>The number of the rule the session belongs to (as rules list it).</summary>
    public int? Rule { get; init; }

    public bool IsEmpty => Address is null && Protocol is null && Port is null && State is null && Rule is null;

    /// <summary>
    /// This filter with a state given in any case ("established", "TIME_WAIT" is not one:
    /// conntrack's names differ, so the refusal lists NatGate's).
    /// </summary>
    /// <exception cref="NatControlException">EINVAL naming the states there are.</exception>
    public SessionFilter WithState(string state)
    {
        ArgumentNullException.ThrowIfNull(state);
        foreach (string name in StateNames)
        {
            if (string.Equals(name, state, StringComparison.OrdinalIgnoreCase))
            {
                return this with { State = name };
            }
        }
        throw new NatControlException(NatErrno.EINVAL, $"\"{state}\" is not a session state; give one of {string.Join(", ", StateNames)}.");
    }
}
