#!/usr/bin/env bash
# bench/e2e.sh: NatGate beside the kernel's own NAT, on the same namespace lab, in the same run.
#
#   sudo bench/e2e.sh [-t SECONDS] [-o RESULTS_FILE] [--no-build] [--profile] [--rounds N]
#                    [--modes "direct kernel natgate tun reflector"] [--ipv6]
#                    [--tests "bulk1 bulk4 udp connections latency"]
#
# The lab (the topology of tests/NatGate.EndToEnd.Tests/GatewayLab.cs, in namespaces named
# with a random per-run prefix, all deleted at exit):
#
#   in1 10.77.0.2 ─┐
#                  br0 (10.77.0.1) gw (198.51.100.1 on wan0) ── out 198.51.100.2
#   in2 10.77.0.3 ─┤
#   in3 10.78.0.2 ─┘   (br0 also 10.78.0.1: in3 is always plainly forwarded, the reference
#                       path that the latency probes take in turn with in1's)
#
# Four configurations of the gateway namespace, measured one after the other:
#   direct   plain forwarding, no NAT (the outside gets a route to 10.77.0.0/24): the baseline
#            that "added latency" is measured against
#   kernel   nftables SNAT to 198.51.100.10 in postrouting, the address answered by a proxy
#            neighbour on wan0 (as NatGate does), ip_forward=1
#   natgate  natgate run --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0
#            --fast-path on: established flows rewritten by the kernel fast path (issue 13)
#   tun      the same with --fast-path off: every packet through the TUN (the fallback)
#            (plus $NATGATE_ARGS, e.g. NATGATE_ARGS="--queues 2"; $NATGATE_RPS_CPUS, a CPU mask
#            such as 3, turns on receive packet steering for the TUN's queues once it is up)
#   reflector  DESIGN.md's no-op reflector (e2e_tools reflect): a TUN device with the same
#            offloads whose reader writes every packet back untranslated, with policy routing
#            through it and the outside routed back as for direct: what the TUN path itself
#            allows on this machine, so "NatGate / reflector" is what translation costs
# In kernel and natgate the outside has no route to the inside, so every answer is NAT's work.
#
# IPv6 (--ipv6 adds these three modes to --modes; or name them in --modes): the lab's IPv6 half
# (fd00:77::/64 inside, 2001:db8:100::/64 outside, as GatewayLab(ipv6: true)), bulk TCP and
# small UDP to an iperf3 server on 2001:db8:100::2 (connections and latency are IPv4's only):
#   direct6  plain IPv6 forwarding (the outside gets a route to fd00:77::/64)
#   kernel6  nftables NAT66: `table ip6 nat`, masquerade in postrouting (to wan0's 2001:db8:100::1)
#   natgate6 natgate run --rules with NAT66 maps of fd00:77::/64 to 2001:db8:100::10 (TCP/UDP
#            ports, and ICMPv6 echo for the reachability check), on-link by proxy NDP
#
# An optional fifth, for comparison with a user-space NAT that container users know
# (--modes "direct kernel natgate reflector slirp4netns"):
#   slirp4netns  slirp4netns --configure in the gateway namespace, serving a fresh inside
#            namespace through a TAP device (10.0.2.100, its default); its connections leave
#            from the gateway's own sockets, so the outside sees 198.51.100.1. The clients of
#            every test run in that one namespace (both "inside hosts" of the connection test).
#
# Figures: bulk TCP (iperf3, 1 and 4 streams, Gbit/s at the receiver); small UDP (iperf3 -u
# -l 64 -b 0, packets per second received by the server); TCP connections per second (both
# inside hosts, e2e_tools tcpcli: connect, read to EOF, close); UDP request/response round
# trip (median, p99) and what each NAT adds: against the direct configuration measured minutes
# apart, and against in3's plain path probed in turn at the same moments (the target's
# measure: the host's drift falls on both paths alike); CPU per GB during bulk TCP
# (whole machine from /proc/stat, and the NatGate process from /proc/PID/stat).
# --profile adds a perf record and a syscall count on the NatGate process, and a whole-machine
# perf record by command, in extra runs (bulk TCP 1 and 4 streams, small UDP, connections)
# after the measured ones (so they do not disturb the figures).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lab.sh
. "$here/lab.sh"
root="$(cd "$here/.." && pwd)"

seconds=10
results=""
build=1
profile=0
modes="direct kernel natgate tun reflector"
tests="bulk1 bulk4 udp connections latency"
rounds=1
ipv6=0
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--time) seconds="$2"; shift 2 ;;
    -o|--out) results="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --profile) profile=1; shift ;;
    --modes) modes="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --tests) tests="$2"; shift 2 ;;
    --ipv6) ipv6=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "e2e.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
[ "$ipv6" = 0 ] || modes="$modes direct6 kernel6 natgate6 npt6"
case " $modes " in *"6 "*) ipv6=1 ;; esac
if [ "$(id -u)" != 0 ]; then
  echo "e2e.sh: needs root (network namespaces, a TUN device)" >&2
  exit 1
fi
need=()
for tool in ip:iproute2 nft:nftables iperf3:iperf3 python3:python3 cc:gcc; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
case " $modes " in *" slirp4netns "*) command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns) ;; esac
if [ "$profile" = 1 ] && ! command -v perf >/dev/null 2>&1; then
  echo "e2e.sh: --profile needs perf; profiling skipped" >&2
  profile=0
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "e2e.sh: installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

stamp="$(date -u +%Y%m%d-%H%M%S)"
[ -n "$results" ] || results="$here/results/e2e-$stamp.md"
mkdir -p "$(dirname "$results")"
raw="${results%.*}.raw"          # iperf3 JSON, the daemon's log, profiles
mkdir -p "$raw"

