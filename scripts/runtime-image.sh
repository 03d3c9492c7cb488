#!/bin/bash
# A Lambda runtime's root file system as an ext2 image, built from Debian packages by name
# (downloaded with apt-get, unpacked with dpkg-deb, never installed) plus the project's
# runtime interface client (guest/runtimes/RUNTIME/). serve gives it to every function of
# that runtime as a read-only disk: one image, its pages shared by all their VMs.
#
#   scripts/runtime-image.sh RUNTIME [OUT.img]     RUNTIME: python3.11
#
# Kept in the cache (HF_CACHE, else /var/cache/hyperfork, else ~/.cache/hyperfork; off:
# none) under a key of the packages' versions and the client's files: a hit copies it, a
# miss builds it. Prints the image's path.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "runtime-image: error: $*" >&2; exit 1; }

runtime=${1:-}
case $runtime in
python3.11)
	roots="python3.11-minimal libpython3.11-stdlib"
	client=$top/guest/runtimes/python
	;;
*) die "unknown runtime '${runtime}': python3.11" ;;
esac
out=${2:-$top/build/runtimes/$runtime.img}
for c in apt-get apt-cache dpkg-deb mke2fs sha256sum; do
	command -v "$c" > /dev/null || die "$c not found (run scripts/install-deps.sh)"
done
[ -d "$client" ] || die "no runtime client in $client"

# The packages: the roots and what they depend on, without what only installing them needs
# (dpkg, debconf, perl for maintainer scripts, install-info, tar).
skip=" dpkg debconf cdebconf install-info tar perl perl-base perl-modules-5.36 libperl5.36
	mailcap mime-support "
pkgs=()
while read -r p; do
	case $skip in *" $p "* | *" $p"$'\n'*) continue ;; esac
	pkgs+=("$p")
done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
	--no-replaces --no-enhances $roots 2> /dev/null | grep -v '^[ <]' | sort -u)
[ ${#pkgs[@]} -gt 0 ] || die "apt-cache knows none of: $roots (apt-get update?)"
versions=$(for p in "${pkgs[@]}"; do
	printf '%s %s\n' "$p" "$(apt-cache policy "$p" | sed -n 's/^ *Candidate: //p')"
done)

cache_root=${HF_CACHE:-}
if [ -z "$cache_root" ]; then
	if mkdir -p /var/cache/hyperfork 2> /dev/null && [ -w /var/cache/hyperfork ]; then
		cache_root=/var/cache/hyperfork
	else
		cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/hyperfork
	fi
fi
key=$( {
	echo "hyperfork runtime image, cache v1: $runtime"
	echo "$versions"
	(cd "$client" && find . -type f | sort | xargs sha256sum)
	sha256sum < "${BASH_SOURCE[0]}"
} | sha256sum | cut -c1-24)
cached=
[ "$cache_root" = off ] || cached=$cache_root/runtime-$runtime-$key.img
mkdir -p "$(dirname "$out")"
if [ -n "$cached" ] && [ -f "$cached" ]; then
	cmp -s "$cached" "$out" 2> /dev/null || { cp "$cached" "$out.tmp" && mv -f "$out.tmp" "$out"; } || die "cannot copy $cached to $out"
	echo "$out"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/runtime-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp" # apt-get download runs as _apt
cd "$tmp"
get() {
	apt-get download "$@" > dl.log 2>&1 && return 0
	[ "$(id -u)" = 0 ] && apt-get update -qq > /dev/null 2>&1 && apt-get download "$@" > dl.log 2>&1 && return 0
	cat dl.log >&2
	die "cannot download the Debian packages $*"
}
get "${pkgs[@]}"
mkdir root
for d in *.deb; do dpkg-deb -x "$d" root; done
# Documentation, manuals and translations nobody reads in a function.
rm -rf root/usr/share/doc root/usr/share/man root/usr/share/info root/usr/share/locale \
	root/usr/share/lintian
for d in proc sys dev tmp etc var/task var/runtime opt; do mkdir -p "root/$d"; done
chmod 1777 root/tmp
cp -r "$client"/. root/var/runtime/
chmod 755 root/var/runtime/bootstrap
printf 'root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/tmp:/sbin/nologin\n' > root/etc/passwd
printf 'root:x:0:\nsbx_user1051:x:990:\n' > root/etc/group
echo "$versions" > root/var/runtime/packages
/sbin/ldconfig -r root 2> /dev/null || true
# Python's modules compiled ahead (the image is read-only: a guest could not keep them), so
# an import does not compile its module in every template's boot. Checked by hash, not by
# the sources' times (set to 0 below).
if [ "$runtime" = python3.11 ] && command -v python3.11 > /dev/null; then
	python3.11 -m compileall -q -j 2 --invalidation-mode unchecked-hash -s root -p / \
		root/usr/lib/python3.11 root/var/runtime > /dev/null || die "compileall failed"
fi
find root -exec touch -h -d @0 {} +
kb=$(du -sk --apparent-size root | cut -f1)
kb=$((kb + kb / 5 + 8192)) # room for the file system's own blocks
mke2fs -q -t ext2 -b 4096 -m 0 -L "$runtime" -E root_owner=0:0 -d root "$tmp/img" "${kb}K" > /dev/null ||
	die "mke2fs failed"
if [ -n "$cached" ]; then
	mkdir -p "$cache_root" 2> /dev/null && cp "$tmp/img" "$cached.tmp.$$" &&
		mv -f "$cached.tmp.$$" "$cached" ||
		echo "runtime-image: warning: could not keep the image in the cache $cache_root" >&2
fi
mv -f "$tmp/img" "$out"
echo "$out"
