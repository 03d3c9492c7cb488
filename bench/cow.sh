#!/usr/bin/env bash
# Copy-on-write cost (the paper's Figure 3) and what cuts it. A bare guest writes 128
# bytes of random data into every 4 KiB page of N MB (a faulting then a non-faulting pass),
# reaches its fork point, and the original and the clone each rewrite every page twice
# (faulting on copy-on-write, then not); the same passes without a fork for comparison.
# Then the same with --cow-prefault populate|huge (background) and populate-sync|huge-sync
# (in the clone before its guest runs). Every pass verifies its data.
# Writes bench/results/cow.csv, cow-summary.csv and cow.png.
#   bench/cow.sh [RUNS] [SIZES_MB]
set -u
RUNS=${1:-3}
SIZES=${2:-"16 64 256"}
. "$(dirname "$0")/lib.sh"
GUEST=$PWD/build/bench/guests/cow.elf
CSV=$OUT/cow.csv
echo "prefault,mb,run,role,first_ms,rewrite_ms,after_ms,again_ms,fork_us" > "$CSV"
parse() { awk -v pf="$1" -v r="$2" '/^cow: .* ok$/ { printf "%s,%s,%s,%s,%s,%s,%s,%s,%s\n", pf, $3, r, $2, $7, $9, $11, $13, $15 }'; }

for mb in $SIZES; do
	mem=$(( (mb * 2 + 64) ))M
	for r in $(seq "$RUNS"); do
		echo "cow: $mb MB run $r" >&2
		$HF run --name n --mem $mem --timeout 600 --bare "$GUEST" --cmdline "$mb nofork" | parse none "$r" >> "$CSV"
		for pf in none populate huge populate-sync huge-sync; do
			rm -f "$RUN"/*.console
			$HF run --name c --mem $mem --timeout 600 --cow-prefault $pf --bare "$GUEST" --cmdline "$mb" | parse $pf "$r" >> "$CSV"
			for i in $(seq 600); do grep -q " ok$" "$RUN/c.1.console" 2>/dev/null && break; sleep 0.1; done
			parse $pf "$r" < "$RUN/c.1.console" >> "$CSV"
		done
	done
done

SUM=$OUT/cow-summary.csv
echo "prefault,role,mb,runs,first_ms,rewrite_ms,after_fork_faulting_ms,after_fork_again_ms,clone_start_us" > "$SUM"
tail -n +2 "$CSV" | sort -t, -k1,1 -k4,4 -k2,2n | awk -F, '
function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
function flush() { if (n) printf "%s,%s,%s,%d,%.1f,%.2f,%.1f,%.2f,%.0f\n", pf, role, mb, n, med(f, n), med(w, n), med(a, n), med(g, n), med(s, n); n = 0 }
{ k = $1 "," $4 "," $2; if (k != key) { flush(); key = k; pf = $1; role = $4; mb = $2 }
  n++; f[n] = $5; w[n] = $6; a[n] = $7; g[n] = $8; s[n] = $9 }
END { flush() }' >> "$SUM"
echo
echo "Copy-on-write: pass times (ms, median of $RUNS) for N MB, 128 bytes written per 4 KiB page; clone start (us)"
column -s, -t "$SUM"

if command -v gnuplot > /dev/null; then
	for k in "none nofork" "none clone" "populate clone" "huge clone" "populate-sync clone" "huge-sync clone"; do
		set -- $k
		awk -F, -v p=$1 -v r=$2 '$1 == p && $2 == r { print $3, (r == "nofork" ? $5 : $7) }' "$SUM" > "$RUN/$1-$2.dat"
	done
	awk -F, '$1 == "none" && $2 == "nofork" { print $3, $6 }' "$SUM" > "$RUN/rewrite.dat"
	gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output "$OUT/cow.png"
set title "Rewriting N MB (128 B per 4 KiB page): faulting passes, without and after a fork"
set xlabel "MB written"; set ylabel "time (ms)"; set logscale xy; set grid; set key top left
plot "$RUN/none-nofork.dat" w lp t "no fork: first touch", \
     "$RUN/rewrite.dat" w lp t "no fork: rewrite (no fault)", \
     "$RUN/none-clone.dat" w lp t "clone: copy-on-write pass", \
     "$RUN/populate-clone.dat" w lp t "clone, --cow-prefault populate", \
     "$RUN/huge-clone.dat" w lp t "clone, --cow-prefault huge", \
     "$RUN/populate-sync-clone.dat" w lp t "clone, --cow-prefault populate-sync", \
     "$RUN/huge-sync-clone.dat" w lp t "clone, --cow-prefault huge-sync"
GP
	echo "(plot: $OUT/cow.png)"
fi
echo "(CSV: $CSV, $SUM)"