prefix="ngb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
IN1="${prefix}in1"; IN2="${prefix}in2"; IN3="${prefix}in3"; GW="${prefix}gw"; OUT="${prefix}out"
namespaces=()
pids=()
natgate_pid=""

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  lab_teardown
  [ -n "${tools:-}" ] && rm -rf "$(dirname "$tools")"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- build
lab_natgate e2e.sh "$build" "$raw"
tools="$(mktemp -d /tmp/ngb-tools-XXXXXX)/e2e_tools"
cc -O2 -Wall -o "$tools" "$here/e2e_tools.c"

# ---------------------------------------------------------------- the lab
lab_build "$IN3"
# in3: a host on the same bridge whose path the gateway always forwards plainly, whatever the
# configuration (no NAT rule or TUN route matches 10.78.0.0/24), probed in turn with in1 so
# that "added latency" compares two paths at the same moments of the host's load.
ip -n "$GW" addr add 10.78.0.1/24 dev br0
connect "$IN3" eth0 10.78.0.2/24 "$GW" lan3
ip -n "$GW" link set lan3 master br0
ip -n "$IN3" route add default via 10.78.0.1
ip -n "$OUT" route add 10.78.0.0/24 via 198.51.100.1
inns "$GW" sysctl -qw net.ipv4.ip_forward=1
[ "$ipv6" = 0 ] || lab_ipv6

# Servers in the outside namespace, shared by every configuration.
# (ip netns exec execs the program, so $! is the server's own process id)
ip netns exec "$OUT" iperf3 -s -B 198.51.100.2 -p 5201 >"$raw/iperf3-server.log" 2>&1 &
pids+=($!)
if [ "$ipv6" = 1 ]; then
  ip netns exec "$OUT" iperf3 -s -B 2001:db8:100::2 -p 5202 >"$raw/iperf3-server6.log" 2>&1 &
  pids+=($!)
fi
ip netns exec "$OUT" "$tools" udpecho 5401 >"$raw/udpecho.log" 2>&1 &
pids+=($!)
sleep 0.5

# ---------------------------------------------------------------- measuring
values="$raw/values"
: >"$values"
round=1
tag() { echo "$raw/r$round-$1"; }           # raw file prefix for one configuration in this round
put() { echo "$1 $2 $round" >>"$values"; }  # key value round

cpu_busy() { # whole machine, seconds: user nice system irq softirq steal
  awk -v hz="$(getconf CLK_TCK)" '/^cpu /{print ($2+$3+$4+$7+$8+$9)/hz; exit}' /proc/stat
}
cpu_softirq() { awk -v hz="$(getconf CLK_TCK)" '/^cpu /{print $8/hz; exit}' /proc/stat; }
process_cpu() { # utime + stime of one process (all its threads), seconds
  [ -n "$1" ] || { echo 0; return; }
  awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); print ($12+$13)/hz}' "/proc/$1/stat"
}
link_counter() { # namespace interface rx|tx bytes|packets
  ip -n "$1" -s -j link show "$2" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['$3']['$4'])"
}
run_delay() { # seconds the process's threads spent runnable but waiting for a CPU (schedstat)
  [ -n "$1" ] || { echo 0; return; }
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{n+=$2} END{print n/1e9}'
}
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# The iperf3 server a mode's traffic goes to: IPv6 modes end in 6.
server_of() { case "$1" in *6) echo "2001:db8:100::2 5202" ;; *) echo "198.51.100.2 5201" ;; esac; }
through_tun() { case "$1" in natgate|natgate6|npt6|tun|reflector) return 0 ;; *) return 1 ;; esac; }

bulk() { # mode streams
  local mode="$1" streams="$2" file server port
  file="$(tag "$1")-tcp-P$2.json"
  read -r server port <<<"$(server_of "$mode")"
  local c0 s0 n0 b0 t0 p0 c1 s1 n1 b1 t1 p1
  c0=$(cpu_busy); s0=$(cpu_softirq); n0=$(process_cpu "$natgate_pid"); b0=$(link_counter "$GW" wan0 tx bytes)
  local d0 r0 d1 r1
  if through_tun "$mode"; then
    t0=$(link_counter "$GW" natgate0 rx packets); p0=$(link_counter "$GW" natgate0 rx bytes)
    d0=$(link_counter "$GW" natgate0 tx dropped); r0=$(run_delay "$natgate_pid")
  fi
  timeout $((seconds + 30)) ip netns exec "$IN1" iperf3 -c "$server" -p "$port" -t "$seconds" -O 1 -P "$streams" --json >"$file" \
    || { log "iperf3 failed ($mode, $streams streams)"; cat "$file" >&2; return 1; }
  c1=$(cpu_busy); s1=$(cpu_softirq); n1=$(process_cpu "$natgate_pid"); b1=$(link_counter "$GW" wan0 tx bytes)
  put "$mode.tcp$streams.gbps" "$(json "$file" "d['end']['sum_received']['bits_per_second']/1e9")"
  put "$mode.tcp$streams.retrans" "$(json "$file" "d['end']['sum_sent'].get('retransmits', 0)")"
  put "$mode.tcp$streams.gb" "$(python3 -c "print(($b1-$b0)/1e9)")"
  put "$mode.tcp$streams.cpu" "$(python3 -c "print($c1-$c0)")"
  put "$mode.tcp$streams.softirq" "$(python3 -c "print($s1-$s0)")"
  put "$mode.tcp$streams.proc" "$(python3 -c "print($n1-$n0)")"
  if through_tun "$mode"; then
    t1=$(link_counter "$GW" natgate0 rx packets); p1=$(link_counter "$GW" natgate0 rx bytes)
    d1=$(link_counter "$GW" natgate0 tx dropped); r1=$(run_delay "$natgate_pid")
    put "$mode.tcp$streams.tunpackets" "$((t1 - t0))"
    put "$mode.tcp$streams.tunbytes" "$((p1 - p0))"
    put "$mode.tcp$streams.tundrops" "$((d1 - d0))"   # the kernel could not queue to NatGate (ring full)
    put "$mode.tcp$streams.rundelay" "$(python3 -c "print($r1-$r0)")"
  fi
}

