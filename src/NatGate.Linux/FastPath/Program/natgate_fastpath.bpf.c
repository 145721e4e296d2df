// SPDX-License-Identifier: MIT OR GPL-2.0
/* NatGate's kernel fast path (DESIGN.md, "Two paths"; issue 13): a tc program at the ingress of
 * the inside-facing and outside-facing interfaces. It rewrites the packets of sessions the C#
 * engine has decided and written into natgate_flows, and leaves everything else untouched
 * (TC_ACT_OK), so policy routing takes it to the TUN, where the engine decides.
 *
 * A rewritten packet is routed by the kernel's FIB (bpf_fib_lookup, with the policy rules, for its
 * new addresses). When the route and the neighbour are known, the program does what forwarding
 * would (hop limit, Ethernet addresses) and hands the packet to its egress device (bpf_redirect),
 * as nftables' flowtables and Cilium do for established flows; otherwise (no neighbour yet, too
 * big for the egress MTU, for this host, unroutable) the kernel's forwarding takes it as it is.
 *
 * The verifier forgets every packet pointer after a helper that may move the skb's data
 * (bpf_skb_store_bytes, bpf_l3_csum_replace, bpf_l4_csum_replace): all parsing happens first,
 * and the rewrite works on offsets only. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "natgate_fastpath.h"

/* The project is MIT; "Dual MIT/GPL" is GPL-compatible to the kernel (license_is_gpl_compatible),
 * so GPL-only helpers stay available. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Sized by the loader (bpf_map__set_max_entries) before load; two entries per session.
 * BPF_F_NO_PREALLOC: an element is allocated when the engine adds a session, so the map costs
 * what the sessions in it need. Preallocated, the default table's 2 x 1,048,576 entries took
 * about 350 MB of kernel memory at every start, used or not. The program only looks up and
 * counts; user space alone inserts, where an allocation is cheap beside the system call. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 2 * 1048576);
	__type(key, struct natgate_flow_key);
	__type(value, struct natgate_flow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} natgate_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NATGATE_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} natgate_stats SEC(".maps");

/* The engine's NPTv6 mappings, two entries each (natgate_fastpath.h); written when its rules change. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__type(key, struct natgate_prefix_key);
	__type(value, struct natgate_prefix_value);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* an LPM trie requires it (kernel/bpf/lpm_trie.c) */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} natgate_prefixes SEC(".maps");

/* bpf_l4_csum_replace: the packet is IPv6, which has no header checksum, so a CHECKSUM_COMPLETE
 * skb's csum must not take the pseudo-header's change (the address bytes carry it). Linux 6.16
 * (net/core/filter.c, "bpf: Fix L4 csum update on IPv6 in CHECKSUM_COMPLETE", also in stable);
 * older kernels refuse the flag with EINVAL and are called without it. Defined here because
 * distributions' uapi headers may predate it. */
#define NATGATE_BPF_F_IPV6 (1ULL << 7)

#define IPV4_FRAGMENT_MASK 0x3fff /* MF and the fragment offset (RFC 791 3.1) */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_FLAGS_OFFSET 13
#define TCP_CHECKSUM_OFFSET 16
#define UDP_CHECKSUM_OFFSET 6
#define ICMP_CHECKSUM_OFFSET 2
#define ICMP_IDENTIFIER_OFFSET 4
#define ICMP_ECHO_REPLY 0      /* RFC 792 */
#define ICMP_ECHO_REQUEST 8
#define ICMPV6_ECHO_REQUEST 128 /* RFC 4443 4.1 */
#define ICMPV6_ECHO_REPLY 129

static __always_inline void count(__u32 stat, __u64 amount)
{
	__u64 *counter = bpf_map_lookup_elem(&natgate_stats, &stat);
	if (counter)
		*counter += amount; /* per-CPU: no other writer */
}

static __always_inline int pass(__u32 stat)
{
	count(stat, 1);
	return TC_ACT_OK;
}

/* Where the packet's fields lie, found while parsing; the rewrite uses these offsets only. */
struct layout {
	__u32 addresses;      /* source address, the destination follows it */
	__u32 hop_limit;      /* IPv4 TTL or IPv6 hop limit */
	__u32 address_size;   /* 4 or 16 */
	__u32 ip_checksum;    /* IPv4 header checksum; 0 for IPv6 */
	__u32 ports;          /* TCP/UDP source port (the destination follows) or the ICMP identifier */
	__u32 l4_checksum;
	__u64 l4_flags;       /* BPF_F_MARK_MANGLED_0 for UDP over IPv4 */
	__u8 icmp;            /* the identifier (2 bytes) replaces both ports */
	__u8 icmp_request;
	__u8 hop_limit_value; /* as it arrived (at least 2) */
	__u8 protocol;
	__u32 traffic_class;  /* IPv4 TOS or IPv6 flow information, for the policy rules */
};

