# The benchmark programs measure what they claim: the copy-on-write guest verifies every
# pass and sees only its own data after a fork, the function guest's transforms check out,
# the latency guest reports clone timings from a real clone, stamp times a marker.
. "$(dirname "$0")/lib.sh"
BG="$TOP/build/bench/guests"
STAMP="$TOP/build/bench/tools/stamp"

expect_status 0 "cow guest without a fork" -- timeout 60 "$HF" run --name cn --mem 64M --bare "$BG/cow.elf" --cmdline "8 nofork"
expect_in "$RUN/out" "^cow: nofork 8 mb 8 first_ms [0-9.]+ rewrite_ms [0-9.]+ after_ms [0-9.]+ again_ms [0-9.]+ fork_us 0 ok$" "every pass verified"
for pf in none populate huge-sync; do
	expect_status 0 "cow guest with a fork (--cow-prefault $pf)" -- timeout 60 "$HF" run --name c$pf --mem 64M --cow-prefault $pf --bare "$BG/cow.elf" --cmdline 8
	expect_in "$RUN/out" "^cow: original 8 mb 8 .* ok$" "$pf: the original verified its passes"
	check "$pf: the clone finished" wait_for 30 grep -q "^cow: clone" "$RUN/c$pf.1.console"
	expect_in "$RUN/c$pf.1.console" "^cow: clone 8 mb 8 .* fork_us [1-9][0-9]* ok$" "$pf: the clone verified its own data after the fork"
done
# A cow guest that reads another VM's data would fail its check: make it so by hand
# (a clone rewrites with its own seed; the original checks against its own).
expect_status 0 "function guest, full" -- timeout 60 "$HF" run --name fn --mem 256M --bare "$BG/function.elf" --cmdline full
expect_in "$RUN/out" "^function: done 0 init_ms [0-9]+ compute_ms [0-9]+ since_request_ms 0 error small$" "the FFT round trip is exact"
"$HF" run --name ft --mem 256M --timeout $(scaled 60) --console none --template --pool 1 --bare "$BG/function.elf" --cmdline afterinit > /dev/null 2>&1 &
check "function template up" wait_for 30 bash -c "[ \"\$('$HF' status ft 2>/dev/null | awk '\$1 == \"state:\" { print \$2 }')\" = template ]"
"$HF" fork ft > /dev/null && "$HF" wait ft.1
expect_in "$RUN/ft.1.console" "^function: done 1 init_ms 0 compute_ms [0-9]+ since_request_ms [0-9]+ error small$" "a clone after init only computes, and right"

expect_status 0 "latency guest forks 3 times" -- timeout 60 "$HF" run --name fl --mem 64M --console none --bare "$BG/forklat.elf" --cmdline "touch 3 10"
for i in 1 2 3; do
	check "clone $i reports" wait_for 20 grep -q "^forklat: clone $i " "$RUN/fl.$i.console"
	expect_in "$RUN/fl.$i.console" "^forklat: clone $i fork_ns [1-9][0-9]+ request_ns [1-9][0-9]+$" "clone $i timed itself from the request"
done

"$STAMP" --marker Hello -- "$HF" run --name st --mem 16M --bare "$GUESTS/hello.elf" > "$RUN/stamp"
check "stamp times the marker after the first output and before the exit" awk '{ exit !($1 > 0 && $2 >= $1 && $3 >= $2 && $4 == 0) }' "$RUN/stamp"
finish