small_udp() { # mode
  local mode="$1" file server port
  file="$(tag "$1")-udp64.json"
  read -r server port <<<"$(server_of "$mode")"
  timeout $((seconds + 30)) ip netns exec "$IN1" iperf3 -c "$server" -p "$port" -u -l 64 -b 0 -t "$seconds" --json >"$file" \
    || { log "iperf3 -u failed ($mode)"; cat "$file" >&2; return 1; }
  # end.sum: packets sent by the client, lost_packets as the server counted them.
  put "$mode.udp.sentpps" "$(json "$file" "d['end']['sum']['packets']/d['end']['sum']['seconds']")"
  put "$mode.udp.pps" "$(json "$file" "(d['end']['sum']['packets']-d['end']['sum']['lost_packets'])/d['end']['sum']['seconds']")"
}

# Each connection test gets servers on ports of its own, and each inside host its own port.
# The server keeps TIME_WAIT for every connection (it closes first) for 60 s. A SYN that
# meets a TIME_WAIT left by the other inside host (same external address and port, another
# host's TCP timestamps) is refused by PAWS and retried a second later. The kernel's SNAT
# keeps the inside source port when it can, so the two hosts' connections collide on the
# same external ports once their port ranges wrap (seen as TcpExt:PAWSTimewait on the
# server, several hundred per 10 s, and connections/s falling to a quarter); with a port per
# host the test measures how fast each NAT sets connections up, not that collision. Separate
# ports per test keep one configuration's TIME_WAIT away from the next.
cps_next=5301
connections() { # mode
  local mode="$1" port="$cps_next" a b server server2 first
  cps_next=$((cps_next + 2))
  a="$(tag "$1")-cps-in1.txt"; b="$(tag "$1")-cps-in2.txt"
  ip netns exec "$OUT" "$tools" tcpsrv "$port" >>"$raw/tcpsrv.log" 2>&1 &
  server=$!
  pids+=("$server")
  ip netns exec "$OUT" "$tools" tcpsrv "$((port + 1))" >>"$raw/tcpsrv.log" 2>&1 &
  server2=$!
  pids+=("$server2")
  sleep 0.2
  inns "$OUT" cat /proc/net/netstat >"$(tag "$1")-cps-server-netstat.before"
  timeout $((seconds + 30)) ip netns exec "$IN1" "$tools" tcpcli 198.51.100.2 "$port" "$seconds" 2 >"$a" &
  first=$!
  timeout $((seconds + 30)) ip netns exec "$IN2" "$tools" tcpcli 198.51.100.2 "$((port + 1))" "$seconds" 2 >"$b"
  wait "$first"
  # What the server's TCP saw (PAWS rejections of SYNs meeting TIME_WAIT, resets...), nonzero deltas
  inns "$OUT" cat /proc/net/netstat | python3 -c '
import sys
def table(lines):
    out = {}
    for head, vals in zip(lines[0::2], lines[1::2]):
        names, numbers = head.split()[1:], vals.split()[1:]
        out.update({head.split()[0] + n: int(x) for n, x in zip(names, numbers)})
    return out
before = table(open(sys.argv[1]).read().splitlines()); after = table(sys.stdin.read().splitlines())
for k in sorted(after):
    if after[k] - before.get(k, 0):
        print(k, after[k] - before.get(k, 0))' "$(tag "$1")-cps-server-netstat.before" >"$(tag "$1")-cps-server-netstat.txt"
  rm -f "$(tag "$1")-cps-server-netstat.before"
  put "$mode.cps.paws" "$(awk '$1 == "TcpExt:PAWSTimewait" {print $2} END{print 0}' "$(tag "$1")-cps-server-netstat.txt" | head -1)"
  kill "$server" "$server2"; wait "$server" "$server2" 2>/dev/null || true
  put "$mode.cps" "$(cat "$a" "$b" | awk -v s="$seconds" '{n+=$1} END{print n/s}')"
  put "$mode.cps.failed" "$(cat "$a" "$b" | awk '{n+=$2} END{print n}')"
}

latency() { # mode
  local mode="$1" lines answered lost min median p90 p99
  inns "$IN1" "$tools" udpping 198.51.100.2 5401 20 1000 >/dev/null || true # open the session, warm up
  # in1 (through this configuration) and in3 (plain forwarding) in turn, a probe every 1 ms
  # (a lost probe is counted, not fatal: the run goes on and the notes report it)
  lines=$("$tools" udppair "/run/netns/$IN1" "/run/netns/$IN3" 198.51.100.2 5401 2000 1000) || true
  echo "$lines" >"$(tag "$mode")-udpping.txt"
  read -r answered lost min median p90 p99 <<<"$(sed -n 1p <<<"$lines")"
  put "$mode.rtt.median" "$median"; put "$mode.rtt.p99" "$p99"; put "$mode.rtt.lost" "$lost"
  read -r answered lost min median p90 p99 <<<"$(sed -n 2p <<<"$lines")"
  put "$mode.pair.median" "$median"; put "$mode.pair.p99" "$p99"
}

reachable() { # the path works before it is measured
  if [ "${1:-4}" = 6 ]; then
    inns "$IN1" ping -6 -c 1 -W 5 2001:db8:100::2 >/dev/null && inns "$IN2" ping -6 -c 1 -W 5 2001:db8:100::2 >/dev/null \
      || { log "the outside server is not reachable over IPv6 through the gateway"; return 1; }
    return 0
  fi
  inns "$IN1" "$tools" udpping 198.51.100.2 5401 5 10000 >/dev/null \
    && inns "$IN2" "$tools" udpping 198.51.100.2 5401 5 10000 >/dev/null \
    && inns "$IN3" "$tools" udpping 198.51.100.2 5401 5 10000 >/dev/null \
    || { log "the outside server is not reachable through the gateway"; return 1; }
}