/* Reads the transport header at l4 into the key and the layout; returns -1 (with the stat to
 * count in *stat) when the program leaves the packet to the engine. */
static __always_inline int parse_transport(void *data, void *data_end, __u32 l4, __u8 protocol, __u8 family,
					   struct natgate_flow_key *key, struct layout *where, __u32 *stat)
{
	void *header = data + l4;
	where->ports = l4;
	switch (protocol) {
	case IPPROTO_TCP:
		if (header + 20 > data_end)
			goto not_handled;
		/* Connection state changes belong to the engine (issue 13: SYN, FIN and RST). */
		if (((__u8 *)header)[TCP_FLAGS_OFFSET] & (TCP_FIN | TCP_SYN | TCP_RST)) {
			*stat = NATGATE_STAT_TCP_CONTROL;
			return -1;
		}
		key->source_port = ((__be16 *)header)[0];
		key->destination_port = ((__be16 *)header)[1];
		where->l4_checksum = l4 + TCP_CHECKSUM_OFFSET;
		return 0;
	case IPPROTO_UDP:
		if (header + 8 > data_end)
			goto not_handled;
		key->source_port = ((__be16 *)header)[0];
		key->destination_port = ((__be16 *)header)[1];
		where->l4_checksum = l4 + UDP_CHECKSUM_OFFSET;
		/* Over IPv4 a zero UDP checksum means none (RFC 768); over IPv6 it is mandatory (RFC 8200 8.1). */
		if (family == 4)
			where->l4_flags = BPF_F_MARK_MANGLED_0;
		return 0;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		if (header + 8 > data_end)
			goto not_handled;
		__u8 type = ((__u8 *)header)[0];
		if (protocol == IPPROTO_ICMP && type == ICMP_ECHO_REQUEST)
			where->icmp_request = 1;
		else if (protocol == IPPROTO_ICMPV6 && type == ICMPV6_ECHO_REQUEST)
			where->icmp_request = 1;
		else if (!(protocol == IPPROTO_ICMP && type == ICMP_ECHO_REPLY) &&
			 !(protocol == IPPROTO_ICMPV6 && type == ICMPV6_ECHO_REPLY))
			goto not_handled; /* errors quote a packet the engine must translate too */
		__be16 identifier = *(__be16 *)(header + ICMP_IDENTIFIER_OFFSET);
		key->source_port = identifier;
		key->destination_port = identifier;
		where->icmp = 1;
		where->ports = l4 + ICMP_IDENTIFIER_OFFSET;
		where->l4_checksum = l4 + ICMP_CHECKSUM_OFFSET;
		return 0;
	}
	}
not_handled:
	*stat = NATGATE_STAT_NOT_HANDLED;
	return -1;
}

/* Rewrites addresses, then ports, fixing checksums with the entry's deltas; 0 or a helper's error.
 * bpf_l4_csum_replace with from = 0 adds `to` as a ones' complement difference
 * (inet_proto_csum_replace_by_diff). With BPF_F_PSEUDO_HDR it also updates a partial checksum
 * (CHECKSUM_PARTIAL, GSO), whose field holds the pseudo-header's sum alone; without it a partial
 * checksum is left, since the ports are summed with the data when the checksum is completed. */
