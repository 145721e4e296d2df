# bench/lab.sh: the namespace lab bench/e2e.sh and bench/pressure.sh share (sourced, not run).
#
#   in1 10.77.0.2 ─┐
#                  br0 (10.77.0.1) gw (198.51.100.1 on wan0) ── out 198.51.100.2
#   in2 10.77.0.3 ─┘
#
# The caller sets $prefix and the namespace names $IN1 $IN2 $GW $OUT, keeps the array
# `namespaces` (every namespace made is added to it) and the array `pids` and $natgate_pid of
# what it starts, defines log(), and calls lab_teardown from its exit trap. lab_build takes the
# names of any further namespaces to make.

# lab_natgate SCRIPT BUILD RAW: sets $dll to the Release natgate.dll under $root, building it
# first when BUILD is 1 (its output in RAW/build.log); SCRIPT names the caller in the error.
lab_natgate() {
  dll="$root/src/NatGate/bin/Release/net10.0/natgate.dll"
  if [ "$2" = 1 ]; then
    log "building NatGate (Release)"
    dotnet build "$root/src/NatGate/NatGate.csproj" -c Release -v q -nologo >"$3/build.log" 2>&1 \
      || { cat "$3/build.log" >&2; exit 1; }
  fi
  [ -f "$dll" ] || { echo "$1: $dll is missing (build first or drop --no-build)" >&2; exit 1; }
}

# inns NS COMMAND...: run a command in a namespace.
inns() { local ns="$1"; shift; ip netns exec "$ns" "$@"; }

# lab_teardown: stop NatGate (SIGTERM, so it removes what it installed), every process
# started, and delete every namespace made; for the exit trap, so it also runs on failure.
lab_teardown() {
  if [ -n "${natgate_pid:-}" ] && kill -0 "$natgate_pid" 2>/dev/null; then
    kill -TERM "$natgate_pid"; wait "$natgate_pid" 2>/dev/null
  fi
  local pid ns
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null
  done
  for ns in "${namespaces[@]}"; do
    ip netns delete "$ns" 2>/dev/null
  done
}

# connect LEFT LEFT-IF LEFT-ADDR RIGHT RIGHT-IF [RIGHT-ADDR]: a veth pair between two namespaces.
connect() {
  local temporary="${prefix}t$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
  ip -n "$1" link add "$2" type veth peer name "$temporary" netns "$4"
  ip -n "$4" link set "$temporary" name "$5"
  ip -n "$1" addr add "$3" dev "$2"
  [ -z "${6:-}" ] || ip -n "$4" addr add "$6" dev "$5"
  ip -n "$1" link set "$2" up
  ip -n "$4" link set "$5" up
}

lab_build() {
  log "building the lab, prefix $prefix"
  local ns
  for ns in "$IN1" "$IN2" "$GW" "$OUT" "$@"; do
    ip netns add "$ns"
    namespaces+=("$ns")
    ip -n "$ns" link set lo up
  done
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
}

# lab_ipv6: the IPv6 half of GatewayLab(ipv6: true) on the same links: fd00:77::/64 inside (gw
# ::1, in1 ::2, in2 ::3), 2001:db8:100::/64 outside (gw ::1, out ::2), IPv6 forwarding on;
# without duplicate address detection, so the addresses work at once.
lab_ipv6() {
  ip -n "$GW" -6 addr add fd00:77::1/64 dev br0 nodad
  ip -n "$IN1" -6 addr add fd00:77::2/64 dev eth0 nodad
  ip -n "$IN2" -6 addr add fd00:77::3/64 dev eth0 nodad
  ip -n "$GW" -6 addr add 2001:db8:100::1/64 dev wan0 nodad
  ip -n "$OUT" -6 addr add 2001:db8:100::2/64 dev eth0 nodad
  ip -n "$IN1" -6 route add default via fd00:77::1
  ip -n "$IN2" -6 route add default via fd00:77::1
  inns "$GW" sysctl -qw net.ipv6.conf.all.forwarding=1
}