selected() { [[ " $tests " == *" $1 "* ]]; }
measure() { # mode
  if selected bulk1; then log "round $round, $1: bulk TCP, 1 stream"; bulk "$1" 1; fi
  if selected bulk4; then log "round $round, $1: bulk TCP, 4 streams"; bulk "$1" 4; fi
  if selected udp; then log "round $round, $1: small UDP"; small_udp "$1"; fi
  case "$1" in *6) put "$1.loadavg" "$(cut -d' ' -f1 /proc/loadavg)"; return ;; esac  # e2e_tools speaks IPv4 only
  if selected connections; then log "round $round, $1: TCP connections per second"; connections "$1"; fi
  if selected latency; then log "round $round, $1: UDP round trips"; latency "$1"; fi
  put "$1.loadavg" "$(cut -d' ' -f1 /proc/loadavg)"
}

run_direct() { # plain forwarding: the outside is given a route back to the inside
  log "round $round, direct: plain forwarding, no NAT"
  ip -n "$OUT" route add 10.77.0.0/24 via 198.51.100.1
  reachable
  measure direct
  ip -n "$OUT" route del 10.77.0.0/24 via 198.51.100.1
}

run_kernel() {
  # nftables SNAT to the external address, answered by a proxy neighbour on wan0. The route
  # through a device other than wan0 makes the kernel answer ARP for it, as natgate0's route
  # does; a veth pair that goes nowhere stands in for the TUN (conntrack translates replies
  # back before routing, so they never take that route).
  log "round $round, kernel: nftables SNAT to 198.51.100.10"
  ip -n "$GW" link add nat0 type veth peer name nat1
  ip -n "$GW" link set nat0 up
  ip -n "$GW" link set nat1 up
  ip -n "$GW" route add 198.51.100.10/32 dev nat0
  ip -n "$GW" neigh add proxy 198.51.100.10 dev wan0
  inns "$GW" sysctl -qw net.ipv4.neigh.wan0.proxy_delay=0
  inns "$GW" nft -f - <<'NFT'
table ip nat {
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    ip saddr 10.77.0.0/24 oifname "wan0" snat to 198.51.100.10
  }
}
NFT
  reachable
  measure kernel
  if [ "$profile" = 1 ] && [ "$round" = "$rounds" ]; then
    # The same bulk runs as NatGate's profile, for the machine-wide comparison.
    profile_run kernel-tcp4 ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -P 4 -t "$seconds" --json
  fi
  inns "$GW" nft delete table ip nat
  ip -n "$GW" neigh del proxy 198.51.100.10 dev wan0
  ip -n "$GW" link del nat0
}

profile_run() { # name command...: perf record and perf stat on NatGate (when it runs) and on the whole machine while the command runs
  local name="$1" t0 rec="" st="" all; shift
  log "profile: $name"
  if [ -n "$natgate_pid" ]; then
    perf record -F 999 -g -p "$natgate_pid" -o "$raw/perf-$name.data" -- sleep "$seconds" >"$raw/perf-record-$name.log" 2>&1 &
    rec=$!
    perf stat -e raw_syscalls:sys_enter,context-switches,task-clock -p "$natgate_pid" -o "$raw/perf-stat-$name.txt" -- sleep "$seconds" &
    st=$!
  fi
  # The whole machine too, by command and by symbol: where the CPU went, in the kernel's
  # forwarding (the fast path's program, tc, policy routing, nftables) as much as in NatGate.
  perf record -F 499 -a -g -o "$raw/perf-all-$name.data" -- sleep "$seconds" >/dev/null 2>&1 &
  all=$!
  t0=$(link_counter "$GW" natgate0 rx packets 2>/dev/null || echo 0)
  "$@" >"$raw/profile-$name.out" 2>&1 || true
  wait $rec $st "$all" || true
  if [ -n "$natgate_pid" ]; then
    echo "TUN packets read: $(( $(link_counter "$GW" natgate0 rx packets) - t0 ))" >>"$raw/perf-stat-$name.txt"
    perf report -i "$raw/perf-$name.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null \
      | grep '%' | head -80 >"$raw/perf-flat-$name.txt" || true
    perf report -i "$raw/perf-$name.data" --no-children --sort sym --stdio -g caller,0.5,callee --percent-limit 2 2>/dev/null \
      | grep -v '^$' | head -400 >"$raw/perf-graph-$name.txt" || true
  fi
  perf report -i "$raw/perf-all-$name.data" --no-children --sort comm --stdio -g none 2>/dev/null \
    | grep '%' | head -20 >"$raw/perf-machine-$name.txt" || true
  perf report -i "$raw/perf-all-$name.data" --no-children --sort sym --stdio -g none 2>/dev/null \
    | grep '%' | head -60 >"$raw/perf-machine-sym-$name.txt" || true
}