static __always_inline long rewrite(struct __sk_buff *skb, const struct layout *where, const struct natgate_flow_value *value,
				    int forwarding)
{
	long error;
	if (forwarding) {
		/* What ip_forward and ip6_forward do first: the hop limit goes down by one. */
		__u8 hop_limit = where->hop_limit_value - 1;
		error = bpf_skb_store_bytes(skb, where->hop_limit, &hop_limit, 1, 0);
		if (error)
			return error;
	}
	if (where->address_size == 4) {
		__u8 addresses[8];
		__builtin_memcpy(addresses, value->source, 4);
		__builtin_memcpy(addresses + 4, value->destination, 4);
		error = bpf_skb_store_bytes(skb, where->addresses, addresses, sizeof(addresses), 0);
		if (error)
			return error;
		/* The TTL shares a 16-bit word with the protocol; its change joins the addresses' delta
		 * (RFC 1624: ~old + new), and one update (csum_replace_by_diff) applies both. */
		__u32 difference = value->ip_delta;
		if (forwarding) {
			__u16 old_word = bpf_htons(((__u16)where->hop_limit_value << 8) | where->protocol);
			__u16 new_word = bpf_htons(((__u16)(where->hop_limit_value - 1) << 8) | where->protocol);
			difference += (__u16)~old_word + new_word;
		}
		if (difference) {
			error = bpf_l3_csum_replace(skb, where->ip_checksum, 0, difference, 0);
			if (error)
				return error;
		}
		/* ICMPv4's checksum covers no pseudo-header; the engine writes 0 for it. */
		if (value->pseudo_delta) {
			error = bpf_l4_csum_replace(skb, where->l4_checksum, 0, value->pseudo_delta,
						    BPF_F_PSEUDO_HDR | where->l4_flags);
			if (error)
				return error;
		}
	} else {
		/* The value's source and destination lie side by side, as in the IPv6 header. */
		error = bpf_skb_store_bytes(skb, where->addresses, value->source, 32, 0);
		if (error)
			return error;
		if (value->pseudo_delta) {
			error = bpf_l4_csum_replace(skb, where->l4_checksum, 0, value->pseudo_delta,
						    BPF_F_PSEUDO_HDR | NATGATE_BPF_F_IPV6 | where->l4_flags);
			/* The flags are checked before anything is written: a kernel without BPF_F_IPV6 is asked again. */
			if (error == -22 /* EINVAL */)
				error = bpf_l4_csum_replace(skb, where->l4_checksum, 0, value->pseudo_delta,
							    BPF_F_PSEUDO_HDR | where->l4_flags);
			if (error)
				return error;
		}
	}
	if (where->icmp)
		error = bpf_skb_store_bytes(skb, where->ports, &value->source_port, 2, 0);
	else
		error = bpf_skb_store_bytes(skb, where->ports, &value->source_port, 4, 0);
	if (error)
		return error;
	if (value->port_delta)
		error = bpf_l4_csum_replace(skb, where->l4_checksum, 0, value->port_delta, where->l4_flags);
	return error;
}

#define IPV6_FRAGMENT 44        /* RFC 8200 4.5 */
#define AF_INET 2
#define AF_INET6 10
#define NEGATIVE_ZERO 0xffff    /* 0xFFFF and 0 are one ones' complement number (RFC 6296 3.2) */

/* An IPv6 address as the program reworks it. */
union address6 {
	__u8 bytes[16];
	__u16 words[8];
	__u64 halves[2];
};

/* NPTv6 (RFC 6296): returns -1 when no prefix translation takes the packet (it goes on to the
 * sessions), else the tc verdict. As the engine (NatEngine.TranslateIpv6): a source in an
 * internal prefix moves to the external one; else a destination in an external prefix moves to
 * the internal one. The translation is checksum-neutral (RFC 6296 3.1): one 16-bit word outside
 * the prefix takes the adjustment, so the address's ones' complement sum, and with it every
 * pseudo-header checksum (complete or partial, GSO or not), is unchanged: one store, no helper.
 * The engine keeps what needs more than the address (to the TUN, as before):
 * - hairpinning (both addresses match: both rewritten, and the engine's hairpin policy decides);
 * - ICMPv6 but echoes: errors quote a packet whose address moves too, neighbour discovery never moves (RFC 6296 3.6);
 * - extension headers other than a Fragment header, and fragments of ICMPv6 or of extension
 *   headers; a fragment of TCP or UDP is translated like a whole packet, since every fragment
 *   carries the address and no port is read (and no reassembly is needed, RFC 6296 3.6);
 * - a packet the kernel would not forward as it came (for this host, or unroutable: bpf_fib_lookup
 *   with the policy rules), which never reached the engine either;
 * - an address whose adjusted word is 0xFFFF, or whose interface identifier is all ones (RFC 6296 3.2, 3.7). */
