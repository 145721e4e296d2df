using System.Security.Cryptography;
using System.Text;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// Issue 10, "State files": a --state file that cannot be read, or that others may write, stops
/// the start with one line and exit code 2, and is never written over.
/// </summary>
public sealed class StateFileTests
{
    private static readonly string Dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
    private static readonly string Natgate = Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    [Fact]
    public void A_refused_state_file_is_kept_byte_for_byte_and_the_start_fails_with_one_line_and_exit_code_2()
    {
        Host.RequireRootAndTools("ip", "ping");
        using var lab = new GatewayLab();
        string good = Path.Combine(lab.WorkDirectory, "good.state");
        string[] nat = ["--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface];
        BackgroundProcess daemon = lab.StartNatGate([.. nat, "--state", good]);
        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "1", "-W", "2", GatewayLab.Outside);
        Assert.Equal(0, daemon.Stop(TimeSpan.FromSeconds(20)));
        byte[] saved = File.ReadAllBytes(good);
        Assert.Contains("natgate-sessions", Encoding.UTF8.GetString(saved), StringComparison.Ordinal);

        var variants = new Dictionary<string, byte[]>
        {
            ["truncated"] = saved[..(saved.Length / 2)],
            ["corrupt"] = Flip(saved, saved.Length / 2),
            ["foreign"] = Encoding.UTF8.GetBytes("{\"format\":\"something-else\",\"version\":1}\n{\"sha256\":\"00\"}\n"),
            ["newer"] = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(saved).Replace("\"version\":1", "\"version\":99", StringComparison.Ordinal)),
            ["binary"] = RandomNumberGenerator.GetBytes(4096),
            ["empty"] = [],
        };
        foreach ((string name, byte[] content) in variants)
        {
            string path = Path.Combine(lab.WorkDirectory, name + ".state");
            File.WriteAllBytes(path, content);
            (int exitCode, string output, string error) = Start(lab, [.. nat, "--state", path]);
            Assert.True(exitCode == 2, $"{name}: exit {exitCode}\n{output}{error}");
            Assert.Contains("--state", output + error, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output + error, StringComparison.Ordinal); // no stack trace
            Assert.Equal(content, File.ReadAllBytes(path));
        }

        // A start that fails for another reason (the TUN's name is taken by the outside veth)
        // exits 1 and saves nothing over a good file either.
        (int busyExit, string busyOutput, string busyError) = Start(lab, [.. nat, "--state", good, "--tun", GatewayLab.OutsideInterface]);
        Assert.True(busyExit == 1, $"exit {busyExit}\n{busyOutput}{busyError}");
        Assert.DoesNotContain("   at ", busyOutput + busyError, StringComparison.Ordinal);
        Assert.Equal(saved, File.ReadAllBytes(good));

        // A good file that others may write is refused the same way, and kept.
        File.SetUnixFileMode(good, File.GetUnixFileMode(good) | UnixFileMode.OtherWrite);
        (int writableExit, string writableOutput, string writableError) = Start(lab, [.. nat, "--state", good]);
        Assert.Equal(2, writableExit);
        Assert.Contains("writable by everyone", writableOutput + writableError, StringComparison.Ordinal);
        Assert.Equal(saved, File.ReadAllBytes(good));
        // Nothing was left in the kernel by the refused starts.
        Assert.DoesNotContain("lookup 100", GatewayLab.Ip(lab.Gateway, "rule", "show"), StringComparison.Ordinal);
    }

    [Fact]
    public void The_control_api_keeps_the_rules_on_a_bad_replace_and_never_writes_or_reads_outside_what_it_may()
    {
        Host.RequireRootAndTools("ip", "ping");
        using var lab = new GatewayLab();
        lab.StartNatGate("--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, "--outside-interface", GatewayLab.OutsideInterface);
        string bad = Path.Combine(lab.WorkDirectory, "bad.conf");
        File.WriteAllText(bad, $"map {GatewayLab.OutsideInterface} 10.77.0.0/24 -> nonsense\n");
        string[] cli = [Dotnet, Natgate];
        string[] control = ["--control", lab.ControlDirectory];

        // ipnat -C -f with a bad file: refused, and every rule still loaded and translating.
        (int replaceExit, _, string replaceError) = GatewayLab.Exec(lab.Gateway, TimeSpan.FromSeconds(60), [.. cli, "ipnat", "-C", "-f", bad, .. control]);
        Assert.Equal(2, replaceExit);
        Assert.Contains("bad.conf:1:", replaceError, StringComparison.Ordinal);
        Assert.Contains("map ", GatewayLab.ExecChecked(lab.Gateway, [.. cli, "ipnat", "-l", .. control]), StringComparison.Ordinal);
        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "1", "-W", "2", GatewayLab.Outside);

        // No save over /etc/passwd (outside --state-directory), and no restore from a device.
        string passwd = File.ReadAllText("/etc/passwd");
        (int saveExit, _, string saveError) = GatewayLab.Exec(lab.Gateway, TimeSpan.FromSeconds(60), [.. cli, "state", "save", "/etc/passwd", .. control]);
        Assert.Equal(3, saveExit);
        Assert.Contains("EACCES", saveError, StringComparison.Ordinal);
        Assert.Equal(passwd, File.ReadAllText("/etc/passwd"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        (int restoreExit, _, string restoreError) = GatewayLab.Exec(lab.Gateway, TimeSpan.FromSeconds(30), [.. cli, "state", "restore", "/dev/urandom", .. control]);
        Assert.NotEqual(0, restoreExit);
        Assert.Contains("not a regular file", restoreError, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
    }

    private static (int ExitCode, string Output, string Error) Start(GatewayLab lab, string[] arguments)
        => GatewayLab.Exec(lab.Gateway, TimeSpan.FromSeconds(60), [Dotnet, Natgate, "run", "--control", lab.ControlDirectory, .. arguments]);

    private static byte[] Flip(byte[] content, int position)
    {
        byte[] copy = [.. content];
        copy[position] ^= 0x20;
        return copy;
    }
}