# natgate_start LOG ARGS...: natgate run in the gateway with ARGS (and $NATGATE_ARGS), its log
# to LOG; returns when it translates. No limit per inside host, as nftables has none: the
# connections test leaves each client host with thousands of closed sessions in their four
# transitory minutes, past the default 4,096, which refused the rest of the run's flows from
# that host (connections failed, and the round trips that follow were all lost).
natgate_start() {
  local logfile="$1"; shift
  mkdir -p "$raw/control"
  # --profile: JIT frames get names in perf (a perf map, and W^X off so that the map's
  # addresses are the ones executed)
  env DOTNET_PerfMapEnabled="$profile" DOTNET_EnableWriteXorExecute="$((1 - profile))" \
    ip netns exec "$GW" dotnet "$dll" run "$@" --control "$raw/control" --max-sessions-per-host 0 ${NATGATE_ARGS:-} >"$logfile" 2>&1 &
  natgate_pid=$!
  for _ in $(seq 300); do
    grep -q "natgate running" "$logfile" && break
    kill -0 "$natgate_pid" 2>/dev/null || { cat "$logfile" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "natgate running" "$logfile" || { log "natgate did not start"; cat "$logfile" >&2; exit 1; }
  if [ -n "${NATGATE_RPS_CPUS:-}" ]; then
    # (ip netns exec mounts the namespace's own /sys, so this is the gateway's natgate0)
    inns "$GW" sh -c "for q in /sys/class/net/natgate0/queues/rx-*/rps_cpus; do echo $NATGATE_RPS_CPUS >\$q; done"
  fi
}

natgate_stop() { # SIGTERM, so it removes what it installed
  kill -TERM "$natgate_pid"
  wait "$natgate_pid" || log "natgate exited $?"
  natgate_pid=""
}

run_natgate() { # the kernel fast path on (the default), and required: no quiet fallback to the TUN
  log "round $round, natgate: natgate run --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0 ${NATGATE_ARGS:-}"
  natgate_start "$(tag natgate).log" --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0 --fast-path on
  reachable
  measure natgate
  inns "$GW" dotnet "$dll" stats --control "$raw/control" >"$(tag natgate)-stats.txt" 2>&1 || true
  inns "$GW" dotnet "$dll" fastpath --control "$raw/control" >"$(tag natgate)-fastpath.txt" 2>&1 || true
  if [ "$profile" = 1 ] && [ "$round" = "$rounds" ]; then
    # Extra runs after the measured ones, not counted in the figures.
    profile_run tcp ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -t "$seconds" --json
    profile_run tcp4 ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -P 4 -t "$seconds" --json
    profile_run udp ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -u -l 64 -b 0 -t "$seconds" --json
    profile_run cps connections natgate-profile
    rm -f "/tmp/perf-$natgate_pid.map" "/tmp/perfinfo-$natgate_pid.map"
  fi
  natgate_stop
}

run_tun() { # NatGate on the TUN path alone (--fast-path off): the fallback, and what the fast path gains
  log "round $round, tun: natgate run --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0 --fast-path off ${NATGATE_ARGS:-}"
  natgate_start "$(tag tun).log" --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0 --fast-path off
  reachable
  measure tun
  inns "$GW" dotnet "$dll" stats --control "$raw/control" >"$(tag tun)-stats.txt" 2>&1 || true
  natgate_stop
}

run_direct6() { # plain IPv6 forwarding: the outside is given a route back to the inside
  log "round $round, direct6: plain IPv6 forwarding, no NAT"
  ip -n "$OUT" -6 route add fd00:77::/64 via 2001:db8:100::1
  reachable 6
  measure direct6
  ip -n "$OUT" -6 route del fd00:77::/64 via 2001:db8:100::1
}

run_kernel6() {
  # The kernel's own NAT66: nftables masquerade to wan0's address (no proxy NDP needed).
  log "round $round, kernel6: nftables NAT66 masquerade"
  inns "$GW" nft -f - <<'NFT'
table ip6 nat {
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    ip6 saddr fd00:77::/64 oifname "wan0" masquerade
  }
}
NFT
  reachable 6
  measure kernel6
  inns "$GW" nft delete table ip6 nat
}

run_natgate6() {
  local rules="$raw/nat66.conf"
  # TCP and UDP with ports, ICMPv6 echo by identifier (the reachability check pings)
  printf '%s\n' "map wan0 fd00:77::/64 -> 2001:db8:100::10/128 portmap tcp/udp auto" \
    "map wan0 fd00:77::/64 -> 2001:db8:100::10/128" >"$rules"
  log "round $round, natgate6: natgate run --rules (NAT66 to 2001:db8:100::10) --outside-interface wan0 ${NATGATE_ARGS:-}"
  natgate_start "$(tag natgate6).log" --rules "$rules" --outside-interface wan0 --fast-path on
  reachable 6
  measure natgate6
  inns "$GW" dotnet "$dll" stats --control "$raw/control" >"$(tag natgate6)-stats.txt" 2>&1 || true
  natgate_stop
}

run_npt6() {
  local rules="$raw/npt6.conf"
  # Stateless NPTv6 (RFC 6296): the inside /64 to an external /64 the outside routes to wan0,
  # translated by the fast path's prefix map; no kernel counterpart (nftables has none stateless).
  printf '%s\n' "bimap wan0 fd00:77::/64 -> 2001:db8:101::/64" >"$rules"
  log "round $round, npt6: natgate run --rules (NPTv6 fd00:77::/64 to 2001:db8:101::/64) --outside-interface wan0 ${NATGATE_ARGS:-}"
  ip -n "$OUT" -6 route add 2001:db8:101::/64 via 2001:db8:100::1
  natgate_start "$(tag npt6).log" --rules "$rules" --outside-interface wan0 --fast-path on
  reachable 6
  measure npt6
  inns "$GW" dotnet "$dll" fastpath --control "$raw/control" >"$(tag npt6)-fastpath.txt" 2>&1 || true
  natgate_stop
  ip -n "$OUT" -6 route del 2001:db8:101::/64 via 2001:db8:100::1
}

