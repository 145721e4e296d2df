using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using NatGate.Core.Control;

namespace NatGate.Control;

/// <summary>
/// The control API's client: HTTP over the daemon's Unix socket. A refused call throws
/// <see cref="NatControlException"/> with the daemon's errno and sentence; an unreachable daemon
/// throws <see cref="DaemonUnreachableException"/>.
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly HttpClient http;
    private readonly string unreachable;

    private ControlClient(string socketPath, bool readOnly, string controlDirectory)
    {
        SocketPath = socketPath;
        IsReadOnly = readOnly;
        unreachable = $"cannot reach the daemon at {Path.Combine(controlDirectory, ControlSockets.ReadWriteSocketName)}: is `natgate run` running?";
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        // Saving or restoring a full table can take a while; never give up on the daemon early.
        http = new HttpClient(handler) { BaseAddress = new Uri("http://natgate/"), Timeout = TimeSpan.FromMinutes(10) };
    }

    /// <summary>The socket this client talks to.</summary>
    public string SocketPath { get; }

    /// <summary>True when control.sock could not be opened and the client fell back to control.ro.sock.</summary>
    public bool IsReadOnly { get; }

    /// <summary>The body of the last reply exactly as the daemon sent it (what --json prints).</summary>
    public string? LastReplyJson { get; private set; }

    /// <summary>
    /// Uses control.sock when it can be opened, else control.ro.sock (reads only). When neither
    /// answers the client still returns; its first call throws <see cref="DaemonUnreachableException"/>.
    /// </summary>
    public static ControlClient Connect(string controlDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(controlDirectory);
        string readWrite = Path.Combine(controlDirectory, ControlSockets.ReadWriteSocketName);
        string readOnly = Path.Combine(controlDirectory, ControlSockets.ReadOnlySocketName);
        if (CanOpen(readWrite) || !CanOpen(readOnly))
        {
            return new ControlClient(readWrite, readOnly: false, controlDirectory);
        }
        return new ControlClient(readOnly, readOnly: true, controlDirectory);
    }

    private static bool CanOpen(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public void Dispose() => http.Dispose();

    // ------------------------------------------------------------ sessions and statistics

    public Task<IReadOnlyList<SessionView>> SessionsAsync(string? address = null, string? protocol = null, CancellationToken token = default)
    {
        var query = new List<string>();
        if (!string.IsNullOrEmpty(address))
        {
            query.Add("address=" + Uri.EscapeDataString(address));
        }
        if (!string.IsNullOrEmpty(protocol))
        {
            query.Add("protocol=" + Uri.EscapeDataString(protocol));
        }
        string path = query.Count == 0 ? "v1/sessions" : "v1/sessions?" + string.Join('&', query);
        return SendAsync(HttpMethod.Get, path, null, ControlJson.Default.IReadOnlyListSessionView, token);
    }

    /// <summary>The sessions <paramref name="query"/> takes (natgate sessions --port, --state, --rule ...).</summary>
    public Task<IReadOnlyList<SessionView>> SessionsAsync(SessionQuery query, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return SendAsync(HttpMethod.Get, "v1/sessions" + query.ToQueryString(), null, ControlJson.Default.IReadOnlyListSessionView, token);
    }

    /// <summary>How many sessions <paramref name="query"/> takes (conntrack -C, natgate sessions --count).</summary>
    public async Task<int> CountSessionsAsync(SessionQuery query, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        return (await SendAsync(HttpMethod.Get, "v1/sessions/count" + query.ToQueryString(), null, ControlJson.Default.SessionCount, token).ConfigureAwait(false)).Count;
    }

    /// <summary>
    /// Removes the sessions <paramref name="query"/> takes (conntrack -D with filters); returns how
    /// many. An empty query is refused here, so a forgotten filter never flushes the table: that
    /// is <see cref="FlushSessionsAsync"/>.
    /// </summary>
    public async Task<int> RemoveSessionsAsync(SessionQuery query, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.IsEmpty)
        {
            throw new ArgumentException("The query takes every session; flush them with FlushSessionsAsync instead.", nameof(query));
        }
        return (await SendAsync(HttpMethod.Delete, "v1/sessions" + query.ToQueryString(), null, ControlJson.Default.RemovedCount, token).ConfigureAwait(false)).Removed;
    }

    /// <summary>
    /// GET /v1/sessions/events: the session events as the daemon sends them, one JSON line each
    /// (<see cref="SessionEventView"/>, <see cref="ParseSessionEvent"/>), until <paramref name="token"/>
    /// is cancelled or the daemon stops (conntrack -E). <paramref name="filters"/>: protocol,
    /// address, port, event (a comma-separated list of kinds).
    /// </summary>
    public async IAsyncEnumerable<string> WatchSessionEventsAsync(IEnumerable<KeyValuePair<string, string>>? filters = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken token = default)
    {
        string query = string.Join('&', (filters ?? []).Where(filter => !string.IsNullOrEmpty(filter.Value))
            .Select(filter => Uri.EscapeDataString(filter.Key) + "=" + Uri.EscapeDataString(filter.Value)));
        using var request = new HttpRequestMessage(HttpMethod.Get, query.Length == 0 ? "v1/sessions/events" : "v1/sessions/events?" + query);
        HttpResponseMessage response;
        try
        {
            // Headers first: the body is a stream that lasts as long as the watch.
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, token).ConfigureAwait(false);
        }
        catch (HttpRequestException error) when (error.InnerException is SocketException or IOException || error.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new DaemonUnreachableException(unreachable, error);
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                string text = await response.Content.ReadAsStringAsync(token).ConfigureAwait(false);
                LastReplyJson = text;
                throw Refusal(response, text);
            }
            Stream stream = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (await ReadLineAsync(reader, token).ConfigureAwait(false) is string line)
            {
                if (line.Length > 0)
                {
                    yield return line;
                }
            }
        }
    }

    /// <summary>A line, or null at the end of the stream (the daemon stopped) or when the watch is cancelled.</summary>
    private static async Task<string?> ReadLineAsync(StreamReader reader, CancellationToken token)
    {
        try
        {
            return await reader.ReadLineAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return null;
        }
        catch (IOException)
        {
            return null; // the daemon went away mid-stream
        }
    }

    /// <summary>One line of <see cref="WatchSessionEventsAsync"/> as a view.</summary>
    public static SessionEventView ParseSessionEvent(string line)
        => JsonSerializer.Deserialize(line, ControlJson.Default.SessionEventView)
            ?? throw new ControlProtocolException($"The daemon sent an event line that is not an object: {line}");

    /// <summary>ipnat -F: removes every session; returns how many.</summary>
    public async Task<int> FlushSessionsAsync(CancellationToken token = default)
        => (await SendAsync(HttpMethod.Delete, "v1/sessions", null, ControlJson.Default.RemovedCount, token).ConfigureAwait(false)).Removed;

    public Task RemoveSessionAsync(int id, CancellationToken token = default)
        => SendAsync(HttpMethod.Delete, "v1/sessions/" + id.ToString(CultureInfo.InvariantCulture), null, ControlJson.Default.RemovedCount, token);

    /// <summary>SIOCSTPUT: inserts a session (the table must be locked); returns its id.</summary>
    public async Task<int> PutAsync(SessionRecordView record, CancellationToken token = default)
        => (await SendAsync(HttpMethod.Post, "v1/sessions", Json(record, ControlJson.Default.SessionRecordView), ControlJson.Default.PutAnswer, token).ConfigureAwait(false)).Id;

    public Task<StatisticsView> StatisticsAsync(CancellationToken token = default)
        => SendAsync(HttpMethod.Get, "v1/stats", null, ControlJson.Default.StatisticsView, token);

    /// <summary>Stops the daemon for a restart that leaves the kernel carrying the established flows (natgate handover).</summary>
    public Task HandOverAsync(CancellationToken token = default)
        => SendAsync(HttpMethod.Post, "v1/handover", null, ControlJson.Default.RemovedCount, token);

    /// <summary>The kernel fast path; with <paramref name="check"/>, its map compared with the table.</summary>
    public Task<FastPathView> FastPathAsync(bool check = false, CancellationToken token = default)
        => SendAsync(HttpMethod.Get, check ? "v1/fastpath?check=true" : "v1/fastpath", null, ControlJson.Default.FastPathView, token);

    // ------------------------------------------------------------ rules

    public Task<IReadOnlyList<RuleView>> RulesAsync(CancellationToken token = default)
        => SendAsync(HttpMethod.Get, "v1/rules", null, ControlJson.Default.IReadOnlyListRuleView, token);

    /// <summary>Loads ipnat.conf text; <paramref name="source"/> names it in labels and errors.</summary>
    public Task<LoadRulesResult> LoadRulesAsync(string text, string? source, CancellationToken token = default)
        => SendAsync(HttpMethod.Post, "v1/rules", Json(new RulesText(text, source), ControlJson.Default.RulesText), ControlJson.Default.LoadRulesResult, token);

    /// <summary>ipnat -C -f: the text's rules replace every rule at once; a refused text changes nothing.</summary>
    public Task<LoadRulesResult> ReplaceRulesAsync(string text, string? source, CancellationToken token = default)
        => SendAsync(HttpMethod.Post, "v1/rules?replace=true", Json(new RulesText(text, source), ControlJson.Default.RulesText), ControlJson.Default.LoadRulesResult, token);

    /// <summary>ipnat -r: removes the loaded rules equal to those in the text; returns how many.</summary>
    public async Task<int> RemoveRulesAsync(string text, string? source, CancellationToken token = default)
        => (await SendAsync(HttpMethod.Post, "v1/rules/remove", Json(new RulesText(text, source), ControlJson.Default.RulesText), ControlJson.Default.RemovedCount, token).ConfigureAwait(false)).Removed;

    /// <summary>ipnat -C.</summary>
    public async Task<int> FlushRulesAsync(CancellationToken token = default)
        => (await SendAsync(HttpMethod.Delete, "v1/rules", null, ControlJson.Default.RemovedCount, token).ConfigureAwait(false)).Removed;

    /// <summary>ipnat -p: removes sessions whose rule is gone.</summary>
    public async Task<int> PurgeAsync(CancellationToken token = default)
        => (await SendAsync(HttpMethod.Post, "v1/rules/purge", null, ControlJson.Default.RemovedCount, token).ConfigureAwait(false)).Removed;

    // ------------------------------------------------------------ lookup, lock, state

    public Task<LookupAnswer> LookupAsync(LookupRequest request, CancellationToken token = default)
        => SendAsync(HttpMethod.Post, "v1/lookup", Json(request, ControlJson.Default.LookupRequest), ControlJson.Default.LookupAnswer, token);

    /// <summary>SIOCSTLCK: returns the previous state.</summary>
    public async Task<bool> LockAsync(bool locked, CancellationToken token = default)
        => (await SendAsync(HttpMethod.Post, "v1/lock", Json(new LockRequest(locked), ControlJson.Default.LockRequest), ControlJson.Default.LockAnswer, token).ConfigureAwait(false)).Previous;

    /// <summary>ipfs -W: the daemon writes the file; a relative path is made absolute here.</summary>
    public async Task<int> SaveStateAsync(string path, CancellationToken token = default)
        => (await SendAsync(HttpMethod.Post, "v1/state/save", Json(new StatePath(Path.GetFullPath(path)), ControlJson.Default.StatePath), ControlJson.Default.SaveAnswer, token).ConfigureAwait(false)).Sessions;

    /// <summary>ipfs -R.</summary>
    public Task<RestoreAnswer> RestoreStateAsync(string path, CancellationToken token = default)
        => SendAsync(HttpMethod.Post, "v1/state/restore", Json(new StatePath(Path.GetFullPath(path)), ControlJson.Default.StatePath), ControlJson.Default.RestoreAnswer, token);

    // ------------------------------------------------------------ NetNat

    public Task<IReadOnlyList<NatInstanceView>> NatInstancesAsync(CancellationToken token = default)
        => SendAsync(HttpMethod.Get, "v1/nat", null, ControlJson.Default.IReadOnlyListNatInstanceView, token);

    /// <summary>New-NetNat; EEXIST when the name is taken.</summary>
    public Task<NatInstanceView> AddNatAsync(NatInstanceView instance, CancellationToken token = default)
        => SendAsync(HttpMethod.Post, "v1/nat", Json(instance, ControlJson.Default.NatInstanceView), ControlJson.Default.NatInstanceView, token);

    /// <summary>Set-NetNat: only the members given change; ESRCH when there is no such instance.</summary>
    public Task<NatInstanceView> SetNatAsync(string name, NatInstanceView changes, CancellationToken token = default)
        => SendAsync(HttpMethod.Patch, "v1/nat/" + Uri.EscapeDataString(name), Json(changes, ControlJson.Default.NatInstanceView), ControlJson.Default.NatInstanceView, token);

    /// <summary>Remove-NetNat, with its static mappings; ESRCH when there is no such instance.</summary>
    public Task RemoveNatAsync(string name, CancellationToken token = default)
        => SendAsync(HttpMethod.Delete, "v1/nat/" + Uri.EscapeDataString(name), null, ControlJson.Default.RemovedCount, token);

    public Task<IReadOnlyList<StaticMappingView>> MappingsAsync(CancellationToken token = default)
        => SendAsync(HttpMethod.Get, "v1/nat/mappings", null, ControlJson.Default.IReadOnlyListStaticMappingView, token);

    public Task<StaticMappingView> AddMappingAsync(StaticMappingView mapping, CancellationToken token = default)
        => SendAsync(HttpMethod.Post, "v1/nat/mappings", Json(mapping, ControlJson.Default.StaticMappingView), ControlJson.Default.StaticMappingView, token);

    public Task RemoveMappingAsync(string natName, int id, CancellationToken token = default)
        => SendAsync(HttpMethod.Delete, $"v1/nat/mappings/{Uri.EscapeDataString(natName)}/{id.ToString(CultureInfo.InvariantCulture)}", null, ControlJson.Default.RemovedCount, token);

    /// <summary>The port mappings inside hosts asked for with PCP or NAT-PMP (natgate run --pcp).</summary>
    public Task<IReadOnlyList<PortMappingView>> PortMappingsAsync(CancellationToken token = default)
        => SendAsync(HttpMethod.Get, "v1/portmappings", null, ControlJson.Default.IReadOnlyListPortMappingView, token);

    public async Task<string> HairpinningAsync(CancellationToken token = default)
        => (await SendAsync(HttpMethod.Get, "v1/hairpinning", null, ControlJson.Default.HairpinningView, token).ConfigureAwait(false)).Mode;

    /// <summary>"Enabled" or "Disabled".</summary>
    public async Task<string> SetHairpinningAsync(string mode, CancellationToken token = default)
        => (await SendAsync(HttpMethod.Put, "v1/hairpinning", Json(new HairpinningView(mode), ControlJson.Default.HairpinningView), ControlJson.Default.HairpinningView, token).ConfigureAwait(false)).Mode;

    // ------------------------------------------------------------ transport

    private static string Json<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.Serialize(value, type);

    /// <summary>
    /// Sends one request; a 2xx reply's body is deserialized (an empty one gives default), any other
    /// becomes the daemon's <see cref="NatControlException"/>.
    /// </summary>
    private async Task<T> SendAsync<T>(HttpMethod method, string path, string? body, JsonTypeInfo<T> type, CancellationToken token)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
        }
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, token).ConfigureAwait(false);
        }
        catch (HttpRequestException error) when (error.InnerException is SocketException or IOException || error.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new DaemonUnreachableException(unreachable, error);
        }
        using (response)
        {
            string text = await response.Content.ReadAsStringAsync(token).ConfigureAwait(false);
            LastReplyJson = text;
            if (!response.IsSuccessStatusCode)
            {
                throw Refusal(response, text);
            }
            if (text.Length == 0)
            {
                return default!;
            }
            return JsonSerializer.Deserialize(text, type)
                ?? throw new ControlProtocolException($"The daemon answered {method} /{path} with null.");
        }
    }

    private static Exception Refusal(HttpResponseMessage response, string text)
    {
        ControlError? error = null;
        try
        {
            error = JsonSerializer.Deserialize(text, ControlJson.Default.ControlError);
        }
        catch (JsonException)
        {
            // Not one of ours: reported below with the status.
        }
        if (error is not null && Enum.TryParse(error.Error, out NatErrno errno) && Enum.IsDefined(errno))
        {
            return new NatControlException(errno, error.Message);
        }
        return new ControlProtocolException($"The daemon answered {(int)response.StatusCode} {response.ReasonPhrase}: {error?.Message ?? text}");
    }
}

/// <summary>Nothing answers on the control sockets.</summary>
public sealed class DaemonUnreachableException : Exception
{
    public DaemonUnreachableException()
    {
    }

    public DaemonUnreachableException(string message)
        : base(message)
    {
    }

    public DaemonUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The daemon answered something the client does not understand (an internal error, another version).</summary>
public sealed class ControlProtocolException : Exception
{
    public ControlProtocolException()
    {
    }

    public ControlProtocolException(string message)
        : base(message)
    {
    }

    public ControlProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
