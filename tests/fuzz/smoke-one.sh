#!/bin/sh
# One fuzz target of make fuzz's smoke: TARGET_BINARY SECONDS TIMEOUT. Runs it from its
# corpus (build/fuzz/corpus/NAME) and seeds (build/fuzz/seeds/NAME) and prints, in one piece
# (make fuzz runs two at once), its executions or its finding with how to reproduce it; a
# finding exits 1. Appends its line to build/fuzz/summary.txt.
t=$1 secs=$2 tmo=$3
n=$(basename "$t")
mkdir -p "build/fuzz/corpus/$n" "build/fuzz/seeds/$n"
log=build/fuzz/$n.log
if ! "$t" -max_total_time="$secs" -timeout="$tmo" -print_final_stats=1 -artifact_prefix=build/fuzz/ \
	"build/fuzz/corpus/$n" "build/fuzz/seeds/$n" > "$log" 2>&1; then
	a=$(sed -n 's/.*Test unit written to //p' "$log")
	{ echo "== $n ($secs s)"; tail -40 "$log"
	  echo "fuzz: $n: FINDING ${a:-(no input saved)}, log $log; reproduce: $t $a"; }
	exit 1
fi
x=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
echo "== $n ($secs s): $x executions"
echo "$n: $x executions, no findings" >> build/fuzz/summary.txt
