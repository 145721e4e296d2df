using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using NatGate.Linux.Interop;

namespace NatGate.Linux.Tests.Namespaces;

/// <summary>
/// A network namespace of the test's own, named "ngt" + 6 random hex digits + a role, deleted
/// on Dispose. Linux keeps the network namespace per thread, so <see cref="Run"/> moves a new,
/// dedicated thread into it with setns(2): sockets, TUN devices and child processes created on
/// that thread belong to the namespace, while the rest of the test process stays outside.
/// The thread ends with the action, so no pooled thread is ever left inside.
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    private static readonly string RunPrefix = "ngt" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    private NetworkNamespace(string name) => Name = name;

    /// <summary>The namespace name, unique to this test run: "ngt1a2b3c" + role.</summary>
    public string Name { get; }

    /// <summary>Creates the namespace and brings its loopback up.</summary>
    public static NetworkNamespace Create(string role)
    {
        var network = new NetworkNamespace(RunPrefix + role);
        Command.Run("ip", "netns", "add", network.Name);
        try
        {
            network.Ip("link", "set", "lo", "up");
        }
        catch
        {
            network.Dispose();
            throw;
        }
        return network;
    }

    /// <summary>Runs <c>ip -n NAME arguments</c> and returns its output.</summary>
    public string Ip(params string[] arguments) => Command.Run("ip", ["-n", Name, .. arguments]);

    /// <summary>Runs a program inside the namespace through <c>ip netns exec</c>.</summary>
    public string Exec(string program, params string[] arguments) => Command.Run("ip", ["netns", "exec", Name, program, .. arguments]);

    /// <summary>Runs <paramref name="action"/> on a new thread inside the namespace; rethrows what it throws.</summary>
    public void Run(Action action) => Run(() =>
    {
        action();
        return 0;
    });

    /// <summary>Runs <paramref name="function"/> on a new thread inside the namespace and returns its result.</summary>
    public T Run<T>(Func<T> function)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Enter();
                result = function();
            }
            catch (Exception exception)
            {
                failure = ExceptionDispatchInfo.Capture(exception);
            }
        })
        {
            Name = "netns " + Name,
            IsBackground = true,
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }

    /// <summary>Deletes the namespace; interfaces in it go too once nothing holds them open.</summary>
    public void Dispose()
    {
        try
        {
            Command.Run("ip", "netns", "delete", Name);
        }
        catch (InvalidOperationException)
        {
            // Already gone: nothing to clean.
        }
    }

    private void Enter()
    {
        string before = CurrentThreadNamespace();
        int descriptor = Libc.Open("/run/netns/" + Name, Libc.CloseOnExec);
        if (descriptor < 0)
        {
            throw new InvalidOperationException($"cannot open /run/netns/{Name}: {Errno.Name(Errno.Last)}");
        }
        try
        {
            if (Libc.SetNamespace(descriptor, Libc.CloneNewNetwork) < 0)
            {
                throw new InvalidOperationException($"setns into {Name} failed: {Errno.Name(Errno.Last)}");
            }
        }
        finally
        {
            _ = Libc.Close(descriptor);
        }
        // Guard the hygiene rule: never run test traffic in the namespace we came from.
        string after = CurrentThreadNamespace();
        if (after == before || after != Exec("readlink", "/proc/self/ns/net").Trim())
        {
            throw new InvalidOperationException($"thread did not enter {Name}: {before} -> {after}");
        }
        // Child processes are forked from this thread and must inherit its namespace (GatewayPlumbing runs ip).
        string child = Command.Run("readlink", "/proc/self/ns/net").Trim();
        if (child != after)
        {
            throw new InvalidOperationException($"a child process started inside {Name} ran in {child}, not {after}");
        }
    }

    private static string CurrentThreadNamespace() =>
        new FileInfo("/proc/thread-self/ns/net").LinkTarget ?? throw new InvalidOperationException("no /proc/thread-self/ns/net");
}
