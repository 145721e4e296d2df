using System.Globalization;
using Microsoft.AspNetCore.Http;
using NatGate.Core.Control;

namespace NatGate.Control;

/// <summary>
/// The session routes' query parameters (address, protocol, port, state, rule) read into the
/// engine's <see cref="SessionFilter"/>. An unknown parameter is refused rather than ignored: on
/// DELETE /v1/sessions a misspelt filter would otherwise remove every session.
/// </summary>
internal static class SessionQueries
{
    private static readonly string[] Known = ["address", "protocol", "port", "state", "rule"];

    /// <exception cref="NatControlException">EINVAL for an unknown parameter or a malformed value.</exception>
    public static SessionFilter Read(IQueryCollection query)
    {
        ArgumentNullException.ThrowIfNull(query);
        foreach (string name in query.Keys)
        {
            if (!Known.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                throw new NatControlException(NatErrno.EINVAL, $"\"{name}\" is not a session filter; the filters are {string.Join(", ", Known)}.");
            }
        }
        var filter = new SessionFilter
        {
            Address = Text(query, "address") is string address ? ControlText.AnyAddress(address, "address") : null,
            Protocol = Text(query, "protocol") is string protocol ? ControlText.RequireProtocol(protocol, "protocol") : null,
            Port = Text(query, "port") is string port ? Number<ushort>(port, "port", "a port from 0 to 65535") : null,
            Rule = Text(query, "rule") is string rule ? Number<int>(rule, "rule", "a rule number, as natgate rules list shows it") : null,
        };
        return Text(query, "state") is string state ? filter.WithState(state) : filter;
    }

    private static string? Text(IQueryCollection query, string name)
    {
        if (!query.TryGetValue(name, out Microsoft.Extensions.Primitives.StringValues values) || values.Count == 0)
        {
            return null;
        }
        if (values.Count > 1)
        {
            throw new NatControlException(NatErrno.EINVAL, $"The filter \"{name}\" is given {values.Count} times; give it once.");
        }
        return string.IsNullOrEmpty(values[0]) ? null : values[0];
    }

    private static T Number<T>(string text, string name, string what)
        where T : struct, System.Numerics.INumberBase<T>
        => T.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out T value)
            ? value
            : throw new NatControlException(NatErrno.EINVAL, $"{name} \"{text}\" is not {what}.");
}