static __always_inline int translate_prefix(struct __sk_buff *skb, void *data_end, struct ipv6hdr *ip, __u64 length)
{
	struct natgate_prefix_key key;
	__builtin_memset(&key, 0, sizeof(key));
	key.prefixlen = 8 + 128;
	key.direction = NATGATE_PREFIX_OUTBOUND;
	__builtin_memcpy(key.address, &ip->saddr, 16);
	struct natgate_prefix_value *value = bpf_map_lookup_elem(&natgate_prefixes, &key);
	int outbound = value != 0;
	key.direction = NATGATE_PREFIX_INBOUND;
	__builtin_memcpy(key.address, &ip->daddr, 16);
	/* Tested one at a time: the verifier refuses arithmetic on two map pointers. */
	if (outbound) {
		if (bpf_map_lookup_elem(&natgate_prefixes, &key))
			return pass(NATGATE_STAT_PREFIX_TO_ENGINE);
	} else {
		value = bpf_map_lookup_elem(&natgate_prefixes, &key);
		if (!value)
			return -1;
	}

	__u8 protocol = ip->nexthdr;
	void *transport = (void *)(ip + 1);
	if (protocol == IPV6_FRAGMENT) {
		if (transport + 8 > data_end)
			return pass(NATGATE_STAT_PREFIX_TO_ENGINE);
		protocol = *(__u8 *)transport; /* the fragment's next header */
		if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP)
			return pass(NATGATE_STAT_PREFIX_TO_ENGINE);
	} else if (protocol == IPPROTO_ICMPV6) {
		if (transport + 1 > data_end)
			return pass(NATGATE_STAT_PREFIX_TO_ENGINE);
		__u8 type = *(__u8 *)transport;
		if (type != ICMPV6_ECHO_REQUEST && type != ICMPV6_ECHO_REPLY)
			return pass(NATGATE_STAT_PREFIX_TO_ENGINE);
	} else if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) {
		return pass(NATGATE_STAT_PREFIX_TO_ENGINE);
	}

	/* Policy routing brings the engine only what it forwards: not the host's own traffic. */
	struct bpf_fib_lookup route;
	__builtin_memset(&route, 0, sizeof(route));
	route.family = AF_INET6;
	route.l4_protocol = protocol;
	route.ifindex = skb->ingress_ifindex;
	__builtin_memcpy(route.ipv6_src, &ip->saddr, 16);
	__builtin_memcpy(route.ipv6_dst, &ip->daddr, 16);
	long routed = bpf_fib_lookup(skb, &route, sizeof(route), 0);
	if (routed != BPF_FIB_LKUP_RET_SUCCESS && routed != BPF_FIB_LKUP_RET_NO_NEIGH && routed != BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return pass(NATGATE_STAT_PREFIX_TO_ENGINE);

	union address6 address;
	__builtin_memcpy(address.bytes, outbound ? (void *)&ip->saddr : (void *)&ip->daddr, 16);
	union address6 prefix, mask;
	__builtin_memcpy(prefix.bytes, value->prefix, 16);
	__builtin_memcpy(mask.bytes, value->mask, 16);

	/* RFC 6296 3.4 (up to /48: bits 48-63) and 3.5 (longer: the first identifier word not 0xFFFF). */
	__u32 word = value->word;
	if (word == NATGATE_PREFIX_FIRST_IDENTIFIER_WORD) {
		if (address.words[4] != NEGATIVE_ZERO)
			word = 4;
		else if (address.words[5] != NEGATIVE_ZERO)
			word = 5;
		else if (address.words[6] != NEGATIVE_ZERO)
			word = 6;
		else if (address.words[7] != NEGATIVE_ZERO)
			word = 7;
		else
			return pass(NATGATE_STAT_PREFIX_TO_ENGINE); /* all ones: RFC 6296 3.7 */
	} else if (word != 3) {
		return pass(NATGATE_STAT_PREFIX_TO_ENGINE); /* not a value the engine writes */
	}
	__u16 adjusted_word = address.words[word & 7];
	if (adjusted_word == NEGATIVE_ZERO)
		return pass(NATGATE_STAT_PREFIX_TO_ENGINE); /* RFC 6296 3.2: no image; the engine refuses it */
	/* Ones' complement addition is byte-order independent (RFC 1071 2.B): the packet's word as it lies. */
	__u32 sum = (__u32)adjusted_word + value->adjustment;
	sum = (sum & 0xffff) + (sum >> 16);
	if (sum == NEGATIVE_ZERO)
		sum = 0; /* RFC 6296 3.2, 3.3: written as zero */

	address.halves[0] = (prefix.halves[0] & mask.halves[0]) | (address.halves[0] & ~mask.halves[0]);
	address.halves[1] = (prefix.halves[1] & mask.halves[1]) | (address.halves[1] & ~mask.halves[1]);
	address.words[word & 7] = (__u16)sum;

	__u32 offset = sizeof(struct ethhdr) + (outbound ? __builtin_offsetof(struct ipv6hdr, saddr) : __builtin_offsetof(struct ipv6hdr, daddr));
	if (bpf_skb_store_bytes(skb, offset, address.bytes, 16, 0)) {
		count(NATGATE_STAT_REWRITE_FAILED, 1);
		return TC_ACT_SHOT;
	}
	if (length == sizeof(struct ipv6hdr))
		length = skb->len - sizeof(struct ethhdr); /* BIG TCP: the skb says the length */
	count(NATGATE_STAT_PREFIX_REWRITTEN, 1);
	count(NATGATE_STAT_PREFIX_REWRITTEN_BYTES, length);
	return TC_ACT_OK;
}

