#!/usr/bin/env bash
# make check's second half: every integration suite and the sanitized run, on KVM.
#
#   scripts/check-guests.sh
#
# With this machine's own /dev/kvm the suites run here, one after another, except where
# this KVM cannot serve them: a Linux guest that takes over LINUX_SLOW_S seconds (default 15)
# to boot and power off here (a KVM that runs guest kernels deprivileged, as PVM does, pays
# for every page fault of theirs: 36 s to /init measured on one, where an emulated KVM host
# takes a few) has the suites that boot Linux guests run in emulated KVM hosts instead; and
# a suite that is NOT RUN here (what it needs is missing: a cgroup2 with controllers for the
# jail, a stock kernel on PVM) runs again there. Without /dev/kvm everything runs in
# emulated KVM hosts (scripts/kvm-host.sh): one per core, at most HF_HOSTS (default 2), each
# a single emulated CPU, side by side. The suites are dealt out by what each took the last
# time it was measured in the emulated host (longest first, each to the host with the least
# so far), so the hosts end near each other. An emulated host that hangs (a VMM stuck in
# that host's kernel stops everything reading its /proc entries, the runner's own watch
# included: kvm-host.sh says so after KVM_HOST_STALL seconds, 180 here, without a sign of
# life) has the suites it had not finished run again at once in a new one in its place,
# printed, up to three times while each try finishes something; a suite that fails there
# fails the check. make check's deadline (HF_CHECK_DEADLINE) bounds all. HF_CHECK_ITEMS
# names a subset (e.g. "test_cli sanitize") instead of all.
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top" || exit 1
say() { echo "check: $*"; }
export KVM_HOST_STALL=${KVM_HOST_STALL:-180}

# Seconds each took in the emulated host, two side by side (the suites that boot Linux and
# their sanitized runs: check-guests of c283aeb on a PVM host, 2026-12-07, test_shim alone
# the same day; the rest: make check of f75c594, 46 min, where the suites' awscli calls
# were not yet curl's and boto3's); a suite not listed counts as 60. "sanitize" is the
# sanitized unit tests and SAN_TESTS (990: all of them; 460: those that boot Linux, test_shim
# ~170 of it), SAN_ARGS make variables for it (e.g. a part of SAN_TESTS).
declare -A took=(
	[test_lambda_api]=542 [test_runtime]=537 [test_serve]=421 [sanitize]=990 [test_function]=266
	[test_reuse]=259 [test_vsock]=185 [test_shim]=150 [test_lambda_node]=112 [test_bare]=82
	[test_fork]=81 [test_bench_guests]=74 [test_lambda]=74 [test_jail]=60 [test_admission]=43
	[test_stock]=42 [test_reset]=29 [test_linux]=26 [test_net]=21 [test_cli]=15 [test_disk]=14
	[test_template]=14 [test_seccomp]=12 [test_control]=11
)
check_items=${HF_CHECK_ITEMS:-$(cd tests/integration && ls test_*.sh | sed "s/\.sh$//"; echo sanitize)}
SAN_ARGS=
hosts=${HF_HOSTS:-2}
cores=$(nproc)
[ "$hosts" -gt "$cores" ] && hosts=$cores
[ "$hosts" -ge 1 ] || hosts=1

avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
mem=$((avail * 2 / 3 / hosts))
[ "$mem" -gt 16384 ] && mem=16384
deadline=${HF_CHECK_DEADLINE:-0}
timeout_left() { # seconds kvm-host.sh may run: to make check's deadline (and a minute), or 4800
	if [ "$deadline" -gt 0 ]; then echo $((deadline - $(date +%s) + 60)); else echo 4800; fi
}

