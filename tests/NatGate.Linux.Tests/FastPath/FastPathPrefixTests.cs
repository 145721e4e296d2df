using System.Net;
using System.Security.Cryptography;
using NatGate.Core.Addressing;
using NatGate.Core.Translation.Npt;
using NatGate.Linux.FastPath;
using NatGate.Linux.Tests.Namespaces;

namespace NatGate.Linux.Tests.FastPath;

/// <summary>
/// NPTv6 (RFC 6296) in the tc program: prefix entries written through the C# API
/// (<see cref="KernelSessionOffload"/>, <see cref="FastPathProgram"/>) translate real IPv6 traffic
/// between the lab's namespaces both ways, with no session entry and no NAT of the kernel's; the
/// receivers' own stacks check every checksum (with offloads off, the veths verify in software
/// and drop a wrong one). The expected addresses come from Core's <see cref="Nptv6Mapping"/>.
/// </summary>
public sealed class FastPathPrefixTests
{
    private static readonly Ipv6Address InsideHost = Ipv6Address.Parse("fd00:77::2", null);

    /// <summary>
    /// The lab's gateway has no route to the external prefix; NatGate steers it into its TUN by
    /// policy routing. A route out of the inside interface stands in for it, so the program's
    /// route check (bpf_fib_lookup) sees a forwarded packet, and the outside routes the whole /48
    /// (the /48 mapping's subnet word moves) to the gateway. Both in the lab's namespaces.
    /// </summary>
    private static (Nptv6Mapping Mapping, KernelSessionOffload Offload) Mapped(FastPathLab lab, int prefixLength)
    {
        lab.Gateway.Ip("-6", "route", "add", "2001:db8:e::/48", "dev", "gwin");
        lab.Outside.Ip("-6", "route", "add", "2001:db8:e::/48", "via", "2001:db8:77::1");
        var mapping = new Nptv6Mapping(IpPrefix.Parse($"fd00:77::/{prefixLength}", null), IpPrefix.Parse($"2001:db8:e::/{prefixLength}", null));
        var offload = new KernelSessionOffload(lab.Program!);
        offload.SetPrefixTranslations([mapping]);
        return (mapping, offload);
    }

    [Theory]
    [InlineData(48, true)]
    [InlineData(48, false)]
    [InlineData(56, true)]
    [InlineData(56, false)]
    public void Udp_and_tcp_are_translated_both_ways_by_the_prefix_alone(int prefixLength, bool offloads)
    {
        Requires.Root();
        FastPathRequires.Tools(offloads ? ["python3"] : ["python3", "ethtool"]);
        using FastPathLab lab = FastPathLab.Create($"n{prefixLength}{(offloads ? "on" : "off")}", offloads);
        FastPathProgram program = lab.Program!;
        (Nptv6Mapping mapping, _) = Mapped(lab, prefixLength);
        Ipv6Address externalAddress = mapping.ToExternal(InsideHost);
        string external = externalAddress.ToString();
        string inside = InsideHost.ToString(), outside = FastPathLab.OutsideHost6.ToString();
        // The adjustment lands in the subnet word up to a /48 and in the interface identifier beyond (RFC 6296 3.4, 3.5).
        Assert.Equal(prefixLength == 48, (ushort)(externalAddress.Value >> 64) != 0);
        Assert.Equal(prefixLength == 48, (ushort)(externalAddress.Value >> 48) == 0);
        Assert.Equal(2, program.ReadPrefixes().Count);

        // UDP: the outside sees the external address (the port is the host's own, NPTv6 is stateless); every answer comes back.
        const int Datagrams = 5, Payload = 300;
        Background server = lab.Serve(lab.Outside, "udp-server", outside, "5000", $"{Datagrams}");
        string client = lab.Run(lab.Inside, "udp-client", inside, "40000", outside, "5000", $"{Datagrams}", $"{Payload}");
        Assert.Equal(Enumerable.Repeat($"from {external} 40000 {Payload}", Datagrams), Lines(server.Wait()));
        Assert.Equal(Enumerable.Repeat($"answer {outside} 5000 {Payload}", Datagrams), Lines(client));
        FastPathStatistics afterUdp = program.ReadStatistics();
        Assert.Equal(2UL * Datagrams, afterUdp.PrefixRewritten);
        Assert.Equal(2UL * Datagrams * (40 + 8 + Payload), afterUdp.PrefixRewrittenBytes);

        // TCP bulk both ways, SYN and FIN included: nothing here needs the engine.
        const int Size = 4 << 20;
        string up = Path.Combine(lab.Directory, "up.bin"), down = Path.Combine(lab.Directory, "down.bin");
        File.WriteAllBytes(up, RandomNumberGenerator.GetBytes(Size));
        File.WriteAllBytes(down, RandomNumberGenerator.GetBytes(Size));
        Background tcpServer = lab.Serve(lab.Outside, "tcp-server", outside, "5001", down);
        string tcpClient = lab.Run(lab.Inside, "tcp-client", inside, "40001", outside, "5001", up);
        Assert.Equal([$"peer {external} 40001", $"received {Sha256(up)}"], Lines(tcpServer.Wait()));
        Assert.Equal([$"received {Sha256(down)}"], Lines(tcpClient));

        FastPathStatistics statistics = program.ReadStatistics();
        Assert.InRange(statistics.PrefixRewrittenBytes - afterUdp.PrefixRewrittenBytes, 2UL * Size, 3UL * Size);
        Assert.Equal(0UL, statistics.Rewritten); // no session entry took part
        Assert.Equal(0UL, statistics.RewriteFailed);
    }

