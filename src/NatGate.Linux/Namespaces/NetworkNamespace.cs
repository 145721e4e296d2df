using System.Diagnostics;
using NatGate.Linux.Interop;

namespace NatGate.Linux.Namespaces;

/// <summary>
/// A named network namespace (`ip netns add`) owned by this process and deleted on Dispose.
/// Linux keeps the network namespace per thread, so <see cref="StartThread"/> moves a new,
/// dedicated thread into it with setns(2): sockets, TUN devices, threads and child processes
/// created from that thread belong to the namespace, while the rest of the process stays
/// where it was. The demo and the end-to-end labs build their topologies from these.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private bool deleted;

    private NetworkNamespace(string name) => Name = name;

    public string Name { get; }

    private string EtcDirectory => Path.Combine("/etc/netns", Name);

    /// <summary>
    /// Creates the namespace and brings its loopback up. Programs run in it through
    /// `ip netns exec` see a resolv.conf of its own naming only loopback (ip-netns(8) binds
    /// /etc/netns/NAME/resolv.conf), so no name lookup ever leaves for a real resolver.
    /// </summary>
    public static NetworkNamespace Create(string name)
    {
        if (File.Exists("/run/netns/" + name))
        {
            throw new InvalidOperationException($"a network namespace named {name} already exists; choose another name or delete it (ip netns delete {name})");
        }
        var space = new NetworkNamespace(name);
        try
        {
            // Inside the try: an `ip netns add` that fails half-way (killed by the terminal's
            // Ctrl-C, say) may still have made the namespace, and the catch deletes it.
            Run("ip", ["netns", "add", name]);
            Directory.CreateDirectory(space.EtcDirectory);
            File.WriteAllText(Path.Combine(space.EtcDirectory, "resolv.conf"), "# NatGate lab: no resolver leaves the namespace\nnameserver 127.0.0.1\n");
            space.Ip("link", "set", "lo", "up");
        }
        catch
        {
            space.Dispose();
            throw;
        }
        return space;
    }

    /// <summary>Runs <c>ip -n NAME arguments</c>; returns its output, throws with its error.</summary>
    public string Ip(params string[] arguments) => Run("ip", ["-n", Name, .. arguments]);

    /// <summary>Runs a program inside the namespace through <c>ip netns exec</c>; returns its output, throws with its error.</summary>
    public string Exec(params string[] command) => Run("ip", ["netns", "exec", Name, .. command]);

    /// <summary>Starts a thread inside the namespace running <paramref name="body"/>.</summary>
    public Thread StartThread(Action body, string threadName)
    {
        ArgumentNullException.ThrowIfNull(body);
        Exception? failure = null;
        using var entered = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            try
            {
                Enter();
            }
            catch (InvalidOperationException error)
            {
                failure = error;
                entered.Set();
                return;
            }
            entered.Set();
            body();
        })
        { IsBackground = true, Name = threadName };
        thread.Start();
        entered.Wait();
        if (failure is not null)
        {
            throw new InvalidOperationException(failure.Message, failure);
        }
        return thread;
    }

    /// <summary>Runs <paramref name="work"/> on a thread inside the namespace and returns its result (or rethrows).</summary>
    public T Invoke<T>(Func<T> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        T result = default!;
        Exception? failure = null;
        Thread thread = StartThread(() =>
        {
            try
            {
                result = work();
            }
#pragma warning disable CA1031 // handed back to the caller's thread below
            catch (Exception error)
#pragma warning restore CA1031
            {
                failure = error;
            }
        }, "netns-" + Name);
        thread.Join();
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        return result;
    }

    private void Enter()
    {
        string before = ThreadNamespace();
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
        // Hygiene: never let work meant for the lab run in the namespace the thread came from.
        if (ThreadNamespace() == before)
        {
            throw new InvalidOperationException($"the thread did not move into {Name}");
        }
    }

    private static string ThreadNamespace()
        => new FileInfo("/proc/thread-self/ns/net").LinkTarget ?? throw new InvalidOperationException("no /proc/thread-self/ns/net");

    public void Dispose()
    {
        if (deleted)
        {
            return;
        }
        deleted = true;
        try
        {
            Run("ip", ["netns", "delete", Name]);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        try
        {
            Directory.Delete(EtcDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static string Run(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {process.ExitCode}: {error.Result.Trim()}");
        }
        return output;
    }
}
