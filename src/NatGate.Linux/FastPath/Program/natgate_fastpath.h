/* NatGate's kernel fast path: the layout the tc program and its C# loader share.
 *
 * The engine (C#) is the only authority; this map is its cache (DESIGN.md, "Two paths"). For
 * every session it offloads, the engine writes two entries: one keyed by the tuple of the
 * packets that go the session's way (the first packet's tuple as it arrived), one keyed by the
 * tuple of the answers as they arrive. Each entry says what the packet's tuple becomes and the
 * checksum deltas that take it there, so the program does no arithmetic on addresses. The
 * C# mirrors of these structures are FastPathFlowKey.cs and FastPathFlowValue.cs; FastPathLayoutTests
 * checks them against this file.
 */
#ifndef NATGATE_FASTPATH_H
#define NATGATE_FASTPATH_H

#include <linux/types.h>

/* Pinned under /sys/fs/bpf/natgate/<instance>/ */
#define NATGATE_FLOWS_MAP "natgate_flows"
#define NATGATE_STATS_MAP "natgate_stats"
#define NATGATE_PREFIXES_MAP "natgate_prefixes"

/* One direction of a session, as its packets arrive. IPv4 addresses sit in the first 4 bytes
 * of the 16 (the rest zero). Ports in network byte order; an ICMP or ICMPv6 echo's identifier
 * is both ports. 40 bytes. */
struct natgate_flow_key {
	__u8 family;          /* 4 or 6 */
	__u8 protocol;        /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	__u16 reserved;       /* zero */
	__be16 source_port;
	__be16 destination_port;
	__u8 source[16];
	__u8 destination[16];
};

/* The entry carries the direction in which the session was opened (the engine's "forward"). */
#define NATGATE_FLOW_FORWARD 1
/* ICMP: this direction carries echo requests (else echo replies); the other kind goes to the engine. */
#define NATGATE_FLOW_ICMP_REQUESTS 2
/* The session was opened from outside (a redirect or a mapping admitted by filtering). */
#define NATGATE_FLOW_INITIATED_OUTSIDE 4

/* What a packet matching the key becomes, and the counters the program keeps. 80 bytes.
 * The deltas are ones' complement differences (RFC 1624: ~old + new, folded to 16 bits) in the
 * kernel's representation: the 16-bit words as they lie in the packet (network byte order), as
 * bpf_l3_csum_replace and bpf_l4_csum_replace take them with from = 0. */
struct natgate_flow_value {
	__u8 source[16];          /* the translated tuple (family and protocol as the key's) */
	__u8 destination[16];
	__be16 source_port;
	__be16 destination_port;
	__u16 ip_delta;           /* IPv4 header checksum: the addresses (0 for IPv6) */
	__u16 pseudo_delta;       /* TCP, UDP, ICMPv6 checksum: the addresses in the pseudo-header (0 for ICMPv4) */
	__u16 port_delta;         /* TCP, UDP checksum: the ports; ICMP, ICMPv6: the identifier */
	__u16 flags;              /* NATGATE_FLOW_* */
	__u32 session;            /* the engine's session number, for listings and adoption */
	__u32 reserved;           /* zero */
	__u64 last_seen_ns;       /* bpf_ktime_get_ns() of the last packet rewritten (CLOCK_MONOTONIC); 0: none yet */
	__u64 packets;            /* rewritten by the program in this direction */
	__u64 bytes;              /* their IP lengths (a GSO packet counts its whole length) */
};

/* natgate_stats: a per-CPU array of __u64, indexed by these. */
enum natgate_stat {
	NATGATE_STAT_REWRITTEN = 0,     /* packets rewritten and passed on to routing */
	NATGATE_STAT_REWRITTEN_BYTES,
	NATGATE_STAT_MISS,              /* a translatable packet with no entry: to the engine */
	NATGATE_STAT_TCP_CONTROL,       /* SYN, FIN or RST: to the engine */
	NATGATE_STAT_FRAGMENT,          /* a fragment: to the engine */
	NATGATE_STAT_NOT_HANDLED,       /* IP options, extension headers, ICMP errors, TTL <= 1, other protocols */
	NATGATE_STAT_REWRITE_FAILED,    /* a helper refused: dropped (never passed on half rewritten) */
	/* NPTv6 (natgate_prefixes), counted apart from the sessions' rewrites above. */
	NATGATE_STAT_PREFIX_REWRITTEN,  /* packets whose address a prefix translation rewrote */
	NATGATE_STAT_PREFIX_REWRITTEN_BYTES,
	NATGATE_STAT_PREFIX_TO_ENGINE,  /* a prefix matched, but the engine must see it: to the TUN */
	/* Of NATGATE_STAT_REWRITTEN: sent to their egress device by the program itself (bpf_fib_lookup
	 * found the route and the neighbour); the rest went on to the kernel's forwarding. */
	NATGATE_STAT_FORWARDED,
	NATGATE_STAT_COUNT,
};

/* natgate_prefixes: the engine's NPTv6 mappings (RFC 6296), stateless, from its rules. An LPM
 * trie (BPF_MAP_TYPE_LPM_TRIE) keyed by the direction and then the prefix: each mapping is two
 * entries, its internal prefix under OUTBOUND (matched on a packet's source) and its external
 * prefix under INBOUND (matched on the destination). The direction leads the key so that the
 * two lookups never see each other's entries, as the engine looks for an internal prefix and
 * an external one apart (NatEngine.TranslateIpv6). prefixlen counts the direction's 8 bits. */
#define NATGATE_PREFIX_OUTBOUND 1
#define NATGATE_PREFIX_INBOUND 2

/* 24 bytes: prefixlen, then 20 bytes of data (the reserved tail is never matched). */
struct natgate_prefix_key {
	__u32 prefixlen;          /* 8 + the prefix length (1 to 64) */
	__u8 direction;           /* NATGATE_PREFIX_* */
	__u8 address[16];         /* the prefix, bits past its length zero */
	__u8 reserved[3];         /* zero */
};

/* The adjusted word of a prefix longer than /48: the first of words 4-7 (the interface
 * identifier) that is not 0xFFFF (RFC 6296 3.5, 3.7). */
#define NATGATE_PREFIX_FIRST_IDENTIFIER_WORD 4

/* What a matching address becomes, computed once by the engine (Nptv6Mapping). 40 bytes. */
struct natgate_prefix_value {
	__u8 prefix[16];          /* the translated prefix, bits past its length zero */
	__u8 mask[16];            /* ones over the prefix's bits: the address keeps the rest */
	__u16 adjustment;         /* RFC 6296 3.1: added (ones' complement) to the adjusted word, as the word lies in the packet */
	__u8 word;                /* the adjusted 16-bit word: 3 (bits 48-63) up to /48 (RFC 6296 3.4), else NATGATE_PREFIX_FIRST_IDENTIFIER_WORD */
	__u8 prefix_length;       /* 1 to 64 */
	__u8 direction;           /* the key's, for listings */
	__u8 reserved[3];         /* zero */
};

#endif
