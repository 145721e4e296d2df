using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NatGate.Linux.FastPath;
using NatGate.Linux.Tests.Namespaces;

namespace NatGate.Linux.Tests.FastPath;

/// <summary>
/// The C# mirrors against the C they mirror: natgate_fastpath.h's key, value, flags and stats, and
/// libbpf's option structs as the installed libbpf-dev declares them. A small C program compiled
/// with clang prints sizes and offsets; the C# side writes and reads bytes at those offsets.
/// </summary>
public sealed class FastPathLayoutTests
{
    private static readonly Lazy<Dictionary<string, long>> Facts = new(ReadFacts);

    private static long Fact(string name) =>
        Facts.Value.TryGetValue(name, out long value) ? value : throw new KeyNotFoundException($"the C program printed no {name}");

    [Fact]
    public void The_key_lies_as_natgate_flow_key()
    {
        FastPathRequires.Tools("clang");
        var key = FastPathFlowKey.Create(17, new IPEndPoint(IPAddress.Parse("10.1.2.3"), 0x1234), new IPEndPoint(IPAddress.Parse("198.51.100.9"), 0x5678));
        ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<FastPathFlowKey>(in key));

        Assert.Equal(Fact("key.size"), Unsafe.SizeOf<FastPathFlowKey>());
        Assert.Equal(FastPathFlowKey.Size, Unsafe.SizeOf<FastPathFlowKey>());
        Assert.Equal(4, bytes[(int)Fact("key.family")]);
        Assert.Equal(17, bytes[(int)Fact("key.protocol")]);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(bytes[(int)Fact("key.reserved")..]));
        // Network byte order, as the packet has the ports.
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(bytes[(int)Fact("key.source_port")..]));
        Assert.Equal(0x5678, BinaryPrimitives.ReadUInt16BigEndian(bytes[(int)Fact("key.destination_port")..]));
        Assert.Equal([10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bytes.Slice((int)Fact("key.source"), 16).ToArray());
        Assert.Equal([198, 51, 100, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bytes.Slice((int)Fact("key.destination"), 16).ToArray());
        Assert.Equal(0x1234, key.SourcePort);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.51.100.9"), 0x5678), key.DestinationEndPoint);
    }

    [Fact]
    public void The_value_lies_as_natgate_flow_value()
    {
        FastPathRequires.Tools("clang");
        var value = new FastPathFlowValue(IPAddress.Parse("2001:db8::1").GetAddressBytes(), 0x1111, IPAddress.Parse("fd00::2").GetAddressBytes(), 0x2222,
            0x3333, 0x4444, 0x5555, FastPathFlowAttributes.Forward | FastPathFlowAttributes.InitiatedOutside, 0x66778899);
        Span<byte> bytes = MemoryMarshal.AsBytes(new Span<FastPathFlowValue>(ref value));

        Assert.Equal(Fact("value.size"), Unsafe.SizeOf<FastPathFlowValue>());
        Assert.Equal(FastPathFlowValue.Size, Unsafe.SizeOf<FastPathFlowValue>());
        Assert.Equal(IPAddress.Parse("2001:db8::1").GetAddressBytes(), bytes.Slice((int)Fact("value.source"), 16).ToArray());
        Assert.Equal(IPAddress.Parse("fd00::2").GetAddressBytes(), bytes.Slice((int)Fact("value.destination"), 16).ToArray());
        Assert.Equal(0x1111, BinaryPrimitives.ReadUInt16BigEndian(bytes[(int)Fact("value.source_port")..]));
        Assert.Equal(0x2222, BinaryPrimitives.ReadUInt16BigEndian(bytes[(int)Fact("value.destination_port")..]));
        // Deltas lie as the packet's words do: big-endian bytes, loaded natively by the program.
        Assert.Equal(0x3333, BinaryPrimitives.ReadUInt16BigEndian(bytes[(int)Fact("value.ip_delta")..]));
        Assert.Equal(0x4444, BinaryPrimitives.ReadUInt16BigEndian(bytes[(int)Fact("value.pseudo_delta")..]));
        Assert.Equal(0x5555, BinaryPrimitives.ReadUInt16BigEndian(bytes[(int)Fact("value.port_delta")..]));
        Assert.Equal(Fact("flag.forward") | Fact("flag.initiated_outside"), BinaryPrimitives.ReadUInt16LittleEndian(bytes[(int)Fact("value.flags")..]));
        Assert.Equal(0x66778899u, BinaryPrimitives.ReadUInt32LittleEndian(bytes[(int)Fact("value.session")..]));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(bytes[(int)Fact("value.reserved")..]));

        // The counters the program writes (native order, as bpf_ktime_get_ns and __sync_fetch_and_add leave them).
        BinaryPrimitives.WriteUInt64LittleEndian(bytes[(int)Fact("value.last_seen_ns")..], 123456789);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes[(int)Fact("value.packets")..], 42);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes[(int)Fact("value.bytes")..], 4200);
        Assert.Equal(123456789UL, value.LastSeenNanoseconds);
        Assert.Equal(42UL, value.Packets);
        Assert.Equal(4200UL, value.Bytes);
        Assert.Equal((0x3333, 0x4444, 0x5555), (value.IpDelta, value.PseudoHeaderDelta, value.PortDelta));
    }

    [Fact]
    public void The_prefix_key_and_value_lie_as_natgate_prefix_key_and_value()
    {
        FastPathRequires.Tools("clang");
        byte[] internalPrefix = IPAddress.Parse("fd00:77::").GetAddressBytes();
        var key = new FastPathPrefixKey(FastPathPrefixDirection.Inbound, internalPrefix, 48);
        ReadOnlySpan<byte> keyBytes = MemoryMarshal.AsBytes(new ReadOnlySpan<FastPathPrefixKey>(in key));
        Assert.Equal(Fact("prefix_key.size"), Unsafe.SizeOf<FastPathPrefixKey>());
        Assert.Equal(FastPathPrefixKey.Size, Unsafe.SizeOf<FastPathPrefixKey>());
        // The trie's prefixlen counts the direction's byte, which leads the data.
        Assert.Equal(8u + 48, BinaryPrimitives.ReadUInt32LittleEndian(keyBytes[(int)Fact("prefix_key.prefixlen")..]));
        Assert.Equal(Fact("prefix.inbound"), keyBytes[(int)Fact("prefix_key.direction")]);
        Assert.Equal(Fact("prefix_key.direction") + 1, Fact("prefix_key.address"));
        Assert.Equal(internalPrefix, keyBytes.Slice((int)Fact("prefix_key.address"), 16).ToArray());
        Assert.Equal(0, keyBytes[(int)Fact("prefix_key.reserved")]);

        byte[] externalPrefix = IPAddress.Parse("2001:db8:77:8000::").GetAddressBytes();
        var value = new FastPathPrefixValue(externalPrefix, 49, 0xD54F, FastPathPrefixDirection.Outbound);
        ReadOnlySpan<byte> valueBytes = MemoryMarshal.AsBytes(new ReadOnlySpan<FastPathPrefixValue>(in value));
        Assert.Equal(Fact("prefix_value.size"), Unsafe.SizeOf<FastPathPrefixValue>());
        Assert.Equal(FastPathPrefixValue.Size, Unsafe.SizeOf<FastPathPrefixValue>());
        Assert.Equal(externalPrefix, valueBytes.Slice((int)Fact("prefix_value.prefix"), 16).ToArray());
        // A /49: six bytes of ones and the top bit of the seventh.
        Assert.Equal([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0], valueBytes.Slice((int)Fact("prefix_value.mask"), 16).ToArray());
        // As the packet's words lie (big-endian), so the program adds it to a word without swapping.
        Assert.Equal(0xD54F, BinaryPrimitives.ReadUInt16BigEndian(valueBytes[(int)Fact("prefix_value.adjustment")..]));
        Assert.Equal(Fact("prefix.first_identifier_word"), valueBytes[(int)Fact("prefix_value.word")]);
        Assert.Equal(49, valueBytes[(int)Fact("prefix_value.prefix_length")]);
        Assert.Equal(Fact("prefix.outbound"), valueBytes[(int)Fact("prefix_value.direction")]);
        Assert.Equal(0, valueBytes[(int)Fact("prefix_value.reserved")]);
        Assert.Equal(FastPathPrefixValue.SubnetWord, new FastPathPrefixValue(externalPrefix, 48, 1, FastPathPrefixDirection.Outbound).AdjustedWord);
        Assert.Equal((long)FastPathPrefixDirection.Outbound, Fact("prefix.outbound"));
        Assert.Equal((long)FastPathPrefixDirection.Inbound, Fact("prefix.inbound"));
        Assert.Equal(FastPathPrefixValue.FirstIdentifierWord, Fact("prefix.first_identifier_word"));
    }

    [Fact]
    public void The_flags_and_statistics_are_the_headers()
    {
        FastPathRequires.Tools("clang");
        Assert.Equal((long)FastPathFlowAttributes.Forward, Fact("flag.forward"));
        Assert.Equal((long)FastPathFlowAttributes.IcmpRequests, Fact("flag.icmp_requests"));
        Assert.Equal((long)FastPathFlowAttributes.InitiatedOutside, Fact("flag.initiated_outside"));
        Assert.Equal(FastPathStatistics.Count, Fact("stat.count"));
        Assert.Equal(6, Fact("stat.rewrite_failed")); // the first counters keep their indexes
        Assert.Equal(7, Fact("stat.prefix_rewritten"));
        Assert.Equal(8, Fact("stat.prefix_rewritten_bytes"));
        Assert.Equal(9, Fact("stat.prefix_to_engine"));
        Assert.Equal(FastPathStatistics.Count - 1, Fact("stat.forwarded"));
    }

    [Fact]
    public void The_libbpf_option_structs_are_libbpf_1_1s()
    {
        FastPathRequires.Tools("clang");
        Assert.Equal(Fact("open_opts.size"), Unsafe.SizeOf<Libbpf.ObjectOpenOptions>());
        Assert.Equal(Fact("open_opts.pin_root_path"), (long)Marshal.OffsetOf<Libbpf.ObjectOpenOptions>(nameof(Libbpf.ObjectOpenOptions.PinRootPath)));
        Assert.Equal(Fact("open_opts.kernel_log_level"), (long)Marshal.OffsetOf<Libbpf.ObjectOpenOptions>(nameof(Libbpf.ObjectOpenOptions.KernelLogLevel)));
        Assert.Equal(Fact("tc_hook.size"), Unsafe.SizeOf<Libbpf.TcHook>());
        Assert.Equal(Fact("tc_hook.ifindex"), (long)Marshal.OffsetOf<Libbpf.TcHook>(nameof(Libbpf.TcHook.InterfaceIndex)));
        Assert.Equal(Fact("tc_hook.attach_point"), (long)Marshal.OffsetOf<Libbpf.TcHook>(nameof(Libbpf.TcHook.AttachPoint)));
        Assert.Equal(Fact("tc_hook.parent"), (long)Marshal.OffsetOf<Libbpf.TcHook>(nameof(Libbpf.TcHook.Parent)));
        Assert.Equal(Fact("tc_opts.size"), Unsafe.SizeOf<Libbpf.TcOptions>());
        Assert.Equal(Fact("tc_opts.prog_fd"), (long)Marshal.OffsetOf<Libbpf.TcOptions>(nameof(Libbpf.TcOptions.ProgramFileDescriptor)));
        Assert.Equal(Fact("tc_opts.flags"), (long)Marshal.OffsetOf<Libbpf.TcOptions>(nameof(Libbpf.TcOptions.Flags)));
        Assert.Equal(Fact("tc_opts.prog_id"), (long)Marshal.OffsetOf<Libbpf.TcOptions>(nameof(Libbpf.TcOptions.ProgramId)));
        Assert.Equal(Fact("tc_opts.handle"), (long)Marshal.OffsetOf<Libbpf.TcOptions>(nameof(Libbpf.TcOptions.Handle)));
        Assert.Equal(Fact("tc_opts.priority"), (long)Marshal.OffsetOf<Libbpf.TcOptions>(nameof(Libbpf.TcOptions.Priority)));
        Assert.Equal(Fact("map_info.max_entries"), (long)Marshal.OffsetOf<Libbpf.MapInformation>(nameof(Libbpf.MapInformation.MaximumEntries)));
        Assert.Equal(Libbpf.TcIngress, Fact("tc.ingress"));
        Assert.Equal(Libbpf.TcEgress, Fact("tc.egress"));
        Assert.Equal(Libbpf.TcReplace, Fact("tc.replace"));
    }

    /// <summary>Compiles and runs the C program that prints the facts, "name value" a line.</summary>
    private static Dictionary<string, long> ReadFacts()
    {
        string header = FindHeader();
        string directory = Directory.CreateTempSubdirectory("natgate-layout-").FullName;
        try
        {
            string source = Path.Combine(directory, "layout.c"), program = Path.Combine(directory, "layout");
            File.WriteAllText(source, $$"""
                #include <stddef.h>
                #include <stdio.h>
                #include <bpf/bpf.h>
                #include <bpf/libbpf.h>
                #include "{{header}}"
                #define SIZE(name, type) printf("%s %zu\n", name, sizeof(type))
                #define AT(name, type, field) printf("%s %zu\n", name, offsetof(type, field))
                #define VALUE(name, value) printf("%s %lld\n", name, (long long)(value))
                int main(void)
                {
                    SIZE("key.size", struct natgate_flow_key);
                    AT("key.family", struct natgate_flow_key, family);
                    AT("key.protocol", struct natgate_flow_key, protocol);
                    AT("key.reserved", struct natgate_flow_key, reserved);
                    AT("key.source_port", struct natgate_flow_key, source_port);
                    AT("key.destination_port", struct natgate_flow_key, destination_port);
                    AT("key.source", struct natgate_flow_key, source);
                    AT("key.destination", struct natgate_flow_key, destination);
                    SIZE("value.size", struct natgate_flow_value);
                    AT("value.source", struct natgate_flow_value, source);
                    AT("value.destination", struct natgate_flow_value, destination);
                    AT("value.source_port", struct natgate_flow_value, source_port);
                    AT("value.destination_port", struct natgate_flow_value, destination_port);
                    AT("value.ip_delta", struct natgate_flow_value, ip_delta);
                    AT("value.pseudo_delta", struct natgate_flow_value, pseudo_delta);
                    AT("value.port_delta", struct natgate_flow_value, port_delta);
                    AT("value.flags", struct natgate_flow_value, flags);
                    AT("value.session", struct natgate_flow_value, session);
                    AT("value.reserved", struct natgate_flow_value, reserved);
                    AT("value.last_seen_ns", struct natgate_flow_value, last_seen_ns);
                    AT("value.packets", struct natgate_flow_value, packets);
                    AT("value.bytes", struct natgate_flow_value, bytes);
                    VALUE("flag.forward", NATGATE_FLOW_FORWARD);
                    VALUE("flag.icmp_requests", NATGATE_FLOW_ICMP_REQUESTS);
                    VALUE("flag.initiated_outside", NATGATE_FLOW_INITIATED_OUTSIDE);
                    VALUE("stat.count", NATGATE_STAT_COUNT);
                    VALUE("stat.rewrite_failed", NATGATE_STAT_REWRITE_FAILED);
                    VALUE("stat.prefix_rewritten", NATGATE_STAT_PREFIX_REWRITTEN);
                    VALUE("stat.prefix_rewritten_bytes", NATGATE_STAT_PREFIX_REWRITTEN_BYTES);
                    VALUE("stat.prefix_to_engine", NATGATE_STAT_PREFIX_TO_ENGINE);
                    VALUE("stat.forwarded", NATGATE_STAT_FORWARDED);
                    SIZE("prefix_key.size", struct natgate_prefix_key);
                    AT("prefix_key.prefixlen", struct natgate_prefix_key, prefixlen);
                    AT("prefix_key.direction", struct natgate_prefix_key, direction);
                    AT("prefix_key.address", struct natgate_prefix_key, address);
                    AT("prefix_key.reserved", struct natgate_prefix_key, reserved);
                    SIZE("prefix_value.size", struct natgate_prefix_value);
                    AT("prefix_value.prefix", struct natgate_prefix_value, prefix);
                    AT("prefix_value.mask", struct natgate_prefix_value, mask);
                    AT("prefix_value.adjustment", struct natgate_prefix_value, adjustment);
                    AT("prefix_value.word", struct natgate_prefix_value, word);
                    AT("prefix_value.prefix_length", struct natgate_prefix_value, prefix_length);
                    AT("prefix_value.direction", struct natgate_prefix_value, direction);
                    AT("prefix_value.reserved", struct natgate_prefix_value, reserved);
                    VALUE("prefix.outbound", NATGATE_PREFIX_OUTBOUND);
                    VALUE("prefix.inbound", NATGATE_PREFIX_INBOUND);
                    VALUE("prefix.first_identifier_word", NATGATE_PREFIX_FIRST_IDENTIFIER_WORD);
                    SIZE("open_opts.size", struct bpf_object_open_opts);
                    AT("open_opts.pin_root_path", struct bpf_object_open_opts, pin_root_path);
                    AT("open_opts.kernel_log_level", struct bpf_object_open_opts, kernel_log_level);
                    SIZE("tc_hook.size", struct bpf_tc_hook);
                    AT("tc_hook.ifindex", struct bpf_tc_hook, ifindex);
                    AT("tc_hook.attach_point", struct bpf_tc_hook, attach_point);
                    AT("tc_hook.parent", struct bpf_tc_hook, parent);
                    SIZE("tc_opts.size", struct bpf_tc_opts);
                    AT("tc_opts.prog_fd", struct bpf_tc_opts, prog_fd);
                    AT("tc_opts.flags", struct bpf_tc_opts, flags);
                    AT("tc_opts.prog_id", struct bpf_tc_opts, prog_id);
                    AT("tc_opts.handle", struct bpf_tc_opts, handle);
                    AT("tc_opts.priority", struct bpf_tc_opts, priority);
                    AT("map_info.max_entries", struct bpf_map_info, max_entries);
                    VALUE("tc.ingress", BPF_TC_INGRESS);
                    VALUE("tc.egress", BPF_TC_EGRESS);
                    VALUE("tc.replace", BPF_TC_F_REPLACE);
                    return 0;
                }
                """);
            Command.Run("clang", source, "-o", program);
            var facts = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (string line in Command.Run(program).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] parts = line.Split(' ');
                facts[parts[0]] = long.Parse(parts[1], CultureInfo.InvariantCulture);
            }
            return facts;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>natgate_fastpath.h in the source tree, found upwards from the test's directory.</summary>
    private static string FindHeader()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "src/NatGate.Linux/FastPath/Program/natgate_fastpath.h");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new FileNotFoundException("natgate_fastpath.h is not above " + AppContext.BaseDirectory);
    }
}
