namespace NatGate.EndToEnd.Tests;

/// <summary>
/// A raw IPv4 sender for the safety tests: any protocol, any source address (IP_HDRINCL), so
/// a host can send GRE or ESP, or an outside host can forge an inside source.
/// argv: SOURCE DESTINATION KIND COUNT, KIND one of "proto:N" (24 bytes of payload),
/// "udp:SPORT:DPORT", "echo:ID". Prints "sent N".
/// </summary>
internal static class RawPackets
{
    public const string Sender = """
        import socket, struct, sys, time
        source, destination, kind, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        def checksum(data):
            if len(data) % 2:
                data += b"\0"
            total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
            while total >> 16:
                total = (total & 0xFFFF) + (total >> 16)
            return ~total & 0xFFFF
        parts = kind.split(":")
        if parts[0] == "proto":
            protocol, payload = int(parts[1]), b"natgate safety test 1234"
        elif parts[0] == "udp":
            protocol, body = 17, b"natgate safety test"
            payload = struct.pack("!HHHH", int(parts[1]), int(parts[2]), 8 + len(body), 0) + body
        elif parts[0] == "echo":
            protocol, body = 1, b"natgate safety test"
            header = struct.pack("!BBHHH", 8, 0, 0, int(parts[1]), 1)
            payload = struct.pack("!BBHHH", 8, 0, checksum(header + body), int(parts[1]), 1) + body
        else:
            sys.exit("unknown kind " + kind)
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        for i in range(count):
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0x5000 + i, 0, 64, protocol, 0,
                                 socket.inet_aton(source), socket.inet_aton(destination))
            header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
            s.sendto(header + payload, (destination, 0))
            time.sleep(0.002)
        print("sent", count, flush=True)
        """;

    /// <summary>Sends COUNT packets from a namespace and waits for the sender to finish.</summary>
    public static void Send(string space, string source, string destination, string kind, int count)
        => GatewayLab.ExecChecked(space, "python3", "-c", Sender, source, destination, kind, count.ToString(System.Globalization.CultureInfo.InvariantCulture));
}
