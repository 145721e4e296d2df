using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using NatGate.Core.Control;
using NatGate.Core.SessionLog;
using NatGate.SessionLog;

namespace NatGate.Tests.SessionLog;

/// <summary>
/// The exporter's messages read by tshark's IPFIX dissector (cflow), which knows IANA's
/// information elements by number: every field NatGate sends decodes under its RFC 8158 name.
/// The end-to-end test checks the same with real traffic; this one covers each template.
/// </summary>
public sealed class IpfixTsharkTests
{
    [Fact]
    public void Tshark_decodes_every_template_and_field_by_its_iana_name()
    {
        if (!OnPath("tshark"))
        {
            const string Missing = "TEST NOT RUN: needs tshark (./test.sh installs it).";
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            {
                Assert.Fail(Missing + " (CI=true: this must run in CI)");
            }
            Assert.Skip(Missing);
        }
        using var collector = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        collector.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        collector.ReceiveTimeout = 5000;
        SessionLogRecord session = SessionLogSinkTests.Deleted();
        SessionLogRecord nat66 = session with
        {
            Family = SessionFamily.Ipv6,
            Kind = SessionEventKind.Created,
            InsideAddress = Core.Addressing.IpAddress.Parse("fd00:77::2"),
            ExternalAddress = Core.Addressing.IpAddress.Parse("2001:db8::10"),
            RemoteAddress = Core.Addressing.IpAddress.Parse("2001:db8:100::2"),
        };
        SessionLogRecord nat64 = session with { Family = SessionFamily.Nat64, InsideAddress = Core.Addressing.IpAddress.Parse("fd00:77::3") };
        using (var exporter = new IpfixExporter((IPEndPoint)collector.LocalEndPoint!))
        {
            exporter.Write(session);
            exporter.Write(SessionLogSinkTests.Block());
            exporter.Write(nat66);
            exporter.Write(nat64);
            exporter.Flush(session.TimestampTicks);
        }
        byte[] message = new byte[2048];
        int length = collector.Receive(message);
        string capture = Path.Combine(Path.GetTempPath(), $"natgate-ipfix-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(capture, Pcap(message.AsSpan(0, length)));
            string decoded = Tshark("-r", capture, "-d", "udp.port==4739,cflow", "-V");
            Assert.Contains("Version: 10", decoded, StringComparison.Ordinal);
            // Every element known to tshark by its number (a created session's flowEndReason is 0: not ended).
            Assert.DoesNotContain("Unknown", decoded.Replace("Flow End Reason: Unknown (0)", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);
            foreach (string expected in (string[])[
                "Template Id: 256", "Template Id: 257", "Template Id: 258", "Template Id: 259", "Template Id: 260",
                "Nat Event: NAT44 session delete (5)", "Nat Event: Port block allocation (16)", "Nat Event: NAT44 session create (4)", "Nat Event: NAT64 session delete (7)",
                "SrcAddr: 10.77.0.2", "Post NAT Source IPv4 Address: 198.51.100.10", "DstAddr: 198.51.100.2",
                "SrcPort: 40000", "Post NAPT Source Transport Port: 61000", "DstPort: 80", "Protocol: TCP (6)",
                "NAT Instance ID: 3", "Port Range Start: 2048", "Port Range End: 3071", "Port Range Step Size: 1", "Port Range Num Ports: 1024",
                "SrcAddr: fd00:77::2", "Post NAT Source IPv6 Address: 2001:db8::10", "DstAddr: 2001:db8:100::2",
                "SrcAddr: fd00:77::3", "Post NAT Destination IPv4 Address: 198.51.100.2", "Post NAPT Destination Transport Port: 80",
                "Flow End Reason: End of Flow detected (3)", "Observation Time Milliseconds: Dec  5, 2026 07:30:01.234000000 UTC",
                "Permanent Packets: 11", "Permanent Octets: 9420"])
            {
                Assert.Contains(expected, decoded, StringComparison.Ordinal);
            }
        }
        finally
        {
            File.Delete(capture);
        }
    }

    /// <summary>A pcap file (linktype 228, raw IPv4) with the message in one IPv4/UDP datagram to port 4739.</summary>
    private static byte[] Pcap(ReadOnlySpan<byte> payload)
    {
        int packetLength = 20 + 8 + payload.Length;
        byte[] file = new byte[24 + 16 + packetLength];
        Span<byte> header = file;
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 65535);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 228);
        Span<byte> record = header[24..];
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)packetLength);
        BinaryPrimitives.WriteUInt32LittleEndian(record[12..], (uint)packetLength);
        Span<byte> ip = record[16..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)packetLength);
        ip[8] = 64;
        ip[9] = 17;
        new byte[] { 192, 0, 2, 1 }.CopyTo(ip[12..]);
        new byte[] { 192, 0, 2, 9 }.CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Core.Checksums.InternetChecksum.Compute(ip[..20]));
        Span<byte> udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], 4739);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);
        return file;
    }

    private static string Tshark(params string[] arguments)
    {
        var start = new ProcessStartInfo("tshark") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        Assert.True(process.WaitForExit(60_000), "tshark did not finish");
        Assert.True(process.ExitCode == 0, error.Result);
        return output;
    }

    private static bool OnPath(string tool)
        => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(directory => File.Exists(Path.Combine(directory, tool)));
}
