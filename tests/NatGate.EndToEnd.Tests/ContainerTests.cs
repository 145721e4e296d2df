using System.Text.Json.Nodes;
using NatGate.Containers;
using NatGate.Linux.Namespaces;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Containers on a NAT instance (issue 11): `natgate attach` and `detach` on plain namespaces,
/// and the CNI plugin driven through the CNI protocol, all inside the lab's gateway namespace.
/// </summary>
public sealed class ContainerTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    [Fact]
    public void Attach_gives_two_namespaces_distinct_addresses_that_reach_the_outside_as_the_external_address_and_detach_frees_them()
    {
        Host.RequireRootAndTools("ip", "nsenter", "curl", "python3", "ss");
        using var containers = new ContainerLab();
        GatewayLab lab = containers.Lab;
        NetworkNamespace first = containers.AddContainer("c1");
        NetworkNamespace second = containers.AddContainer("c2");
        NetworkNamespace third = containers.AddContainer("c3");

        (int exit, string output, string error) = containers.RunNatgate("attach", first.Name, "--nat", ContainerLab.NatName);
        Assert.True(exit == 0, $"attach exited {exit}: {error}{output}");
        Assert.Contains(ContainerLab.First + "/24", output, StringComparison.Ordinal);
        (exit, output, error) = containers.RunNatgate("attach", second.Name, "--nat", ContainerLab.NatName);
        Assert.True(exit == 0, $"attach exited {exit}: {error}{output}");
        Assert.Contains(ContainerLab.Second + "/24", output, StringComparison.Ordinal);
        Assert.Equal(new Dictionary<string, string> { ["netns:" + first.Name] = ContainerLab.First, ["netns:" + second.Name] = ContainerLab.Second }, containers.Leases());
        Assert.True(containers.GatewayHasLink(ContainerLab.Bridge));
        // The lease file is root's and no one else may write it.
        UnixFileMode mode = File.GetUnixFileMode(containers.LeaseFile);
        Assert.Equal(UnixFileMode.None, mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite));

        // Both reach the outside server, which sees the NAT's external address.
        (BackgroundProcess server, string url) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "the outside page\n");
        foreach (NetworkNamespace container in new[] { first, second })
        {
            (int curlExit, string body, string curlError) = GatewayLab.Exec(container.Name, Short, "curl", "-sS", "--max-time", "10", url);
            Assert.True(curlExit == 0, $"curl from {container.Name} exited {curlExit}: {curlError}\n{containers.Daemon.Output}");
            Assert.Equal("the outside page\n", body);
        }
        server.WaitFor("client ", Short);
        Assert.Contains($"client {GatewayLab.External}:", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("client 10.78.", server.Output, StringComparison.Ordinal);

        // An address taken, an address outside the prefix, a NAT that does not exist.
        (exit, output, error) = containers.RunNatgate("attach", third.Name, "--nat", ContainerLab.NatName, "--address", ContainerLab.First);
        Assert.Equal(1, exit);
        Assert.Contains("EEXIST", error, StringComparison.Ordinal);
        (exit, _, error) = containers.RunNatgate("attach", third.Name, "--nat", ContainerLab.NatName, "--address", "10.99.0.5");
        Assert.Equal(2, exit);
        Assert.Contains("EINVAL", error, StringComparison.Ordinal);
        (exit, _, error) = containers.RunNatgate("attach", third.Name, "--nat", "no-such-nat");
        Assert.Equal(1, exit);
        Assert.Contains("ESRCH", error, StringComparison.Ordinal);
        Assert.Equal(2, containers.Leases().Count);
        Assert.Equal("lo", Assert.Single(GatewayLab.Ip(third.Name, "-br", "link").Split('\n', StringSplitOptions.RemoveEmptyEntries)).Split(' ')[0]);

        // Detach frees the address: the next attach asking for it gets it.
        string firstHostEnd = ContainerNames.HostInterfaceFor(ContainerLab.NatName, "netns:" + first.Name);
        Assert.True(containers.GatewayHasLink(firstHostEnd));
        (exit, output, error) = containers.RunNatgate("detach", first.Name, "--nat", ContainerLab.NatName);
        Assert.True(exit == 0, $"detach exited {exit}: {error}{output}");
        Assert.False(containers.GatewayHasLink(firstHostEnd));
        Assert.DoesNotContain("eth0", GatewayLab.Ip(first.Name, "-br", "link"), StringComparison.Ordinal);
        Assert.Equal(new Dictionary<string, string> { ["netns:" + second.Name] = ContainerLab.Second }, containers.Leases());
        (exit, output, error) = containers.RunNatgate("attach", third.Name, "--nat", ContainerLab.NatName, "--address", ContainerLab.First);
        Assert.True(exit == 0, $"attach exited {exit}: {error}{output}");
        Assert.Equal("the outside page\n", GatewayLab.ExecChecked(third.Name, "curl", "-sS", "--max-time", "10", url));

        // Detaching what is not attached is ESRCH; the bridge goes with the last lease.
        (exit, _, error) = containers.RunNatgate("detach", first.Name, "--nat", ContainerLab.NatName);
        Assert.Equal(1, exit);
        Assert.Contains("ESRCH", error, StringComparison.Ordinal);
        Assert.Equal(0, containers.RunNatgate("detach", second.Name, "--nat", ContainerLab.NatName).ExitCode);
        Assert.True(containers.GatewayHasLink(ContainerLab.Bridge));
        Assert.Equal(0, containers.RunNatgate("detach", third.Name, "--nat", ContainerLab.NatName).ExitCode);
        Assert.False(containers.GatewayHasLink(ContainerLab.Bridge));
        Assert.Empty(containers.Leases());
        Assert.False(containers.Daemon.HasExited, containers.Daemon.Output);
    }

    [Fact]
    public async Task Attaches_and_cni_adds_running_at_once_never_hand_out_one_address_twice()
    {
        Host.RequireRootAndTools("ip", "nsenter");
        using var containers = new ContainerLab();
        GatewayLab lab = containers.Lab;
        NetworkNamespace[] spaces = [.. Enumerable.Range(0, 6).Select(i => containers.AddContainer("p" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)))];
        string config = $$"""
            {"cniVersion": "1.0.0", "name": "natgate", "type": "natgate-cni", "nat": "{{ContainerLab.NatName}}",
             "control": "{{lab.ControlDirectory}}", "stateDirectory": "{{containers.StateDirectory}}"}
            """;
        // Half through natgate attach, half through the CNI plugin, all started together.
        Task<(int ExitCode, string Output, string Error)>[] calls = [.. spaces.Select((space, i) => Task.Run(() => i % 2 == 0
            ? containers.RunNatgate("attach", space.Name, "--nat", ContainerLab.NatName)
            : containers.Cni(new Dictionary<string, string>
            {
                ["CNI_COMMAND"] = "ADD",
                ["CNI_CONTAINERID"] = space.Name,
                ["CNI_NETNS"] = "/run/netns/" + space.Name,
                ["CNI_IFNAME"] = "eth0",
                ["CNI_PATH"] = AppContext.BaseDirectory,
            }, config)))];
        // Each call is bounded (60 s) by the runner; so is the whole.
        (int ExitCode, string Output, string Error)[] results = await Task.WhenAll(calls).WaitAsync(TimeSpan.FromSeconds(120), TestContext.Current.CancellationToken);
        foreach ((int exitCode, string output, string error) in results)
        {
            Assert.True(exitCode == 0, error + output);
        }
        IReadOnlyDictionary<string, string> leases = containers.Leases();
        Assert.Equal(spaces.Length, leases.Count);
        Assert.Equal(spaces.Length, leases.Values.Distinct().Count());
        // And the kernel agrees: each namespace holds the address its lease names.
        foreach (NetworkNamespace space in spaces)
        {
            string address = leases.Single(lease => lease.Key.Contains(space.Name, StringComparison.Ordinal)).Value;
            Assert.Contains($"inet {address}/24", GatewayLab.Ip(space.Name, "addr", "show", "dev", "eth0"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_cni_plugin_adds_checks_and_deletes_a_container_and_publishes_its_port_mappings()
    {
        Host.RequireRootAndTools("ip", "nsenter", "curl", "python3", "ss");
        using var containers = new ContainerLab();
        GatewayLab lab = containers.Lab;
        NetworkNamespace container = containers.AddContainer("cni");
        const string containerId = "0123456789abcdef";
        string config = $$"""
            {"cniVersion": "1.0.0", "name": "natgate", "type": "natgate-cni", "nat": "{{ContainerLab.NatName}}",
             "control": "{{lab.ControlDirectory}}", "stateDirectory": "{{containers.StateDirectory}}",
             "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}]} }
            """;
        Dictionary<string, string> Call(string command) => new()
        {
            ["CNI_COMMAND"] = command,
            ["CNI_CONTAINERID"] = containerId,
            ["CNI_NETNS"] = "/run/netns/" + container.Name,
            ["CNI_IFNAME"] = "eth0",
            ["CNI_ARGS"] = "IgnoreUnknown=1",
            ["CNI_PATH"] = AppContext.BaseDirectory,
        };

        // VERSION.
        (int exit, string output, string error) = containers.Cni(new Dictionary<string, string> { ["CNI_COMMAND"] = "VERSION" }, """{"cniVersion": "1.0.0"}""");
        Assert.True(exit == 0, error + output);
        JsonNode version = JsonNode.Parse(output)!;
        Assert.Equal("1.0.0", version["cniVersion"]!.GetValue<string>());
        Assert.Equal(["0.4.0", "1.0.0"], version["supportedVersions"]!.AsArray().Select(supported => supported!.GetValue<string>()));

        // Errors in the spec's form: undecodable configuration (6), no CNI_COMMAND (4), a version it does not speak (1).
        (exit, output, _) = containers.Cni(Call("ADD"), "{ this is not json");
        Assert.NotEqual(0, exit);
        JsonNode refusal = JsonNode.Parse(output)!;
        Assert.Equal(6, refusal["code"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(refusal["msg"]!.GetValue<string>()));
        Assert.NotNull(refusal["cniVersion"]);
        (exit, output, _) = containers.Cni(new Dictionary<string, string>(), config);
        Assert.NotEqual(0, exit);
        Assert.Equal(4, JsonNode.Parse(output)!["code"]!.GetValue<int>());
        (exit, output, _) = containers.Cni(Call("ADD"), config.Replace("\"1.0.0\"", "\"0.1.0\"", StringComparison.Ordinal));
        Assert.NotEqual(0, exit);
        Assert.Equal(1, JsonNode.Parse(output)!["code"]!.GetValue<int>());
        Assert.Empty(containers.Leases());

        // ADD: an address, the default route, and port 8080 of the external address to the container's 80.
        (exit, output, error) = containers.Cni(Call("ADD"), config);
        Assert.True(exit == 0, $"ADD exited {exit}: {error}{output}\n{containers.Daemon.Output}");
        JsonNode result = JsonNode.Parse(output)!;
        Assert.Equal("1.0.0", result["cniVersion"]!.GetValue<string>());
        Assert.Equal(ContainerLab.First + "/24", result["ips"]![0]!["address"]!.GetValue<string>());
        Assert.Equal(ContainerLab.Gateway, result["ips"]![0]!["gateway"]!.GetValue<string>());
        Assert.Equal("eth0", result["interfaces"]![result["ips"]![0]!["interface"]!.GetValue<int>()]!["name"]!.GetValue<string>());
        Assert.Equal(new Dictionary<string, string> { [$"cni:{containerId}/eth0"] = ContainerLab.First }, containers.Leases());
        Assert.Contains("\"externalPort\":8080", containers.Mappings(), StringComparison.Ordinal);

        (BackgroundProcess server, _) = lab.ServePage(container.Name, ContainerLab.First, 80, "served from the container\n");
        (int curlExit, string body, string curlError) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "--max-time", "10", $"http://{GatewayLab.External}:8080/index.html");
        Assert.True(curlExit == 0, $"curl to the published port exited {curlExit}: {curlError}\n{containers.Daemon.Output}");
        Assert.Equal("served from the container\n", body);
        server.WaitFor($"client {GatewayLab.Outside}:", Short);

        // CHECK, with the ADD's result as prevResult.
        string withPrevious = config.TrimEnd().TrimEnd('}') + ", \"prevResult\": " + output.Trim() + "}";
        (exit, output, error) = containers.Cni(Call("CHECK"), withPrevious);
        Assert.True(exit == 0, $"CHECK exited {exit}: {error}{output}");
        Assert.Equal("", output.Trim());

        // DEL: the mapping, the lease and the interface go; a second DEL still succeeds.
        (exit, output, error) = containers.Cni(Call("DEL"), config);
        Assert.True(exit == 0, $"DEL exited {exit}: {error}{output}");
        Assert.DoesNotContain("8080", containers.Mappings(), StringComparison.Ordinal);
        Assert.Empty(containers.Leases());
        Assert.False(containers.GatewayHasLink(ContainerLab.Bridge));
        Assert.DoesNotContain("eth0", GatewayLab.Ip(container.Name, "-br", "link"), StringComparison.Ordinal);
        (curlExit, _, _) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "--connect-timeout", "3", $"http://{GatewayLab.External}:8080/index.html");
        Assert.NotEqual(0, curlExit);
        (exit, output, error) = containers.Cni(Call("DEL"), config);
        Assert.True(exit == 0, $"a second DEL exited {exit}: {error}{output}");

        // CHECK of what is gone: container unknown (3).
        (exit, output, _) = containers.Cni(Call("CHECK"), withPrevious);
        Assert.NotEqual(0, exit);
        Assert.Equal(3, JsonNode.Parse(output)!["code"]!.GetValue<int>());
        Assert.False(containers.Daemon.HasExited, containers.Daemon.Output);
    }
}
