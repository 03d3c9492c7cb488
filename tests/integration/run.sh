#!/usr/bin/env bash
# Run every integration test (tests/integration/test_*.sh, or those named) under a
# timeout, print a summary and fail if any test failed.
cd "$(dirname "$0")" || exit 1
LOGS=../../build/test-logs
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
for t in "${tests[@]}"; do
	name=${t%.sh}
	t=$name.sh
	start=$(date +%s.%N)
	timeout --kill-after=10 "$(( ${HF_TEST_TIMEOUT:-600} * scale ))" bash "$t" > "$LOGS/$name.log" 2>&1
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
		[ $rc -eq 124 ] && echo "  (timed out)" >> "$LOGS/$name.log"
		printf 'FAIL %-28s %3d checks %6.1f s (log: build/test-logs/%s.log)\n' "$name" "$checks" "$secs" "$name"
		grep -E '^FAIL|^  \||timed out' "$LOGS/$name.log" | head -30 | sed 's/^/     /'
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
