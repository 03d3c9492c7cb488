# Shared by the benchmark scripts: paths, a private run directory whose VMs (clones
# included) are all killed at exit, and the host's Linux flags.
cd "$(dirname "${BASH_SOURCE[1]}")/.." || exit 1
HF=${HF_BIN:-$PWD/build/hyperfork} # HF_BIN: another build, for a comparison (bench/fork-ab.sh)
STAMP=$PWD/build/bench/tools/stamp
SOCKRAW=$PWD/build/tests/tools/sockraw
OUT=${BENCH_OUT:-$PWD/bench/results}
mkdir -p "$OUT"
export HYPERFORK_RUN_DIR=$(mktemp -d /tmp/hf-bench.XXXXXX)
RUN=$HYPERFORK_RUN_DIR
# Every VMM process of this run (they carry RUN in their environment).
# One grep for all of them: thousands of clones, each checked by its own pipeline, took
# minutes in an emulated host.
ours() {
	local files
	files=$(pgrep -x hyperfork | sed 's|.*|/proc/&/environ|')
	[ -n "$files" ] && grep -lzxF "HYPERFORK_RUN_DIR=$RUN" $files 2>/dev/null | cut -d/ -f3
}
killall_ours() {
	ours | xargs -r kill -9 2>/dev/null
	for i in $(seq 600); do [ -z "$(ours)" ] && break; sleep 0.1; done
	rm -f "$RUN"/*.sock
}
bench_cleanup() { exec 2>/dev/null; killall_ours; pkill -f "$RUN"; rm -rf "$RUN"; }
trap bench_cleanup EXIT
state_of() { $HF status "$1" 2>/dev/null | awk '$1 == "state:" { print $2 }'; }
# template_clones NAME N: once the VM NAME (started in the background) is a template, ask it
# for N clones one by one through the control socket, then stop it and wait for it.
template_clones() {
	local i
	for i in $(seq 1800); do [ "$(state_of "$1")" = template ] && break; sleep 0.1; done
	sleep 0.5
	for i in $(seq "$2"); do
		$HF fork "$1" --console file > /dev/null 2>> "$OUT/$(basename "$0" .sh).log"
		sleep 0.02
	done
	sleep 0.5
	$HF stop "$1" > /dev/null 2>&1
	wait
}
LINUX_FLAGS=$($HF host | sed -n 's/^linux flags: *//p')
[ "$LINUX_FLAGS" = "(none)" ] && LINUX_FLAGS=
