using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// natgate run as a systemd service would run it (issue 11, "Installed as a service"): settings
/// from the configuration file with flags over them, sd_notify messages to a socket the test
/// owns (READY=1 only once translating, the watchdog's keep-alives, STOPPING=1), and log lines
/// an operator can read.
/// </summary>
public sealed partial class ServiceTests
{
    private static readonly TimeSpan Short = TimeSpan.FromSeconds(30);

    private static string Dotnet => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";

    private static string Natgate => Path.Combine(AppContext.BaseDirectory, "natgate.dll");

    [Fact]
    public void Systemd_hears_ready_only_once_translating_then_keep_alives_then_stopping()
    {
        Host.RequireRootAndTools("ip", "ping");
        using var lab = new GatewayLab();
        // The [Daemon] table holds the settings; the log level flag overrides the file's Warning.
        string config = Path.Combine(lab.WorkDirectory, "natgate.toml");
        File.WriteAllText(config, $"""
            [Daemon]
            Inside = ["{GatewayLab.InsidePrefix}"]
            External = ["{GatewayLab.External}"]
            OutsideInterface = "{GatewayLab.OutsideInterface}"
            ControlDirectory = "{lab.ControlDirectory}"
            LogLevel = "Warning"
            """);
        string socketPath = Path.Combine(lab.WorkDirectory, "notify.sock");
        using var notifications = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        notifications.Bind(new UnixDomainSocketEndPoint(socketPath));

        BackgroundProcess daemon = lab.Start(lab.Gateway, "env", $"NOTIFY_SOCKET={socketPath}", "WATCHDOG_USEC=1000000",
            Dotnet, Natgate, "run", "--config", config, "--log-level", "Information");

        string ready = Receive(notifications, "READY=1", Short);
        // At the moment systemd hears READY=1, the gateway translates: the routing is in place
        // and the TUN is read, so an inside host reaches the outside at once.
        Assert.Contains("999:", GatewayLab.Ip(lab.Gateway, "rule", "show"), StringComparison.Ordinal);
        GatewayLab.ExecChecked(lab.In1, "ping", "-c", "1", "-W", "2", GatewayLab.Outside);
        Assert.Contains($"MAINPID={daemon.Id}", ready, StringComparison.Ordinal);
        Assert.Contains("STATUS=translating", ready, StringComparison.Ordinal);

        // WatchdogSec=1s: a keep-alive every half second while the workers and timers go round.
        Receive(notifications, "WATCHDOG=1", TimeSpan.FromSeconds(3));
        Receive(notifications, "WATCHDOG=1", TimeSpan.FromSeconds(3));

        Assert.Equal(0, daemon.Stop(Short));
        Receive(notifications, "STOPPING=1", TimeSpan.FromSeconds(1));

        // --log-level Information won over the file's Warning: the start is logged, with a time.
        string[] lines = daemon.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, line => line.Contains("natgate running", StringComparison.Ordinal));
        Assert.All(lines.Where(line => line.Contains("info:", StringComparison.Ordinal)), line => Assert.Matches(Timestamp(), line));
    }

    [Fact]
    public void Under_journald_lines_carry_their_priority_and_no_control_read_is_logged()
    {
        Host.RequireRootAndTools("ip");
        using var lab = new GatewayLab();
        // JOURNAL_STREAM is how systemd tells a service its output goes to the journal.
        BackgroundProcess daemon = lab.StartNatGateWith(["JOURNAL_STREAM=8:12345"], "--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External);
        for (int i = 0; i < 5; i++)
        {
            GatewayLab.ExecChecked(lab.Gateway, Dotnet, Natgate, "ipnat", "-l", "--control", lab.ControlDirectory);
        }
        // A change is audited once, with who asked and the result.
        GatewayLab.ExecChecked(lab.Gateway, Dotnet, Natgate, "ipnat", "-F", "--control", lab.ControlDirectory);
        Assert.Equal(0, daemon.Stop(Short));

        string[] lines = daemon.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // sd-daemon(3) priorities: <6> information, <4> warning, <3> error; journald stamps the time.
        Assert.All(lines, line => Assert.Matches(@"^<[0-7]>", line));
        Assert.Contains(lines, line => line.StartsWith("<6>", StringComparison.Ordinal) && line.Contains("natgate running", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains("read by uid", StringComparison.Ordinal));
        Assert.Single(lines, line => line.Contains("change by uid 0 (pid ", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains("\\\"", StringComparison.Ordinal) || line.Contains("\\u0027", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--metrics", "localhost:99999", "--metrics localhost:99999")]
    [InlineData("--metrics", "nowhere", "--metrics nowhere")]
    [InlineData("--log-level", "Loud", "--log-level Loud")]
    [InlineData("--external", "198.51.100.1:9-2", "--external 198.51.100.1:9-2")]
    [InlineData("--queues", "0", "--queues 0")]
    public void A_bad_flag_is_refused_before_anything_starts(string flag, string value, string message)
    {
        Host.RequireRootAndTools("ip");
        using var lab = new GatewayLab();
        (int exitCode, string output, string error) = GatewayLab.Exec(lab.Gateway, Short, Dotnet, Natgate, "run",
            "--control", lab.ControlDirectory, "--inside", GatewayLab.InsidePrefix, "--external", GatewayLab.External, flag, value);
        Assert.Equal(2, exitCode);
        Assert.StartsWith(message, error.Trim(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output + error, StringComparison.Ordinal);
        // Nothing was started: no TUN, no rules.
        Assert.DoesNotContain("natgate0", GatewayLab.Ip(lab.Gateway, "link", "show"), StringComparison.Ordinal);
        Assert.DoesNotContain("999:", GatewayLab.Ip(lab.Gateway, "rule", "show"), StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_daemon_setting_names_the_file_line_and_key()
    {
        Host.RequireRootAndTools("ip");
        using var lab = new GatewayLab();
        string config = Path.Combine(lab.WorkDirectory, "natgate.toml");
        File.WriteAllText(config, """
            # the gateway
            [Daemon]
            Inside = ["10.77.0.0/33"]
            External = ["198.51.100.10"]
            """);
        (int exitCode, _, string error) = GatewayLab.Exec(lab.Gateway, Short, Dotnet, Natgate, "run", "--config", config, "--control", lab.ControlDirectory);
        Assert.Equal(2, exitCode);
        Assert.Equal($"{config}:3:1: Inside: 10.77.0.0/33: not a prefix (a.b.c.d/n, or an IPv6 prefix such as fd00:77::/64).", error.Trim());

        // Found only when the interface is looked for, and still placed in the file.
        File.WriteAllText(config, """
            [Daemon]
            Inside = ["10.77.0.0/24"]
            External = ["eth9"]
            """);
        (exitCode, string output, error) = GatewayLab.Exec(lab.Gateway, Short, Dotnet, Natgate, "run", "--config", config, "--control", lab.ControlDirectory);
        Assert.Equal(2, exitCode);
        Assert.EndsWith($"{config}:3:1: External: eth9: there is no interface eth9.", (output + error).Trim(), StringComparison.Ordinal);
    }

    private static string Receive(Socket socket, string wanted, TimeSpan timeout)
    {
        byte[] buffer = new byte[4096];
        DateTime deadline = DateTime.UtcNow + timeout;
        var seen = new StringBuilder();
        while (DateTime.UtcNow < deadline)
        {
            socket.ReceiveTimeout = Math.Max(1, (int)(deadline - DateTime.UtcNow).TotalMilliseconds);
            int length;
            try
            {
                length = socket.Receive(buffer);
            }
            catch (SocketException error) when (error.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                break;
            }
            string message = Encoding.UTF8.GetString(buffer, 0, length);
            if (message.Split('\n').Contains(wanted))
            {
                return message;
            }
            seen.Append(message).Append(" | ");
        }
        throw new TimeoutException($"no {wanted} within {timeout.TotalSeconds} s; heard: {seen}");
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info:")]
    private static partial Regex Timestamp();
}
