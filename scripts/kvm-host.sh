#!/usr/bin/env bash
# Run a command on an emulated KVM host: for machines without a usable /dev/kvm.
#
#   scripts/kvm-host.sh [-m MEM] [-c CPUS] [-t SECONDS] [-w DIR] -- COMMAND...
#   scripts/kvm-host.sh --auto [...] -- COMMAND...
#
# QEMU (TCG, software CPU) emulates an AMD machine with SVM and nested paging; Debian's stock
# kernel (scripts/debian-kernel.sh, cached in build/debian-kernel) boots in it and loads
# kvm_amd, so /dev/kvm exists there with the SVM backend. COMMAND runs there as root, in this
# machine's filesystem (shared read-only over 9p, with a RAM overlay for writes), in the same
# directory; the project tree (or -w DIR) is shared writable. Its output streams here and the
# runner exits with its status: 124 if it did not end within the timeout (-t, default 3600 s,
# the whole emulated machine is killed) or the machine hung (no sign of life from it for
# KVM_HOST_STALL seconds, default 300), 125 if the emulated host could not be made (the
# reason is printed). -m sets its memory (default two thirds of what is available, at most
# 16 GiB).
#
# --auto: run COMMAND directly when this machine's /dev/kvm works (or HYPERFORK_EMULATE=0),
# in the emulated host otherwise (or HYPERFORK_EMULATE=1); one line says which.
# --probe: print "native" or "emulated" (what --auto would choose) and exit.
#
# Inside, HYPERFORK_EMULATED=1 and HF_TIME_SCALE (default 10) are set: the integration tests
# multiply the waits that assume native speed by HF_TIME_SCALE. Needs qemu-system-x86,
# busybox-static, cpio, kmod (scripts/install-deps.sh).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { echo "kvm-host: $*" >&2; }
die() { echo "kvm-host: error: $*" >&2; exit 125; }

avail_mib=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
mem=$((avail_mib * 2 / 3))
[ "$mem" -gt 16384 ] && mem=16384
mem=${mem}M
# One emulated CPU by default. With QEMU 7.2 (Debian 12) two were measured unreliable here:
# multi-threaded TCG left the emulated host's kernel hung (tasks stuck in synchronize_srcu)
# or panicking ("corrupted stack end") in 3 of 7 runs of test_fork; single-threaded TCG
# made nested Linux guests deadlock in a spinlock in 12 of 20 boots. One CPU: 0 of 8 and
# 0 of 4, at about the same speed (the second core still serves QEMU's 9p I/O thread).
cpus=1
tmo=3600
stall=${KVM_HOST_STALL:-300}
share=$top
auto=0
while [ $# -gt 0 ]; do
	case $1 in
	-m) mem=$2; shift 2 ;;
	-c) cpus=$2; shift 2 ;;
	-t) tmo=$2; shift 2 ;;
	-w) share=$(cd "$2" && pwd); shift 2 ;;
	--auto) auto=1; shift ;;
	--probe) auto=2; shift; break ;;
	--) shift; break ;;
	-h|--help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || [ $auto = 2 ] || die "no command given (usage: scripts/kvm-host.sh [-m MEM] [-c CPUS] [-t SECONDS] [-w DIR] -- COMMAND...)"
case $tmo in ''|*[!0-9]*) die "-t wants whole seconds, not '$tmo'" ;; esac

# Why this machine's own KVM cannot be used ("" if it can).
kvm_problem() {
	[ -e /dev/kvm ] || { echo "no /dev/kvm on this machine"; return; }
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "/dev/kvm is not readable and writable for $(id -un)"; return; }
	if [ -x "$top/build/hyperfork" ]; then
		local err
		err=$("$top/build/hyperfork" host 2>&1 >/dev/null) || { echo "${err:-hyperfork host failed}"; return; }
	fi
	echo ""
}