run_reflector() {
  # DESIGN.md's no-op reflector: a TUN device (named natgate0, so the same counters apply)
  # whose reader writes every packet back unchanged; policy routing sends through it what
  # comes from the inside prefix on br0 and what goes to it from wan0, and the outside gets a
  # route back to the inside as for direct. Packets are forwarded twice (into the TUN, out of it), as with NatGate; only the
  # translation is missing. The ceiling of the TUN path on this machine, in the same run.
  local sysctl_all
  log "round $round, reflector: every packet through a TUN and back, untranslated"
  ip netns exec "$GW" "$tools" reflect natgate0 >"$(tag reflector).log" 2>&1 &
  natgate_pid=$!
  pids+=("$natgate_pid")
  for _ in $(seq 100); do
    grep -q "^reflecting" "$(tag reflector).log" && break
    sleep 0.1
  done
  grep -q "^reflecting" "$(tag reflector).log" || { log "the reflector did not start"; cat "$(tag reflector).log" >&2; exit 1; }
  sysctl_all="$(inns "$GW" sysctl -n net.ipv4.conf.all.rp_filter)"
  inns "$GW" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.natgate0.rp_filter=0
  ip -n "$GW" link set natgate0 up
  ip -n "$GW" route add default dev natgate0 table 177
  ip -n "$GW" rule add iif br0 from 10.77.0.0/24 lookup 177 pref 177
  ip -n "$GW" rule add iif wan0 to 10.77.0.0/24 lookup 177 pref 178
  ip -n "$OUT" route add 10.77.0.0/24 via 198.51.100.1
  reachable
  measure reflector
  ip -n "$OUT" route del 10.77.0.0/24 via 198.51.100.1
  ip -n "$GW" rule del pref 178
  ip -n "$GW" rule del pref 177
  kill "$natgate_pid"; wait "$natgate_pid" 2>/dev/null || true
  natgate_pid=""
  inns "$GW" sysctl -qw net.ipv4.conf.all.rp_filter="$sysctl_all"
}

run_slirp4netns() {
  local sl="${prefix}sl" saved1="$IN1" saved2="$IN2" slirp_pid
  log "round $round, slirp4netns: user-space NAT through a TAP device"
  ip netns add "$sl"
  namespaces+=("$sl")
  ip -n "$sl" link set lo up
  inns "$GW" slirp4netns --configure --mtu=65520 --disable-host-loopback --netns-type=path "/run/netns/$sl" tap0 \
    >"$(tag slirp4netns).log" 2>&1 &
  slirp_pid=$!
  pids+=("$slirp_pid")
  for _ in $(seq 100); do
    ip -n "$sl" route 2>/dev/null | grep -q '^default' && break
    sleep 0.1
  done
  IN1="$sl"; IN2="$sl"
  reachable
  measure slirp4netns
  IN1="$saved1"; IN2="$saved2"
  kill "$slirp_pid"; wait "$slirp_pid" 2>/dev/null || true
  ip netns delete "$sl"
}

# Rounds alternate the order (direct kernel natgate, then natgate kernel direct, ...) so a
# drift in the machine's load does not always favour the same configuration.
order=($modes)
for round in $(seq "$rounds"); do
  for mode in "${order[@]}"; do
    "run_$mode"
  done
  order=($(printf '%s\n' "${order[@]}" | tac))
done

# ---------------------------------------------------------------- the table
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), .NET $(dotnet --version), $(iperf3 --version | head -1 | cut -d' ' -f1-2)"
python3 - "$values" "$seconds" "$machine" "$stamp" "$rounds" <<'PY' | tee "$results"
import statistics, sys
from collections import defaultdict
entries = defaultdict(dict)  # key -> {round: value}
for line in open(sys.argv[1]):
    key, value, rnd = line.split()
    entries[key][int(rnd)] = float(value)
seconds, machine, stamp, rounds = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
modes = ("direct", "kernel", "natgate")
modes6 = ("direct6", "kernel6", "natgate6")
def measured(mode):
    return any(k.startswith(mode + ".") for k in entries)
has4, has6 = any(measured(m) for m in modes), any(measured(m) for m in modes6)
others = tuple(m for m in ("tun", "reflector", "slirp4netns") if any(k.startswith(m + ".") for k in entries))

def v(mode, key, rnd=None):
    found = entries.get(f"{mode}.{key}")
    if not found:
        return None
    if rnd is not None:
        return found.get(rnd)
    return statistics.median(found.values())

def fmt(x, digits=2):
    return "n/a" if x is None else f"{x:,.{digits}f}"

rows = []
def row(name, key, scale=1.0, digits=2, target=None):
    d, k, n = (v(m, key) for m in modes)
    d, k, n = (None if x is None else x * scale for x in (d, k, n))
    ratio = None if not k or n is None else n / k
    met = ""
    if target is not None and ratio is not None:
        met = "yes" if ratio >= target else "**no**"
    rows.append((name, fmt(d, digits), fmt(k, digits), fmt(n, digits),
                 fmt(ratio, 2) + "x" if ratio is not None else "", f">= {target}x" if target else "", met))

# Issue 13's targets (NatGate / kernel).
row("bulk TCP, 1 stream (Gbit/s)", "tcp1.gbps", target=1.0)
row("bulk TCP, 4 streams (Gbit/s)", "tcp4.gbps", target=1.0)
row("small UDP, 64 B payload (kpps received)", "udp.pps", 1e-3, 1, target=1.0)
row("TCP connections/s, 2 hosts x 2 clients", "cps", 1, 0, target=0.8)
row("UDP round trip, median (µs)", "rtt.median", 1, 1)
row("UDP round trip, p99 (µs)", "rtt.p99", 1, 1)

def added(stat, mode, rnd=None):
    d, x = v("direct", f"rtt.{stat}", rnd), v(mode, f"rtt.{stat}", rnd)
    return None if d is None or x is None else x - d
def added_median_of_rounds(stat, mode):
    found = [added(stat, mode, r) for r in range(1, rounds + 1)]
    found = [x for x in found if x is not None]
    return statistics.median(found) if found else None
km, nm = added_median_of_rounds("median", "kernel"), added_median_of_rounds("median", "natgate")
kp, np_ = added_median_of_rounds("p99", "kernel"), added_median_of_rounds("p99", "natgate")
rows.append(("added latency vs the direct configuration, median (µs)", "0", fmt(km, 1), fmt(nm, 1),
             f"{nm - km:+.1f} µs" if km is not None and nm is not None else "", "", ""))
