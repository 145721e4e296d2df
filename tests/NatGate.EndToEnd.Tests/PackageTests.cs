using System.Diagnostics;
using System.Reflection;
using Tomlyn;
using Tomlyn.Model;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The README's Install section: packaging/build-deb.sh builds the .deb, dpkg installs a service
/// systemd accepts, and a purge leaves the machine as it was.
/// </summary>
// Alone: the publish takes both cores for a minute, which would starve a measuring test.
[Collection(RunsAlone.Name)]
public sealed class PackageTests(PackageTests.BuiltPackage package) : IClassFixture<PackageTests.BuiltPackage>
{
    /// <summary>Everything the package installs that an operator would look for, and what a purge must remove.</summary>
    private static readonly string[] InstalledPaths =
    [
        "/usr/bin/natgate", "/usr/lib/natgate", "/etc/natgate", "/var/lib/natgate", "/lib/systemd/system/natgate.service",
        "/usr/share/man/man8/natgate.8.gz", "/usr/share/man/man5/natgate.toml.5.gz", "/usr/share/bash-completion/completions/natgate",
        "/usr/share/doc/natgate", "/usr/lib/cni/natgate-cni",
    ];

    private static readonly TimeSpan DpkgTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The version the tests were built with: the one Directory.Build.props gives every project.</summary>
    private static string ProjectVersion
        => typeof(NatGate.Cli.ExitCodes).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;

