using System.Diagnostics;
using System.Security.Cryptography;
using NatGate.Linux.Namespaces;

namespace NatGate.Demo;

/// <summary>
/// The demo's network, in namespaces of its own (names start "ngdemo" plus random hex, so two
/// runs never collide): two inside hosts standing in for containers, the gateway, and an
/// outside server with two addresses. Dispose stops every process and deletes every namespace.
/// </summary>
internal sealed class DemoLab : IDisposable
{
    public const string InsidePrefix = "10.77.0.0/24";
    public const string GatewayInside = "10.77.0.1";
    public const string Inside1 = "10.77.0.2";
    public const string Inside2 = "10.77.0.3";
    public const string GatewayOutside = "198.51.100.1";
    public const string Outside = "198.51.100.2";
    public const string External = "198.51.100.10";
    public const string OutsideInterface = "wan0";

    private readonly List<NetworkNamespace> spaces = [];
    private readonly List<Process> processes = [];

    public DemoLab()
    {
        string prefix = "ngdemo" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2));
        try
        {
            In1 = Add(prefix + "in1");
            In2 = Add(prefix + "in2");
            Gateway = Add(prefix + "gw");
            Out = Add(prefix + "out");
            Gateway.Ip("link", "add", "br0", "type", "bridge");
            Gateway.Ip("addr", "add", GatewayInside + "/24", "dev", "br0");
            Gateway.Ip("link", "set", "br0", "up");
            Connect(In1, Inside1 + "/24", "lan1", null);
            Connect(In2, Inside2 + "/24", "lan2", null);
            Gateway.Ip("link", "set", "lan1", "master", "br0");
            Gateway.Ip("link", "set", "lan2", "master", "br0");
            Connect(Out, Outside + "/24", OutsideInterface, GatewayOutside + "/24");
            In1.Ip("route", "add", "default", "via", GatewayInside);
            In2.Ip("route", "add", "default", "via", GatewayInside);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public NetworkNamespace In1 { get; }
    public NetworkNamespace In2 { get; }
    public NetworkNamespace Gateway { get; }
    public NetworkNamespace Out { get; }

    private NetworkNamespace Add(string name)
    {
        NetworkNamespace space = NetworkNamespace.Create(name);
        spaces.Add(space);
        return space;
    }

    private void Connect(NetworkNamespace host, string hostAddress, string gatewayName, string? gatewayAddress)
    {
        string temporary = "t" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        host.Ip("link", "add", "eth0", "type", "veth", "peer", "name", temporary, "netns", Gateway.Name);
        Gateway.Ip("link", "set", temporary, "name", gatewayName);
        host.Ip("addr", "add", hostAddress, "dev", "eth0");
        if (gatewayAddress is not null)
        {
            Gateway.Ip("addr", "add", gatewayAddress, "dev", gatewayName);
        }
        host.Ip("link", "set", "eth0", "up");
        Gateway.Ip("link", "set", gatewayName, "up");
    }

    /// <summary>Starts a server in a namespace; it is stopped on Dispose.</summary>
    public void StartServer(NetworkNamespace space, params string[] command)
    {
        var start = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])["netns", "exec", space.Name, .. command])
        {
            start.ArgumentList.Add(argument);
        }
        Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        processes.Add(process);
    }

    /// <summary>Runs a client in a namespace with a time limit; returns its exit code and output.</summary>
    public static (int ExitCode, string Output) Run(NetworkNamespace space, TimeSpan timeout, params string[] command)
    {
        var start = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in (string[])["netns", "exec", space.Name, .. command])
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{command[0]} timed out after {timeout.TotalSeconds} s");
        }
        return (process.ExitCode, output.Result + error.Result);
    }

    public void Dispose()
    {
        foreach (Process process in processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(3000);
                }
            }
            catch (InvalidOperationException)
            {
            }
            process.Dispose();
        }
        for (int i = spaces.Count - 1; i >= 0; i--)
        {
            spaces[i].Dispose();
        }
    }
}
