#!/usr/bin/env bash
# bench/pressure.sh: two figures for issue 10, measured end to end: what the inside loses
# while the outside floods a busy mapping with spoofed packets, and while 200 unprivileged
# session listings run at once.
#
#   sudo bench/pressure.sh [--no-build] [-o RESULTS_FILE]
#
# The lab (in network namespaces named with a random per-run prefix, all deleted at exit,
# also on failure and Ctrl-C; nothing is added to the root namespace):
#
#   in1 10.77.0.2 ─┐
#                  br0 (10.77.0.1) gw (198.51.100.1 on wan0) ── out 198.51.100.2
#   in2 10.77.0.3 ─┘
#
# natgate run --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0 runs in
# gw, with its control sockets in a fresh directory under /tmp (mode 755, so that user nobody
# reaches control.ro.sock) and --metrics 127.0.0.1:9469 (gw's own loopback). The outside has
# no route to the inside: every answer is NatGate's work. gw has a default route via out, as a
# gateway has towards the Internet, so that packets from arbitrary sources pass its reverse
# path filter and reach NatGate. A python UDP echo server listens on out, port 7007; in1's
# probe sends 20,000 numbered requests at 2,000/s and counts the replies within 1 s.
#
# 1. Spoofed flood to a busy mapping (natgate with its defaults: EIM mapping, address-
#    dependent filtering). in2 sends from port 5000 to 2,000 ports of out, one mapping with
#    about 2,000 sessions. in1's probe runs once alone, once while out floods that mapping's
#    external endpoint from random addresses and ports it never talked to (a raw-socket
#    python sender: at most 2,000,000 packets and 20 s, paced to last the probe's 10 s).
#    Figures: flood rate sent, arrived on wan0, read by NatGate (natgate_drops_total
#    {reason="Filtered"}), lost before NatGate (the TUN's queue full); inside loss and round
#    trip, baseline and under the flood.
# 2. Forwarding during 200 concurrent session listings (natgate --max-sessions-per-host 0).
#    in2 fills the table with 64,000 UDP sessions (raw packets from 64,000 source ports).
#    in1's probe runs once alone, once while 200 listings as user nobody (setpriv, curl on
#    control.ro.sock, GET /v1/sessions) are launched at once. Figures: listings completed and
#    refused with ENOMEM (HTTP 507), the daemon's peak RSS during the listings (VmHWM, reset
#    through /proc/PID/clear_refs just before) and its RSS afterwards, inside loss and round
#    trip with and without the listings.
#
# The round trips are measured by a python client: they include python's own overhead on
# both ends (tens of µs); compare the two columns, not with bench/e2e.sh's C probes.
# The Markdown report goes to stdout and to bench/results/pressure-YYYYMMDD-HHMMSS.md (or -o);
# the raw data (daemon logs, probe output, listing statuses) beside it in a .raw directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=bench/lab.sh
. "$here/lab.sh"
root="$(cd "$here/.." && pwd)"

command_line="bench/pressure.sh${*:+ $*}"
results=""
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--out) results="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pressure.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "pressure.sh: needs root (network namespaces, a TUN device)" >&2
  exit 1
fi
for tool in ip python3 curl setpriv timeout dotnet nft; do
  command -v "$tool" >/dev/null 2>&1 || { echo "pressure.sh: $tool is missing" >&2; exit 1; }
done

# The figures' parameters
REQUESTS=20000          # in1's probe: requests, at RATE a second, a reply counts within DEADLINE s
RATE=2000
DEADLINE=1
BUSY_PEERS=2000         # part 1: sessions of the busy mapping
FLOOD_MAX=2000000       # part 1: the flood's bounds
FLOOD_SECONDS=20
FLOOD_SPAN=12           # ... and the time it is paced to last (the probe's 10 s and a margin)
FILL=64000              # part 2: sessions in the table
LISTINGS=200            # part 2: concurrent listings

stamp="$(date -u +%Y%m%d-%H%M%S)"
[ -n "$results" ] || results="$here/results/pressure-$stamp.md"
mkdir -p "$(dirname "$results")"
raw="${results%.*}.raw"
mkdir -p "$raw"