    [Fact]
    public void The_hosts_own_traffic_and_hairpinning_go_to_the_engine_and_a_removed_mapping_translates_nothing()
    {
        Requires.Root();
        FastPathRequires.Tools("python3", "ping");
        using FastPathLab lab = FastPathLab.Create("nleft");
        FastPathProgram program = lab.Program!;
        (Nptv6Mapping mapping, KernelSessionOffload offload) = Mapped(lab, 48);
        string inside = InsideHost.ToString(), outside = FastPathLab.OutsideHost6.ToString();

        // A ping of the gateway's own inside address (in the internal prefix) is the host's, not
        // forwarded: translated, its reply would go to the external address and never come back.
        // Neighbour discovery from the inside host is the engine's too: a first ping resolves it.
        Assert.Contains("1 received", lab.Inside.Exec("ping", "-6", "-c", "1", "-W", "2", "fd00:77::1"), StringComparison.Ordinal);
        ulong before = program.ReadStatistics().PrefixToEngine;
        Assert.InRange(before, 1UL, 10UL);
        Assert.Contains("2 received", lab.Inside.Exec("ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "fd00:77::1"), StringComparison.Ordinal);
        FastPathStatistics statistics = program.ReadStatistics();
        Assert.Equal(0UL, statistics.PrefixRewritten);
        Assert.Equal(before + 2, statistics.PrefixToEngine);

        // Hairpinning (the source internal, the destination external) is the engine's hairpin policy.
        lab.Run(lab.Inside, "udp-client", inside, "40002", mapping.ToExternal(Ipv6Address.Parse("fd00:77::3", null)).ToString(), "5002", "1", "64", "noreply");
        statistics = program.ReadStatistics();
        Assert.Equal(0UL, statistics.PrefixRewritten);
        Assert.Equal(before + 3, statistics.PrefixToEngine);

        // The engine's rules lose the mapping: the trie forgets it, and a datagram leaves as it came.
        offload.SetPrefixTranslations([]);
        Assert.Empty(program.ReadPrefixes());
        Background server = lab.Serve(lab.Outside, "udp-server", outside, "5003", "1");
        lab.Run(lab.Inside, "udp-client", inside, "40003", outside, "5003", "1", "64", "noreply");
        Assert.Equal($"from {inside} 40003 64", Lines(server.Wait())[0]);
        Assert.Equal(0UL, program.ReadStatistics().PrefixRewritten);

        // And back: reconciling writes both entries again, and only those.
        offload.SetPrefixTranslations([mapping, mapping]);
        Assert.Equal(
            KernelSessionOffload.PrefixEntriesOf([mapping]).OrderBy(entry => entry.Key.Direction),
            program.ReadPrefixes().OrderBy(entry => entry.Key.Direction));
    }

    /// <summary>
    /// An earlier version pinned a counters map of 7 entries (before NPTv6's three); libbpf would
    /// refuse to reuse it, so the loader unpins it and makes the new one (the counters restart).
    /// The old map is made and pinned here by a small C program over libbpf.
    /// </summary>
    [Fact]
    public void A_pinned_counters_map_of_an_earlier_version_is_replaced_by_the_longer_one()
    {
        Requires.Root();
        FastPathRequires.Tools("clang");
        string pinDirectory = Path.Combine("/sys/fs/bpf", $"ngt-upgrade-{Guid.NewGuid():N}"[..20]);
        string work = Directory.CreateTempSubdirectory("natgate-upgrade-").FullName;
        try
        {
            Directory.CreateDirectory(pinDirectory);
            string source = Path.Combine(work, "old-stats.c"), program = Path.Combine(work, "old-stats");
            File.WriteAllText(source, """
                #include <stdio.h>
                #include <bpf/bpf.h>
                int main(int argc, char **argv)
                {
                    int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "natgate_stats", 4, 8, 7, NULL);
                    if (fd < 0 || bpf_obj_pin(fd, argv[1]))
                        return 1;
                    return 0;
                }
                """);
            Command.Run("clang", source, "-o", program, "-lbpf");
            Command.Run(program, Path.Combine(pinDirectory, FastPathProgram.StatisticsMapName));

            using FastPathProgram loaded = FastPathProgram.Load(pinDirectory, 64);
            // Reading the last counter (index 9) needs the new map: the old one ends at 6.
            Assert.Equal(0UL, loaded.ReadStatistics().PrefixToEngine);
            Assert.True(File.Exists(Path.Combine(pinDirectory, FastPathProgram.PrefixesMapName)));
        }
        finally
        {
            FastPathProgram.Unpin(pinDirectory);
            Directory.Delete(work, recursive: true);
        }
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
