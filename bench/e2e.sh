#!/usr/bin/env bash
# bench/e2e.sh: NatGate beside the kernel's own NAT, on the same namespace lab, in the same run.
#
#   sudo bench/e2e.sh [-t SECONDS] [-o RESULTS_FILE] [--no-build] [--profile] [--modes "direct kernel natgate"]
#
# The lab (the topology of tests/NatGate.EndToEnd.Tests/GatewayLab.cs, in namespaces named
# with a random per-run prefix, all deleted at exit):
#
#   in1 10.77.0.2 ─┐
#                  br0 (10.77.0.1) gw (198.51.100.1 on wan0) ── out 198.51.100.2
#   in2 10.77.0.3 ─┘
#
# Three configurations of the gateway namespace, measured one after the other:
#   direct   plain forwarding, no NAT (the outside gets a route to 10.77.0.0/24): the baseline
#            that "added latency" is measured against
#   kernel   nftables SNAT to 198.51.100.10 in postrouting, the address answered by a proxy
#            neighbour on wan0 (as NatGate does), ip_forward=1
#   natgate  natgate run --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0
# In kernel and natgate the outside has no route to the inside, so every answer is NAT's work.
#
# Figures: bulk TCP (iperf3, 1 and 4 streams, Gbit/s at the receiver); small UDP (iperf3 -u
# -l 64 -b 0, packets per second received by the server); TCP connections per second (both
# inside hosts, e2e_tools tcpcli: connect, read to EOF, close); UDP request/response round
# trip (median, p99) and what each NAT adds to the direct path; CPU per GB during bulk TCP
# (whole machine from /proc/stat, and the NatGate process from /proc/PID/stat).
# --profile adds a perf record and a syscall count on the NatGate process, in extra runs
# after the measured ones (so they do not disturb the figures).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

seconds=10
results=""
build=1
profile=0
modes="direct kernel natgate"
while [ $# -gt 0 ]; do
  case "$1" in
    -t|--time) seconds="$2"; shift 2 ;;
    -o|--out) results="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --profile) profile=1; shift ;;
    --modes) modes="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "e2e.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "e2e.sh: needs root (network namespaces, a TUN device)" >&2
  exit 1
fi
need=()
for tool in ip:iproute2 nft:nftables iperf3:iperf3 python3:python3 cc:gcc; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
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
IN1="${prefix}in1"; IN2="${prefix}in2"; GW="${prefix}gw"; OUT="${prefix}out"
namespaces=()
pids=()
natgate_pid=""

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$natgate_pid" ] && kill -0 "$natgate_pid" 2>/dev/null; then
    kill -TERM "$natgate_pid"; wait "$natgate_pid" 2>/dev/null
  fi
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null
  done
  for ns in "${namespaces[@]}"; do
    ip netns delete "$ns" 2>/dev/null
  done
  [ -n "${tools:-}" ] && rm -rf "$(dirname "$tools")"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '[e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
inns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------- build
dll="$root/src/NatGate/bin/Release/net10.0/natgate.dll"
if [ "$build" = 1 ]; then
  log "building NatGate (Release)"
  dotnet build "$root/src/NatGate/NatGate.csproj" -c Release -v q -nologo >"$raw/build.log" 2>&1 \
    || { cat "$raw/build.log" >&2; exit 1; }
fi
[ -f "$dll" ] || { echo "e2e.sh: $dll is missing (build first or drop --no-build)" >&2; exit 1; }
tools="$(mktemp -d /tmp/ngb-tools-XXXXXX)/e2e_tools"
cc -O2 -Wall -o "$tools" "$here/e2e_tools.c"

# ---------------------------------------------------------------- the lab
log "building the lab, prefix $prefix"
for ns in "$IN1" "$IN2" "$GW" "$OUT"; do
  ip netns add "$ns"
  namespaces+=("$ns")
  ip -n "$ns" link set lo up
done
connect() { # left left-if left-addr right right-if [right-addr]
  local temporary="${prefix}t$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
  ip -n "$1" link add "$2" type veth peer name "$temporary" netns "$4"
  ip -n "$4" link set "$temporary" name "$5"
  ip -n "$1" addr add "$3" dev "$2"
  [ -z "${6:-}" ] || ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}