if [ $auto != 0 ]; then
	want=${HYPERFORK_EMULATE:-}
	if [ "${HYPERFORK_EMULATED:-0}" = 1 ]; then
		want=0 # already inside the emulated host
	fi
	if [ -z "$want" ]; then
		why=$(kvm_problem)
		if [ -z "$why" ]; then want=0; elif [ $auto = 2 ]; then want=1; else
			say "$why: running inside an emulated KVM host (QEMU TCG, AMD SVM); times measured there are emulated (HYPERFORK_EMULATE=0|1 forces either way)"
			want=1
		fi
	elif [ "$want" = 1 ] && [ "${HYPERFORK_EMULATED:-0}" != 1 ] && [ $auto = 1 ]; then
		say "HYPERFORK_EMULATE=1: running inside an emulated KVM host (QEMU TCG, AMD SVM); times measured there are emulated"
	fi
	if [ $auto = 2 ]; then
		case $want in 0) echo native ;; 1) echo emulated ;; *) die "HYPERFORK_EMULATE must be 0 or 1, not '$want'" ;; esac
		exit 0
	fi
	case $want in
	0) exec "$@" ;;
	1) ;;
	*) die "HYPERFORK_EMULATE must be 0 or 1, not '$want'" ;;
	esac
fi

for c in qemu-system-x86_64 cpio; do
	command -v "$c" >/dev/null || die "$c not found (scripts/install-deps.sh installs it)"
done
busybox=/bin/busybox
[ -x $busybox ] && ! readelf -l $busybox 2>/dev/null | grep -q interpreter ||
	die "a static busybox is needed (Debian package busybox-static)"
