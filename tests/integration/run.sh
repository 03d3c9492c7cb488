#!/usr/bin/env bash
# Run every integration test (tests/integration/test_*.sh, or those named) under a
# timeout, print a summary and fail if any test failed.
cd "$(dirname "$0")" || exit 1
LOGS=${HF_TEST_LOGS:-../../build/test-logs}
mkdir -p "$LOGS"
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_*.sh)
failed=()
notrun=()
# The tests boot real guests: without KVM they cannot run, and that is a failure, never a skip.
HF="${HF_BIN:-../../build/hyperfork}"
if ! backend=$("$HF" host 2>"$LOGS/host.err" | awk '$1 == "backend:" { print $2 }') || [ -z "$backend" ]; then
	echo "FAIL integration: no usable KVM: $(cat "$LOGS/host.err")"
	echo "     (make check runs the tests inside an emulated KVM host by itself: scripts/kvm-host.sh)"
	exit 1
fi
scale=${HF_TIME_SCALE:-1}
where="this machine"
[ "${HYPERFORK_EMULATED:-0}" = 1 ] && where="an emulated KVM host (times are emulated; waits scaled x$scale)"
echo "integration: backend $backend, on $where"
# Each suite's limit: HF_TEST_TIMEOUT seconds (600 here, 1200 in the emulated host, where the
# longest suites, test_lambda_api and test_runtime, take ~600-850 s), and never past make check's deadline
# (HF_CHECK_DEADLINE, seconds since the epoch): what would start after it is not run, and
# that fails the run with the budget named, rather than CI's own timeout cutting it short.
limit=${HF_TEST_TIMEOUT:-$([ "$scale" = 1 ] && echo 600 || echo 1200)}
deadline=${HF_CHECK_DEADLINE:-0}
# A suite that ran out of time: what it was doing, the last lines of the newest consoles in
# its run directory (lib.sh names it in the log), and no VMM of it left running.
timed_out() { # NAME
	local log=$LOGS/$1.log run f p
	echo "     timed out after $tmo s; the log ends:"
	tail -5 "$log" | sed 's/^/       | /'
	echo "  (timed out after $tmo s)" >> "$log"
	run=$(sed -n 's/^run-dir: //p' "$log" | head -1)
	[ -n "$run" ] && [ -d "$run" ] || return 0
	for f in $(ls -t "$run" 2>/dev/null | grep -E '(out|console|log)$' | head -2); do
		echo "     $f ends:"
		tr -d '\r' < "$run/$f" | tail -6 | sed 's/^/       | /'
	done
	for p in $(pgrep -x hyperfork); do
		grep -qzxF "HYPERFORK_RUN_DIR=$run" "/proc/$p/environ" 2>/dev/null && kill -9 "$p"
	done
	rm -rf "$run"
}
for t in "${tests[@]}"; do
	name=${t%.sh}
	t=$name.sh
	tmo=$limit
	if [ "$deadline" -gt 0 ]; then
		left=$((deadline - $(date +%s)))
		if [ "$left" -lt 30 ]; then
			printf 'NOT RUN %-25s (make check'"'"'s time budget is spent: CHECK_BUDGET)\n' "$name"
			failed+=("$name")
			continue
		fi
		[ "$left" -lt "$tmo" ] && tmo=$left
	fi
	start=$(date +%s.%N)
	timeout --kill-after=10 "$tmo" bash "$t" > "$LOGS/$name.log" 2>&1
	rc=$?
	secs=$(echo "$(date +%s.%N) - $start" | bc)
	checks=$(grep -c '^ok:' "$LOGS/$name.log")
	if [ $rc -eq 0 ]; then
		printf 'PASS %-28s %3d checks %6.1f s\n' "$name" "$checks" "$secs"
	elif [ $rc -eq 77 ]; then
		printf 'NOT RUN %-25s %3d checks %6.1f s (%s)\n' "$name" "$checks" "$secs" \
			"$(sed -n 's/^NOT RUN: //p' "$LOGS/$name.log" | head -1)"
		notrun+=("$name")
	else
		printf 'FAIL %-28s %3d checks %6.1f s (log: %s/%s.log)\n' "$name" "$checks" "$secs" "${LOGS#../../}" "$name"
		grep -E '^FAIL|^  \|' "$LOGS/$name.log" | head -30 | sed 's/^/     /'
		[ $rc -eq 124 ] || [ $rc -eq 137 ] && timed_out "$name"
		failed+=("$name")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "integration: ${#failed[@]} failed: ${failed[*]}"
	exit 1
fi
if [ ${#notrun[@]} -gt 0 ]; then
	echo "integration: $((${#tests[@]} - ${#notrun[@]})) passed, ${#notrun[@]} NOT RUN (what they need is missing here): ${notrun[*]}"
else
	echo "integration: all ${#tests[@]} passed"
fi