ip -n "$GW" link add br0 type bridge
ip -n "$GW" addr add 10.77.0.1/24 dev br0
ip -n "$GW" link set br0 up
connect "$IN1" eth0 10.77.0.2/24 "$GW" lan1
connect "$IN2" eth0 10.77.0.3/24 "$GW" lan2
ip -n "$GW" link set lan1 master br0
ip -n "$GW" link set lan2 master br0
connect "$OUT" eth0 198.51.100.2/24 "$GW" wan0 198.51.100.1/24
ip -n "$IN1" route add default via 10.77.0.1
ip -n "$IN2" route add default via 10.77.0.1
inns "$GW" sysctl -qw net.ipv4.ip_forward=1

# Servers in the outside namespace, shared by every configuration.
# (ip netns exec execs the program, so $! is the server's own process id)
ip netns exec "$OUT" iperf3 -s -B 198.51.100.2 -p 5201 >"$raw/iperf3-server.log" 2>&1 &
pids+=($!)
# One connection server port per configuration: the server keeps TIME_WAIT for the
# connections of one configuration (60 s), and a later configuration that picks the same
# external port would meet them (its SYN, with another host's timestamps, answered by an ACK).
declare -A cps_port=([direct]=5301 [kernel]=5302 [natgate]=5303)
for port in "${cps_port[@]}"; do
  ip netns exec "$OUT" "$tools" tcpsrv "$port" >>"$raw/tcpsrv.log" 2>&1 &
  pids+=($!)
done
ip netns exec "$OUT" "$tools" udpecho 5401 >"$raw/udpecho.log" 2>&1 &
pids+=($!)
sleep 0.5

# ---------------------------------------------------------------- measuring
values="$raw/values"
: >"$values"
put() { echo "$1 $2" >>"$values"; }

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
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

bulk() { # mode streams
  local mode="$1" streams="$2" file="$raw/$1-tcp-P$2.json"
  local c0 s0 n0 b0 t0 p0 c1 s1 n1 b1 t1 p1
  c0=$(cpu_busy); s0=$(cpu_softirq); n0=$(process_cpu "$natgate_pid"); b0=$(link_counter "$GW" wan0 tx bytes)
  if [ "$mode" = natgate ]; then t0=$(link_counter "$GW" natgate0 rx packets); p0=$(link_counter "$GW" natgate0 rx bytes); fi
  timeout $((seconds + 30)) ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -t "$seconds" -O 1 -P "$streams" --json >"$file" \
    || { log "iperf3 failed ($mode, $streams streams)"; cat "$file" >&2; return 1; }
  c1=$(cpu_busy); s1=$(cpu_softirq); n1=$(process_cpu "$natgate_pid"); b1=$(link_counter "$GW" wan0 tx bytes)
  put "$mode.tcp$streams.gbps" "$(json "$file" "d['end']['sum_received']['bits_per_second']/1e9")"
  put "$mode.tcp$streams.gb" "$(python3 -c "print(($b1-$b0)/1e9)")"
  put "$mode.tcp$streams.cpu" "$(python3 -c "print($c1-$c0)")"
  put "$mode.tcp$streams.softirq" "$(python3 -c "print($s1-$s0)")"
  put "$mode.tcp$streams.proc" "$(python3 -c "print($n1-$n0)")"
  if [ "$mode" = natgate ]; then
    t1=$(link_counter "$GW" natgate0 rx packets); p1=$(link_counter "$GW" natgate0 rx bytes)
    put "$mode.tcp$streams.tunpackets" "$((t1 - t0))"
    put "$mode.tcp$streams.tunbytes" "$((p1 - p0))"
  fi
}

small_udp() { # mode
  local mode="$1" file="$raw/$1-udp64.json"
  timeout $((seconds + 30)) ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -u -l 64 -b 0 -t "$seconds" --json >"$file" \
    || { log "iperf3 -u failed ($mode)"; cat "$file" >&2; return 1; }
  # end.sum: packets sent by the client, lost_packets as the server counted them.
  put "$mode.udp.sentpps" "$(json "$file" "d['end']['sum']['packets']/d['end']['sum']['seconds']")"
  put "$mode.udp.pps" "$(json "$file" "(d['end']['sum']['packets']-d['end']['sum']['lost_packets'])/d['end']['sum']['seconds']")"
}

