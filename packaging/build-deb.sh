#!/usr/bin/env bash
# Builds natgate_<version>_amd64.deb into OUTDIR (default: artifacts/ at the repository's root).
#   packaging/build-deb.sh [OUTDIR]
# Needs only the .NET SDK and dpkg-deb (part of dpkg), so it runs on a fresh Debian.
#
# The program is a self-contained linux-x64 publish, single file and ReadyToRun, under
# /usr/lib/natgate with /usr/bin/natgate a symlink to it. The .NET runtime's native code is
# linked into that one file; anything native the publish leaves beside it is installed
# beside it too, so nothing is ever extracted into $HOME (the unit has ProtectHome=yes).
# ReadyToRun keeps `natgate --version` (and each TAB of the completion) about 50 ms.
# Not trimmed: a trimmed publish (23 MB instead of 132 MB) ran a gateway, but builds only with
# warnings allowed: seven IL2026 in NatGate's own code (the state file's and the routing
# record's JSON by reflection, Tomlyn's reflection reader) name what trimming may break.
# Sizes for 0.11.0: installed 128,902 KiB (the program alone 131,590,999 bytes); the .deb
# 43,510,248 bytes (xz -1; 38,878,032 at xz -6). The whole script: 21 s with the publish up to date.
set -euo pipefail
umask 022

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
outdir=$(realpath -m "${1:-$repo/artifacts}")
project=$repo/src/NatGate/NatGate.csproj

version=$(dotnet msbuild "$project" -getProperty:Version -nologo)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "build-deb.sh: could not read the version from $project (got '$version')" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

echo "build-deb.sh: publishing natgate $version (self-contained, linux-x64)" >&2
dotnet publish "$project" -c Release -r linux-x64 --self-contained \
    -p:PublishSingleFile=true -p:PublishReadyToRun=true -p:GenerateDocumentationFile=false \
    -o "$work/publish" --nologo -v q

# The program, and anything the publish put beside it (debug symbols; native libraries if any).
install -d "$root/usr/lib/natgate" "$root/usr/bin"
install -m 0755 "$work/publish/natgate" "$root/usr/lib/natgate/natgate"
find "$work/publish" -maxdepth 1 -type f ! -name natgate ! -name '*.xml' -exec install -m 0644 {} "$root/usr/lib/natgate/" \;
find "$root/usr/lib/natgate" -name '*.so*' -exec chmod 0755 {} +
ln -s ../lib/natgate/natgate "$root/usr/bin/natgate"

# The service (not enabled: it needs configuring first), and its configuration.
install -D -m 0644 "$here/natgate.service" "$root/lib/systemd/system/natgate.service"
install -D -m 0644 "$here/natgate.toml" "$root/etc/natgate/natgate.toml"

# Documentation: the manual pages, the licence, examples.
install -d "$root/usr/share/man/man8" "$root/usr/share/man/man5"
gzip -9n < "$here/man/natgate.8" > "$root/usr/share/man/man8/natgate.8.gz"
gzip -9n < "$here/man/natgate.toml.5" > "$root/usr/share/man/man5/natgate.toml.5.gz"
install -D -m 0644 "$repo/LICENSE" "$root/usr/share/doc/natgate/copyright"
install -D -m 0644 "$repo/docs/natgate.example.toml" "$root/usr/share/doc/natgate/examples/natgate.example.toml"
install -D -m 0644 "$here/natgate.bash-completion" "$root/usr/share/bash-completion/completions/natgate"

# The CNI plugin and its example network list, when packaging/cni/ is in this tree.
if [ -f "$here/cni/natgate-cni" ]; then
    install -D -m 0755 "$here/cni/natgate-cni" "$root/usr/lib/cni/natgate-cni"
fi
if [ -d "$here/cni" ]; then
    find "$here/cni" -maxdepth 1 -type f ! -name natgate-cni -exec install -D -m 0644 -t "$root/usr/share/doc/natgate/examples/" {} +
fi

# Package metadata. libstdc++6 and libgcc-s1 are the runtime's own links (ldd); libssl3 is
# opened at run time for the state file's SHA-256.
install -d "$root/DEBIAN"
installed_size=$(du -sk --apparent-size "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: natgate
Version: $version
Architecture: amd64
Maintainer: The NatGate authors <maintainers@users.noreply.r-seed-7cee6da9.example>
Installed-Size: $installed_size
Depends: iproute2, nftables, libc6, libstdc++6, libgcc-s1, libssl3 | libssl3t64
Section: net
Priority: optional
Description: user-space network address and port translator (NAT gateway)
 NatGate translates the addresses and ports of IPv4 packets between internal
 prefixes and external addresses in user space, through a TUN device, following
 the RFCs on NAT behaviour (RFC 4787, 5382, 5508, 7857, 6888). It speaks IP
 Filter's ipnat.conf and Windows NetNat's instances and static mappings.
 .
 The natgate service is installed but not enabled: configure
 /etc/natgate/natgate.toml, then run systemctl enable --now natgate.
EOF
echo /etc/natgate/natgate.toml > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$here/debian/$script" "$root/DEBIAN/$script"
done

mkdir -p "$outdir"
deb=$outdir/natgate_${version}_amd64.deb
# xz at level 1: 15 s instead of 66 s at the default level 6, for a .deb 12 % larger (every
# dpkg reads it; zstd would be faster still but needs dpkg 1.21.18, Debian 12 or later).
dpkg-deb -Zxz -z1 --build --root-owner-group "$root" "$deb" >&2
echo "$deb"
