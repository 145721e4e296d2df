using System.Security.Cryptography;

namespace NatGate.EndToEnd.Tests;

/// <summary>
/// The FTP helper (ipnat "proxy port ftp ftp/tcp") with real FTP: vsftpd outside for active mode
/// (an inside lftp's PORT, and EPRT from Python's ftplib) and inside behind an rdr for passive mode
/// (an outside lftp, PASV and EPSV), uploads and downloads checked by SHA-256. vsftpd runs with a
/// configuration of the test's own (anonymous, chrooted into the test's directory, on the lab
/// host's address); the host's /etc/vsftpd.conf is never read. vsftpd refuses a PORT that names
/// another address than the control connection's ("Illegal PORT command"), and nothing but an
/// expectation admits a data connection to the external address, so without the helper each
/// transfer fails.
/// </summary>
public sealed class FtpHelperTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(90);
    private const int PassiveFirst = 51000;
    private const int PassiveLast = 51009;

    [Fact]
    public void Active_mode_an_inside_client_uploads_and_downloads_through_the_map_rule()
    {
        Host.RequireRootAndTools("ip", "ss", "vsftpd", "lftp", "python3");
        using var lab = new GatewayLab();
        (string root, string log) = StartServer(lab, lab.Out, GatewayLab.Outside);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32 proxy port ftp ftp/tcp\n");
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);
        (string file, string sha256) = WriteData(lab, "active-up", 3 << 20, seed: 21);
        string downloaded = Path.Combine(lab.WorkDirectory, "active-down");

        string output = Lftp(lab, lab.In1, GatewayLab.Outside, passive: false, extendedPassive: false,
            $"put {file} -o upload/active; get upload/active -o {downloaded}");
        Assert.Equal(sha256, Sha256(Path.Combine(root, "upload", "active")));
        Assert.Equal(sha256, Sha256(downloaded));

        // The server saw the external address in every PORT, never the inside one.
        string protocol = File.ReadAllText(log);
        Assert.Contains($"\"PORT {GatewayLab.External.Replace('.', ',')},", protocol, StringComparison.Ordinal);
        Assert.DoesNotContain(GatewayLab.Inside1.Replace('.', ','), protocol, StringComparison.Ordinal);
        Assert.DoesNotContain("Illegal PORT", output, StringComparison.Ordinal);
        // The data connections went to the kernel fast path once answered; the control one stayed (it was read).
        Assert.True(KernelBytes(lab) >= 2 * (3 << 20) * 0.8, $"the kernel did not carry the data connections: {KernelBytes(lab)} bytes");

        // EPRT (RFC 2428), which lftp sends only over IPv6: Python's ftplib, a download checked the same way.
        string extended = GatewayLab.ExecChecked(lab.In1, "python3", "-c", ExtendedPortDownload, GatewayLab.Outside, "upload/active");
        Assert.Contains($"sha256 {sha256}", extended, StringComparison.Ordinal);
        Assert.Contains($"\"EPRT |1|{GatewayLab.External}|", File.ReadAllText(log), StringComparison.Ordinal);
        Assert.False(daemon.HasExited, daemon.Output);
    }

    [Fact]
    public void Passive_mode_an_outside_client_uploads_and_downloads_from_a_server_behind_an_rdr()
    {
        Host.RequireRootAndTools("ip", "ss", "vsftpd", "lftp");
        using var lab = new GatewayLab();
        (string root, _) = StartServer(lab, lab.In2, GatewayLab.Inside2);
        string rules = Path.Combine(lab.WorkDirectory, "ipnat.conf");
        File.WriteAllText(rules, $"map {GatewayLab.OutsideInterface} {GatewayLab.InsidePrefix} -> {GatewayLab.External}/32\n"
            + $"rdr {GatewayLab.OutsideInterface} {GatewayLab.External}/32 port ftp -> {GatewayLab.Inside2} port ftp tcp proxy port ftp ftp/tcp\n");
        BackgroundProcess daemon = lab.StartNatGate("--rules", rules, "--outside-interface", GatewayLab.OutsideInterface);

        foreach (bool extendedPassive in (bool[])[false, true])
        {
            string name = extendedPassive ? "epsv" : "pasv";
            (string file, string sha256) = WriteData(lab, $"{name}-up", 3 << 20, seed: extendedPassive ? 23 : 22);
            string downloaded = Path.Combine(lab.WorkDirectory, $"{name}-down");
            string output = Lftp(lab, lab.Out, GatewayLab.External, passive: true, extendedPassive,
                $"put {file} -o upload/{name}; get upload/{name} -o {downloaded}");
            Assert.Equal(sha256, Sha256(Path.Combine(root, "upload", name)));
            Assert.Equal(sha256, Sha256(downloaded));
            // The client was told the external address (or, by 229, a port alone), never the server's own.
            Assert.Contains(extendedPassive ? "229 Entering Extended Passive Mode (|||" : $"227 Entering Passive Mode ({GatewayLab.External.Replace('.', ',')},",
                output, StringComparison.Ordinal);
            Assert.DoesNotContain(GatewayLab.Inside2.Replace('.', ','), output, StringComparison.Ordinal);
        }
        Assert.True(KernelBytes(lab) >= 4 * (3 << 20) * 0.8, $"the kernel did not carry the data connections: {KernelBytes(lab)} bytes");
        Assert.False(daemon.HasExited, daemon.Output);
    }

    /// <summary>
    /// Starts vsftpd in <paramref name="space"/> on ADDRESS:21 with a configuration of the test's
    /// own: anonymous login (as "ftp") with uploads into "upload", passive ports 51000 to 51009, active data
    /// from port 20, the protocol logged. Returns the served root and the log's path.
    /// </summary>
    private static (string Root, string Log) StartServer(GatewayLab lab, string space, string address)
    {
        // Anonymous logins run as Debian's "ftp" user (the vsftpd package makes it; vsftpd needs its
        // home to exist) chrooted into a root it cannot write, with a subdirectory it can; the
        // test's own directory (0700) lets them pass.
        File.SetUnixFileMode(lab.WorkDirectory, File.GetUnixFileMode(lab.WorkDirectory) | UnixFileMode.OtherExecute | UnixFileMode.GroupExecute);
        string root = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "ftp-root")).FullName;
        string upload = Directory.CreateDirectory(Path.Combine(root, "upload")).FullName;
        string empty = Directory.CreateDirectory(Path.Combine(lab.WorkDirectory, "ftp-empty")).FullName;
        File.SetUnixFileMode(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(empty, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        GatewayLab.ExecChecked(space, "chown", "ftp", upload);
        string log = Path.Combine(lab.WorkDirectory, "vsftpd.log");
        string configuration = Path.Combine(lab.WorkDirectory, "vsftpd.conf");
        File.WriteAllText(configuration, string.Join('\n',
            "listen=YES", "listen_ipv6=NO", $"listen_address={address}", "listen_port=21", "background=NO",
            "anonymous_enable=YES", "no_anon_password=YES", "local_enable=NO", "ftp_username=ftp", "nopriv_user=nobody",
            $"anon_root={root}", "write_enable=YES", "anon_upload_enable=YES", "anon_umask=022",
            "pasv_enable=YES", $"pasv_min_port={PassiveFirst}", $"pasv_max_port={PassiveLast}",
            "port_enable=YES", "connect_from_port_20=YES",
            $"secure_chroot_dir={empty}", "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO",
            "xferlog_enable=YES", "xferlog_std_format=NO", "log_ftp_protocol=YES", $"vsftpd_log_file={log}",
            "connect_timeout=20", "accept_timeout=20", "data_connection_timeout=30", ""));
        lab.Start(space, "vsftpd", configuration);
        GatewayLab.WaitListening(space, "tcp", address, 21, TimeSpan.FromSeconds(20));
        return (root, log);
    }

    /// <summary>Runs lftp's <paramref name="commands"/> against ftp://HOST in <paramref name="space"/>, stopping at the first failure; returns its debug output (the replies it read).</summary>
    private static string Lftp(GatewayLab lab, string space, string host, bool passive, bool extendedPassive, string commands)
    {
        string settings = string.Join("; ",
            "set cmd:fail-exit yes", "set net:timeout 15", "set net:max-retries 2", "set net:reconnect-interval-base 1",
            $"set ftp:passive-mode {(passive ? "on" : "off")}", $"set ftp:prefer-epsv {(extendedPassive ? "yes" : "no")}",
            // lftp would otherwise replace a private address in a 227 with the server's: the test must see what the gateway sent.
            "set ftp:fix-pasv-address no", "set ftp:ssl-allow no");
        (int exitCode, string output, string error) = GatewayLab.Exec(space, Long, "lftp", "-d", "-u", "anonymous,natgate",
            "-e", $"{settings}; {commands}; bye", $"ftp://{host}");
        Assert.True(exitCode == 0, $"lftp exited {exitCode}:\n{error}\n{output}");
        return output + error;
    }

    private static (string File, string Sha256) WriteData(GatewayLab lab, string name, int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        string file = Path.Combine(lab.WorkDirectory, name);
        File.WriteAllBytes(file, data);
        return (file, Convert.ToHexStringLower(SHA256.HashData(data)));
    }

    /// <summary>Bytes the kernel fast path rewrote so far (`natgate fastpath --json`).</summary>
    private static ulong KernelBytes(GatewayLab lab)
    {
        using var document = System.Text.Json.JsonDocument.Parse(lab.Cli("fastpath", "--json"));
        return document.RootElement.GetProperty("rewrittenBytes").GetUInt64();
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>An active-mode download announced by EPRT: argv host, path; prints "sha256 HEX".</summary>
    private const string ExtendedPortDownload = """
        import ftplib, hashlib, socket, sys
        host, path = sys.argv[1], sys.argv[2]
        ftp = ftplib.FTP()
        ftp.connect(host, 21, timeout=20)
        ftp.login()
        ftp.voidcmd("TYPE I")
        listener = socket.create_server((ftp.sock.getsockname()[0], 0))
        listener.settimeout(20)
        ftp.sendeprt(*listener.getsockname()[:2])
        ftp.putcmd("RETR " + path)
        reply = ftp.getresp()
        if not reply.startswith("1"):
            sys.exit("RETR: " + reply)
        connection, _ = listener.accept()
        digest = hashlib.sha256()
        while chunk := connection.recv(65536):
            digest.update(chunk)
        connection.close()
        ftp.voidresp()
        ftp.quit()
        print("sha256", digest.hexdigest())
        """;
}