connections() { # mode
  local mode="$1" a b
  a="$raw/$1-cps-in1.txt"; b="$raw/$1-cps-in2.txt"
  timeout $((seconds + 30)) ip netns exec "$IN1" "$tools" tcpcli 198.51.100.2 "${cps_port[$mode]}" "$seconds" 2 >"$a" &
  local first=$!
  timeout $((seconds + 30)) ip netns exec "$IN2" "$tools" tcpcli 198.51.100.2 "${cps_port[$mode]}" "$seconds" 2 >"$b"
  wait "$first"
  put "$mode.cps" "$(cat "$a" "$b" | awk -v s="$seconds" '{n+=$1} END{print n/s}')"
  put "$mode.cps.failed" "$(cat "$a" "$b" | awk '{n+=$2} END{print n}')"
}

latency() { # mode
  local mode="$1" line
  inns "$IN1" "$tools" udpping 198.51.100.2 5401 20 1000 >/dev/null || true # open the session, warm up
  line=$(inns "$IN1" "$tools" udpping 198.51.100.2 5401 2000 1000)
  echo "$line" >"$raw/$mode-udpping.txt"
  read -r answered lost min median p90 p99 <<<"$line"
  put "$mode.rtt.median" "$median"; put "$mode.rtt.p99" "$p99"; put "$mode.rtt.lost" "$lost"
}

reachable() { # the path works before it is measured
  inns "$IN1" "$tools" udpping 198.51.100.2 5401 5 10000 >/dev/null \
    && inns "$IN2" "$tools" udpping 198.51.100.2 5401 5 10000 >/dev/null \
    || { log "the outside server is not reachable through the gateway"; return 1; }
}

measure() { # mode
  log "$1: bulk TCP, 1 stream"; bulk "$1" 1
  log "$1: bulk TCP, 4 streams"; bulk "$1" 4
  log "$1: small UDP"; small_udp "$1"
  log "$1: TCP connections per second"; connections "$1"
  log "$1: UDP round trips"; latency "$1"
  put "$1.loadavg" "$(cut -d' ' -f1 /proc/loadavg)"
}

has_mode() { [[ " $modes " == *" $1 "* ]]; }

if has_mode direct; then
# direct: plain forwarding
log "direct: plain forwarding, no NAT"
ip -n "$OUT" route add 10.77.0.0/24 via 198.51.100.1
reachable
measure direct
ip -n "$OUT" route del 10.77.0.0/24 via 198.51.100.1
fi

if has_mode kernel; then
# kernel: nftables SNAT to the external address, answered by a proxy neighbour on wan0 (the
# route through a device other than wan0 makes the kernel answer ARP for it, as natgate0's
# route does; a veth pair that goes nowhere stands in for the TUN, since replies are
# translated back by conntrack before routing and never take that route)
log "kernel: nftables SNAT to 198.51.100.10"
ip -n "$GW" link add nat0 type veth peer name nat1
ip -n "$GW" link set nat0 up
ip -n "$GW" link set nat1 up
ip -n "$GW" route add 198.51.100.10/32 dev nat0
ip -n "$GW" neigh add proxy 198.51.100.10 dev wan0
inns "$GW" sysctl -qw net.ipv4.neigh.wan0.proxy_delay=0
inns "$GW" nft -f - <<'EOF'
table ip nat {
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    ip saddr 10.77.0.0/24 oifname "wan0" snat to 198.51.100.10
  }
}
EOF
reachable
measure kernel
inns "$GW" nft delete table ip nat
ip -n "$GW" neigh del proxy 198.51.100.10 dev wan0
ip -n "$GW" link del nat0
fi

