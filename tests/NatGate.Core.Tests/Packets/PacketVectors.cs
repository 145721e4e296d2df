namespace NatGate.Core.Tests.Packets;

/// <summary>
/// Whole packets as they appear on the wire, checksums correct; each field is spelled out
/// where it is used. Built field by field to mirror what Linux, dig and ping send (not
/// captured), with every checksum computed by an independent Python RFC 1071 implementation.
/// </summary>
internal static class PacketVectors
{
    // A Linux TCP SYN 192.168.1.100:51234 -> 93.184.216.34:443: id 0x1c46, DF, TTL 64,
    // header checksum 0x268f; seq 0x3ad5e1c4, data offset 10, window 64240, checksum 0x9816,
    // options MSS 1460, SACK permitted, timestamps (1234567, 0), NOP, window scale 7.
    public const string TcpSyn =
        "4500003c1c4640004006268fc0a801645db8d822"
        + "c82201bb3ad5e1c400000000a002faf098160000"
        + "020405b40402080a0012d6870000000001030307";

    // A DNS query for example.com A, 192.168.1.100:53000 -> 8.8.8.8:53: id 0x5a3f, no DF,
    // header checksum 0x4e59; UDP length 37, checksum 0xe30e.
    public const string UdpDnsQuery =
        "450000395a3f000040114e59c0a8016408080808"
        + "cf0800350025e30e"
        + "abcd01000001000000000000076578616d706c6503636f6d0000010001";

    // ping 8.8.8.8 from 192.168.1.100: echo request id 0x1234, sequence 1, 56 data bytes
    // 0x10..0x47; ICMP checksum 0x2cf6, header checksum 0xda61.
    public const string IcmpEcho =
        "450000548e2b40004001da61c0a8016408080808"
        + "08002cf612340001"
        + "101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
        + "303132333435363738393a3b3c3d3e3f4041424344454647";

    // 8.8.8.8 answers the DNS query with port unreachable (type 3, code 3): TOS 0xc0, TTL 117,
    // header checksum 0x72e9, ICMP checksum 0x4a8b, quoting the query's IP header and UDP header.
    public const string IcmpPortUnreachable =
        "45c0003800000000750172e908080808c0a80164"
        + "03034a8b00000000"
        + "450000395a3f000040114e59c0a8016408080808"
        + "cf0800350025e30e";

    // 2001:db8::1 -> 2001:db8::2, traffic class 0xb8, flow label 0x12345, hop limit 64,
    // payload 64 bytes: Hop-by-Hop (router alert, PadN) -> Fragment (offset 0, M set,
    // id 0xdeadbeef) -> Destination Options (PadN) -> UDP 40000 -> 4789 "hello, v6",
    // checksum 0x5aed. The UDP header starts at byte 64.
    public const string Ipv6WithExtensionHeaders =
        "6b81234500290040"
        + "20010db8000000000000000000000001"
        + "20010db8000000000000000000000002"
        + "2c00050200000100"
        + "3c000001deadbeef"
        + "1100010400000000"
        + "9c4012b500115aed68656c6c6f2c207636";

    // ICMPv6 echo request 2001:db8::1 -> 2001:db8::2, id 0x1234, sequence 7, "ping", checksum 0x3338.
    public const string Icmpv6Echo =
        "60000000000c3a40"
        + "20010db8000000000000000000000001"
        + "20010db8000000000000000000000002"
        + "800033381234000770696e67";

    public static byte[] Bytes(string hex) => Convert.FromHexString(hex);
}
