#!/usr/bin/env bash
# The demo: builds NatGate, then runs `natgate demo` (a lab in network namespaces with real
# traffic through the gateway). Needs root; installs the clients it drives when missing.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" != 0 ]; then
  echo "demo.sh: the demo creates network namespaces and a TUN device: run it as root (sudo ./demo.sh)." >&2
  exit 1
fi
need=()
for tool in ip:iproute2 python3:python3 curl:curl ping:iputils-ping traceroute:traceroute; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "demo.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
exec dotnet run --project src/NatGate -c Release -- demo "$@"