    [Fact]
    public void The_package_holds_the_program_the_service_its_configuration_the_manuals_and_the_completion()
    {
        Host.RequireRootAndTools("dpkg-deb", "dotnet");
        string deb = package.Deb;
        Assert.Equal($"natgate_{ProjectVersion}_amd64.deb", Path.GetFileName(deb));

        Assert.Equal("natgate", Field(deb, "Package"));
        Assert.Equal(ProjectVersion, Field(deb, "Version"));
        Assert.Equal("amd64", Field(deb, "Architecture"));
        foreach (string dependency in new[] { "iproute2", "nftables", "libc6" })
        {
            Assert.Contains(dependency, Field(deb, "Depends").Split(',', StringSplitOptions.TrimEntries));
        }

        string[] contents = [.. Host.Check("dpkg-deb", "--contents", deb).Split('\n', StringSplitOptions.RemoveEmptyEntries)];
        // dpkg-deb lists "mode owner size date time ./path[ -> target]".
        string Entry(string path) => contents.SingleOrDefault(line => line.EndsWith($" .{path}", StringComparison.Ordinal) || line.Contains($" .{path} -> ", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"{path} is not in the package:\n{string.Join('\n', contents)}");
        Assert.StartsWith("-rwxr-xr-x root/root", Entry("/usr/lib/natgate/natgate"), StringComparison.Ordinal);
        Assert.EndsWith(" ./usr/bin/natgate -> ../lib/natgate/natgate", Entry("/usr/bin/natgate"), StringComparison.Ordinal);
        foreach (string path in new[]
        {
            "/lib/systemd/system/natgate.service", "/etc/natgate/natgate.toml", "/usr/share/man/man8/natgate.8.gz",
            "/usr/share/man/man5/natgate.toml.5.gz", "/usr/share/bash-completion/completions/natgate", "/usr/share/doc/natgate/copyright",
        })
        {
            Assert.StartsWith("-rw-r--r-- root/root", Entry(path), StringComparison.Ordinal);
        }
        // The CNI plugin comes with packaging/cni/ when the tree has it, and is left out, not an error, when not.
        bool cni = File.Exists(Path.Combine(BuiltPackage.RepositoryRoot, "packaging", "cni", "natgate-cni"));
        Assert.Equal(cni, contents.Any(line => line.EndsWith(" ./usr/lib/cni/natgate-cni", StringComparison.Ordinal)));
    }

    [Fact]
    public void Installed_it_is_a_service_systemd_accepts_and_a_purge_leaves_the_machine_as_it_was()
    {
        Host.RequireRootAndTools("dpkg", "dpkg-deb", "dpkg-query", "systemd-analyze", "bash", "dotnet");
        (int queried, string status, _) = Host.Run("dpkg-query", ["-W", "-f=${Status}", "natgate"]);
        Assert.True(queried != 0 || status.Trim() == "unknown ok not-installed",
            $"natgate is already on this machine (dpkg: {status.Trim()}). This test installs and purges the package; it will not clobber yours. Run it where natgate is not installed, or remove it first: dpkg --purge natgate.");
        string[] present = [.. InstalledPaths.Where(Exists)];
        Assert.True(present.Length == 0, $"{string.Join(", ", present)} already exist without the package; a purge would remove them, so the test stops here. Move them away and run it again.");
        string packagesBefore = Host.Check("dpkg", "-l");
        string deb = package.Deb;

        try
        {
            Dpkg("--install", deb);

            Assert.Equal(ProjectVersion, Host.Check("/usr/bin/natgate", "--version").Trim());

            // verify loads the unit as systemd would, and checks that ExecStart= exists.
            (int verified, string verifyOutput, string verifyErrors) = Host.Run("systemd-analyze", ["verify", "/lib/systemd/system/natgate.service"], DpkgTimeout);
            Assert.True(verified == 0, $"systemd-analyze verify exited {verified}: {verifyErrors}{verifyOutput}");
            Assert.DoesNotContain(verifyErrors.Split('\n'), line => line.Contains("natgate", StringComparison.Ordinal));

            // The configuration: dpkg's conffile, the commented one from packaging/, valid TOML that
            // keeps only safe defaults and translates nothing until the operator says what to.
            Assert.Contains("/etc/natgate/natgate.toml", Host.Check("dpkg-query", "-W", "-f=${Conffiles}", "natgate"), StringComparison.Ordinal);
            string configuration = File.ReadAllText("/etc/natgate/natgate.toml");
            Assert.Equal(File.ReadAllText(Path.Combine(BuiltPackage.RepositoryRoot, "packaging", "natgate.toml")), configuration);
            TomlTable document = TomlSerializer.Deserialize<TomlTable>(configuration)!;
            Assert.Equal(new[] { "Daemon" }, document.Keys);
            var daemon = (TomlTable)document["Daemon"];
            Assert.Equal(new[] { "ControlDirectory", "LogLevel", "StateDirectory", "StateFile" }, daemon.Keys.Order(StringComparer.Ordinal));
            Assert.Equal("/run/natgate", daemon["ControlDirectory"]);
            Assert.Equal("/var/lib/natgate", daemon["StateDirectory"]);

            // Bash completion asks natgate itself ([suggest:N]).
            Assert.Equal(new[] { "rules", "run" }, Complete("natgate ru"));
            Assert.Contains("--max-sessions-per-host", Complete("natgate run --max"));
            Assert.Contains("save", Complete("natgate state "));

            if (Host.OnPath("man"))
            {
                (int manExit, string manPage, string manErrors) = Host.Run("man", ["-l", "/usr/share/man/man8/natgate.8.gz"]);
                Assert.True(manExit == 0 && manErrors.Length == 0, $"man -l exited {manExit}: {manErrors}");
                Assert.Contains("EXIT STATUS", manPage, StringComparison.Ordinal);
                Assert.Contains("natgate.toml", Host.Check("man", "-l", "/usr/share/man/man5/natgate.toml.5.gz"), StringComparison.Ordinal);
            }
        }
        finally
        {
            // Also when an assertion failed: the machine is left without the package.
            Dpkg("--purge", "natgate");
        }

        Assert.DoesNotContain(InstalledPaths, Exists);
        (int listed, string listing, _) = Host.Run("dpkg-query", ["-W", "-f=${Status}", "natgate"]);
        Assert.True(listed != 0 || listing.Trim() == "unknown ok not-installed", $"after the purge dpkg still knows natgate: {listing.Trim()}");
        Assert.Equal(packagesBefore, Host.Check("dpkg", "-l"));
    }

    [Theory]
    [InlineData("0.9.0", true, 0, "daemon-reload|is-active --quiet natgate.service|handover|restart natgate.service")]
    [InlineData("0.9.0", true, 1, "daemon-reload|is-active --quiet natgate.service|handover|restart natgate.service")]
    [InlineData("0.9.0", false, 0, "daemon-reload|is-active --quiet natgate.service")]
    [InlineData("", true, 0, "daemon-reload")]
    public void An_upgrade_of_a_running_service_hands_over_before_the_restart(string previousVersion, bool active, int handover, string expected)
    {
        // The postinst against stand-ins for systemctl and natgate that log their arguments, in a
        // mount namespace of its own whose /run (a tmpfs) says systemd runs: the host's /run and
        // services are not touched. A hand-over that fails (no fast path) still restarts.
        Host.RequireRootAndTools("unshare", "mount", "sh", "env");
        string directory = Directory.CreateTempSubdirectory("natgate-postinst-").FullName;
        try
        {
            string log = Path.Combine(directory, "calls");
            File.WriteAllText(Path.Combine(directory, "systemctl"), "#!/bin/sh\necho \"$*\" >>\"$CALLS\"\n[ \"$1\" = is-active ] && exit \"$ACTIVE\"\nexit 0\n");
            File.WriteAllText(Path.Combine(directory, "natgate"), "#!/bin/sh\necho \"$*\" >>\"$CALLS\"\nexit \"$HANDOVER\"\n");
            foreach (string stub in (string[])["systemctl", "natgate"])
            {
                File.SetUnixFileMode(Path.Combine(directory, stub), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            string postinst = Path.Combine(BuiltPackage.RepositoryRoot, "packaging", "debian", "postinst");
            (int exitCode, string output, string error) = Host.Run("env",
            [
                $"PATH={directory}:{Environment.GetEnvironmentVariable("PATH")}", $"CALLS={log}", $"ACTIVE={(active ? 0 : 3)}", $"HANDOVER={handover}",
                "unshare", "--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs natgate-postinst /run && mkdir -p /run/systemd/system && exec sh \"$0\" configure \"$1\"", postinst, previousVersion,
            ]);
            Assert.True(exitCode == 0, $"postinst exited {exitCode}: {error}{output}");
            Assert.Equal(expected.Split('|'), File.ReadAllLines(log));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static bool Exists(string path) => Path.Exists(path) || new FileInfo(path).LinkTarget is not null;

    private static void Dpkg(params string[] arguments)
    {
        (int exitCode, string output, string error) = Host.Run("dpkg", arguments, DpkgTimeout);
        Assert.True(exitCode == 0, $"dpkg {string.Join(' ', arguments)} exited {exitCode}: {error}{output}");
    }

    private static string Field(string deb, string name) => Host.Check("dpkg-deb", "--field", deb, name).Trim();

    /// <summary>What the installed completion offers when TAB is pressed at the end of <paramref name="line"/>.</summary>
    private static string[] Complete(string line)
    {
        const string Script = """
            source /usr/share/bash-completion/completions/natgate
            COMP_LINE=$1; COMP_POINT=${#1}
            read -ra COMP_WORDS <<< "$1"
            [[ $1 == *" " ]] && COMP_WORDS+=("")
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            _natgate
            printf '%s\n' "${COMPREPLY[@]}"
            """;
        return Host.Check("bash", "-c", Script, "complete", line).Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>The .deb, built once for the class by packaging/build-deb.sh into a directory removed afterwards.</summary>
    public sealed class BuiltPackage : IDisposable
    {
        private readonly string directory = Directory.CreateTempSubdirectory("natgate-deb-").FullName;
        private readonly Lazy<string> deb;

        public BuiltPackage() => deb = new Lazy<string>(Build);

        /// <summary>The repository's root: the tests run from its tests/*/bin folder.</summary>
        public static string RepositoryRoot { get; } = FindRepositoryRoot();

        /// <summary>The package's path; the first caller builds it (a minute or two; longer when the runtime packs are downloaded first).</summary>
        public string Deb => deb.Value;

        public void Dispose() => Directory.Delete(directory, recursive: true);

        private string Build()
        {
            var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add(Path.Combine(RepositoryRoot, "packaging", "build-deb.sh"));
            start.ArgumentList.Add(directory);
            // The test host inherits the outer build's MSBuild settings; the script's own build must not.
            foreach (string variable in start.Environment.Keys.Where(key => key.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)).ToList())
            {
                start.Environment.Remove(variable);
            }
            using Process process = Process.Start(start)!;
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> error = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException("packaging/build-deb.sh did not finish in 10 minutes");
            }
            Assert.True(process.ExitCode == 0, $"packaging/build-deb.sh exited {process.ExitCode}:\n{error.Result}{output.Result}");
            string path = output.Result.Trim().Split('\n')[^1];
            Assert.True(File.Exists(path), $"packaging/build-deb.sh printed {path}, which does not exist:\n{error.Result}");
            return path;
        }

        private static string FindRepositoryRoot()
        {
            string? candidate = AppContext.BaseDirectory;
            while (candidate is not null && !File.Exists(Path.Combine(candidate, "packaging", "build-deb.sh")))
            {
                candidate = Path.GetDirectoryName(candidate);
            }
            return candidate ?? throw new InvalidOperationException($"no packaging/build-deb.sh above {AppContext.BaseDirectory}");
        }
    }
}
