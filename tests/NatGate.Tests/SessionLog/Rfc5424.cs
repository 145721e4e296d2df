using System.Globalization;
using System.Text.RegularExpressions;

namespace NatGate.Tests.SessionLog;

/// <summary>
/// A syslog message read as RFC 5424 section 6 defines it, independently of the sink that wrote
/// it: HEADER (PRI, VERSION, TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID), STRUCTURED-DATA with
/// its escapes (section 6.3.3), MSG.
/// </summary>
internal sealed partial record Rfc5424(int Priority, DateTimeOffset Time, string HostName, string AppName, string ProcessId, string MessageId,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> StructuredData, string Message)
{
    [GeneratedRegex("""^<(?<pri>\d{1,3})>1 (?<time>\S+) (?<host>\S+) (?<app>\S+) (?<proc>\S+) (?<msgid>\S+) (?<sd>-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+)(?: (?<msg>.*))?$""", RegexOptions.Singleline)]
    private static partial Regex Message5424();

    [GeneratedRegex("""\[(?<id>[^\s\]=]+)(?<params>(?: [^\s=\]"]+="(?:[^"\\]|\\.)*")*)\]""")]
    private static partial Regex Element();

    [GeneratedRegex("""(?<name>[^\s=\]"]+)="(?<value>(?:[^"\\]|\\.)*)" ?""")]
    private static partial Regex Parameter();

    [GeneratedRegex("""\\(.)""")]
    private static partial Regex Escape();

    public static Rfc5424 Parse(string text)
    {
        Match match = Message5424().Match(text);
        if (!match.Success)
        {
            throw new FormatException($"not an RFC 5424 message: {text}");
        }
        var data = new Dictionary<string, IReadOnlyDictionary<string, string>>();
        foreach (Match element in Element().Matches(match.Groups["sd"].Value))
        {
            var parameters = new Dictionary<string, string>();
            foreach (Match parameter in Parameter().Matches(element.Groups["params"].Value))
            {
                parameters[parameter.Groups["name"].Value] = Escape().Replace(parameter.Groups["value"].Value, "$1");
            }
            data[element.Groups["id"].Value] = parameters;
        }
        return new Rfc5424(int.Parse(match.Groups["pri"].Value, CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(match.Groups["time"].Value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            match.Groups["host"].Value, match.Groups["app"].Value, match.Groups["proc"].Value, match.Groups["msgid"].Value, data, match.Groups["msg"].Value);
    }
}
