using NatGate.Core.Packets;
using System.Buffers.Binary;
using System.Globalization;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NatGate.Core.Addressing;
using NatGate.Core.Control;
using NatGate.Core.NetNat;
using NatGate.Core.Rules.Ipnat;
using NatGate.Core.State;
using NatGate.Daemon;

namespace NatGate.Control;

/// <summary>
/// The control API: HTTP and JSON over two Unix sockets in the control directory, control.sock
/// (mode 0600, read-write) and control.ro.sock (mode 0666, read-only: every change answers EPERM).
/// Refusals carry the seed's errno names (DESIGN.md "Control semantics").
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    public const string DefaultDirectory = ControlSockets.DefaultDirectory;
    public const string ReadWriteSocketName = ControlSockets.ReadWriteSocketName;
    public const string ReadOnlySocketName = ControlSockets.ReadOnlySocketName;

    private const string ReadOnlyItem = "natgate.read-only";
    private const string PeerItem = "natgate.peer";
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Everyone = OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private readonly WebApplication app;
    private readonly GatewayController controller;

    // NetNat changes read the model, change it and apply it whole; one at a time so none is lost.
    private readonly Lock netNatChange = new();

    private readonly StateFilePolicy stateFiles;

    private readonly ILogger logger;

    private ControlServer(WebApplication app, GatewayController controller, string controlDirectory, StateFilePolicy stateFiles, ILogger logger)
    {
        this.logger = logger;
        this.app = app;
        this.controller = controller;
        this.stateFiles = stateFiles;
        ReadWriteSocket = Path.Combine(controlDirectory, ReadWriteSocketName);
        ReadOnlySocket = Path.Combine(controlDirectory, ReadOnlySocketName);
    }

    /// <summary>The kernel fast path's view (with the map checked against the table when asked); null: none.</summary>
    public Func<bool, FastPathView>? FastPath { get; set; }

    /// <summary>Asks the daemon to stop for a restart that leaves the kernel carrying the flows (natgate handover); false when it cannot.</summary>
    public Func<bool>? HandOver { get; set; }

    /// <summary>The session event stream's watchers (GET /v1/sessions/events); null: none kept.</summary>
    internal SessionLog.SessionEventHub? SessionEvents { get; set; }

    public string ReadWriteSocket { get; }

    public string ReadOnlySocket { get; }

    /// <summary>Binds both sockets (removing stale socket files first) and starts answering.</summary>
    /// <exception cref="IOException">Another daemon answers on the control socket.</exception>
    public static async Task<ControlServer> StartAsync(GatewayController controller, string controlDirectory, ILoggerFactory? logs, CancellationToken token, StateFilePolicy? stateFiles = null)
    {
        ArgumentNullException.ThrowIfNull(controller);
        ArgumentException.ThrowIfNullOrEmpty(controlDirectory);
        Directory.CreateDirectory(controlDirectory);
        string readWrite = Path.Combine(controlDirectory, ReadWriteSocketName);
        string readOnly = Path.Combine(controlDirectory, ReadOnlySocketName);
        RemoveStaleSocket(readWrite);
        RemoveStaleSocket(readOnly);

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Services.AddSingleton(logs);
        }
        // The daemon owns signals and shutdown; the control server is one of its parts.
        builder.Services.AddSingleton<IHostLifetime, QuietLifetime>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.ListenUnixSocket(readWrite, listen => listen.Use(next => connection =>
            {
                connection.Items[PeerItem] = PeerCredentials.Of(connection);
                return next(connection);
            }));
            kestrel.ListenUnixSocket(readOnly, listen => listen.Use(next => connection =>
            {
                connection.Items[ReadOnlyItem] = true;
                connection.Items[PeerItem] = PeerCredentials.Of(connection);
                return next(connection);
            }));
        });
        WebApplication app = builder.Build();
        var server = new ControlServer(app, controller, controlDirectory, stateFiles ?? StateFilePolicy.Default,
            logs?.CreateLogger("natgate.control") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        server.MapRoutes();
        await app.StartAsync(token).ConfigureAwait(false);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(readWrite, OwnerOnly);
            File.SetUnixFileMode(readOnly, Everyone);
        }
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync().ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        readOnlyListings.Dispose();
        File.Delete(ReadWriteSocket);
        File.Delete(ReadOnlySocket);
    }

    /// <summary>A socket file left by a daemon that died is removed; one a live daemon answers on is not.</summary>
    private static void RemoveStaleSocket(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"Another natgate answers on {path}; stop it first, or give another --control directory.");
            }
            catch (SocketException)
            {
                // Nobody listens: stale.
            }
        }
        File.Delete(path);
    }

    private void MapRoutes()
    {
        app.Use((context, next) => Guard(context, next));

        app.MapGet("/v1/sessions", context => StreamSessions(context, SessionQueries.Read(context.Request.Query)));
        app.MapGet("/v1/sessions/count", CountSessions);
        // With filters, only the sessions they take (conntrack -D); without, every session (ipnat -F).
        app.MapDelete("/v1/sessions", context =>
        {
            SessionFilter filter = SessionQueries.Read(context.Request.Query);
            int removed = filter.IsEmpty ? controller.FlushSessions() : controller.RemoveSessions(filter);
            return Reply(context, new RemovedCount(removed), ControlJson.Default.RemovedCount);
        });
        app.MapGet("/v1/sessions/events", context => SessionEventStream.WriteAsync(context, SessionEvents));
        app.MapDelete("/v1/sessions/{id}", context =>
        {
            controller.RemoveSession(IntRoute(context, "id"));
            return Reply(context, new RemovedCount(1), ControlJson.Default.RemovedCount);
        });
        app.MapPost("/v1/sessions", async context =>
        {
            SessionRecordView view = await Body(context, ControlJson.Default.SessionRecordView).ConfigureAwait(false);
            int id = controller.Put(ControlConversions.ToRecord(view));
            await Reply(context, new PutAnswer(id), ControlJson.Default.PutAnswer).ConfigureAwait(false);
        });

        app.MapGet("/v1/stats", context => Reply(context, ControlConversions.ToView(controller.Statistics()), ControlJson.Default.StatisticsView));
        app.MapPost("/v1/handover", context =>
        {
            if (HandOver?.Invoke() != true)
            {
                throw new NatControlException(NatErrno.EINVAL, "This daemon runs no kernel fast path, so nothing could carry the flows while it restarts; stop it instead.");
            }
            return Reply(context, new RemovedCount(0), ControlJson.Default.RemovedCount);
        });
        app.MapGet("/v1/fastpath", context =>
        {
            bool check = string.Equals(context.Request.Query["check"], "true", StringComparison.OrdinalIgnoreCase);
            FastPathView view = FastPath?.Invoke(check) ?? new FastPathView { Reason = "this daemon runs no fast path" };
            return Reply(context, view, ControlJson.Default.FastPathView);
        });

        app.MapGet("/v1/rules", context => Reply(context, [.. controller.Rules().Select(ControlConversions.ToView)], ControlJson.Default.IReadOnlyListRuleView));
        app.MapPost("/v1/rules", async context =>
        {
            IpnatRules rules = ControlConversions.ParseRules(await Body(context, ControlJson.Default.RulesText).ConfigureAwait(false));
            // ?replace=true (ipnat -C -f): the file was parsed whole above; the engine checks it whole too.
            bool replace = string.Equals(context.Request.Query["replace"], "true", StringComparison.OrdinalIgnoreCase);
            IReadOnlyList<int> indexes = replace ? controller.ReplaceRules(rules.Rules) : controller.LoadRules(rules.Rules);
            await Reply(context, new LoadRulesResult(indexes, rules.Warnings), ControlJson.Default.LoadRulesResult).ConfigureAwait(false);
        });
        app.MapPost("/v1/rules/remove", async context =>
        {
            IpnatRules rules = ControlConversions.ParseRules(await Body(context, ControlJson.Default.RulesText).ConfigureAwait(false));
            await Reply(context, new RemovedCount(controller.RemoveRules(rules.Rules)), ControlJson.Default.RemovedCount).ConfigureAwait(false);
        });
        app.MapDelete("/v1/rules", context => Reply(context, new RemovedCount(controller.FlushRules()), ControlJson.Default.RemovedCount));
        app.MapPost("/v1/rules/purge", context => Reply(context, new RemovedCount(controller.PurgeOrphans()), ControlJson.Default.RemovedCount));

        app.MapPost("/v1/lookup", async context =>
        {
            LookupRequest request = await Body(context, ControlJson.Default.LookupRequest).ConfigureAwait(false);
            LookupResult result = controller.Lookup(
                ControlText.RequireProtocol(request.Protocol, "protocol"),
                ControlText.AnyAddress(request.InsideAddress, "insideAddress"), request.InsidePort,
                ControlText.AnyAddress(request.OutsideAddress, "outsideAddress"), request.OutsidePort,
                request.FindForward);
            var answer = new LookupAnswer(result.RealAddress.ToString(), result.RealPort, result.ForwardPossible);
            await Reply(context, answer, ControlJson.Default.LookupAnswer).ConfigureAwait(false);
        });
        app.MapPost("/v1/lock", async context =>
        {
            LockRequest request = await Body(context, ControlJson.Default.LockRequest).ConfigureAwait(false);
            await Reply(context, new LockAnswer(controller.Lock(request.Locked)), ControlJson.Default.LockAnswer).ConfigureAwait(false);
        });
        app.MapPost("/v1/state/save", async context =>
        {
            string path = stateFiles.ForSave((await Body(context, ControlJson.Default.StatePath).ConfigureAwait(false)).Path);
            await Reply(context, new SaveAnswer(controller.SaveState(path)), ControlJson.Default.SaveAnswer).ConfigureAwait(false);
        });
        app.MapPost("/v1/state/restore", async context =>
        {
            string path = StateFilePolicy.ForRestore((await Body(context, ControlJson.Default.StatePath).ConfigureAwait(false)).Path);
            RestoreReport report = controller.RestoreState(path);
            var answer = new RestoreAnswer(report.Restored, [.. report.Failures.Select(failure => new RestoreFailureView(failure.Entry, failure.Errno.ToString(), failure.Message))]);
            await Reply(context, answer, ControlJson.Default.RestoreAnswer).ConfigureAwait(false);
        });

        MapNetNatRoutes();

        app.MapFallback(context => throw new NatControlException(NatErrno.ESRCH, $"There is no {context.Request.Method} {context.Request.Path}; the routes are listed in docs (GET /v1/sessions, /v1/stats, /v1/rules, /v1/nat ...)."));
    }

    private void MapNetNatRoutes()
    {
        app.MapGet("/v1/nat", context => Reply(context, [.. controller.NetNat.Instances.Select(ControlConversions.ToView)], ControlJson.Default.IReadOnlyListNatInstanceView));
        app.MapPost("/v1/nat", async context =>
        {
            NatInstance instance = ControlConversions.NewInstance(await Body(context, ControlJson.Default.NatInstanceView).ConfigureAwait(false));
            ChangeNetNat(model =>
            {
                if (FindInstance(model, instance.Name) is not null)
                {
                    throw new NatControlException(NatErrno.EEXIST, $"A NAT instance named '{instance.Name}' already exists; change it with natgate nat set, or remove it first.");
                }
                return model with { Instances = [.. model.Instances, instance] };
            });
            context.Response.StatusCode = StatusCodes.Status201Created;
            await Reply(context, ControlConversions.ToView(instance), ControlJson.Default.NatInstanceView).ConfigureAwait(false);
        });
        app.MapMethods("/v1/nat/{name}", [HttpMethods.Patch], async context =>
        {
            string name = StringRoute(context, "name");
            NatInstanceView patch = await Body(context, ControlJson.Default.NatInstanceView).ConfigureAwait(false);
            NatInstance? changed = null;
            ChangeNetNat(model =>
            {
                NatInstance existing = FindInstance(model, name) ?? throw NoInstance(name);
                changed = ControlConversions.Apply(existing, patch);
                return model with { Instances = [.. model.Instances.Select(instance => instance == existing ? changed : instance)] };
            });
            await Reply(context, ControlConversions.ToView(changed!), ControlJson.Default.NatInstanceView).ConfigureAwait(false);
        });
        app.MapDelete("/v1/nat/{name}", context =>
        {
            string name = StringRoute(context, "name");
            ChangeNetNat(model =>
            {
                NatInstance existing = FindInstance(model, name) ?? throw NoInstance(name);
                return model with
                {
                    Instances = [.. model.Instances.Where(instance => instance != existing)],
                    StaticMappings = [.. model.StaticMappings.Where(mapping => !SameName(mapping.NatName, existing.Name))],
                };
            });
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });

        app.MapGet("/v1/portmappings", context =>
        {
            long now = controller.NowTicks;
            IReadOnlyList<Core.PortMappings.PortMapping> mappings = controller.Run(engine => engine.PortMappings.List());
            return Reply(context, [.. mappings.Select(mapping => new PortMappingView(mapping.Protocol == Core.Packets.IpProtocol.Tcp ? "tcp" : "udp",
                mapping.InternalAddress.ToString(), mapping.InternalPort, mapping.ExternalAddress.ToString(), mapping.ExternalPort, mapping.SecondsLeft(now),
                mapping.RequestedWith == Core.PortMappings.PortMappingClient.Pcp ? "pcp" : "nat-pmp"))], ControlJson.Default.IReadOnlyListPortMappingView);
        });
        app.MapGet("/v1/nat/mappings", context => Reply(context, [.. controller.NetNat.StaticMappings.Select(ControlConversions.ToView)], ControlJson.Default.IReadOnlyListStaticMappingView));
        app.MapPost("/v1/nat/mappings", async context =>
        {
            StaticMappingView view = await Body(context, ControlJson.Default.StaticMappingView).ConfigureAwait(false);
            NatStaticMapping? added = null;
            ChangeNetNat(model =>
            {
                NatInstance instance = FindInstance(model, view.NatName) ?? throw NoInstance(view.NatName);
                IEnumerable<NatStaticMapping> siblings = model.StaticMappings.Where(mapping => SameName(mapping.NatName, instance.Name));
                int id = view.StaticMappingID;
                if (id == 0)
                {
                    id = siblings.Select(mapping => mapping.StaticMappingID).DefaultIfEmpty(0).Max() + 1;
                }
                else if (id < 0)
                {
                    throw new NatControlException(NatErrno.EINVAL, $"StaticMappingID {id} is negative; give a positive number, or 0 for the next free one.");
                }
                else if (siblings.Any(mapping => mapping.StaticMappingID == id))
                {
                    throw new NatControlException(NatErrno.EEXIST, $"NAT '{instance.Name}' already has static mapping {id}.");
                }
                added = ControlConversions.ToMapping(view with { NatName = instance.Name }, id);
                return model with { StaticMappings = [.. model.StaticMappings, added] };
            });
            context.Response.StatusCode = StatusCodes.Status201Created;
            await Reply(context, ControlConversions.ToView(added!), ControlJson.Default.StaticMappingView).ConfigureAwait(false);
        });
        app.MapDelete("/v1/nat/mappings/{natName}/{id}", context =>
        {
            string natName = StringRoute(context, "natName");
            int id = IntRoute(context, "id");
            ChangeNetNat(model =>
            {
                NatStaticMapping existing = model.StaticMappings.FirstOrDefault(mapping => SameName(mapping.NatName, natName) && mapping.StaticMappingID == id)
                    ?? throw new NatControlException(NatErrno.ESRCH, $"NAT '{natName}' has no static mapping {id}; natgate mapping list shows them.");
                return model with { StaticMappings = [.. model.StaticMappings.Where(mapping => mapping != existing)] };
            });
            context.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        });

        app.MapGet("/v1/hairpinning", context => Reply(context, new HairpinningView(ControlConversions.HairpinningName(controller.Hairpinning)), ControlJson.Default.HairpinningView));
        app.MapPut("/v1/hairpinning", async context =>
        {
            HairpinningView view = await Body(context, ControlJson.Default.HairpinningView).ConfigureAwait(false);
            Core.Rules.HairpinningMode mode = ControlConversions.Hairpinning(view.Mode);
            ChangeNetNat(model => model with { InterRoutingDomainHairpinningMode = mode });
            await Reply(context, new HairpinningView(ControlConversions.HairpinningName(mode)), ControlJson.Default.HairpinningView).ConfigureAwait(false);
        });
    }

    private void ChangeNetNat(Func<NetNatModel, NetNatModel> change)
    {
        lock (netNatChange)
        {
            controller.ApplyNetNat(change(controller.NetNat), LocalAddresses);
        }
    }

    private static NatInstance? FindInstance(NetNatModel model, string name)
        => model.Instances.FirstOrDefault(instance => SameName(instance.Name, name));

    private static bool SameName(string left, string right) => string.Equals(left, right, StringComparison.OrdinalIgnoreCase);

    private static NatControlException NoInstance(string name)
        => new(NatErrno.ESRCH, $"There is no NAT instance named '{name}'; natgate nat list shows them.");

    /// <summary>This machine's IPv4 addresses, for instances that name an ExternalIPInterfaceAddressPrefix.</summary>
    /// <summary>The host's addresses of the prefix's family in the prefix (an IPv6 instance's ExternalIPInterfaceAddressPrefix finds IPv6 ones).</summary>
    internal static IEnumerable<IpAddress> LocalAddresses(IpPrefix prefix)
        => NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(networkInterface => networkInterface.GetIPProperties().UnicastAddresses)
            .Where(unicast => unicast.Address.AddressFamily == AddressFamily.InterNetwork
                || (unicast.Address.AddressFamily == AddressFamily.InterNetworkV6 && !unicast.Address.IsIPv6LinkLocal))
            .Select(unicast => unicast.Address.AddressFamily == AddressFamily.InterNetwork
                ? (IpAddress)Ipv4Address.Read(unicast.Address.GetAddressBytes())
                : Ipv6Address.Read(unicast.Address.GetAddressBytes()))
            .Where(prefix.Contains);

    /// <summary>
    /// Refuses changes on the read-only socket, turns refusals into error bodies, and logs: every
    /// request at Debug, and every change (or attempt at one) once at Information, with who asked
    /// (the socket's peer credentials), what, and the result — an audit trail that a local user
    /// cannot use to fill the disk with reads.
    /// </summary>
    private async Task Guard(HttpContext context, RequestDelegate next)
    {
        bool change = !IsRead(context.Request);
        string? refusal = null;
        try
        {
            if (IsReadOnlyConnection(context) && change)
            {
                throw new NatControlException(NatErrno.EPERM, $"{context.Request.Method} {context.Request.Path} changes state, and this socket is read-only; use control.sock as root.");
            }
            await next(context).ConfigureAwait(false);
        }
        catch (NatControlException refused)
        {
            refusal = refused.Errno.ToString();
            await Refuse(context, refused.Errno.ToString(), StatusOf(refused.Errno), refused.Message).ConfigureAwait(false);
        }
        catch (JsonException malformed)
        {
            await Refuse(context, nameof(NatErrno.EINVAL), StatusCodes.Status400BadRequest, $"The request body is not the JSON this route takes: {malformed.Message}").ConfigureAwait(false);
        }
        catch (BadHttpRequestException bad)
        {
            await Refuse(context, nameof(NatErrno.EINVAL), StatusCodes.Status400BadRequest, bad.Message).ConfigureAwait(false);
        }
        catch (StateFileException stateFile)
        {
            await Refuse(context, nameof(NatErrno.EINVAL), StatusCodes.Status400BadRequest, stateFile.Message).ConfigureAwait(false);
        }
        catch (Exception io) when (io is IOException or UnauthorizedAccessException)
        {
            await Refuse(context, nameof(NatErrno.EINVAL), StatusCodes.Status400BadRequest, $"The daemon cannot use that file: {io.Message}").ConfigureAwait(false);
        }
        finally
        {
            PeerCredentials peer = context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(PeerItem, out object? found) == true && found is PeerCredentials known
                ? known : PeerCredentials.Unknown;
            string result = refusal ?? (context.Response.StatusCode < 400 ? "done" : $"refused ({context.Response.StatusCode})");
            // A change refused on the read-only socket changed nothing: Debug, or any local user
            // could fill the disk with refused attempts.
            if (change && !IsReadOnlyConnection(context))
            {
                ControlLog.Change(logger, peer.UserId, peer.ProcessId, context.Request.Method, context.Request.Path.Value ?? "", result);
            }
            else
            {
                ControlLog.Read(logger, peer.UserId, peer.ProcessId, context.Request.Method, context.Request.Path.Value ?? "", result);
            }
        }
    }

    private static bool IsReadOnlyConnection(HttpContext context)
        => context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ReadOnlyItem, out object? marked) == true && marked is true;

    /// <summary>GETs read; a lookup is a POST that only reads (SIOCGNATL).</summary>
    private static bool IsRead(HttpRequest request)
        => HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)
            || (HttpMethods.IsPost(request.Method) && request.Path.Equals("/v1/lookup", StringComparison.OrdinalIgnoreCase));

    public static int StatusOf(NatErrno errno) => errno switch
    {
        NatErrno.EINVAL => StatusCodes.Status400BadRequest,
        NatErrno.EEXIST => StatusCodes.Status409Conflict,
        NatErrno.ESRCH => StatusCodes.Status404NotFound,
        NatErrno.EACCES => StatusCodes.Status423Locked,
        NatErrno.EPERM => StatusCodes.Status403Forbidden,
        NatErrno.ENOMEM => StatusCodes.Status507InsufficientStorage,
        _ => StatusCodes.Status500InternalServerError,
    };

    private static async Task Refuse(HttpContext context, string errno, int status, string message)
    {
        if (context.Response.HasStarted)
        {
            throw new InvalidOperationException($"{errno}: {message}");
        }
        context.Response.Clear();
        context.Response.StatusCode = status;
        await context.Response.WriteAsJsonAsync(new ControlError(errno, message), ControlJson.Default.ControlError).ConfigureAwait(false);
    }

    /// <summary>Listings from the read-only socket, which any local user reaches, run a few at a time.</summary>
    public const int ReadOnlyListingsAtOnce = 4;

    private readonly SemaphoreSlim readOnlyListings = new(ReadOnlyListingsAtOnce);

    /// <summary>
    /// GET /v1/sessions as a JSON array written a slice of the table at a time: the engine's thread
    /// lets packets through between slices, and the daemon holds one slice, not the whole table,
    /// however many sessions there are. On the read-only socket only a few run at once; the
    /// others wait their turn for a while, then get ENOMEM.
    /// </summary>
    private async Task StreamSessions(HttpContext context, SessionFilter filter)
    {
        SemaphoreSlim? turn = IsReadOnlyConnection(context) ? readOnlyListings : null;
        if (turn is not null && !await turn.WaitAsync(TimeSpan.FromSeconds(10), context.RequestAborted).ConfigureAwait(false))
        {
            throw new NatControlException(NatErrno.ENOMEM, $"More than {ReadOnlyListingsAtOnce} session listings are running on the read-only socket; try again shortly.");
        }
        try
        {
            context.Response.ContentType = "application/json; charset=utf-8";
            // Over the response's pipe: the writer's flushes only hand bytes to the pipe, and each
            // page goes out with one asynchronous flush.
            System.IO.Pipelines.PipeWriter body = context.Response.BodyWriter;
            using var writer = new Utf8JsonWriter(body);
            writer.WriteStartArray();
            using IEnumerator<List<SessionInfo>> pages = controller.StreamSessions(filter).GetEnumerator();
            while (WritePage(pages, writer))
            {
                await body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
            }
            writer.WriteEndArray();
            writer.Flush();
            await body.FlushAsync(context.RequestAborted).ConfigureAwait(false);
        }
        finally
        {
            turn?.Release();
        }
    }

    /// <summary>
    /// GET /v1/sessions/count: with filters a walk of the table as a listing is (a slice per call),
    /// so on the read-only socket it takes a listing's turn.
    /// </summary>
    private async Task CountSessions(HttpContext context)
    {
        SessionFilter filter = SessionQueries.Read(context.Request.Query);
        SemaphoreSlim? turn = IsReadOnlyConnection(context) && !filter.IsEmpty ? readOnlyListings : null;
        if (turn is not null && !await turn.WaitAsync(TimeSpan.FromSeconds(10), context.RequestAborted).ConfigureAwait(false))
        {
            throw new NatControlException(NatErrno.ENOMEM, $"More than {ReadOnlyListingsAtOnce} session listings are running on the read-only socket; try again shortly.");
        }
        try
        {
            await Reply(context, new SessionCount(controller.CountSessions(filter)), ControlJson.Default.SessionCount).ConfigureAwait(false);
        }
        finally
        {
            turn?.Release();
        }
    }

    /// <summary>
    /// Fetches the next page and writes it, at a low scheduling priority on this one thread (no
    /// await inside), so that the JSON of a large table gives way to the packet thread.
    /// </summary>
    private static bool WritePage(IEnumerator<List<SessionInfo>> pages, Utf8JsonWriter writer)
    {
        using Linux.Scheduling.BackgroundWork background = Linux.Scheduling.BackgroundWork.Begin();
        if (!pages.MoveNext())
        {
            return false;
        }
        foreach (SessionInfo session in pages.Current)
        {
            JsonSerializer.Serialize(writer, ControlConversions.ToView(session), ControlJson.Default.SessionView);
        }
        writer.Flush();
        return true;
    }

    private static Task Reply<T>(HttpContext context, T value, JsonTypeInfo<T> type)
        => context.Response.WriteAsJsonAsync(value, type);

    private static async Task<T> Body<T>(HttpContext context, JsonTypeInfo<T> type)
    {
        T? value = await JsonSerializer.DeserializeAsync(context.Request.Body, type, context.RequestAborted).ConfigureAwait(false);
        return value ?? throw new NatControlException(NatErrno.EINVAL, $"{context.Request.Method} {context.Request.Path} needs a JSON object in its body, not null.");
    }

    private static string StringRoute(HttpContext context, string name) => Convert.ToString(context.Request.RouteValues[name], CultureInfo.InvariantCulture) ?? "";

    private static int IntRoute(HttpContext context, string name)
    {
        string text = StringRoute(context, name);
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new NatControlException(NatErrno.EINVAL, $"\"{text}\" is not a {name} (a whole number).");
    }

    /// <summary>Hooks no signals: the daemon decides when the server stops.</summary>
    private sealed class QuietLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