if has_mode natgate; then
log "natgate: natgate run --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0"
mkdir -p "$raw/control"
# --profile: JIT frames get names in perf (a perf map, and W^X off so the map's addresses are the ones executed)
env DOTNET_PerfMapEnabled="$profile" DOTNET_EnableWriteXorExecute="$((1 - profile))" \
  ip netns exec "$GW" dotnet "$dll" run --inside 10.77.0.0/24 --external 198.51.100.10 \
  --outside-interface wan0 --control "$raw/control" >"$raw/natgate.log" 2>&1 &
natgate_pid=$!
for _ in $(seq 300); do
  grep -q "natgate running" "$raw/natgate.log" && break
  kill -0 "$natgate_pid" 2>/dev/null || { cat "$raw/natgate.log" >&2; exit 1; }
  sleep 0.1
done
grep -q "natgate running" "$raw/natgate.log" || { log "natgate did not start"; cat "$raw/natgate.log" >&2; exit 1; }
reachable
measure natgate
inns "$GW" dotnet "$dll" stats --control "$raw/control" >"$raw/natgate-stats.txt" 2>&1 || true

if [ "$profile" = 1 ]; then
  # Extra runs, not counted in the figures: perf record (call graphs; JIT frames named through
  # DOTNET_PerfMapEnabled) and perf stat (syscalls, context switches) on the NatGate process.
  profile_run() { # name command...
    local name="$1" t0 rec st; shift
    log "profile: $name"
    perf record -F 999 -g -p "$natgate_pid" -o "$raw/perf-$name.data" -- sleep "$seconds" >"$raw/perf-record-$name.log" 2>&1 &
    rec=$!
    perf stat -e raw_syscalls:sys_enter,context-switches,task-clock -p "$natgate_pid" -o "$raw/perf-stat-$name.txt" -- sleep "$seconds" &
    st=$!
    t0=$(link_counter "$GW" natgate0 rx packets)
    "$@" >"$raw/profile-$name.out" 2>&1 || true
    wait "$rec" "$st" || true
    echo "TUN packets read: $(( $(link_counter "$GW" natgate0 rx packets) - t0 ))" >>"$raw/perf-stat-$name.txt"
    perf report -i "$raw/perf-$name.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null \
      | grep '%' | head -60 >"$raw/perf-flat-$name.txt" || true
    perf report -i "$raw/perf-$name.data" --no-children --sort sym --stdio -g caller,0.5,callee --percent-limit 2 2>/dev/null \
      | grep -v '^$' | head -300 >"$raw/perf-graph-$name.txt" || true
  }
  profile_run tcp ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -t "$seconds" --json
  profile_run udp ip netns exec "$IN1" iperf3 -c 198.51.100.2 -p 5201 -u -l 64 -b 0 -t "$seconds" --json
  profile_run cps ip netns exec "$IN1" "$tools" tcpcli 198.51.100.2 "${cps_port[natgate]}" "$seconds" 2
  rm -f "/tmp/perf-$natgate_pid.map" "/tmp/perfinfo-$natgate_pid.map"
fi

kill -TERM "$natgate_pid"
wait "$natgate_pid" || log "natgate exited $?"
natgate_pid=""
fi

# ---------------------------------------------------------------- the table
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), .NET $(dotnet --version), $(iperf3 --version | head -1 | cut -d' ' -f1-2)"
python3 - "$values" "$seconds" "$machine" "$stamp" <<'EOF' | tee "$results"
import sys
values = {}
for line in open(sys.argv[1]):
    key, value = line.split()
    values[key] = float(value)
seconds, machine, stamp = sys.argv[2], sys.argv[3], sys.argv[4]
v = lambda mode, key: values.get(f"{mode}.{key}")

def fmt(x, digits=2):
    return "n/a" if x is None else f"{x:,.{digits}f}"

rows = []
def row(name, key, scale=1.0, digits=2, target=None, higher=True):
    d, k, n = (v(m, key) for m in ("direct", "kernel", "natgate"))
    d, k, n = (None if x is None else x * scale for x in (d, k, n))
    ratio = None if not k or n is None else n / k
    met = ""
    if target is not None and ratio is not None:
        met = "yes" if ratio >= target else "**no**"
    rows.append((name, fmt(d, digits), fmt(k, digits), fmt(n, digits),
                 fmt(ratio, 2) + "x" if ratio is not None else "", f">= {target}x" if target else "", met))

