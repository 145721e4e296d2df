using NatGate.Core.Addressing;
using NatGate.Core.Devices;
using NatGate.Core.Packets;
using NatGate.Core.Translation;
using NatGate.Daemon;
using Prometheus;

namespace NatGate.Tests.Daemon;

public sealed class GatewayMetricsTests
{
    /// <summary>What a Prometheus scrape of <paramref name="registry"/> would read.</summary>
    private static async Task<string> ScrapeAsync(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream, TestContext.Current.CancellationToken);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task A_scrape_reports_sessions_packets_drops_and_port_use_from_the_engine()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1 }, 0);
        engine.AddRule(NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), Ipv4Address.Parse("198.51.100.10")));
        var controller = new GatewayController(engine, TimeProvider.System);
        byte[] buffer = new byte[256];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("10.0.0.2"), 5000, Ipv4Address.Parse("203.0.113.5"), 53, "query"u8);
        controller.Run(e => e.Translate(buffer, length, 0));
        length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("203.0.113.5"), 53, Ipv4Address.Parse("198.51.100.10"), 6000, "stray"u8);
        controller.Run(e => e.Translate(buffer, length, 0));

        CollectorRegistry registry = Metrics.NewCustomRegistry();
        GatewayMetrics.Register(registry, controller);
        string text = await ScrapeAsync(registry);

        Assert.Contains("natgate_sessions{protocol=\"udp\",state=\"Active\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_packets_total{direction=\"out\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_drops_total{reason=\"NoSession\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_ports_allocated{address=\"198.51.100.10\",protocol=\"udp\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_sessions_added_total 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_scrape_counts_nat66_sessions_with_ipv4_ones_and_by_family_with_their_ports()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1 }, 0);
        engine.LoadRules(Core.Rules.Ipnat.IpnatParser.Parse("""
            map * 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp auto
            map * fd00:77::/64 -> 2001:db8::10/128 portmap tcp/udp auto
            """, "ipnat.conf").Rules);
        var controller = new GatewayController(engine, TimeProvider.System);
        byte[] buffer = new byte[256];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("10.0.0.2"), 5000, Ipv4Address.Parse("203.0.113.5"), 53, "query"u8);
        controller.Run(e => e.Translate(buffer, length, 0));
        byte[] ipv6 = Control.Ipv6ControlCommandTests.Packet(IpProtocol.Udp, Ipv6Address.Parse("fd00:77::2", null), 5000, Ipv6Address.Parse("2001:db8:ff::5", null), 53);
        Assert.Equal(Verdict.Forward, controller.Run(e => e.Translate(ipv6, ipv6.Length, 0)).Verdict);

        CollectorRegistry registry = Metrics.NewCustomRegistry();
        GatewayMetrics.Register(registry, controller);
        string text = await ScrapeAsync(registry);

        Assert.Contains("natgate_sessions{protocol=\"udp\",state=\"Active\"} 2", text, StringComparison.Ordinal);
        Assert.Contains("natgate_sessions_by_family{family=\"ipv4\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_sessions_by_family{family=\"ipv6\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_ports_allocated{address=\"2001:db8::10\",protocol=\"udp\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_packets_total{direction=\"out\"} 2", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_scrape_counts_nat64_sessions_by_family_and_gives_each_table_s_capacity()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1, Limits = new Core.Sessions.FlowTableLimits { MaximumSessions = 5000 } }, 0);
        engine.LoadRules(Core.Rules.Ipnat.IpnatParser.Parse("""
            map * 10.0.0.0/24 -> 198.51.100.10/32 portmap tcp/udp auto
            map * fd00:77::/64 -> 198.51.100.10/32 portmap tcp/udp auto
            """, "ipnat.conf").Rules);
        var controller = new GatewayController(engine, TimeProvider.System);
        byte[] buffer = new byte[256];
        int length = Ipv4PacketWriter.WriteUdp(buffer, Ipv4Address.Parse("10.0.0.2"), 5000, Ipv4Address.Parse("203.0.113.5"), 53, "query"u8);
        controller.Run(e => e.Translate(buffer, length, 0));
        byte[] nat64 = new byte[256];
        byte[] packet = Control.Ipv6ControlCommandTests.Packet(IpProtocol.Udp, Ipv6Address.Parse("fd00:77::2", null), 5001, Ipv6Address.Parse("64:ff9b::cb00:7105", null), 53);
        packet.CopyTo(nat64, 0);
        Assert.Equal(Verdict.Forward, controller.Run(e => e.Translate(nat64, packet.Length, 0)).Verdict);

        CollectorRegistry registry = Metrics.NewCustomRegistry();
        GatewayMetrics.Register(registry, controller);
        string text = await ScrapeAsync(registry);

        Assert.Contains("natgate_sessions_by_family{family=\"ipv4\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_sessions_by_family{family=\"ipv6\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("natgate_sessions_by_family{family=\"nat64\"} 1", text, StringComparison.Ordinal);
        // NAT64 and IPv4 NAPT take ports from one allocator per address.
        Assert.Contains("natgate_ports_allocated{address=\"198.51.100.10\",protocol=\"udp\"} 2", text, StringComparison.Ordinal);
        foreach (string family in new[] { "ipv4", "ipv6", "nat64" })
        {
            Assert.Contains($"natgate_sessions_capacity{{family=\"{family}\"}} 5000", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_scrape_reports_each_TUN_queue_s_counters()
    {
        var controller = new GatewayController(new NatEngine(new NatEngineOptions { RandomSeed = 1 }, 0), TimeProvider.System);
        PacketQueueStatistics[] queues =
        [
            new() { PacketsRead = 10, PacketsWritten = 9, WritesDroppedFull = 1 },
            new() { PacketsRead = 7, PacketsWritten = 7, ReadsDropped = 2 },
        ];
        CollectorRegistry registry = Metrics.NewCustomRegistry();
        GatewayMetrics.Register(registry, controller, () => queues);
        string text = await ScrapeAsync(registry);

        Assert.Contains("natgate_tun_packets_total{queue=\"0\",direction=\"read\"} 10", text, StringComparison.Ordinal);
        Assert.Contains("natgate_tun_packets_total{queue=\"0\",direction=\"written\"} 9", text, StringComparison.Ordinal);
        Assert.Contains("natgate_tun_packets_total{queue=\"1\",direction=\"read\"} 7", text, StringComparison.Ordinal);
        Assert.Contains("natgate_tun_drops_total{queue=\"0\",reason=\"write_full\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_tun_drops_total{queue=\"1\",reason=\"read_too_long\"} 2", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:9469", true)]
    [InlineData("localhost", false)]
    [InlineData("127.0.0.1:0", false)]
    [InlineData("300.1.1.1:80", false)]
    public void The_endpoint_is_host_and_port(string endpoint, bool valid)
    {
        if (valid)
        {
            Assert.Equal(9469, GatewayMetrics.ParseEndpoint(endpoint).Port);
        }
        else
        {
            Assert.Throws<NatGate.Configuration.ConfigurationException>(() => GatewayMetrics.ParseEndpoint(endpoint));
        }
    }

    [Fact]
    public async Task A_scrape_reports_what_the_ftp_helper_did()
    {
        var engine = new NatEngine(new NatEngineOptions { RandomSeed = 1 }, 0);
        engine.AddRule(NatEngine.MapRule(Ipv4Prefix.Parse("10.0.0.0/24"), Ipv4Address.Parse("198.51.100.10")) with
        {
            Proxy = new Core.Rules.ProxyReference(21, "ftp", "tcp"),
        });
        var controller = new GatewayController(engine, TimeProvider.System);
        Ipv4Address client = Ipv4Address.Parse("10.0.0.2"), server = Ipv4Address.Parse("203.0.113.5");
        byte[] buffer = new byte[256];
        int length = Ipv4PacketWriter.WriteTcp(buffer, client, 40000, server, 21, TcpFlags.Syn, 999, 0, []);
        controller.Run(e => e.Translate(buffer, length, 0));
        length = Ipv4PacketWriter.WriteTcp(buffer, client, 40000, server, 21, TcpFlags.Ack | TcpFlags.Psh, 1000, 5000, "PORT 10,0,0,2,195,80\r\n"u8);
        Assert.Equal(length + 5, controller.Run(e => e.Translate(buffer, length, 0)).Length);

        CollectorRegistry registry = Metrics.NewCustomRegistry();
        GatewayMetrics.Register(registry, controller);
        string text = await ScrapeAsync(registry);

        Assert.Contains("natgate_ftp_control_connections 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_ftp_lines_total{result=\"rewritten\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_ftp_lines_total{result=\"left_alone\"} 0", text, StringComparison.Ordinal);
        Assert.Contains("natgate_ftp_expectations 1", text, StringComparison.Ordinal);
        Assert.Contains("natgate_ftp_data_connections_total 0", text, StringComparison.Ordinal);
    }
}
