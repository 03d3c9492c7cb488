#!/usr/bin/env bash
# Fetch Debian's stock kernel (package linux-image-amd64 and the linux-image-6.1.0-N-amd64 it
# depends on) without installing it: unpacked into OUTDIR (default build/debian-kernel) as
# OUTDIR/vmlinuz (bzImage), OUTDIR/lib/modules/VERSION (with modules.dep) and OUTDIR/version.
# Used twice: as the kernel of the emulated KVM host (scripts/kvm-host.sh) and as a stock
# distribution kernel booted as a HyperFork guest (tests/integration/test_stock.sh).
# Cached: does nothing when OUTDIR/vmlinuz exists. Needs apt-get, dpkg-deb and depmod (kmod).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$top/build/debian-kernel}
die() { echo "debian-kernel: error: $*" >&2; exit 1; }

[ -f "$out/vmlinuz" ] && [ -f "$out/version" ] && exit 0
for c in apt-get dpkg-deb depmod; do
	command -v "$c" >/dev/null || die "$c not found (run scripts/install-deps.sh)"
done
mkdir -p "$out"
tmp=$(mktemp -d "$out/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# apt-get download runs as the _apt user where it can: let it write here.
chmod 777 "$tmp"
get() {
	apt-get download "$1" > dl.log 2>&1 && return 0
	# No package lists yet (a fresh machine): fetch them once and retry.
	[ "$(id -u)" = 0 ] && apt-get update -qq > /dev/null 2>&1 && apt-get download "$1" > dl.log 2>&1 && return 0
	cat dl.log >&2
	die "cannot download Debian package $1"
}
get linux-image-amd64
meta=$(ls linux-image-amd64_*.deb)
# Depends: linux-image-6.1.0-N-amd64 (= ...), possibly with alternatives.
pkg=$(dpkg-deb -f "$meta" Depends | tr ',|' '\n\n' | sed 's/[ (].*//; s/^ *//' | grep '^linux-image-' | head -1)
[ -n "$pkg" ] || die "$meta depends on no linux-image package"
get "$pkg"
dpkg-deb -x "$pkg"_*.deb root
kv=$(ls root/lib/modules | head -1)
[ -n "$kv" ] && [ -f "root/boot/vmlinuz-$kv" ] || die "$pkg holds no kernel image"
depmod -b root "$kv"
rm -rf "$out/lib" "$out/vmlinuz" "$out/version"
mkdir -p "$out/lib"
mv root/lib/modules "$out/lib/modules"
cp "root/boot/vmlinuz-$kv" "$out/vmlinuz"
cp "root/boot/config-$kv" "$out/config" 2>/dev/null || true
echo "$kv" > "$out/version"
echo "debian-kernel: $pkg ($kv) in $out"