case $PWD/ in "$share"/*) ;; *) say "note: $PWD is outside $share: it is read-only in the emulated host (writes there are lost)" ;; esac

# -------------------------------------------------------------- the emulated machine's kernel
kdir=$top/build/debian-kernel
"$top/scripts/debian-kernel.sh" "$kdir" >&2 || die "cannot get Debian's kernel package"
kv=$(cat "$kdir/version")
mods=$kdir/lib/modules/$kv/kernel

# ------------------------------------------------- its initramfs (rebuilt when this file changes)
cache=$top/build/kvm-host
mkdir -p "$cache"
stamp="$kv $(sha256sum < "$0" | cut -c1-16)"
if [ ! -f "$cache/initrd.cpio" ] || [ "$(cat "$cache/initrd.stamp" 2>/dev/null)" != "$stamp" ]; then
	# (Under names of this process's own: make check starts two of these at once.)
	ird=$cache/initrd.$$
	rm -rf "$ird"
	mkdir -p "$ird"/{bin,mods,proc,sys,dev,mnt,lower,upper}
	cp $busybox "$ird/bin/busybox"
	for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
		drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/9p/9pnet \
		net/9p/9pnet_virtio fs/netfs/netfs fs/fscache/fscache fs/9p/9p fs/overlayfs/overlay; do
		[ -f "$mods/$m.ko" ] || die "module $m.ko missing from Debian's kernel $kv"
		cp "$mods/$m.ko" "$ird/mods/"
	done
	sed -n '/^#INIT-BEGIN$/,/^#INIT-END$/p' "$0" | sed '1d;$d' > "$ird/init"
	chmod +x "$ird/init"
	(cd "$ird" && find . | cpio -o -H newc 2>/dev/null) > "$cache/initrd.cpio.$$"
	mv "$cache/initrd.cpio.$$" "$cache/initrd.cpio"
	echo "$stamp" > "$cache/initrd.stamp.$$" && mv "$cache/initrd.stamp.$$" "$cache/initrd.stamp"
	rm -rf "$ird"
fi

# ---------------------------------------------------------------------------- the run
io=$(mktemp -d "${TMPDIR:-/tmp}/kvm-host.XXXXXX")
qpid=
cleanup() { [ -n "$qpid" ] && kill -9 "$qpid" 2>/dev/null; rm -rf "$io"; }
trap cleanup EXIT
trap 'say "interrupted; stopping the emulated machine"; exit 130' INT TERM
{
	printf 'cd %q || exit 125\n' "$PWD"
	# What crosses over: the CI flag, locale, and the project's own variables.
	for v in $(compgen -e); do
		case $v in
		CI|PATH|HOME|LANG|LC_*|TERM|TZ|HF_*|HYPERFORK_*|ASAN_OPTIONS|UBSAN_OPTIONS|JOBS) printf 'export %s=%q\n' "$v" "${!v}" ;;
		esac
	done
	echo "export HYPERFORK_EMULATED=1 HF_TIME_SCALE=\${HF_TIME_SCALE:-10}"
	printf 'export HYPERFORK_EMULATED_ON=%q\n' "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
	printf 'exec'; printf ' %q' "$@"; echo
} > "$io/cmd"
echo "$share" > "$io/share"
echo "${KVM_HOST_KVM_AMD_OPTS:-}" > "$io/kvm_amd_opts"

start=$(date +%s)
say "booting the emulated machine (QEMU TCG, -cpu EPYC, $cpus CPUs, $mem, kernel $kv)"
# The console carries the kernel's complaints and COMMAND's output; firmware chatter and
# terminal escapes are dropped.
share9p() { echo "-virtfs local,path=$1,mount_tag=$2,security_model=none,multidevs=remap$3"; }
# shellcheck disable=SC2046
qemu-system-x86_64 -accel tcg,thread=${KVM_HOST_TCG_THREAD:-multi} -cpu EPYC -smp "$cpus" -m "$mem" \
	-nodefaults -no-user-config -display none -serial stdio -no-reboot \
	-kernel "$kdir/vmlinuz" -initrd "$cache/initrd.cpio" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 mitigations=off" \
	$(share9p / hostroot ,readonly=on) $(share9p "$kdir/lib/modules" mods ,readonly=on) \
	$(share9p "$io" io "") $(share9p "$share" work "") \
	< /dev/null 2> >(grep -v "TCG doesn't support\|Multiple devices\|^$" >&2) \
	> >(sed -u '/SeaBIOS\|iPXE\|Press Ctrl-B\|Booting from ROM\|reboot: Power down/d; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g; s/\r$//') &
qpid=$!
# Watch it: the whole time allowed (-t), and a sign of life. Inside, a loop writes what runs
# to $io/ps every 10 s; an emulated machine that stops doing even that for $stall s has hung
# as a whole (seen once in 35 minutes of suites: kernel, 9p and all), and waiting out -t
# would only waste the rest of it.
timed_out=0
while kill -0 $qpid 2>/dev/null; do
	sleep 2
	now=$(date +%s)
	if [ $((now - start)) -ge "$tmo" ]; then timed_out=1; break; fi
	if [ -f "$io/ps" ] && [ $((now - $(stat -c %Y "$io/ps"))) -ge "$stall" ] && [ ! -f "$io/rc" ]; then
		timed_out=2; break
	fi
done
kill -9 $qpid 2>/dev/null || true
wait $qpid 2>/dev/null || true
qpid=
secs=$(($(date +%s) - start))
if [ -f "$io/rc" ]; then
	rc=$(cat "$io/rc")
	say "the command ended with status $rc after ${secs} s (emulated machine included)"
	exit "$rc"
fi
if [ $timed_out != 0 ]; then
	if [ $timed_out = 1 ]; then
		say "error: the command did not end within $tmo s; the emulated machine was killed (-t SECONDS to allow more)"
	else
		say "error: the emulated machine hung: no sign of life from it for $stall s (KVM_HOST_STALL); it was killed after ${secs} s"
	fi
	if [ -f "$io/ps" ]; then
		say "what ran there $(($(date +%s) - $(stat -c %Y "$io/ps"))) s before:"
		sed 's/^/  /' "$io/ps" >&2
	fi
	exit 124
fi
die "the emulated machine stopped without the command's status (it crashed or could not start; its console is above)"

# The emulated machine's /init (busybox sh), copied into its initramfs from here.
#INIT-BEGIN
#!/bin/busybox sh
export PATH=/bin
/bin/busybox --install -s /bin
fail() { echo "kvm-host: error: $*"; echo 125 > /mnt/run/kvm-host/rc 2>/dev/null; poweroff -f; }
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay; do
	insmod /mods/$m.ko || { echo "kvm-host: error: insmod $m failed"; poweroff -f; }
done
o=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o $o,ro,cache=loose hostroot /lower || { echo "kvm-host: error: cannot mount this machine's root"; poweroff -f; }
mount -t tmpfs -o size=50% upper /upper && mkdir -p /upper/u /upper/w
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w root /mnt || { echo "kvm-host: error: overlay failed"; poweroff -f; }
mount -t devtmpfs dev /mnt/dev; mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts pts /mnt/dev/pts; mount -t tmpfs shm /mnt/dev/shm
# What udev would add: bash's process substitution needs /dev/fd.
ln -s /proc/self/fd /mnt/dev/fd; ln -s fd/0 /mnt/dev/stdin; ln -s fd/1 /mnt/dev/stdout; ln -s fd/2 /mnt/dev/stderr
mount -t proc proc /mnt/proc; mount -t sysfs sys /mnt/sys
# cgroup v2, as systemd mounts it (the jail makes a group per VM); favordynmods, where the
# kernel has it, makes moving a process between groups (each clone into its own) cheap.
mount -t cgroup2 -o favordynmods cgroup2 /mnt/sys/fs/cgroup 2>/dev/null ||
	mount -t cgroup2 cgroup2 /mnt/sys/fs/cgroup || echo "kvm-host: warning: no cgroup2 mounted"
mount -t tmpfs run /mnt/run; mount -t tmpfs tmp /mnt/tmp; chmod 1777 /mnt/tmp
mkdir -p /mnt/run/kvm-host && mount -t 9p -o $o io /mnt/run/kvm-host || { echo "kvm-host: error: cannot mount the command share"; poweroff -f; }
share=$(cat /mnt/run/kvm-host/share)
# mkdir through the overlay: its upper directory written directly is not seen through it.
mkdir -p "/mnt$share" && mount -t 9p -o $o work "/mnt$share" || fail "cannot mount $share"
mkdir -p /mnt/lib/modules && mount -t 9p -o $o,ro mods /mnt/lib/modules || fail "cannot mount the modules"
out=$(chroot /mnt /sbin/modprobe kvm_amd $(cat /mnt/run/kvm-host/kvm_amd_opts) 2>&1)
if [ ! -c /mnt/dev/kvm ]; then
	grep -qw svm /proc/cpuinfo || fail "the emulated CPU has no svm flag (QEMU's -cpu model lacks SVM)"
	fail "no /dev/kvm: modprobe kvm_amd failed: ${out:-no message} ($(dmesg | grep -i kvm | tail -2 | tr '\n' ' '))"
fi
# What the tests need: taps, veth pairs, bridges, network namespaces, vsock loopback (CID 1).
chroot /mnt /sbin/modprobe -a tun veth bridge vsock_loopback 2>&1 | sed 's/^/kvm-host: /'
ip=/mnt/sbin/ip; [ -x $ip ] && chroot /mnt /sbin/ip link set lo up 2>/dev/null
echo "kvm-host: /dev/kvm ready (backend svm, kvm_amd), $(grep -c ^processor /proc/cpuinfo) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB; everything here is emulated"
# Every 10 s, what runs (and where the blocked ones wait in the kernel), for the runner to
# show should COMMAND never end.
(while sleep 10; do
	{
		chroot /mnt /bin/ps -eLo pid,tid,ppid,stat,etime,time,wchan:26,args --sort=pid
		for t in $(chroot /mnt /bin/ps -eLo tid=,stat= | awk '$2 ~ /^D/ { print $1 }'); do
			echo "== blocked thread $t ($(cat /proc/$t/comm)), kernel stack:"; cat /proc/$t/stack
		done
		echo "== kernel log (last 40 lines)"; dmesg | tail -40
	} > /mnt/run/kvm-host/ps.new 2>&1
	mv /mnt/run/kvm-host/ps.new /mnt/run/kvm-host/ps
done) &
chroot /mnt /bin/bash /run/kvm-host/cmd < /dev/null
echo $? > /mnt/run/kvm-host/rc
sync
poweroff -f
#INIT-END