row("bulk TCP, 1 stream (Gbit/s)", "tcp1.gbps", target=0.8)
row("bulk TCP, 4 streams (Gbit/s)", "tcp4.gbps", target=0.8)
row("small UDP, 64 B payload (kpps received)", "udp.pps", 1e-3, 1, target=0.5)
row("TCP connections/s, 2 hosts x 2 clients", "cps", 1, 0, target=0.5)
row("UDP round trip, median (µs)", "rtt.median", 1, 1)
row("UDP round trip, p99 (µs)", "rtt.p99", 1, 1)

def added(stat):
    d = v("direct", f"rtt.{stat}")
    k, n = (None if d is None or v(m, f"rtt.{stat}") is None else v(m, f"rtt.{stat}") - d for m in ("kernel", "natgate"))
    return k, n
km, nm = added("median")
kp, np_ = added("p99")
rows.append(("added latency vs direct, median (µs)", "0", fmt(km, 1), fmt(nm, 1),
             f"+{fmt(nm - km, 1)} µs" if km is not None and nm is not None else "", "NatGate < 30 µs",
             "" if nm is None else ("yes" if nm < 30 else "**no**")))
rows.append(("added latency vs direct, p99 (µs)", "0", fmt(kp, 1), fmt(np_, 1),
             f"+{fmt(np_ - kp, 1)} µs" if kp is not None and np_ is not None else "", "", ""))

def per_gb(mode, key):
    total = sum(v(mode, f"tcp{s}.{key}") or 0 for s in (1, 4))
    gb = sum(v(mode, f"tcp{s}.gb") or 0 for s in (1, 4))
    return total / gb if gb else None
for name, key in (("CPU, whole machine, s/GB (bulk TCP)", "cpu"), ("  of which softirq, s/GB", "softirq")):
    d, k, n = (per_gb(m, key) for m in ("direct", "kernel", "natgate"))
    rows.append((name, fmt(d, 3), fmt(k, 3), fmt(n, 3), fmt(n / k, 2) + "x" if k and n else "", "", ""))
n = per_gb("natgate", "proc")
rows.append(("CPU, NatGate process, s/GB (bulk TCP)", "", "", fmt(n, 3), "", "", ""))

header = ("figure", "direct (no NAT)", "kernel nft SNAT", "NatGate", "NatGate / kernel", "target", "met")
print(f"# NatGate end to end, {stamp} UTC")
print()
print(f"Machine: {machine}")
print(f"Each test {seconds} s; load average after each configuration: " +
      ", ".join(f"{m} {fmt(v(m, 'loadavg'), 2)}" for m in ("direct", "kernel", "natgate")))
print()
print("| " + " | ".join(header) + " |")
print("|" + "|".join(["---"] + ["---:"] * 4 + ["---"] * 2) + "|")
for r in rows:
    print("| " + " | ".join(r) + " |")
print()
notes = []
for m in ("direct", "kernel", "natgate"):
    sent = v(m, "udp.sentpps")
    failed = v(m, "cps.failed")
    lost = v(m, "rtt.lost")
    notes.append(f"- {m}: small UDP sent {fmt(sent and sent / 1e3, 1)} kpps; TCP connections failed {fmt(failed, 0)}; UDP round trips lost {fmt(lost, 0)} of 2000")
tp, tb = v("natgate", "tcp1.tunpackets"), v("natgate", "tcp1.tunbytes")
if tp:
    notes.append(f"- natgate, bulk TCP 1 stream: {fmt(tp / float(seconds) / 1e3, 0)} kpps read from the TUN (each also written back), average {fmt(tb / tp, 0)} bytes a packet")
print("\n".join(notes))
print()
print("CPU: /proc/stat busy time (user+nice+system+irq+softirq+steal) of the whole machine over both bulk TCP runs, divided by")
print("the bytes the gateway sent on wan0; it includes both iperf3 ends, the veths and the bridge, not only the gateway. The")
print("NatGate process figure is utime+stime of the daemon (all threads, syscalls included, not the softirq work it causes).")
EOF
log "results: $results (raw data in $raw)"