/* The route of the packet as it will be once rewritten: the FIB with the policy rules, from the
 * interface it arrived on, as ip_route_input would find it. tot_len stays 0, so the kernel checks
 * the skb against the egress MTU (is_skb_forwardable: a GSO packet by its segments). */
static __always_inline long route(struct __sk_buff *skb, const struct layout *where, const struct natgate_flow_value *value,
				  struct bpf_fib_lookup *found)
{
	__builtin_memset(found, 0, sizeof(*found));
	found->l4_protocol = where->protocol;
	found->ifindex = skb->ingress_ifindex;
	if (!where->icmp) {
		found->sport = value->source_port;
		found->dport = value->destination_port;
	}
	if (where->address_size == 4) {
		found->family = AF_INET;
		found->tos = where->traffic_class;
		__builtin_memcpy(&found->ipv4_src, value->source, 4);
		__builtin_memcpy(&found->ipv4_dst, value->destination, 4);
	} else {
		found->family = AF_INET6;
		found->flowinfo = where->traffic_class;
		__builtin_memcpy(found->ipv6_src, value->source, 16);
		__builtin_memcpy(found->ipv6_dst, value->destination, 16);
	}
	return bpf_fib_lookup(skb, found, sizeof(*found), 0);
}

/* Ethernet, IPv6 (the longer header) and TCP's fixed header: what the program reads. */
#define HEADERS_READ (sizeof(struct ethhdr) + sizeof(struct ipv6hdr) + 20)