rows.append(("added latency vs the direct configuration, p99 (µs)", "0", fmt(kp, 1), fmt(np_, 1),
             f"{np_ - kp:+.1f} µs" if kp is not None and np_ is not None else "", "", ""))
def paired(stat, mode, rnd=None):
    x, p = v(mode, f"rtt.{stat}", rnd), v(mode, f"pair.{stat}", rnd)
    return None if x is None or p is None else x - p
def paired_of_rounds(stat, mode):
    found = [paired(stat, mode, r) for r in range(1, rounds + 1)]
    found = [x for x in found if x is not None]
    return statistics.median(found) if found else None
pd, pk, pn = (paired_of_rounds("median", m) for m in modes)
rows.append(("added latency vs in3's plain path at the same moments, median (µs)", fmt(pd, 1), fmt(pk, 1), fmt(pn, 1),
             f"{pn - pk:+.1f} µs" if pk is not None and pn is not None else "", "< kernel + 5 µs",
             "" if pn is None or pk is None else ("yes" if pn - pk < 5 else "**no**")))
pd, pk, pn = (paired_of_rounds("p99", m) for m in modes)
rows.append(("added latency vs in3's plain path at the same moments, p99 (µs)", fmt(pd, 1), fmt(pk, 1), fmt(pn, 1),
             f"{pn - pk:+.1f} µs" if pk is not None and pn is not None else "", "", ""))

def per_gb(mode, key):
    total = sum(sum(entries.get(f"{mode}.tcp{s}.{key}", {}).values()) for s in (1, 4))
    gb = sum(sum(entries.get(f"{mode}.tcp{s}.gb", {}).values()) for s in (1, 4))
    return total / gb if gb else None
for name, key in (("CPU, whole machine, s/GB (bulk TCP)", "cpu"), ("  of which softirq, s/GB", "softirq")):
    d, k, n = (per_gb(m, key) for m in modes)
    whole = key == "cpu"
    rows.append((name, fmt(d, 3), fmt(k, 3), fmt(n, 3), fmt(n / k, 2) + "x" if k and n else "",
                 "<= 1.0x" if whole else "", ("yes" if n <= k else "**no**") if whole and k and n else ""))
n = per_gb("natgate", "proc")
rows.append(("CPU, NatGate process, s/GB (bulk TCP)", "", "", fmt(n, 3), "", "", ""))

header = ("figure", "direct (no NAT)", "kernel nft SNAT", "NatGate", "NatGate / kernel", "target", "met")
print(f"# NatGate end to end, {stamp} UTC")
print()
print(f"Machine: {machine}")
print(f"Each test {seconds} s; {rounds} round(s), the table gives the median over rounds. Load average (1 min) after each")
print("configuration, by round: " + "; ".join(
    ", ".join(f"{m} {fmt(v(m, 'loadavg', r), 2)}" for m in modes + others + modes6 + ("npt6",) if v(m, 'loadavg', r) is not None)
    for r in range(1, rounds + 1)))
print()
if has4:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * 4 + ["---"] * 2) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
for other in others:
    # Another user-space NAT on the same lab (its clients in a namespace of its own).
    print(f"| figure | {other} | {other} / kernel | NatGate / {other} |")
    print("|---|---:|---:|---:|")
    for name, key, scale, digits in (("bulk TCP, 1 stream (Gbit/s)", "tcp1.gbps", 1.0, 2), ("bulk TCP, 4 streams (Gbit/s)", "tcp4.gbps", 1.0, 2),
                                     ("small UDP, 64 B payload (kpps received)", "udp.pps", 1e-3, 1), ("TCP connections/s", "cps", 1.0, 0),
                                     ("UDP round trip, median (µs)", "rtt.median", 1.0, 1), ("UDP round trip, p99 (µs)", "rtt.p99", 1.0, 1)):
        o, k, n = v(other, key), v("kernel", key), v("natgate", key)
        print(f"| {name} | {fmt(o and o * scale, digits)} | {fmt(o / k, 2) + 'x' if o and k else ''} | {fmt(n / o, 2) + 'x' if o and n else ''} |")
    added_other = added_median_of_rounds("median", other)
    print(f"| added latency vs direct, median (µs) | {fmt(added_other, 1)} | | |")
    print(f"| added latency vs in3's plain path at the same moments, median (µs) | {fmt(paired_of_rounds('median', other), 1)} | | |")
    c, nc = per_gb(other, "cpu"), per_gb("natgate", "cpu")
    print(f"| CPU, whole machine, s/GB (bulk TCP) | {fmt(c, 3)} | {fmt(c / per_gb('kernel', 'cpu'), 2) + 'x' if c and per_gb('kernel', 'cpu') else ''} | {fmt(nc / c, 2) + 'x' if c and nc else ''} |")
    if other in ("reflector", "tun"):
        c, nc = per_gb(other, "proc"), per_gb("natgate", "proc")
        print(f"| CPU, the process, s/GB (bulk TCP) | {fmt(c, 3)} | | {fmt(nc / c, 2) + 'x' if c and nc else ''} |")
    print()
if rounds > 1 and has4:
    print("NatGate / kernel by round: " + "; ".join(
        f"round {r}: " + ", ".join(
            f"{label} {fmt(v('natgate', key, r) / v('kernel', key, r), 2)}x"
            for label, key in (("TCP 1", "tcp1.gbps"), ("TCP 4", "tcp4.gbps"), ("UDP", "udp.pps"), ("conn/s", "cps"))
            if v('natgate', key, r) and v('kernel', key, r))
        + f", added median {fmt(added('median', 'natgate', r), 1)} µs (kernel {fmt(added('median', 'kernel', r), 1)} µs)"
        + f", paired {fmt(paired('median', 'natgate', r), 1)} µs (kernel {fmt(paired('median', 'kernel', r), 1)} µs)"
        for r in range(1, rounds + 1)))
    print()
