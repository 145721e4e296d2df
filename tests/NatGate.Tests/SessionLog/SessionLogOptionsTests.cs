using NatGate.Configuration;
using NatGate.SessionLog;

namespace NatGate.Tests.SessionLog;

public sealed class SessionLogOptionsTests
{
    [Fact]
    public void The_daemon_table_names_the_session_log_s_sinks_with_the_file_resolved_against_it()
    {
        DaemonSettings daemon = GatewayConfigurationFile.Parse("""
            [Daemon]
            Inside = "10.77.0.0/24"
            External = "198.51.100.10"
            SessionLog = "log/sessions.jsonl"
            SessionLogSize = 20
            SessionLogFiles = 4
            SessionSyslog = "udp:192.0.2.9"
            SessionIpfix = "192.0.2.9:2055"
            """, "/etc/natgate/natgate.toml").Daemon;
        Assert.Equal(("/etc/natgate/log/sessions.jsonl", 20, 4), (daemon.SessionLog, daemon.SessionLogSize, daemon.SessionLogFiles));
        Assert.Equal(("udp:192.0.2.9", "192.0.2.9:2055"), (daemon.SessionSyslog, daemon.SessionIpfix));
    }

    [Fact]
    public void A_bad_size_in_the_file_names_the_line_and_key()
    {
        var error = Assert.Throws<ConfigurationException>(() => GatewayConfigurationFile.Parse("""
            [Daemon]
            SessionLogFiles = 0
            """, "gw.toml"));
        Assert.Contains(error.Problems, problem => problem.StartsWith("gw.toml:2:1: SessionLogFiles must be a whole number from 1", StringComparison.Ordinal));
    }

    [Fact]
    public void Sinks_are_read_from_their_texts_and_bad_ones_refused_saying_where()
    {
        SessionLogOptions options = new SessionLogOptions().WithSyslog("unix:/dev/log", "--session-syslog ").WithIpfix("[2001:db8::9]", "--session-ipfix ");
        Assert.Equal("unix:/dev/log", options.Syslog?.ToString());
        Assert.Equal("[2001:db8::9]:4739", options.Ipfix?.ToString());
        Assert.True(options.Any);
        Assert.False(new SessionLogOptions().Any);

        var syslog = Assert.Throws<ConfigurationException>(() => new SessionLogOptions().WithSyslog("syslog.example", "gw.toml:9:1: SessionSyslog: "));
        Assert.Equal("gw.toml:9:1: SessionSyslog: syslog.example: give unix:PATH (such as unix:/dev/log) or udp:ADDRESS[:PORT].", syslog.Message);
        var ipfix = Assert.Throws<ConfigurationException>(() => new SessionLogOptions().WithIpfix("collector:4739", "--session-ipfix "));
        Assert.StartsWith("--session-ipfix collector:4739: give the collector as ADDRESS[:PORT]", ipfix.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_session_log_file_that_cannot_be_made_stops_the_start()
    {
        var options = new SessionLogOptions { File = "/proc/natgate-cannot/sessions.jsonl" };
        var error = Assert.Throws<ConfigurationException>(() => options.OpenSinks());
        Assert.StartsWith("--session-log /proc/natgate-cannot/sessions.jsonl: cannot write it: ", error.Message, StringComparison.Ordinal);
    }
}