SEC("tc")
int natgate_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	/* A driver may leave headers in the skb's fragments; bring them into the linear part the
	 * program can read (as Cilium's revalidate_data_pull does), then take the pointers anew. */
	if (data + HEADERS_READ > data_end && skb->len > data_end - data) {
		if (bpf_skb_pull_data(skb, skb->len < HEADERS_READ ? skb->len : HEADERS_READ))
			return TC_ACT_OK;
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	struct ethhdr *ethernet = data;
	if ((void *)(ethernet + 1) > data_end)
		return TC_ACT_OK;

	struct natgate_flow_key key;
	__builtin_memset(&key, 0, sizeof(key));
	struct layout where;
	__builtin_memset(&where, 0, sizeof(where));
	__u32 stat = NATGATE_STAT_NOT_HANDLED;
	__u32 l4;
	__u8 protocol;
	__u64 length; /* the IP length, for the counters */

	if (ethernet->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(ethernet + 1);
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		/* Options (IHL > 5) are the engine's (issue 13), and so are fragments: only the first
		 * carries the ports (RFC 791). TTL <= 1: the engine answers with Time Exceeded. */
		if (ip->version != 4 || ip->ihl != 5)
			return pass(NATGATE_STAT_NOT_HANDLED);
		if (ip->frag_off & bpf_htons(IPV4_FRAGMENT_MASK))
			return pass(NATGATE_STAT_FRAGMENT);
		if (ip->ttl <= 1)
			return pass(NATGATE_STAT_NOT_HANDLED);
		protocol = ip->protocol;
		length = bpf_ntohs(ip->tot_len);
		where.hop_limit = sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, ttl);
		where.hop_limit_value = ip->ttl;
		where.traffic_class = ip->tos;
		key.family = 4;
		__builtin_memcpy(key.source, &ip->saddr, 4);
		__builtin_memcpy(key.destination, &ip->daddr, 4);
		where.addresses = sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, saddr);
		where.address_size = 4;
		where.ip_checksum = sizeof(struct ethhdr) + __builtin_offsetof(struct iphdr, check);
		l4 = sizeof(struct ethhdr) + sizeof(struct iphdr);
		if (protocol == IPPROTO_ICMPV6)
			return pass(NATGATE_STAT_NOT_HANDLED);
	} else if (ethernet->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip = (void *)(ethernet + 1);
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_OK;
		/* Extension headers (the Fragment header among them) are the engine's (RFC 8200 4). */
		if (ip->version != 6 || ip->hop_limit <= 1)
			return pass(NATGATE_STAT_NOT_HANDLED);
		protocol = ip->nexthdr;
		length = sizeof(struct ipv6hdr) + bpf_ntohs(ip->payload_len);
		/* Prefixes first, as the engine: its prefix translations come before NAT66's sessions. */
		int translated = translate_prefix(skb, data_end, ip, length);
		if (translated >= 0)
			return translated;
		/* translate_prefix calls no helper that moves the packet when it returns -1. */
		if (protocol == 44 /* Fragment, RFC 8200 4.5 */)
			return pass(NATGATE_STAT_FRAGMENT);
		if (protocol == IPPROTO_ICMP)
			return pass(NATGATE_STAT_NOT_HANDLED);
		key.family = 6;
		where.hop_limit = sizeof(struct ethhdr) + __builtin_offsetof(struct ipv6hdr, hop_limit);
		where.hop_limit_value = ip->hop_limit;
		where.traffic_class = *(__be32 *)ip & bpf_htonl(0x0fffffff); /* ip6_flowinfo: all but the version */
		key.family = 6;
		__builtin_memcpy(key.source, &ip->saddr, 16);
		__builtin_memcpy(key.destination, &ip->daddr, 16);
		where.addresses = sizeof(struct ethhdr) + __builtin_offsetof(struct ipv6hdr, saddr);
		where.address_size = 16;
		l4 = sizeof(struct ethhdr) + sizeof(struct ipv6hdr);
	} else {
		return TC_ACT_OK; /* ARP, VLAN and the rest: not IP, not counted */
	}

	key.protocol = protocol;
	where.protocol = protocol;
	if (parse_transport(data, data_end, l4, protocol, key.family, &key, &where, &stat))
		return pass(stat);

	struct natgate_flow_value *value = bpf_map_lookup_elem(&natgate_flows, &key);
	if (!value)
		return pass(NATGATE_STAT_MISS);
	/* An echo session carries requests one way and replies the other; the other kind is the engine's. */
	if (where.icmp && !!(value->flags & NATGATE_FLOW_ICMP_REQUESTS) != where.icmp_request)
		return pass(NATGATE_STAT_NOT_HANDLED);

	/* The header's length leaves out the Ethernet padding of a short frame; a GSO packet's header
	 * has its whole length, but a BIG TCP one (over 64 KiB) has 0 there: the skb says it then. */
	if (length == 0 || length == sizeof(struct ipv6hdr))
		length = skb->len - sizeof(struct ethhdr);
	struct bpf_fib_lookup next_hop;
	int forwarding = route(skb, &where, value, &next_hop) == BPF_FIB_LKUP_RET_SUCCESS;
	if (rewrite(skb, &where, value, forwarding)) {
		/* Something may already be written: a half-rewritten packet must never leave. */
		count(NATGATE_STAT_REWRITE_FAILED, 1);
		return TC_ACT_SHOT;
	}
	__sync_fetch_and_add(&value->packets, 1);
	__sync_fetch_and_add(&value->bytes, length);
	value->last_seen_ns = bpf_ktime_get_ns();
	count(NATGATE_STAT_REWRITTEN, 1);
	count(NATGATE_STAT_REWRITTEN_BYTES, length);
	if (!forwarding)
		return TC_ACT_OK;
	/* The neighbour's address, then this interface's: the Ethernet header's order. */
	__u8 addresses[2 * ETH_ALEN];
	__builtin_memcpy(addresses, next_hop.dmac, ETH_ALEN);
	__builtin_memcpy(addresses + ETH_ALEN, next_hop.smac, ETH_ALEN);
	if (bpf_skb_store_bytes(skb, 0, addresses, sizeof(addresses), 0)) {
		count(NATGATE_STAT_REWRITE_FAILED, 1); /* the hop limit is already down: not forwarded twice */
		return TC_ACT_SHOT;
	}
	count(NATGATE_STAT_FORWARDED, 1);
	return bpf_redirect(next_hop.ifindex, 0);
}