prefix="ngp$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
IN1="${prefix}in1"; IN2="${prefix}in2"; GW="${prefix}gw"; OUT="${prefix}out"
namespaces=()
pids=()
natgate_pid=""
work=""

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  lab_teardown
  [ -n "$work" ] && rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '[pressure %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------- build
lab_natgate pressure.sh "$build" "$raw"

work="$(mktemp -d /tmp/ngp-XXXXXX)"
chmod 755 "$work"                      # user nobody walks to control.ro.sock
tools="$work/pressure_tools.py"
cat >"$tools" <<'PY'
"""The lab's traffic: an echo server, a paced request/response probe, UDP senders."""
import json, os, random, select, socket, struct, sys, time

def echo(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((host, int(port)))
    print("echoing", flush=True)
    while True:
        data, peer = s.recvfrom(2048)
        try:
            s.sendto(data, peer)
        except OSError:
            pass

def probe(host, port, count, rate, deadline):
    """COUNT numbered requests at RATE a second; a reply counts within DEADLINE seconds."""
    count, rate, deadline = int(count), float(rate), float(deadline)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.connect((host, int(port)))
    s.setblocking(False)
    clock = time.perf_counter_ns
    gap = 1e9 / rate
    limit = int(deadline * 1e9)
    sent = [0] * count
    rtt = [None] * count
    late = errors = 0
    pad = bytes(28)
    start = clock()
    i = 0
    last = None
    while True:
        now = clock()
        while i < count and now >= start + i * gap:
            sent[i] = now
            try:
                s.send(struct.pack("!I", i) + pad)
            except OSError:
                errors += 1
            i += 1
            now = clock()
            if i == count:
                last = now
        if last is not None and now >= last + limit:
            break
        wait = (start + i * gap - now) if i < count else (last + limit - now)
        ready, _, _ = select.select([s], [], [], max(wait, 0) / 1e9)
        if not ready:
            continue
        while True:
            try:
                data = s.recv(2048)
            except BlockingIOError:
                break
            except OSError:
                errors += 1
                continue
            got = clock()
            if len(data) < 4:
                continue
            n = struct.unpack("!I", data[:4])[0]
            if n < i and rtt[n] is None:
                if got - sent[n] <= limit:
                    rtt[n] = got - sent[n]
                else:
                    late += 1
    took = (last - start) / 1e9
    times = sorted(x for x in rtt if x is not None)
    answered = len(times)
    def q(p):
        return times[min(len(times) - 1, int(p * len(times)))] / 1e3 if times else None
    print(json.dumps({"sent": count, "answered": answered, "late": late, "errors": errors,
                      "loss_pct": 100.0 * (count - answered) / count, "send_seconds": took,
                      "median_us": q(0.5), "p99_us": q(0.99)}))

def fanout(src_port, host, first_port, count):
    """One socket, one source port, COUNT destination ports: one mapping, COUNT sessions."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(src_port)))
    first_port, count = int(first_port), int(count)
    for k in range(count):
        s.sendto(b"busy", (host, first_port + k))
        if k % 200 == 199:
            time.sleep(0.01)          # about 20,000 a second: no queue overflows on the way
    print(count)

def ipv4(src, dst, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload   # checksum 0: none
    # IP_HDRINCL: the kernel fills in the total length and the header checksum.
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0x4000, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst)) + udp

def raw_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    return s

def fill(src, first_sport, count, dst, dport, rate):
    """Raw UDP packets from COUNT source ports of SRC (one session each), at RATE a second."""
    s = raw_socket()
    first_sport, count, dport, rate = int(first_sport), int(count), int(dport), float(rate)
    start = time.monotonic()
    blocked = 0
    for k in range(count):
        packet = ipv4(src, dst, first_sport + k, dport, b"fill")
        while True:
            try:
                s.sendto(packet, (dst, 0))
                break
            except BlockingIOError:
                blocked += 1
                time.sleep(0.0005)
        if k % 500 == 499:
            ahead = start + (k + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    print(count, blocked)

def random_source(rng):
    while True:
        a = rng.getrandbits(32)
        first = a >> 24
        if first in (0, 10, 127) or first >= 224 or (a >> 8) == 0xC63364:   # martians, the inside, 198.51.100.0/24
            continue
        return socket.inet_ntoa(struct.pack("!I", a))

def flood(dst, dport, maximum, seconds, span):
    """Spoofed UDP to DST:DPORT from random addresses and ports: at most MAXIMUM packets and
    SECONDS seconds, no faster than MAXIMUM / SPAN a second (so it lasts SPAN seconds)."""
    maximum, seconds, dport, span = int(maximum), float(seconds), int(dport), float(span)
    rng = random.Random(10)
    packets = [ipv4(random_source(rng), dst, rng.randrange(1024, 65536), dport, b"spoofed flood!") for _ in range(65536)]
    s = raw_socket()
    s.setblocking(False)
    target = (dst, 0)
    rate = maximum / span
    sent = dropped = 0
    start = time.monotonic()
    end = start + seconds
    send = s.sendto
    print("flooding", flush=True)
    while sent + dropped < maximum:
        k = (sent + dropped) & 65535
        for p in packets[k:k + min(1024, maximum - sent - dropped)]:
            try:
                send(p, target)
                sent += 1
            except OSError:           # ENOBUFS, EAGAIN: the local queue is full
                dropped += 1
        now = time.monotonic()
        if now >= end:
            break
        ahead = start + (sent + dropped) / rate - now
        if ahead > 0:
            time.sleep(ahead)
    took = time.monotonic() - start
    print(json.dumps({"sent": sent, "not_sent": dropped, "seconds": took, "pps": sent / took}))

def snapshot(pid):
    """CPU time and run delay (waiting for a CPU) of each of PID's threads, summed by thread
    name, and the machine's /proc/stat cpu line: before and after a probe, for where the time went."""
    hz = os.sysconf("SC_CLK_TCK")
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
            fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            delay = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
        cpu = (int(fields[11]) + int(fields[12])) / hz
        t = threads.setdefault(comm, [0.0, 0.0])
        t[0] += cpu
        t[1] += delay
    machine = [int(x) / hz for x in open("/proc/stat").readline().split()[1:]]
    print(json.dumps({"threads": threads, "machine": machine, "time": time.monotonic()}))

if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
PY

# ---------------------------------------------------------------- the lab
lab_build
ip -n "$GW" route add default via 198.51.100.2     # the gateway's way to "the Internet"
inns "$GW" sysctl -qw net.ipv4.ip_forward=1
# The sessions' other ends: nothing listens there; drop quietly rather than answer with
# ICMP port unreachable (which NatGate would translate back to in2 by the thousand).
inns "$OUT" nft -f - <<'NFT'
table inet pressure {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport { 9, 20000-21999 } drop
  }
}
NFT

