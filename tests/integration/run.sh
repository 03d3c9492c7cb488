#!/usr/bin/env bash
# Run every integration test (tests/integration/test_*.sh, or those named) under a
# timeout, print a summary and fail if any test failed.
cd "$(dirname "$0")" || exit 1
LOGS=../../build/test-logs
mkdir -p "$LOGS"
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(test_*.sh)
failed=()
for t in "${tests[@]}"; do
	name=${t%.sh}
	t=$name.sh
	start=$(date +%s.%N)
	timeout --kill-after=10 "${HF_TEST_TIMEOUT:-600}" bash "$t" > "$LOGS/$name.log" 2>&1
	rc=$?
	secs=$(echo "$(date +%s.%N) - $start" | bc)
	checks=$(grep -c '^ok:' "$LOGS/$name.log")
	if [ $rc -eq 0 ]; then
		printf 'PASS %-28s %3d checks %6.1f s\n' "$name" "$checks" "$secs"
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
echo "integration: all ${#tests[@]} passed"
