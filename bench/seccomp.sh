#!/usr/bin/env bash
# What the seccomp filters cost: clone latency (request -> the clone's first instruction,
# measured in the guest, as bench/fork.sh) with the filters (the default) and without
# (--no-seccomp), side by side in one run, rounds interleaved. Two paths: fork() clones of
# a running 128 MB VM at its fork points, and clones of a 128 MB template through
# `hyperfork fork`. Writes bench/results/seccomp.csv and seccomp-summary.csv.
#   bench/seccomp.sh [CLONES_PER_ROUND] [ROUNDS]     e.g. bench/seccomp.sh 20 2
set -u
N=${1:-20}
ROUNDS=${2:-2}
. "$(dirname "$0")/lib.sh"
GUEST=$PWD/build/bench/guests/forklat.elf
CSV=$OUT/seccomp.csv
echo "filters,path,round,clone,request_us" > "$CSV"
collect() { # FILTERS PATH ROUND NAME
	cat "$RUN/$4".*.console 2>/dev/null | awk -v f="$1" -v p="$2" -v r="$3" '
		/^forklat: clone/ { printf "%s,%s,%s,%s,%.1f\n", f, p, r, $3, $7 / 1000 }' >> "$CSV"
	rm -f "$RUN/$4".*.console
}
for r in $(seq "$ROUNDS"); do
	for filters in on off; do
		flag=; [ $filters = off ] && flag=--no-seccomp
		echo "round $r, seccomp $filters: $N fork() clones, $N template clones" >&2
		name=f$filters$r
		$HF run --name $name --mem 128M --timeout 900 --console none $flag \
			--bare "$GUEST" --cmdline "touch $N 20" 2>> "$OUT/seccomp.log"
		sleep 0.5
		collect $filters fork $r $name

		name=t$filters$r
		$HF run --name $name --mem 128M --timeout 900 --console none $flag \
			--template --pool 4 --bare "$GUEST" --cmdline touch 2>> "$OUT/seccomp.log" &
		template_clones $name "$N"
		collect $filters template $r $name
	done
done
SUM=$OUT/seccomp-summary.csv
echo "path,filters,n,p50_us,p99_us" > "$SUM"
tail -n +2 "$CSV" | sort -t, -k2,2 -k1,1r -k5,5n | awk -F, '
function flush() { if (n) printf "%s,%s,%d,%.0f,%.0f\n", path, f, n, v[int((n - 1) * 0.5) + 1], v[int((n - 1) * 0.99) + 1]; n = 0 }
{ k = $2 "," $1; if (k != key) { flush(); key = k; path = $2; f = $1 } v[++n] = $5 }
END { flush() }' >> "$SUM"
echo
echo "Clone latency with and without seccomp filters, request -> clone's first instruction (us)"
column -s, -t "$SUM"
