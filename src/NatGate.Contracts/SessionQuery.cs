using System.Globalization;

namespace NatGate.Control;

/// <summary>
/// Which sessions a listing, count or removal takes (GET /v1/sessions, GET /v1/sessions/count,
/// DELETE /v1/sessions), as query parameters: address, protocol, port, state and rule. Every
/// parameter given must hold; none takes every session.
/// </summary>
public sealed record SessionQuery
{
    /// <summary>An address on either side (inside host, external address, remote).</summary>
    public string? Address { get; init; }

    /// <summary>tcp, udp, icmp or a protocol number.</summary>
    public string? Protocol { get; init; }

    /// <summary>A port (or ICMP identifier) on either side.</summary>
    public ushort? Port { get; init; }

    /// <summary>SynSent, SynReceived, Established, Closing, TimeWait, Reset or Active, in any case.</summary>
    public string? State { get; init; }

    /// <summary>The number of the rule the sessions belong to, as natgate rules list shows it.</summary>
    public int? Rule { get; init; }

    public bool IsEmpty => Address is null && Protocol is null && Port is null && State is null && Rule is null;

    /// <summary>"?address=...&amp;port=..." for the parameters given (escaped), or "" for none.</summary>
    public string ToQueryString()
    {
        var parts = new List<string>();
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                parts.Add(name + "=" + Uri.EscapeDataString(value));
            }
        }
        Add("address", Address);
        Add("protocol", Protocol);
        Add("port", Port?.ToString(CultureInfo.InvariantCulture));
        Add("state", State);
        Add("rule", Rule?.ToString(CultureInfo.InvariantCulture));
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }
}

/// <summary>How many sessions a query takes (GET /v1/sessions/count, natgate sessions --count).</summary>
public sealed record SessionCount(int Count);