ip netns exec "$OUT" python3 "$tools" echo 198.51.100.2 7007 >"$raw/echo.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -qs echoing "$raw/echo.log" && break; sleep 0.1; done

values="$raw/values"
: >"$values"
put() { printf '%s\t%s\n' "$1" "$2" >>"$values"; }

control="$work/control"
start_natgate() { # log-name extra-args...
  local logfile="$raw/$1.log"; shift
  rm -rf "$control"; mkdir -m 755 "$control"
  log "natgate run --inside 10.77.0.0/24 --external 198.51.100.10 --outside-interface wan0 --metrics 127.0.0.1:9469 $*"
  ip netns exec "$GW" dotnet "$dll" run --inside 10.77.0.0/24 --external 198.51.100.10 \
    --outside-interface wan0 --control "$control" --metrics 127.0.0.1:9469 "$@" >"$logfile" 2>&1 &
  natgate_pid=$!
  for _ in $(seq 300); do
    grep -q "natgate running" "$logfile" && break
    kill -0 "$natgate_pid" 2>/dev/null || { cat "$logfile" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "natgate running" "$logfile" || { log "natgate did not start"; cat "$logfile" >&2; exit 1; }
  inns "$IN1" timeout 10 python3 "$tools" probe 198.51.100.2 7007 20 200 1 >"$raw/warmup.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["answered"] else 1)' "$raw/warmup.json" \
    || { log "the echo server is not reachable through NatGate"; cat "$raw/warmup.json" >&2; exit 1; }
}
stop_natgate() {
  kill -TERM "$natgate_pid"
  wait "$natgate_pid" || log "natgate exited $?"
  natgate_pid=""
}
stats() { inns "$GW" curl -s --max-time 10 --unix-socket "$control/control.ro.sock" http://natgate/v1/stats; }
in_use() { stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["inUse"])'; }
metric() { # the sum of the samples of a metric whose name and labels match an extended regex
  inns "$GW" curl -s --max-time 10 http://127.0.0.1:9469/metrics \
    | awk -v pattern="$1" '$0 !~ /^#/ && $1 ~ pattern {n += $NF} END {printf "%.0f\n", n}'
}
link_counter() { # namespace interface rx|tx packets|dropped
  ip -n "$1" -s -j link show "$2" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['stats64']['$3']['$4'])"
}
probe() { # name: in1's request/response probe; its JSON into raw, its figures into values
  local t0 t1
  python3 "$tools" snapshot "$natgate_pid" >"$raw/snapshot-$1.before"
  t0=$(link_counter "$GW" natgate0 tx dropped)
  timeout 120 ip netns exec "$IN1" python3 "$tools" probe 198.51.100.2 7007 "$REQUESTS" "$RATE" "$DEADLINE" >"$raw/probe-$1.json"
  t1=$(link_counter "$GW" natgate0 tx dropped)
  python3 "$tools" snapshot "$natgate_pid" >"$raw/snapshot-$1.after"
  put "$1.tundrops" "$((t1 - t0))"
  python3 - "$raw/snapshot-$1.before" "$raw/snapshot-$1.after" "$1" >>"$values" <<'PY'
import json, sys
a, b, name = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
span = b["time"] - a["time"]
m = [y - x for x, y in zip(a["machine"], b["machine"])]
total = sum(m[:8]) or 1   # user nice system idle iowait irq softirq steal
print(f"{name}.machine\tuser {100 * (m[0] + m[1]) / total:.0f} %, system {100 * m[2] / total:.0f} %, "
      f"softirq {100 * m[6] / total:.0f} %, idle {100 * (m[3] + m[4]) / total:.0f} %")
rows = []
for comm, (cpu, delay) in b["threads"].items():
    c0, d0 = a["threads"].get(comm, [0.0, 0.0])
    rows.append((cpu - c0, delay - d0, comm))
rows.sort(reverse=True)
top = [f"{comm} {cpu / span * 100:.0f} % CPU, waited {delay:.2f} s" for cpu, delay, comm in rows[:3] if cpu > 0.05]
print(f"{name}.threads\t" + "; ".join(top))
PY
  python3 - "$raw/probe-$1.json" "$1" >>"$values" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("sent", "answered", "late", "loss_pct", "median_us", "p99_us", "send_seconds"):
    print(f"{sys.argv[2]}.{k}\t{d[k]}")
PY
}
status_kib() { awk -v key="$2:" '$1 == key {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- 1. spoofed flood to a busy mapping
log "part 1: a busy mapping, then in1's probe without and with a spoofed flood to it"
start_natgate part1
inns "$IN2" python3 "$tools" fanout 5000 198.51.100.2 20000 "$BUSY_PEERS" >/dev/null
sleep 0.5
inns "$GW" curl -s --max-time 30 --unix-socket "$control/control.sock" "http://natgate/v1/sessions?address=10.77.0.3" >"$raw/part1-sessions.json"
read -r busy_port busy_sessions <<<"$(python3 - "$raw/part1-sessions.json" <<'PY'
import json, sys
from collections import Counter
mine = [s for s in json.load(open(sys.argv[1])) if s["internalSourceAddress"] == "10.77.0.3" and s["internalSourcePort"] == 5000]
ports = Counter(s["externalSourcePort"] for s in mine)
port, n = ports.most_common(1)[0] if ports else (0, 0)
print(port, n)
PY
)"
[ "$busy_sessions" -gt 0 ] || { log "the busy mapping was not made"; exit 1; }
log "busy mapping 10.77.0.3:5000 -> 198.51.100.10:$busy_port with $busy_sessions sessions"
put busy.port "$busy_port"; put busy.sessions "$busy_sessions"; put busy.inuse "$(in_use)"

log "part 1: baseline probe ($REQUESTS requests at $RATE/s)"
probe p1.base
put p1.base.load "$(loadavg)"

log "part 1: probe under a spoofed flood to 198.51.100.10:$busy_port"
f0=$(metric '^natgate_drops_total[{].*reason="Filtered"'); w0=$(link_counter "$GW" wan0 rx packets)
t0=$(link_counter "$GW" natgate0 tx dropped); d0=$(link_counter "$GW" wan0 rx dropped)
c0=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$natgate_pid/stat")
timeout $((FLOOD_SECONDS + 10)) ip netns exec "$OUT" python3 "$tools" flood 198.51.100.10 "$busy_port" "$FLOOD_MAX" "$FLOOD_SECONDS" "$FLOOD_SPAN" >"$raw/flood.txt" 2>&1 &
flooder=$!
pids+=("$flooder")
for _ in $(seq 100); do grep -qs flooding "$raw/flood.txt" && break; sleep 0.1; done
sleep 1
probe p1.flood
put p1.flood.load "$(loadavg)"
wait "$flooder" || log "the flood sender exited $?"
sleep 0.5
f1=$(metric '^natgate_drops_total[{].*reason="Filtered"'); w1=$(link_counter "$GW" wan0 rx packets)
t1=$(link_counter "$GW" natgate0 tx dropped); d1=$(link_counter "$GW" wan0 rx dropped)
c1=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$natgate_pid/stat")
python3 - "$raw/flood.txt" >>"$values" <<'PY'
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
for k in ("sent", "not_sent", "seconds", "pps"):
    print(f"flood.{k}\t{d[k]}")
PY
put flood.filtered "$((f1 - f0))"; put flood.wan0 "$((w1 - w0))"
put flood.tundrops "$((t1 - t0))"; put flood.wan0drops "$((d1 - d0))"
put flood.natgatecpu "$(python3 -c "print(($c1 - $c0) / $(getconf CLK_TCK))")"
inns "$GW" curl -s --max-time 10 http://127.0.0.1:9469/metrics >"$raw/part1-metrics.txt"
stop_natgate

# ---------------------------------------------------------------- 2. forwarding during 200 listings
log "part 2: $FILL sessions, then in1's probe without and with $LISTINGS listings as nobody"
start_natgate part2 --max-sessions-per-host 0
for pass in 1 2 3; do
  inns "$IN2" timeout 60 python3 "$tools" fill 10.77.0.3 1024 "$FILL" 198.51.100.2 9 20000 >"$raw/fill-$pass.txt"
  sleep 0.5
  n="$(in_use)"
  log "fill pass $pass: $n sessions in the table"
  [ "$n" -lt "$((FILL * 99 / 100))" ] || break
done
put p2.inuse "$n"

log "part 2: baseline probe"
probe p2.base
put p2.base.load "$(loadavg)"
put p2.rss.before "$(status_kib "$natgate_pid" VmRSS)"
put p2.hwm.before "$(status_kib "$natgate_pid" VmHWM)"
echo 5 >"/proc/$natgate_pid/clear_refs"          # VmHWM from here: the listings' peak

log "part 2: probe during $LISTINGS concurrent listings on control.ro.sock as user nobody"
listings="$raw/listings"
mkdir -p "$listings"
(
  started=()
  trap 'kill "${started[@]}" 2>/dev/null; exit 143' TERM
  for k in $(seq "$LISTINGS"); do
    timeout 60 setpriv --reuid=65534 --regid=65534 --clear-groups -- \
      curl -s --max-time 50 --unix-socket "$control/control.ro.sock" http://natgate/v1/sessions -o /dev/null \
      -w '%{http_code} %{time_total} %{size_download}\n' >"$listings/$k" 2>&1 &
    started+=($!)
  done
  for pid in "${started[@]}"; do wait "$pid" || true; done
) &
lister=$!
pids+=("$lister")
l0=$(date +%s.%N)
probe p2.list
put p2.list.load "$(loadavg)"
wait "$lister" || true
put p2.list.seconds "$(python3 -c "import time; print(time.time() - $l0)")"
put p2.hwm.listings "$(status_kib "$natgate_pid" VmHWM)"
put p2.rss.after "$(status_kib "$natgate_pid" VmRSS)"
sleep 5
put p2.rss.after5 "$(status_kib "$natgate_pid" VmRSS)"
cat "$listings"/* >"$raw/listings.txt"
rm -rf "$listings"
awk '$1 == 200 {n++} END {print "p2.list.ok\t" n+0}' "$raw/listings.txt" >>"$values"
awk '$1 == 507 {n++} END {print "p2.list.enomem\t" n+0}' "$raw/listings.txt" >>"$values"
awk '$1 != 200 && $1 != 507 {n++} END {print "p2.list.other\t" n+0}' "$raw/listings.txt" >>"$values"
awk '$1 == 200 {n++; t += $2; b += $3; if ($2 > m) m = $2} END {printf "p2.list.oktime\t%s\np2.list.okmax\t%s\np2.list.okbytes\t%s\n", n ? t / n : 0, m + 0, n ? b / n : 0}' "$raw/listings.txt" >>"$values"
put p2.inuse.after "$(in_use)"
stop_natgate

# ---------------------------------------------------------------- the report
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r), .NET $(dotnet --version)"
python3 - "$values" "$machine" "$stamp" "$REQUESTS" "$RATE" "$DEADLINE" "$LISTINGS" "$command_line" <<'PY' | tee "$results"
import sys
values = {}
for line in open(sys.argv[1]):
    key, value = line.rstrip("\n").split("\t", 1)
    values[key] = value
machine, stamp, requests, rate, deadline, listings, command_line = sys.argv[2:9]
def num(key):
    try:
        return float(values[key])
    except (KeyError, ValueError):
        return None
def fmt(x, digits=0):
    return "n/a" if x is None else f"{x:,.{digits}f}"
def mib(key):
    x = num(key)
    return "n/a" if x is None else f"{x / 1024:,.0f} MiB"
def where(key, label):
    print(f"- Where the time went, {label}: machine {values.get(key + '.machine', 'n/a')}; NatGate's busiest threads "
          f"(CPU over the probe, time runnable but waiting for a CPU): {values.get(key + '.threads') or 'none'}; "
          f"packets the kernel dropped for a full TUN queue: {fmt(num(key + '.tundrops'))}")
fs = num("flood.seconds")
per_s = lambda key: None if not fs or num(key) is None else num(key) / fs
print(f"# NatGate under pressure (issue 10), {stamp} UTC")
print()
print(f"`{command_line}`")
print()
print(f"Machine: {machine}. Load average (1, 5, 15 min) at the end of each probe: "
      f"flood baseline {values.get('p1.base.load')}, under the flood {values.get('p1.flood.load')}, "
      f"listings baseline {values.get('p2.base.load')}, during the listings {values.get('p2.list.load')}.")
print(f"Probe: in1 sends {int(requests):,} numbered UDP requests at {int(rate):,}/s to a python echo server on the "
      f"outside host through NatGate; a reply counts within {deadline} s. Round trips include python's overhead at both ends.")
print()
print("## 1. Spoofed flood to a busy mapping")
print()
print(f"Busy mapping: 10.77.0.3:5000 -> 198.51.100.10:{values.get('busy.port')} with {fmt(num('busy.sessions'))} sessions "
      f"(address-dependent filtering, the default). The outside host floods that endpoint from random addresses and ports "
      f"(raw socket, at most 2,000,000 packets and 20 s).")
print()
print("| figure | baseline | under the flood |")
print("|---|---:|---:|")
print(f"| flood sent by the outside host (packets/s) | | {fmt(num('flood.pps'))} ({fmt(num('flood.sent'))} in {fmt(fs, 1)} s) |")
print(f"| flood arrived on the gateway's wan0 (packets/s) | | {fmt(per_s('flood.wan0'))} |")
print(f"| flood read and refused by NatGate, `natgate_drops_total{{reason=\"Filtered\"}}` (packets/s) | | {fmt(per_s('flood.filtered'))} ({fmt(num('flood.filtered'))}) |")
print(f"| dropped by the kernel before NatGate, TUN queue full (packets) | | {fmt(num('flood.tundrops'))} |")
print(f"| NatGate CPU during the flood (s, utime+stime) | | {fmt(num('flood.natgatecpu'), 1)} |")
print(f"| inside requests answered | {fmt(num('p1.base.answered'))} / {fmt(num('p1.base.sent'))} | {fmt(num('p1.flood.answered'))} / {fmt(num('p1.flood.sent'))} |")
print(f"| **inside loss** | **{fmt(num('p1.base.loss_pct'), 2)} %** | **{fmt(num('p1.flood.loss_pct'), 2)} %** |")
print(f"| inside round trip, median (µs) | {fmt(num('p1.base.median_us'))} | {fmt(num('p1.flood.median_us'))} |")
print(f"| inside round trip, p99 (µs) | {fmt(num('p1.base.p99_us'))} | {fmt(num('p1.flood.p99_us'))} |")
print()
where("p1.base", "baseline"); where("p1.flood", "under the flood")
print()
print("Before: the engine walked the mapping's sessions for every filtered packet (8.5x slower; 61 % inside loss was seen); "
      "it now decides filtering in constant time.")
print()
print(f"## 2. Forwarding during {listings} concurrent session listings")
print()
print(f"Table: {fmt(num('p2.inuse'))} sessions (in2, one per source port; `--max-sessions-per-host 0`). "
      f"{listings} `GET /v1/sessions` as user nobody on control.ro.sock, launched at once "
      f"(at most four run at a time; the others wait up to 10 s, then get ENOMEM).")
print()
print("| figure | baseline | during the listings |")
print("|---|---:|---:|")
print(f"| listings completed (HTTP 200) | | {fmt(num('p2.list.ok'))} (each {fmt(num('p2.list.okbytes') and num('p2.list.okbytes') / 1e6, 1)} MB, "
      f"{fmt(num('p2.list.oktime'), 2)} s on average, at most {fmt(num('p2.list.okmax'), 2)} s) |")
print(f"| listings refused with ENOMEM (HTTP 507) | | {fmt(num('p2.list.enomem'))} |")
print(f"| listings failing otherwise | | {fmt(num('p2.list.other'))} |")
print(f"| daemon RSS | {mib('p2.rss.before')} (peak so far {mib('p2.hwm.before')}) | peak {mib('p2.hwm.listings')}; "
      f"right after {mib('p2.rss.after')}, 5 s later {mib('p2.rss.after5')} |")
print(f"| inside requests answered | {fmt(num('p2.base.answered'))} / {fmt(num('p2.base.sent'))} | {fmt(num('p2.list.answered'))} / {fmt(num('p2.list.sent'))} |")
print(f"| **inside loss** | **{fmt(num('p2.base.loss_pct'), 2)} %** | **{fmt(num('p2.list.loss_pct'), 2)} %** |")
print(f"| inside round trip, median (µs) | {fmt(num('p2.base.median_us'))} | {fmt(num('p2.list.median_us'))} |")
print(f"| inside round trip, p99 (µs) | {fmt(num('p2.base.p99_us'))} | {fmt(num('p2.list.p99_us'))} |")
print()
where("p2.base", "baseline"); where("p2.list", "during the listings")
print()
print(f"The listings took {fmt(num('p2.list.seconds'), 1)} s from launch to the last exit; the table held "
      f"{fmt(num('p2.inuse.after'))} sessions afterwards. Before: 93 % packet loss and 6.2 GB of memory not returned.")
PY
log "results: $results (raw data in $raw)"
