using System.Globalization;
using System.Net;

namespace NatGate.SessionLog;

/// <summary>Collector addresses as the flags give them: ADDRESS, ADDRESS:PORT, [IPV6]:PORT or a bare IPv6 address. No names: nothing is resolved at start.</summary>
internal static class Endpoints
{
    public static bool TryParse(string text, int defaultPort, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endpoint)
    {
        endpoint = null;
        string host = text;
        int port = defaultPort;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }
            host = text[1..close];
            string rest = text[(close + 1)..];
            if (rest.Length > 0 && (!rest.StartsWith(':') || !TryPort(rest[1..], out port)))
            {
                return false;
            }
        }
        else if (text.Count(character => character == ':') == 1)
        {
            int colon = text.IndexOf(':', StringComparison.Ordinal);
            host = text[..colon];
            if (!TryPort(text[(colon + 1)..], out port))
            {
                return false;
            }
        }
        if (!IPAddress.TryParse(host, out IPAddress? address) || port is < 1 or > 65535)
        {
            return false;
        }
        endpoint = new IPEndPoint(address, port);
        return true;
    }

    private static bool TryPort(string text, out int port)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535;
}
