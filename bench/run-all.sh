#!/usr/bin/env bash
# `make bench`: every benchmark in one run on this machine, then bench/REPORT.md with the
# figures (bench/figures/*.png). Each script prints and records its own figures in
# bench/results/; nothing here is asserted.
set -u
cd "$(dirname "$0")/.." || exit 1
mkdir -p bench/results bench/figures
start=$(date +%s)
run() { # NAME COMMAND...
	local name=$1; shift
	echo "== $name: $*"
	local t0=$(date +%s)
	"$@" 2>&1 | tee "bench/results/$name.txt"
	echo "$name,$(( $(date +%s) - t0 ))" >> bench/results/durations.csv
}
: > bench/results/durations.csv
echo "$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD -- src include guest bench 2>/dev/null || echo ' with uncommitted changes')" > bench/results/commit.txt
run boot bench/boot.sh 20 3
run fork bench/fork.sh 100 "128 256 512 1024 2048 4096"
run cow bench/cow.sh 3 "16 64 256"
run function bench/function.sh 64 8
run peers bench/peers.sh 5
run net bench/net.sh 20
run scale bench/scale.sh 20000 3072
cp bench/results/*.png bench/figures/ 2>/dev/null
bench/report.sh "$(( $(date +%s) - start ))"
echo "bench: done in $(( $(date +%s) - start )) s; see bench/REPORT.md"
