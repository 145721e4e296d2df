using System.Diagnostics;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Debian's podman on NatGate's CNI plugin, run in the lab's gateway namespace with a
/// test-owned containers.conf (CNI backend, the plugin directory holding a natgate-cni wrapper
/// for the built natgate, the network directory holding the natgate network), a test-owned
/// storage root, and an image imported from busybox-static (no registry is reachable).
/// </summary>
[Collection(RunsAlone.Name)]
public sealed class PodmanTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(20);

    [Fact]
    public void A_podman_container_publishes_a_port_reaches_the_outside_as_the_external_address_and_rm_frees_it()
    {
        Host.RequireRootAndTools("ip", "nsenter", "curl", "python3", "ss", "podman", "runc", "busybox", "tar");
        using var containers = new ContainerLab();
        GatewayLab lab = containers.Lab;
        using var podman = new PodmanSandbox(lab.Gateway, Path.Combine(lab.WorkDirectory, "podman"), lab.ControlDirectory, containers.StateDirectory);

        // A web server in a container, published on 8080.
        string id = podman.Run("run", "-d", "--name", "web", "--network", "natgate", "-p", "8080:80", PodmanSandbox.Image, "/bin/httpd", "-f", "-p", "80", "-h", "/www").Trim();
        Assert.Equal(new Dictionary<string, string> { [$"cni:{id}/eth0"] = ContainerLab.First }, containers.Leases());
        Assert.Contains("\"externalPort\":8080", containers.Mappings(), StringComparison.Ordinal);
        string page = "";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Short)
        {
            (int exit, string body, _) = GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "--max-time", "5", $"http://{GatewayLab.External}:8080/index.html");
            if (exit == 0)
            {
                page = body;
                break;
            }
            Thread.Sleep(300);
        }
        Assert.True(page == PodmanSandbox.Page, $"the published port answered '{page}'\n{podman.Run("logs", "web")}\n{containers.Daemon.Output}");

        // A container reaching out is seen as the NAT's external address; --rm frees its address.
        (BackgroundProcess server, string url) = lab.ServePage(lab.Out, GatewayLab.Outside, 80, "the outside page\n");
        string fetched = podman.Run("run", "--rm", "--network", "natgate", PodmanSandbox.Image, "/bin/wget", "-q", "-O", "-", url);
        Assert.Equal("the outside page\n", fetched);
        server.WaitFor("client ", Short);
        Assert.Contains($"client {GatewayLab.External}:", server.Output, StringComparison.Ordinal);
        Assert.Single(containers.Leases());

        // rm -f: the static mapping goes, the address is freed, the bridge goes with the last.
        podman.Run("rm", "-f", "-t", "0", "web");
        Assert.DoesNotContain("8080", containers.Mappings(), StringComparison.Ordinal);
        Assert.Empty(containers.Leases());
        Assert.False(containers.GatewayHasLink(ContainerLab.Bridge));
        Assert.NotEqual(0, GatewayLab.Exec(lab.Out, Short, "curl", "-sS", "--connect-timeout", "3", $"http://{GatewayLab.External}:8080/index.html").ExitCode);
        Assert.False(containers.Daemon.HasExited, containers.Daemon.Output);
    }
}

/// <summary>
/// Podman with everything it keeps under one directory: containers.conf and storage.conf
/// (through CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, the host's /etc/containers is never
/// read or touched), storage, run state, the CNI plugin directory and network directory, and
/// a busybox image. Dispose removes the containers and images and unmounts what is left.
/// </summary>
internal sealed class PodmanSandbox : IDisposable
{
    public const string Image = "localhost/natgate-busybox:test";
    public const string Page = "served by busybox httpd in a podman container\n";

    // libcni (inside podman) caches each attachment's result under /var/lib/cni/results and
    // removes it at DEL; the directories stay. Removed again when this sandbox made them.
    private const string CniCache = "/var/lib/cni";

    private readonly string space;
    private readonly string directory;
    private readonly bool cniCacheExisted = Directory.Exists(CniCache);

