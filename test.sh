#!/usr/bin/env bash
# Builds NatGate and runs every test; ends with one line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")"

# The end-to-end tests drive real clients in network namespaces; install what is missing. The build
# compiles the kernel fast path's tc program with clang against libbpf-dev's headers (without them
# it is skipped, and the fast path tests fail under CI), so this comes before the build.
need=()
for tool in ip:iproute2 python3:python3 curl:curl ping:iputils-ping tcpdump:tcpdump iperf3:iperf3 traceroute:traceroute turnutils_natdiscovery:coturn nft:nftables \
            podman:podman runc:runc /usr/lib/cni/bridge:containernetworking-plugins /usr/share/doc/busybox-static:busybox-static systemd-analyze:systemd \
            clang:clang llc:llvm /usr/include/bpf:libbpf-dev /usr/share/doc/libbpf1:libbpf1 ethtool:ethtool \
            /usr/sbin/vsftpd:vsftpd lftp:lftp natpmpc:natpmpc tshark:tshark; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || [ -x "${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "test.sh: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || echo "test.sh: WARNING: could not install ${need[*]}" >&2
  else
    echo "test.sh: WARNING: not root, cannot install ${need[*]}; end-to-end tests will skip" >&2
  fi
fi

dotnet build NatGate.slnx -c Release -warnaserror --nologo -v q || { echo "0 passed, 1 failed"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
dotnet test --solution NatGate.slnx -c Release --no-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test (Microsoft.Testing.Platform) ends with a summary over every test project.
summary() { sed -n "s/^ *$1: *\([0-9]*\).*/\1/p" "$log" | tail -1; }
passed=$(summary succeeded); failed=$(summary failed); skipped=$(summary skipped)
passed=${passed:-0}; failed=${failed:-0}; skipped=${skipped:-0}
# A run that died before its summary, or ran nothing, is a failure, never a silent pass.
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
if [ "$passed" = 0 ] && [ "$failed" = 0 ]; then failed=1; fi
if [ "$skipped" != 0 ]; then
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
else
  echo "${passed} passed, ${failed} failed"
fi
[ "$failed" = 0 ]
