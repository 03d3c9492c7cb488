#!/usr/bin/env bash
# Clone latency of two VMM builds side by side in one run: bench/fork.sh with each, taking
# turns (old then new, then new then old, ...), so that both see the same machine and
# neither always runs first. For a change that
# must not move the figures (a restructuring): its figures beside the old ones.
#   bench/fork-ab.sh OLD_HYPERFORK [ROUNDS] [FORK.SH ARGUMENTS...]
#   e.g. bench/fork-ab.sh /tmp/hyperfork-old 2 20 "128 512" 128
# The new build is build/hyperfork. Writes bench/results/fork-ab.csv (build, round, and
# fork.sh's summary columns) and fork-ab-summary.csv, and prints, per mode, pages and size,
# each build's p50 and p99 (us): their median over the rounds. bench/report.sh reports it.
set -u
cd "$(dirname "$0")/.." || exit 1
OLD=${1:?usage: bench/fork-ab.sh OLD_HYPERFORK [ROUNDS] [FORK.SH ARGUMENTS...]}
ROUNDS=${2:-2}
shift $(( $# >= 2 ? 2 : 1 ))
[ -x "$OLD" ] || { echo "fork-ab: $OLD is not an executable" >&2; exit 1; }
NEW=$PWD/build/hyperfork
OUT=$PWD/bench/results
mkdir -p "$OUT/ab"
CSV=$OUT/fork-ab.csv
echo "build,round,mode,pages,mem_mb,n,p50_us,p99_us,min_us,max_us" > "$CSV"
for r in $(seq "$ROUNDS"); do
	order="old new"
	[ $((r % 2)) = 0 ] && order="new old" # ABBA: neither build always goes first
	for build in $order; do
		bin=$OLD; [ $build = new ] && bin=$NEW
		dir=$OUT/ab/$build.$r
		mkdir -p "$dir"
		echo "== round $r, $build build ($bin)" >&2
		FORK_IDLE_CLONES=0 HF_BIN=$bin BENCH_OUT=$dir bench/fork.sh "$@" > "$dir/fork.out" 2>&1 ||
			echo "fork-ab: bench/fork.sh failed with the $build build (see $dir/fork.out)" >&2
		tail -n +2 "$dir/fork-summary.csv" 2>/dev/null | sed "s/^/$build,$r,/" >> "$CSV"
	done
done
SUM=$OUT/fork-ab-summary.csv
echo "mode,pages,mem_mb,old_p50_us,new_p50_us,old_p99_us,new_p99_us" > "$SUM"
tail -n +2 "$CSV" | sort -t, -k3,3 -k4,4 -k5,5n -k1,1r | awk -F, '
function med(s,   n, a, i, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (t = i + 1; t <= n; t++) if (a[t] < a[i]) { x = a[i]; a[i] = a[t]; a[t] = x }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ k = $3 "," $4 "," $5; if (!(k in seen)) { seen[k] = 1; keys[++nk] = k } p50[k "," $1] = p50[k "," $1] " " $7; p99[k "," $1] = p99[k "," $1] " " $8 }
END { for (i = 1; i <= nk; i++) { split(keys[i], f, ","); k = keys[i]
		printf "%s,%s,%s,%.0f,%.0f,%.0f,%.0f\n", f[1], f[2], f[3], med(p50[k ",old"]), med(p50[k ",new"]), med(p99[k ",old"]), med(p99[k ",new"]) } }' >> "$SUM"
echo
echo "Clone latency, request -> clone's first instruction (us), $ROUNDS rounds each, taking turns; the median of the rounds' p50 and p99"
column -s, -t "$SUM"
echo "(CSV: $CSV, $SUM; each run's own output in $OUT/ab/)"