# One emulated host running ITEMS; its output, each line marked with TAG, also kept in OUT.
run_host() { # TAG OUT ITEMS...
	local tag=$1 out=$2; shift 2
	local suites="" san=""
	for it in "$@"; do
		if [ "$it" = sanitize ]; then san=sanitize-run; else suites="$suites $it"; fi
	done
	local targets=""
	[ -n "$suites" ] && targets="integration-run TESTS='${suites# }'"
	[ -n "$san" ] && targets="$targets $san SAN_REPORTS=build/san/reports.$tag $SAN_ARGS"
	scripts/kvm-host.sh -m "${mem}M" -t "$(timeout_left)" -- \
		bash -c "make --no-print-directory -k $targets" 2>&1 |
		if [ "$hosts" = 1 ]; then tee "$out"; else sed -u "s/^/[$tag] /" | tee "$out"; fi
	return "${PIPESTATUS[0]}"
}

# What a hung host OUT had not finished of ITEMS: suites with no PASS/FAIL/NOT RUN line, and
# the sanitized run unless it said how it ended; printed. Fails if OUT shows a FAIL.
left_of() { # OUT ITEMS...
	local out=$1 it; shift
	for it in "$@"; do
		if [ "$it" = sanitize ]; then
			grep -q "sanitize: no sanitizer reports\|sanitize: reports above" "$out" || echo "$it"
		else
			grep -qE "(PASS|FAIL|NOT RUN) +$it " "$out" || echo "$it"
		fi
	done
	! grep -qE "(\] |^)FAIL " "$out"
}
hung() { [ "$1" = 124 ] && grep -q "the emulated machine hung" "$2"; }

