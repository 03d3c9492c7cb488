#!/bin/bash
# A Lambda runtime's root file system as an ext2 image, built from Debian packages by name
# (downloaded with apt-get, unpacked with dpkg-deb, never installed) plus the project's
# runtime interface client (guest/runtimes/RUNTIME/). serve gives it to every function of
# that runtime as a read-only disk: one image, its pages shared by all their VMs.
#
#   scripts/runtime-image.sh RUNTIME [OUT.img]     RUNTIME: python3.11, nodejs18.x
#
# Kept in the cache (HF_CACHE, else /var/cache/hyperfork, else ~/.cache/hyperfork; off:
# none) under a key of the packages' versions and the client's files: a hit copies it, a
# miss builds it. Prints the image's path.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "runtime-image: error: $*" >&2; exit 1; }

runtime=${1:-}
# roots: the packages the runtime needs (PKG, or PKG=GLOB for a version matching GLOB);
# dev: what only building the client needs (headers), at the versions of the packages named
# after the colon (downloaded, never put in the image).
dev=
case $runtime in
python3.11)
	roots="python3.11-minimal libpython3.11-stdlib ca-certificates"
	client=$top/guest/runtimes/python
	;;
nodejs18.x)
	roots="nodejs=18.* ca-certificates"
	dev="libnode-dev:libnode108 libssl-dev:libssl3"
	client=$top/guest/runtimes/nodejs
	;;
*) die "unknown runtime '${runtime}': python3.11 nodejs18.x" ;;
esac
out=${2:-$top/build/runtimes/$runtime.img}
for c in apt-get apt-cache dpkg dpkg-deb mke2fs sha256sum; do
	command -v "$c" > /dev/null || die "$c not found (run scripts/install-deps.sh)"
done
[ -z "$dev" ] || command -v gcc > /dev/null || die "gcc not found (run scripts/install-deps.sh)"
[ -d "$client" ] || die "no runtime client in $client"