    public PodmanSandbox(string space, string directory, string controlDirectory, string stateDirectory)
    {
        this.space = space;
        this.directory = Directory.CreateDirectory(directory).FullName;
        try
        {
            string plugins = Directory.CreateDirectory(Path.Combine(directory, "cni")).FullName;
            string networks = Directory.CreateDirectory(Path.Combine(directory, "net")).FullName;
            string wrapper = Path.Combine(plugins, "natgate-cni");
            File.WriteAllText(wrapper, $"#!/bin/sh\nexec {ContainerLab.Dotnet} {ContainerLab.Natgate} cni \"$@\"\n");
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.WriteAllText(Path.Combine(networks, "natgate.conflist"), $$"""
                {
                  "cniVersion": "1.0.0",
                  "name": "natgate",
                  "plugins": [
                    { "type": "natgate-cni", "nat": "{{ContainerLab.NatName}}", "control": "{{controlDirectory}}",
                      "stateDirectory": "{{stateDirectory}}", "capabilities": { "portMappings": true } }
                  ]
                }
                """);
            // cgroupfs and a file for events: there is no systemd here. runc, not crun: crun 1.8
            // refuses a hybrid cgroup hierarchy with a controller on v2. Modest ulimits: podman's
            // default (nofile 1048576) is above what an unprivileged host container may set.
            File.WriteAllText(ContainersConf, $"""
                [containers]
                default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

                [engine]
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                events_logfile_path = "{directory}/events.log"
                runtime = "runc"
                tmp_dir = "{directory}/tmp"

                [network]
                network_backend = "cni"
                cni_plugin_dirs = ["{plugins}"]
                network_config_dir = "{networks}"
                """);
            File.WriteAllText(StorageConf, $"""
                [storage]
                driver = "vfs"
                graphroot = "{directory}/root"
                runroot = "{directory}/runroot"
                """);
            // The image: busybox-static and its applets, and a page to serve.
            string rootfs = Path.Combine(directory, "rootfs");
            Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
            Directory.CreateDirectory(Path.Combine(rootfs, "www"));
            Directory.CreateDirectory(Path.Combine(rootfs, "tmp"));
            File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
            foreach (string applet in (string[])["sh", "httpd", "wget", "sleep", "cat", "ip"])
            {
                File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
            }
            File.WriteAllText(Path.Combine(rootfs, "www", "index.html"), Page);
            string archive = Path.Combine(directory, "rootfs.tar");
            Host.Check("tar", "-C", rootfs, "-cf", archive, ".");
            // containers/image keeps a blob cache for root in /var/lib/containers/cache whatever
            // --root says (podman 4.3 has no setting for it): the import runs in a mount namespace
            // of its own where /var/lib is an empty tmpfs, so nothing of it lands on the host.
            (int exit, string output, string error) = Try(["import", archive, Image], privateVarLib: true);
            if (exit != 0)
            {
                throw new InvalidOperationException($"podman import exited {exit}: {error.Trim()} {output.Trim()}");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private string ContainersConf => Path.Combine(directory, "containers.conf");

    private string StorageConf => Path.Combine(directory, "storage.conf");

    /// <summary>Runs podman in the namespace with the sandbox's configuration; returns its output, throws with its error.</summary>
    public string Run(params string[] arguments)
    {
        (int exit, string output, string error) = Try(arguments);
        if (exit != 0)
        {
            throw new InvalidOperationException($"podman {string.Join(' ', arguments)} exited {exit}: {error.Trim()} {output.Trim()}");
        }
        return output;
    }

    /// <summary>
    /// nsenter --net, not `ip netns exec`: the latter also gives podman a mount namespace of its
    /// own with a fresh /sys, where no cgroup hierarchy is mounted (runc: "no cgroup mount found
    /// in mountinfo"), and where the mounts podman makes for a container (its network namespace
    /// under /run/netns, its shm) would be out of reach of the next podman call.
    /// </summary>
    private (int ExitCode, string Output, string Error) Try(string[] arguments, bool privateVarLib = false)
        => Host.Run("nsenter", ["--net=/run/netns/" + space,
            .. (privateVarLib ? (string[])["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs natgate-test /var/lib && exec \"$@\"", "sh"] : []),
            "env", $"CONTAINERS_CONF={ContainersConf}", $"CONTAINERS_STORAGE_CONF={StorageConf}",
            "podman", "--root", Path.Combine(directory, "root"), "--runroot", Path.Combine(directory, "runroot"), "--storage-driver", "vfs",
            "--tmpdir", Path.Combine(directory, "tmp"), .. arguments], TimeSpan.FromSeconds(120));

    public void Dispose()
    {
        try
        {
            _ = Try(["rm", "-a", "-f", "-t", "0"]);
            _ = Try(["rmi", "-a", "-f"], privateVarLib: true);
        }
        catch (TimeoutException)
        {
        }
        // Whatever podman left mounted under the directory (a container's shm) goes before the files do.
        foreach (string mount in File.ReadAllLines("/proc/self/mountinfo").Select(line => line.Split(' ')[4]).Where(point => point.StartsWith(directory, StringComparison.Ordinal)).Reverse())
        {
            _ = Host.Run("umount", ["-l", mount]);
        }
        if (!cniCacheExisted && Directory.Exists(CniCache) && !Directory.EnumerateFiles(CniCache, "*", SearchOption.AllDirectories).Any())
        {
            Directory.Delete(CniCache, recursive: true);
        }
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