# One host's share, ITEMS, in slot H. A hung host (a VMM stuck in that host's kernel, and
# everything that reads its /proc entries with it: seen about once an hour of suites) costs
# what it had not finished: that runs again at once in a new host in the same slot, beside
# the other hosts, as long as each try finishes something, at most three times.
slot() { # H ITEMS...
	local h=$1 try=0 r rc=0 out left
	shift
	local items=("$@")
	out=build/test-logs/host$h.out
	run_host "h$h" "$out" "${items[@]}"
	r=$?
	while hung $r "$out"; do
		left=$(left_of "$out" "${items[@]}") || rc=1
		# shellcheck disable=SC2206
		left=($left)
		if [ ${#left[@]} = 0 ]; then r=0; break; fi
		if [ $try = 3 ] || { [ $try -gt 0 ] && [ ${#left[@]} = ${#items[@]} ]; }; then
			say "host $h: not run, its hosts hung: ${left[*]}"
			return 1
		fi
		try=$((try + 1))
		items=("${left[@]}")
		say "emulated host $h hung (above); what it had not finished runs again in a new one (try $try): ${items[*]}"
		out=build/test-logs/host$h-again$try.out
		run_host "h$h.$try" "$out" "${items[@]}"
		r=$?
	done
	[ $r = 0 ] || rc=1
	return $rc
}

# ITEMS in emulated hosts, side by side.
emulate() { # ITEMS...
	local h it best
	local -a load list pid
	for ((h = 0; h < hosts; h++)); do load[h]=0; list[h]=""; done
	for it in $(for i in "$@"; do echo "${took[$i]:-60} $i"; done | sort -rn | awk '{ print $2 }'); do
		best=0
		for ((h = 1; h < hosts; h++)); do [ "${load[h]}" -lt "${load[best]}" ] && best=$h; done
		load[best]=$((load[best] + ${took[$it]:-60}))
		list[best]="${list[best]} $it"
	done
	mkdir -p build/test-logs
	for ((h = 0; h < hosts; h++)); do
		[ -n "${list[h]}" ] || continue
		say "emulated host $((h + 1)) of $hosts (${mem} MiB, ~${load[h]} s measured):${list[h]}"
		# shellcheck disable=SC2086
		slot $((h + 1)) ${list[h]} &
		pid[h]=$!
	done
	local rc=0
	for ((h = 0; h < hosts; h++)); do
		[ -n "${pid[h]:-}" ] || continue
		wait "${pid[h]}" || rc=1
	done
	return $rc
}

# Seconds a Linux guest (the project's kernel and initramfs, no script) takes here to boot
# to /init and power off, at most LINUX_SLOW_S + 1.
linux_boot_secs() {
	local t0 dir max=$((${LINUX_SLOW_S:-15} + 1))
	t0=$(date +%s%N)
	dir=$(mktemp -d /tmp/hf-probe.XXXXXX)
	HYPERFORK_RUN_DIR=$dir timeout -k 5 "$max" build/hyperfork run --name probe --mem 256M --console none \
		--kernel build/linux/vmlinux --initrd build/linux/initramfs.cpio --cmdline "console=ttyS0 quiet" \
		> /dev/null 2>&1
	rm -rf "$dir"
	echo $((($(date +%s%N) - t0) / 1000000000))
}

mode=$(scripts/kvm-host.sh --probe) || exit 125
if [ "$mode" != native ]; then
	# shellcheck disable=SC2086
	emulate $check_items
	exit $?
fi

# This machine's KVM: what it runs well runs here; the rest in emulated hosts.
suites=$(for it in $check_items; do [ "$it" = sanitize ] || echo "$it"; done | tr '\n' ' ')
san=$(for it in $check_items; do [ "$it" = sanitize ] && make -s --no-print-directory san-tests; done)
emu=()
secs=$(linux_boot_secs)
if [ "$secs" -gt "${LINUX_SLOW_S:-15}" ] && command -v qemu-system-x86_64 > /dev/null; then
	linux=" $(cd tests/integration && grep -l 'need_linux_guest\|VMLINUX\|BZIMAGE\|LINUX_DIR' test_*.sh | sed 's/\.sh$//' | tr '\n' ' ')"
	# (those of the suites and of the sanitized ones that boot Linux go to the emulated hosts)
	here="" san_emu=""
	for t in $suites; do if [[ $linux == *" $t "* ]]; then emu+=("$t"); else here="$here $t"; fi; done
	suites=$here here=""
	for t in $san; do if [[ $linux == *" $t "* ]]; then san_emu="$san_emu $t"; else here="$here $t"; fi; done
	san=$here
	if [ -n "$san_emu" ]; then
		emu+=(sanitize)
		SAN_ARGS="SAN_TESTS='${san_emu# }' SAN_UNIT="
		took[sanitize]=460
	fi
	say "a Linux guest takes over ${LINUX_SLOW_S:-15} s to boot here (LINUX_SLOW_S): the suites that boot Linux run in emulated KVM hosts: ${emu[*]}"
else
	say "a Linux guest boots and powers off in $secs s here: every suite runs on this machine's KVM"
fi
mkdir -p build/test-logs
targets=""
suites=$(echo $suites) san=$(echo $san) # (spaces trimmed)
[ -n "$suites" ] && targets="integration-run TESTS='$suites'"
[ -n "$san" ] && targets="$targets sanitize-run SAN_TESTS='$san'"
rc=0
if [ -n "$targets" ]; then
	bash -c "make --no-print-directory -k $targets" 2>&1 | tee build/test-logs/native.out
	rc=${PIPESTATUS[0]}
	# NOT RUN here (what they need is missing) runs again in an emulated host, where QEMU can
	# make one. (A suite left out for the time budget says so without a count of checks.)
	notrun=$(sed -n 's/^NOT RUN \(test_[a-z0-9_]*\) .* checks .*/\1/p' build/test-logs/native.out | sort -u)
	if [ -n "$notrun" ] && command -v qemu-system-x86_64 > /dev/null; then
		say "not run on this machine's KVM, so in an emulated KVM host:" $notrun
		mapfile -t -O ${#emu[@]} emu <<< "$notrun"
	fi
fi
if [ ${#emu[@]} -gt 0 ]; then
	emulate "${emu[@]}" || rc=1
fi
exit $rc