# The packages: the roots and what they depend on (Depends and Pre-Depends, the first of
# each set of alternatives), each at the highest version Debian's archive has (apt-cache
# madison: the configured repositories, not what this machine has installed, which may be
# another vendor's) that meets every constraint on it. Left out: what only installing them
# needs (dpkg, debconf, perl for maintainer scripts, install-info, tar), and for
# ca-certificates the openssl command its maintainer script runs (the bundle is made here).
skip=" dpkg debconf cdebconf install-info tar perl perl-base perl-modules-5.36 libperl5.36 "
skip+="mailcap mime-support openssl "
arch=$(dpkg --print-architecture)
declare -A ver=() cand=()
# (apt-cache takes half a second to start: it is asked about a whole level of the graph at once)
# candidates PKG...: cand[PKG], its versions in the archive for this architecture, highest
# first.
candidates() {
	local p v
	while read -r p v; do cand[$p]+=" $v"; done < <(apt-cache madison "$@" 2> /dev/null |
		awk -F'|' -v a="$arch" '$3 ~ (" (" a "|all) Packages") { gsub(/ /, "", $1); gsub(/ /, "", $2); print $1, $2 }')
	for p; do cand[$p]+=" "; done
}
# meets VERSION OP WANT: VERSION satisfies the constraint "(OP WANT)" (no OP: any).
meets() { [ -z "$2" ] || dpkg --compare-versions "$1" "$2" "$3"; }
# parse DEP: name, op, want and glob of DEP ("name:any (>= 1.2)", "name=GLOB").
parse() {
	local d=$1
	d=${d#"${d%%[! ]*}"}
	name=${d%% *} name=${name%%(*} name=${name%%:*} op= want= glob=
	case $d in *"("*)
		read -r op want <<< "${d#*(}"
		want=${want%)}
		;;
	esac
	case $name in *=*) glob=${name#*=} name=${name%%=*} ;; esac
}
# need DEP FROM: DEP is in the closure at a version meeting its constraint; added is its
# name if it was not yet, else empty.
need() {
	local v= c name op want glob
	added=
	parse "$1"
	case $skip in *" $name "*) return 0 ;; esac
	if [ -n "${ver[$name]:-}" ]; then
		meets "${ver[$name]}" "$op" "$want" ||
			die "$name ${ver[$name]} was chosen, but $2 needs $name ($op $want)"
		return 0
	fi
	for c in ${cand[$name]}; do
		# shellcheck disable=SC2254 # (GLOB is a pattern)
		case $c in ${glob:-*}) meets "$c" "$op" "$want" && { v=$c; break; } ;; esac
	done
	[ -n "$v" ] || die "the archive has no $name${glob:+=$glob}${op:+ ($op $want)} (for $2; apt-get update?)"
	ver[$name]=$v
	added=$name
}
# A level of the graph at a time: lines "FROM<tab>DEP", DEP the first of a set of
# alternatives in FROM's Depends or Pre-Depends at its chosen version.
level=()
for r in $roots; do level+=("the runtime	$r"); done
while [ ${#level[@]} -gt 0 ]; do
	ask=()
	for l in "${level[@]}"; do
		parse "${l#*	}"
		case $skip in *" $name "*) continue ;; esac
		[ -n "${ver[$name]:-}" ] || [ -n "${cand[$name]+x}" ] || ask+=("$name")
	done
	[ ${#ask[@]} -eq 0 ] || candidates $(printf '%s\n' "${ask[@]}" | sort -u)
	new=()
	for l in "${level[@]}"; do
		need "${l#*	}" "${l%%	*}"
		[ -z "$added" ] || new+=("$added=${ver[$added]}")
	done
	level=()
	[ ${#new[@]} -eq 0 ] && break
	while IFS= read -r l; do level+=("$l"); done < <(apt-cache show "${new[@]}" 2> /dev/null | awk '
		/^Package:/ { p = $2 }
		/^(Pre-)?Depends:/ {
			sub(/^[^:]*: */, ""); n = split($0, ds, ",")
			for (i = 1; i <= n; i++) { d = ds[i]; sub(/\|.*/, "", d); print p "\t" d }
		}' | sort -u)
done
pkgs=()
for p in "${!ver[@]}"; do pkgs+=("$p=${ver[$p]}"); done
versions=$(for p in "${!ver[@]}"; do printf '%s %s\n' "$p" "${ver[$p]}"; done | sort)
devpkgs=()
for d in $dev; do devpkgs+=("${d%%:*}=${ver[${d#*:}]:?${d#*:} is not in the closure}"); done

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
if [ ${#devpkgs[@]} -gt 0 ]; then
	mkdir dev
	chmod 777 dev
	(cd dev && get "${devpkgs[@]}" && for d in *.deb; do dpkg-deb -x "$d" .; done)
fi
# Documentation, manuals and translations nobody reads in a function.
rm -rf root/usr/share/doc root/usr/share/man root/usr/share/info root/usr/share/locale \
	root/usr/share/lintian
for d in proc sys dev tmp etc var/task var/runtime opt; do mkdir -p "root/$d"; done
chmod 1777 root/tmp
cp -r "$client"/. root/var/runtime/
rm -f root/var/runtime/*.c
chmod 755 root/var/runtime/bootstrap
# ca-certificates' bundle as its maintainer script would make it (update-ca-certificates:
# every certificate the package has), where OpenSSL looks by default (the openssl package's
# links), so that TLS clients verify servers.
if [ -d root/usr/share/ca-certificates ]; then
	mkdir -p root/etc/ssl/certs root/usr/lib/ssl
	find root/usr/share/ca-certificates -name '*.crt' | sort | xargs sed -s -e '$a\' \
		> root/etc/ssl/certs/ca-certificates.crt
	ln -sfn /etc/ssl/certs root/usr/lib/ssl/certs
	ln -sfn /etc/ssl/certs/ca-certificates.crt root/usr/lib/ssl/cert.pem
fi
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
# Node: the client's native part (reseed.c: reseeds OpenSSL's generator in a new clone),
# against Debian's headers; the client's modules (snapshot-restore-node) found from
# /var/task by require and import alike (they look in /node_modules).
if [ "$runtime" = nodejs18.x ]; then
	multiarch=$(gcc -print-multiarch)
	gcc -O2 -fPIC -shared -Wall -Wextra -Werror -o root/var/runtime/reseed.node "$client/reseed.c" \
		-I dev/usr/include/node -I dev/usr/include -I "dev/usr/include/$multiarch" \
		"root/usr/lib/$multiarch/libcrypto.so.3" || die "cannot build reseed.node"
	ln -sfn var/runtime/node_modules root/node_modules
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