# The IPv6 tables' rows: name, key, scale, digits.
figures6 = (("bulk TCP, 1 stream (Gbit/s)", "tcp1.gbps", 1.0, 2), ("bulk TCP, 4 streams (Gbit/s)", "tcp4.gbps", 1.0, 2),
            ("small UDP, 64 B payload (kpps received)", "udp.pps", 1e-3, 1))
if has6:
    # IPv6 (--ipv6): the same lab's IPv6 half, NAT66 in NatGate and in the kernel.
    print("IPv6: NatGate's NAT66 beside the kernel's nftables NAT66 (`table ip6 nat`, masquerade) and plain IPv6 forwarding")
    print()
    print("| figure | direct6 (no NAT) | kernel nft NAT66 masquerade | NatGate NAT66 | NatGate / kernel |")
    print("|---|---:|---:|---:|---:|")
    for name, key, scale, digits in figures6:
        d, k, n = (None if v(m, key) is None else v(m, key) * scale for m in modes6)
        print(f"| {name} | {fmt(d, digits)} | {fmt(k, digits)} | {fmt(n, digits)} | {fmt(n / k, 2) + 'x' if k and n else ''} |")
    d, k, n = (per_gb(m, "cpu") for m in modes6)
    print(f"| CPU, whole machine, s/GB (bulk TCP) | {fmt(d, 3)} | {fmt(k, 3)} | {fmt(n, 3)} | {fmt(n / k, 2) + 'x' if k and n else ''} |")
    print(f"| CPU, NatGate process, s/GB (bulk TCP) | | | {fmt(per_gb('natgate6', 'proc'), 3)} | |")
    print()
if measured("npt6"):
    # Stateless NPTv6 in the fast path's prefix map, beside plain IPv6 forwarding and NAT66.
    print("NatGate NPTv6 (stateless, RFC 6296), beside plain IPv6 forwarding and the kernel's NAT66")
    print()
    print("| figure | NatGate NPTv6 | NPTv6 / direct6 | NPTv6 / kernel NAT66 |")
    print("|---|---:|---:|---:|")
    for name, key, scale, digits in figures6:
        n, d, k = (None if v(m, key) is None else v(m, key) * scale for m in ("npt6", "direct6", "kernel6"))
        print(f"| {name} | {fmt(n, digits)} | {fmt(n / d, 2) + 'x' if d and n else ''} | {fmt(n / k, 2) + 'x' if k and n else ''} |")
    n, d, k = (per_gb(m, "cpu") for m in ("npt6", "direct6", "kernel6"))
    print(f"| CPU, whole machine, s/GB (bulk TCP) | {fmt(n, 3)} | {fmt(n / d, 2) + 'x' if d and n else ''} | {fmt(n / k, 2) + 'x' if k and n else ''} |")
    print()
    if rounds > 1:
        print("NatGate NAT66 / kernel NAT66 by round: " + "; ".join(
            f"round {r}: " + ", ".join(
                f"{label} {fmt(v('natgate6', key, r) / v('kernel6', key, r), 2)}x"
                for label, key in (("TCP 1", "tcp1.gbps"), ("TCP 4", "tcp4.gbps"), ("UDP", "udp.pps"))
                if v('natgate6', key, r) and v('kernel6', key, r))
            for r in range(1, rounds + 1)))
        print()
notes = []
def total(mode, key):
    found = entries.get(f"{mode}.{key}")
    return None if not found else sum(found.values())
for m in (m for m in modes + others if has4):
    sent = v(m, "udp.sentpps")
    notes.append(f"- {m}: small UDP sent {fmt(sent and sent / 1e3, 1)} kpps (median); TCP connections failed "
                 f"{fmt(total(m, 'cps.failed'), 0)}, SYNs refused by PAWS at the server {fmt(total(m, 'cps.paws'), 0)}; UDP round trips lost {fmt(total(m, 'rtt.lost'), 0)} of {2000 * rounds}")
for m in (m for m in modes6 if measured(m)):
    sent = v(m, "udp.sentpps")
    notes.append(f"- {m}: small UDP sent {fmt(sent and sent / 1e3, 1)} kpps (median)")
notes.append("- TCP retransmissions by the sender (median, 1 / 4 streams): " + ", ".join(
    f"{m} {fmt(v(m, 'tcp1.retrans'), 0)} / {fmt(v(m, 'tcp4.retrans'), 0)}" for m in modes + modes6 if measured(m)))
for m, s in ((m, s) for m in ("natgate", "tun", "reflector", "natgate6") for s in (1, 4)):
    tp, tb = total(m, f"tcp{s}.tunpackets"), total(m, f"tcp{s}.tunbytes")
    if tp:
        runs = len(entries[f"{m}.tcp{s}.tunpackets"])
        notes.append(f"- {m}, bulk TCP {s} stream(s): {fmt(tp / runs / float(seconds) / 1e3, 0)} kpps read from the TUN "
                     f"(each also written back), average {fmt(tb / tp, 0)} bytes a packet; "
                     f"{fmt(total(m, f'tcp{s}.tundrops') / runs, 0)} packets a run dropped by the kernel for a full TUN queue; "
                     f"its threads waited {fmt(total(m, f'tcp{s}.rundelay') / runs, 2)} s a run for a CPU")
print("\n".join(notes))
print()
print("CPU: /proc/stat busy time (user+nice+system+irq+softirq+steal) of the whole machine over the bulk TCP runs, divided")
print("by the bytes the gateway sent on wan0; it includes both iperf3 ends, the veths and the bridge, not only the gateway,")
print("and anything else the machine ran meanwhile. The NatGate process figure is utime+stime of the daemon (all threads,")
print("its syscalls included; the softirq work its writes cause is partly charged to it, partly to softirq).")
PY
log "results: $results (raw data in $raw)"
