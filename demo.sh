#!/usr/bin/env bash
# The demo: builds NatGate, then runs `natgate demo` (a lab in network namespaces with real
# traffic through the gateway). Needs root; installs the clients it drives when missing.
# Interrupted at any moment (Ctrl-C, SIGTERM, the terminal closed), it leaves nothing behind
# and exits 128 + the signal's number.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: the demo creates network namespaces and a TUN device: run it as root (sudo ./demo.sh)." >&2
  exit 1
fi
# clang, llvm and libbpf-dev build the kernel fast path's tc program with NatGate; libbpf1 loads it.
need=()
for tool in ip:iproute2 python3:python3 curl:curl ping:iputils-ping traceroute:traceroute \
            clang:clang llc:llvm /usr/include/bpf:libbpf-dev /usr/share/doc/libbpf1:libbpf1; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "demo.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Ctrl-C, SIGTERM or a closed terminal during the build: stop the build, say so in one line.
# The build makes nothing of the demo's (no namespace, no process left: no node reuse, no
# compiler server), so there is nothing else to remove.
build=
stop() {
  trap - INT TERM HUP
  if [ -n "$build" ]; then
    kill -TERM "$build" 2>/dev/null || true
    wait "$build" 2>/dev/null || true
  fi
  echo "demo.sh: interrupted by SIG$1 while building; nothing was set up." >&2
  exit "$2"
}
trap 'stop INT 130' INT
trap 'stop TERM 143' TERM
trap 'stop HUP 129' HUP
echo "demo.sh: building NatGate (the first run takes about a minute)..." >&2
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
# In the background, so that a signal runs the trap at once rather than after the build.
dotnet build src/NatGate/NatGate.csproj -c Release -nologo -v:minimal -clp:NoSummary \
  -nodeReuse:false -p:UseSharedCompilation=false </dev/null &
build=$!
if ! wait "$build"; then
  echo "demo.sh: the build failed (its errors are above)." >&2
  exit 1
fi
build=
trap - INT TERM HUP
# Not `dotnet run`: the built program replaces this shell, so the terminal's signals reach it
# directly, and `natgate demo` removes what it made before it exits on any of them.
exec dotnet src/NatGate/bin/Release/net10.0/natgate.dll demo "$@"
