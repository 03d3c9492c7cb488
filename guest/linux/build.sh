#!/usr/bin/env bash
# Build the HyperFork Linux guest: a minimal kernel from Debian's
# linux-source-6.1 (patched for software-KVM hosts, see README.md) and a
# busybox-static initramfs with the hf-* tools.
#
# Usage: guest/linux/build.sh [OUTDIR]      (or HF_LINUX_OUT=OUTDIR)
# Default OUTDIR is build/linux under the repository root. Idempotent and
# incremental: run it again after editing any input and only what changed is
# rebuilt. Outputs: OUTDIR/{vmlinux,bzImage,initramfs.cpio,initramfs-lambda.cpio,tools/hf-*}.
#
# Environment: JOBS (default: nproc), LINUX_TARBALL (default
# /usr/src/linux-source-6.1.tar.xz), SOURCE_DATE_EPOCH (timestamps baked
# into the kernel and the initramfs; default 0, for reproducible output),
# HF_LINUX_CONFIG_EXTRA (a second Kconfig fragment merged after
# config.fragment, e.g. "# CONFIG_SMP is not set"; use another OUTDIR), HF_CACHE
# (where kernels built from the same inputs are kept, outside the tree; see below).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/../.." && pwd)
out=${1:-${HF_LINUX_OUT:-$repo_root/build/linux}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src
tarball=${LINUX_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
jobs=${JOBS:-$(nproc)}
epoch=${SOURCE_DATE_EPOCH:-0}

step() { printf '==> %s\n' "$*"; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- prerequisites
missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_cmd gcc gcc
need_cmd make make
need_cmd flex flex
need_cmd bison bison
need_cmd bc bc
need_cmd xz xz-utils
need_cmd lz4 lz4 # bzImage payload compression (fastest to decompress)
need_cmd perl perl
[ -f /usr/include/libelf.h ] || [ -f /usr/include/elfutils/libelf.h ] || missing+=(libelf-dev)
[ -f "$tarball" ] || missing+=(linux-source-6.1)
busybox=/bin/busybox
if [ ! -x "$busybox" ] || readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	missing+=(busybox-static)
fi
if command -v musl-gcc >/dev/null 2>&1; then
	tools_cc=musl-gcc # tiny static binaries (~20 KB instead of ~800 KB)
else
	tools_cc=gcc
	[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
	die "missing Debian packages: ${missing[*]}
    install them with: apt-get install ${missing[*]}"
fi

export KBUILD_BUILD_TIMESTAMP="@$epoch" KBUILD_BUILD_USER=hyperfork KBUILD_BUILD_HOST=hyperfork KBUILD_BUILD_VERSION=1
kmake() { make -C "$src" -s "$@"; }

# ---------------------------------------------------------------- kernel cache
# The kernel is built from fixed inputs: Debian's source tarball, the patches, the config
# fragments, the compiler and the build's timestamp. A kernel built from the same inputs
# is kept outside the tree, in HF_CACHE (default /var/cache/hyperfork when writable, else
# ~/.cache/hyperfork; "off": none), keyed by their hash: a fresh clone (CI) takes it from
# there instead of building it again (~9 minutes on 2 cores). A miss builds it as below
# and fills the cache.
fragments=("$script_dir/config.fragment")
if [ -n "${HF_LINUX_CONFIG_EXTRA:-}" ]; then
	[ -f "$HF_LINUX_CONFIG_EXTRA" ] || die "HF_LINUX_CONFIG_EXTRA: no such file: $HF_LINUX_CONFIG_EXTRA"
	fragments+=("$(cd "$(dirname "$HF_LINUX_CONFIG_EXTRA")" && pwd)/$(basename "$HF_LINUX_CONFIG_EXTRA")")
fi
patches=("$script_dir"/patches/*.patch)
[ -e "${patches[0]}" ] || patches=()
cache_root=${HF_CACHE:-}
if [ -z "$cache_root" ]; then
	if mkdir -p /var/cache/hyperfork 2>/dev/null && [ -w /var/cache/hyperfork ]; then
		cache_root=/var/cache/hyperfork
	else
		cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/hyperfork
	fi
fi
kcache=
if [ "$cache_root" != off ]; then
	key=$( {
		echo "hyperfork guest kernel, cache v1"
		sha256sum <"$tarball"
		for p in ${patches[@]+"${patches[@]}"}; do basename "$p"; sha256sum <"$p"; done
		cat "${fragments[@]}"
		gcc --version | head -1
		echo "$epoch $KBUILD_BUILD_USER $KBUILD_BUILD_HOST $KBUILD_BUILD_VERSION"
	} | sha256sum | cut -c1-24)
	kcache=$cache_root/linux-$key
fi
install_if_changed() { cmp -s "$1" "$2" || cp "$1" "$2"; }

if [ -n "$kcache" ] && [ -f "$kcache/complete" ]; then
	step "kernel from the cache: $kcache (same source, patches, config and compiler)"
	install_if_changed "$kcache/vmlinux" "$out/vmlinux"
	install_if_changed "$kcache/bzImage" "$out/bzImage"
	cp "$kcache/System.map" "$out/System.map"
	gen_init_cpio=$kcache/gen_init_cpio
else
# --------------------------------------------------------- source and patches
# The stamp records which patches are applied (copies kept in .hf-patches).
# When the patch set changes, the old patches are reverted and the new ones
# applied, so only the files they touch are rebuilt; if reverting fails the
# tree is extracted afresh.
stamp=$src/.hf-patched
applied=$src/.hf-patches
want=$( { echo "$tarball"; for p in ${patches[@]+"${patches[@]}"}; do basename "$p"; sha256sum <"$p"; done; } | sha256sum | cut -d' ' -f1)

extract() {
	step "extracting $(basename "$tarball") into $src"
	rm -rf "$src" "$out/src.tmp"
	mkdir -p "$out/src.tmp"
	tar -xf "$tarball" -C "$out/src.tmp" --strip-components=1
	mv "$out/src.tmp" "$src"
}

if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
	if [ -f "$stamp" ] && [ -d "$applied" ]; then
		step "patch set changed: reverting the previously applied patches"
		ok=1
		old_patches=("$applied"/*.patch)
		for ((i = ${#old_patches[@]} - 1; i >= 0; i--)); do
			p=${old_patches[i]}
			[ -e "$p" ] || continue
			patch -d "$src" -p1 -R -s -f <"$p" >/dev/null || { ok=0; break; }
		done
		[ $ok = 1 ] || extract
	elif [ -e "$src" ]; then
		extract # an interrupted extraction or patching: start over
	else
		extract
	fi
	rm -rf "$applied" "$stamp"
	mkdir -p "$applied"
	for p in ${patches[@]+"${patches[@]}"}; do
		step "applying patch $(basename "$p")"
		patch -d "$src" -p1 -s -f -N <"$p" || die "patch $(basename "$p") does not apply"
		cp "$p" "$applied/"
	done
	echo "$want" >"$stamp"
else
	step "source tree up to date ($src)"
fi

# --------------------------------------------------------------------- config
cfg_want=$(cat "${fragments[@]}" | sha256sum | cut -d' ' -f1)
cfg_stamp=$src/.hf-config
if [ ! -f "$src/.config" ] || [ ! -f "$cfg_stamp" ] || [ "$(cat "$cfg_stamp")" != "$cfg_want" ]; then
	step "configuring: tinyconfig + ${fragments[*]##*/}"
	rm -f "$cfg_stamp"
	cp -p "$src/.config" "$src/.config.hf-prev" 2>/dev/null || true
	kmake tinyconfig >/dev/null
	(cd "$src" && scripts/kconfig/merge_config.sh -m .config "${fragments[@]}" >/dev/null)
	kmake olddefconfig >/dev/null
	# Every option of the fragments (the last setting of each) must have
	# survived olddefconfig.
	declare -A wanted=()
	while IFS= read -r line; do
		case $line in
		CONFIG_*=*) sym=${line%%=*} ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *} ;;
		*) continue ;;
		esac
		wanted[$sym]=$line
	done < <(cat "${fragments[@]}")
	bad=0
	for sym in "${!wanted[@]}"; do
		line=${wanted[$sym]}
		got=$(grep -E "^($sym=|# $sym is not set)" "$src/.config" || true)
		if [ "$line" != "$got" ] && ! { [ -z "$got" ] && [ "${line#\# }" != "$line" ]; }; then
			echo "    config: wanted '$line', got '${got:-<absent>}'" >&2
			bad=1
		fi
	done
	[ $bad = 0 ] || die "config.fragment options were overridden (missing dependencies?)"
	# Keep the old .config (and its timestamp) when nothing changed, so that
	# make does not rebuild anything.
	if [ -f "$src/.config.hf-prev" ] && cmp -s "$src/.config" "$src/.config.hf-prev"; then
		mv "$src/.config.hf-prev" "$src/.config"
	fi
	rm -f "$src/.config.hf-prev" "$src/.config.old"
	echo "$cfg_want" >"$cfg_stamp"
else
	step "config up to date"
fi

# --------------------------------------------------------------------- kernel
step "building vmlinux and bzImage (make -j$jobs)"
t0=$(date +%s)
kmake -j"$jobs" vmlinux bzImage
[ -x "$src/usr/gen_init_cpio" ] || kmake usr/
[ -x "$src/usr/gen_init_cpio" ] || die "usr/gen_init_cpio was not built"
step "kernel built in $(($(date +%s) - t0)) s"
install_if_changed "$src/vmlinux" "$out/vmlinux"
install_if_changed "$src/arch/x86/boot/bzImage" "$out/bzImage"
cp "$src/System.map" "$out/System.map"

gen_init_cpio=$src/usr/gen_init_cpio
if [ -n "$kcache" ]; then # into the cache, whole or not at all
	mkdir -p "$cache_root" 2>/dev/null && tmp=$(mktemp -d "$cache_root/.linux.XXXXXX") &&
		cp "$src/vmlinux" "$src/arch/x86/boot/bzImage" "$src/System.map" "$gen_init_cpio" "$tmp/" &&
		touch "$tmp/complete" && { mv -T "$tmp" "$kcache" 2>/dev/null || rm -rf "$tmp"; } &&
		step "kernel kept in the cache: $kcache" ||
		echo "build.sh: warning: could not keep the kernel in the cache $cache_root" >&2
fi
fi

# ---------------------------------------------------------------- guest tools
# Each guest/tools/hf-NAME.c is a program; hf-lambda is made of it and its parts,
# guest/tools/lambda-*.c (which are no programs of their own). A tool is rebuilt when one
# of its files, a header of guest/tools, include/hyperfork/abi.h or lambda.h is newer.
step "building guest tools with $tools_cc"
mkdir -p "$out/tools"
tools_dir=$repo_root/guest/tools
tools=$(cd "$tools_dir" && ls hf-*.c | sed 's/\.c$//')
for t in $tools; do
	srcs=("$tools_dir/$t.c")
	case $t in
	hf-lambda) srcs+=("$tools_dir"/lambda-*.c) ;;
	esac
	rebuild=0
	[ -f "$out/tools/$t" ] || rebuild=1
	for f in "${srcs[@]}" "$tools_dir"/*.h "$repo_root/include/hyperfork/abi.h" \
		"$repo_root/include/hyperfork/lambda.h"; do
		if [ "$f" -nt "$out/tools/$t" ]; then
			rebuild=1
		fi
	done
	if [ $rebuild = 1 ]; then
		"$tools_cc" -static -O2 -Wall -Wextra -Werror -s -I"$repo_root/include" \
			-o "$out/tools/$t" "${srcs[@]}" -lm
	fi
done

# ----------------------------------------------------------------- initramfs
# gen_init_cpio takes a file list, so no root or mknod is needed. Files are
# staged with a fixed mtime so that the archive is reproducible.
step "building initramfs.cpio"
stage=$out/initramfs.stage
rm -rf "$stage"
mkdir -p "$stage/scripts"
cp "$busybox" "$stage/busybox"
cp "$script_dir/init" "$stage/init"
cp "$out"/tools/hf-* "$stage/"
cp "$script_dir"/scripts/*.sh "$stage/scripts/"
# curl, for AWS Lambda `provided` runtimes (their bootstrap scripts use it; busybox has
# none): Debian's /usr/bin/curl if this machine has it, with the shared libraries ldd finds
# for it (under their own names, in their own directories) and the dynamic loader.
curl_list=()
if [ -x /usr/bin/curl ]; then
	mkdir -p "$stage/curl"
	interp=$(readelf -l /usr/bin/curl | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
	[ -n "$interp" ] || die "/usr/bin/curl: no program interpreter"
	deps=$(ldd /usr/bin/curl) || die "ldd /usr/bin/curl failed"
	! grep -q 'not found' <<<"$deps" || die "/usr/bin/curl: libraries missing: $(grep 'not found' <<<"$deps" | tr -s '\t\n' '  ')"
	libs=$(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$deps")
	n=0
	for f in /usr/bin/curl "$interp" $libs; do
		n=$((n + 1))
		cp -L "$f" "$stage/curl/$n"
		curl_list+=("$f $stage/curl/$n")
	done
fi
find "$stage" -exec touch -h -d "@$epoch" {} +
applets="sh ash mount umount cat ls echo sleep ps dmesg uname mkdir rm cp mv ln
	grep sed head tail wc date poweroff reboot halt sync free top kill env
	true false test [ printf vi less hexdump od dd stat chmod find xargs seq
	ip ifconfig route ping nc wget httpd mknod
	mktemp tr cut base64 awk sort uniq tee basename dirname touch expr cmp
	sha256sum md5sum which id hostname realpath readlink mkfifo timeout gzip
	gunzip zcat tar unzip chroot"
{
	echo "dir /dev 0755 0 0"
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "nod /dev/null 0666 0 0 c 1 3"
	echo "nod /dev/zero 0666 0 0 c 1 5"
	echo "nod /dev/random 0666 0 0 c 1 8"
	echo "nod /dev/urandom 0666 0 0 c 1 9"
	echo "nod /dev/tty 0666 0 0 c 5 0"
	echo "nod /dev/ttyS0 0600 0 0 c 4 64"
	echo "dir /bin 0755 0 0"
	echo "file /bin/busybox $stage/busybox 0755 0 0"
	for a in $applets; do echo "slink /bin/$a busybox 0777 0 0"; done
	for t in $tools; do echo "file /bin/$t $stage/$t 0755 0 0"; done
	echo "dir /proc 0755 0 0"
	echo "dir /sys 0755 0 0"
	echo "dir /tmp 1777 0 0"
	echo "dir /root 0700 0 0"
	echo "dir /etc 0755 0 0"
	echo "dir /etc/hf 0755 0 0"
	for s in "$stage"/scripts/*.sh; do echo "file /etc/hf/$(basename "$s") $s 0755 0 0"; done
	# AWS Lambda's directories (scripts/lambda.sh)
	for d in /var /var/task /var/runtime /opt /rt; do echo "dir $d 0755 0 0"; done
	echo "file /init $stage/init 0755 0 0"
} >"$out/initramfs.list"
"$gen_init_cpio" -t "$epoch" "$out/initramfs.list" >"$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"

# initramfs-lambda.cpio: the same with curl (19 MB with its libraries) for Lambda
# functions, kept out of every other guest's initramfs. The kernel unpacks concatenated
# archives one after the other.
if [ ${#curl_list[@]} -gt 0 ]; then
	{
		# curl and its libraries, at their paths on this machine
		declare -A dirs=()
		for e in ${curl_list[@]+"${curl_list[@]}"}; do
			path=${e%% *}
			d=$(dirname "$path")
			p=
			for c in ${d//\// }; do
				p=$p/$c
				[ -n "${dirs[$p]+x}" ] || { echo "dir $p 0755 0 0"; dirs[$p]=1; }
			done
			echo "file $path ${e#* } 0755 0 0"
		done
	} >"$out/initramfs-curl.list"
	"$gen_init_cpio" -t "$epoch" "$out/initramfs-curl.list" >"$out/initramfs-curl.cpio"
	cat "$out/initramfs.cpio" "$out/initramfs-curl.cpio" >"$out/initramfs-lambda.cpio"
	rm -f "$out/initramfs-curl.cpio"
fi

step "done: $out/vmlinux ($(stat -c %s "$out/vmlinux") bytes), $out/bzImage ($(stat -c %s "$out/bzImage") bytes), $out/initramfs.cpio ($(stat -c %s "$out/initramfs.cpio") bytes)${curl_list[0]:+, $out/initramfs-lambda.cpio ($(stat -c %s "$out/initramfs-lambda.cpio") bytes)}"
