using System.Diagnostics;
using System.Text.Json.Nodes;
using NatGate.Containers;
using NatGate.Linux.Namespaces;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The gateway lab with a NAT instance for containers: a daemon in the gateway namespace whose
/// --config names [[Nat]] "containers" on 10.78.0.0/24 (the lab's own inside is 10.77.0.0/24)
/// behind its bridge, leases in the lab's work directory, and fresh namespaces to attach
/// ("container" namespaces, named with the lab's prefix, deleted on Dispose like the lab's).
/// </summary>
internal sealed class ContainerLab : IDisposable
{
    public const string NatName = "containers";
    public const string Prefix = "10.78.0.0/24";
    public const string Gateway = "10.78.0.1";
    public const string First = "10.78.0.2";
    public const string Second = "10.78.0.3";

    private readonly List<NetworkNamespace> containers = [];

    public ContainerLab()
    {
        try
        {
            StateDirectory = Path.Combine(Lab.WorkDirectory, "state");
            string config = Path.Combine(Lab.WorkDirectory, "natgate.toml");
            File.WriteAllText(config, $"""
                [[Nat]]
                Name = "{NatName}"
                InternalIPInterfaceAddressPrefix = "{Prefix}"

                [[Nat.ExternalAddress]]
                IPAddress = "{GatewayLab.External}"
                """);
            // No --inside-interface: the bridge appears with the first attach, and the daemon
            // follows the kernel's routes to learn that the inside lives behind it.
            Daemon = Lab.StartNatGate("--config", config, "--outside-interface", GatewayLab.OutsideInterface,
                "--state-directory", StateDirectory, "--log-sessions");
        }
        catch
        {
            Lab.Dispose();
            throw;
        }
    }

    public GatewayLab Lab { get; } = new();

    public BackgroundProcess Daemon { get; } = null!;

    public string StateDirectory { get; } = null!;

    public static string Bridge => ContainerNames.BridgeFor(NatName);

    public string LeaseFile => Path.Combine(StateDirectory, "leases", NatName + ".json");

    public static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    public static string Natgate => Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    /// <summary>A fresh network namespace standing for a container; deleted on Dispose.</summary>
    public NetworkNamespace AddContainer(string role)
    {
        NetworkNamespace space = NetworkNamespace.Create(Lab.Prefix + role);
        containers.Add(space);
        return space;
    }

    /// <summary>Runs `natgate ARGS --control ... --state-directory ...` in the gateway namespace.</summary>
    public (int ExitCode, string Output, string Error) RunNatgate(params string[] arguments)
        => GatewayLab.Exec(Lab.Gateway, TimeSpan.FromSeconds(60), [Dotnet, Natgate, .. arguments, "--control", Lab.ControlDirectory, "--state-directory", StateDirectory]);

    /// <summary>The static mappings the daemon holds, as `natgate mapping list --json` prints them.</summary>
    public string Mappings() => GatewayLab.ExecChecked(Lab.Gateway, Dotnet, Natgate, "mapping", "list", "--json", "--control", Lab.ControlDirectory);

    /// <summary>The leased addresses and their owners, from the lease file (none when it is gone).</summary>
    public IReadOnlyDictionary<string, string> Leases()
    {
        if (!File.Exists(LeaseFile))
        {
            return new Dictionary<string, string>();
        }
        JsonNode book = JsonNode.Parse(File.ReadAllText(LeaseFile))!;
        return book["leases"]!.AsArray().ToDictionary(lease => lease!["owner"]!.GetValue<string>(), lease => lease!["address"]!.GetValue<string>());
    }

    public bool GatewayHasLink(string name) => GatewayLab.Exec(Lab.Gateway, TimeSpan.FromSeconds(10), "ip", "link", "show", "dev", name).ExitCode == 0;

    /// <summary>Runs the CNI plugin as a runtime would: the CNI_* variables, the configuration on stdin, in the gateway namespace.</summary>
    public (int ExitCode, string Output, string Error) Cni(IReadOnlyDictionary<string, string> environment, string input)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (string argument in (string[])["netns", "exec", Lab.Gateway, Dotnet, Natgate, "cni"])
        {
            start.ArgumentList.Add(argument);
        }
        foreach (string name in (string[])["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"])
        {
            start.Environment.Remove(name);
        }
        foreach ((string name, string value) in environment)
        {
            start.Environment[name] = value;
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("could not start natgate cni");
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(input);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("natgate cni did not finish in 60 s");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    public void Dispose()
    {
        for (int i = containers.Count - 1; i >= 0; i--)
        {
            containers[i].Dispose();
        }
        Lab.Dispose();
    }
}
