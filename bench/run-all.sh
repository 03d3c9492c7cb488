#!/usr/bin/env bash
# `make bench`: every benchmark in one run on this machine, then bench/REPORT.md with the
# figures (bench/figures/*.png). Each script prints and records its own figures in
# bench/results/; nothing here is asserted.
#
# In an emulated KVM host (scripts/kvm-host.sh, HYPERFORK_EMULATED=1) everything the guests
# do is emulated: a nested page fault costs milliseconds, so the sizes and counts are cut
# (4 KiB guest pages at 128 MB only), and the report leads with ratios measured in this one
# run rather than absolute times.
set -u
cd "$(dirname "$0")/.." || exit 1
mkdir -p bench/results bench/figures
start=$(date +%s)
if [ "${HYPERFORK_EMULATED:-0}" = 1 ]; then
	BOOT_ARGS=(10 2); FORK_ARGS=(20 "128 512 2048" 128); COW_ARGS=(1 "4 16")
	FUNCTION_ARGS=(8 2); PEERS_ARGS=(3); NET_ARGS=(5); VSOCK_ARGS=(200 64 3 20); SCALE_ARGS=(1500 3072)
	SERVE_ARGS=(10 "1 2 8 64" 8 100000 10000); SECCOMP_ARGS=(20 2); RESET_ARGS=(10 64 "1 16 256 all")
	RUNTIME_INIT_ARGS=(10 200000 4)
else
	BOOT_ARGS=(20 3); FORK_ARGS=(100 "128 256 512 1024 2048 4096")
	COW_ARGS=(3 "16 64 256"); FUNCTION_ARGS=(64 8); PEERS_ARGS=(5); NET_ARGS=(20); VSOCK_ARGS=(1000 256 5 100)
	SCALE_ARGS=(20000 3072); SERVE_ARGS=(10 "1 2 8 64" 64 200000 10000); SECCOMP_ARGS=(100 3)
	RESET_ARGS=(100 128 "1 16 256 all"); RUNTIME_INIT_ARGS=(50 200000 20)
fi
# The command of each benchmark, as report.sh quotes it.
quoted() { local w out=$1; shift; for w in "$@"; do case $w in *" "*|"") out+=" \"$w\"" ;; *) out+=" $w" ;; esac; done; echo "$out"; }
{
	echo "EMULATED=${HYPERFORK_EMULATED:-0}"
	echo "BOOT_CMD='$(quoted bench/boot.sh "${BOOT_ARGS[@]}")'"
	echo "FORK_CMD='$(quoted bench/fork.sh "${FORK_ARGS[@]}")'"
	echo "COW_CMD='$(quoted bench/cow.sh "${COW_ARGS[@]}")'"
	echo "FUNCTION_CMD='$(quoted bench/function.sh "${FUNCTION_ARGS[@]}")'"
	echo "PEERS_CMD='$(quoted bench/peers.sh "${PEERS_ARGS[@]}")'"
	echo "NET_CMD='$(quoted bench/net.sh "${NET_ARGS[@]}")'"
	echo "VSOCK_CMD='$(quoted bench/vsock.sh "${VSOCK_ARGS[@]}")'"
	echo "SCALE_CMD='$(quoted bench/scale.sh "${SCALE_ARGS[@]}")'"
	echo "SERVE_CMD='$(quoted bench/serve.sh "${SERVE_ARGS[@]}")'"
	echo "SECCOMP_CMD='$(quoted bench/seccomp.sh "${SECCOMP_ARGS[@]}")'"
	echo "RESET_CMD='$(quoted bench/reset.sh "${RESET_ARGS[@]}")'"
	echo "RUNTIME_INIT_CMD='$(quoted bench/runtime-init.sh "${RUNTIME_INIT_ARGS[@]}")'"
	echo "CORES=$(nproc)"
} > bench/results/args.sh
run() { # NAME COMMAND...
	local name=$1; shift
	echo "== $name: $*"
	local t0=$(date +%s)
	"$@" 2>&1 | tee "bench/results/$name.txt"
	echo "$name,$(( $(date +%s) - t0 ))" >> bench/results/durations.csv
}
: > bench/results/durations.csv
echo "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src include guest bench 2>/dev/null || echo ' with uncommitted changes')" > bench/results/commit.txt
bench/report.sh --machine > bench/results/machine.txt
run boot bench/boot.sh "${BOOT_ARGS[@]}"
run fork bench/fork.sh "${FORK_ARGS[@]}"
run cow bench/cow.sh "${COW_ARGS[@]}"
run function bench/function.sh "${FUNCTION_ARGS[@]}"
run peers bench/peers.sh "${PEERS_ARGS[@]}"
run net bench/net.sh "${NET_ARGS[@]}"
run vsock bench/vsock.sh "${VSOCK_ARGS[@]}"
run scale bench/scale.sh "${SCALE_ARGS[@]}"
run serve bench/serve.sh "${SERVE_ARGS[@]}"
run seccomp bench/seccomp.sh "${SECCOMP_ARGS[@]}"
run reset bench/reset.sh "${RESET_ARGS[@]}"
run runtime-init bench/runtime-init.sh "${RUNTIME_INIT_ARGS[@]}"
cp bench/results/*.png bench/figures/ 2>/dev/null
bench/report.sh "$(( $(date +%s) - start ))"
echo "bench: done in $(( $(date +%s) - start )) s; see bench/REPORT.md"
