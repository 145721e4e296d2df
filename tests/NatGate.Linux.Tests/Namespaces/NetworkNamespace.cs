using System.Security.Cryptography;

namespace NatGate.Linux.Tests.Namespaces;

/// <summary>
/// A test's network namespace: <see cref="Linux.Namespaces.NetworkNamespace"/> named "ngt" + 6
/// random hex digits (one prefix per test run) + a role, deleted on Dispose. <see cref="Run"/>
/// runs code on a dedicated thread moved into the namespace with setns(2).
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    private static readonly string RunPrefix = "ngt" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));

    private readonly Linux.Namespaces.NetworkNamespace inner;

    private NetworkNamespace(Linux.Namespaces.NetworkNamespace inner) => this.inner = inner;

    /// <summary>The namespace name, unique to this test run: "ngt1a2b3c" + role.</summary>
    public string Name => inner.Name;

    /// <summary>Creates the namespace and brings its loopback up.</summary>
    public static NetworkNamespace Create(string role) => new(Linux.Namespaces.NetworkNamespace.Create(RunPrefix + role));

    /// <summary>Runs <c>ip -n NAME arguments</c> and returns its output.</summary>
    public string Ip(params string[] arguments) => inner.Ip(arguments);

    /// <summary>Runs a program inside the namespace through <c>ip netns exec</c>.</summary>
    public string Exec(string program, params string[] arguments) => inner.Exec([program, .. arguments]);

    /// <summary>Runs <paramref name="action"/> on a new thread inside the namespace; rethrows what it throws.</summary>
    public void Run(Action action) => inner.Invoke(() =>
    {
        action();
        return 0;
    });

    /// <summary>Runs <paramref name="function"/> on a new thread inside the namespace and returns its result.</summary>
    public T Run<T>(Func<T> function) => inner.Invoke(function);

    public void Dispose() => inner.Dispose();
}
