#!/usr/bin/env bash
# Clone throughput and density. Throughput: 1000 clones of a 512 MB VM in one request, from
# a template (warm pool) and by fork() of the running VM. Density: clones of one 512 MB
# template, added in batches, until MemAvailable falls under a floor (default 3 GB), a
# clone cannot be made (e.g. no process ids left) or MAX clones; memory per clone from
# MemAvailable and PSS. Writes bench/results/scale.csv and density.csv.
#   bench/scale.sh [MAX_CLONES] [FLOOR_MB]
set -u
MAX=${1:-20000}
FLOOR=${2:-3072}
. "$(dirname "$0")/lib.sh"
avail() { awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo; }
now() { date +%s%N; }
GUEST=(--mem 512M --timeout 3600 --console none --bare build/tests/guests/ticker.elf --cmdline 10000)
CSV=$OUT/scale.csv
echo "how,clones,seconds,clones_per_s" > "$CSV"

# Throughput.
for how in template fork; do
	$HF run --name src "${GUEST[@]}" 2>/dev/null &
	for i in $(seq 100); do [ "$(state_of src)" = running ] && break; sleep 0.05; done
	if [ $how = template ]; then $HF template src --pool 4 > /dev/null; sleep 0.5; fi
	t0=$(now)
	made=$($HF fork src --count 1000 --console none 2>/dev/null | grep -c ' pid ')
	t1=$(now)
	awk -v h=$how -v n=$made -v t=$(( t1 - t0 )) 'BEGIN { printf "%s,%d,%.3f,%.0f\n", h, n, t / 1e9, n / (t / 1e9) }' >> "$CSV"
	killall_ours
done
echo "Throughput: 1000 clones of a 512 MB VM in one request ($(nproc) cores)"
column -s, -t "$CSV"

# Density.
DCSV=$OUT/density.csv
echo "clones,mem_available_mb,seconds" > "$DCSV"
base=$(avail)
$HF run --name tpl "${GUEST[@]}" 2>/dev/null &
for i in $(seq 100); do [ "$(state_of tpl)" = running ] && break; sleep 0.05; done
$HF template tpl --pool 8 > /dev/null
sleep 0.5
echo "0,$(avail),0" >> "$DCSV"
n=0 why="reached $MAX clones" t0=$(now)
while [ $n -lt "$MAX" ]; do
	if [ "$(avail)" -lt "$FLOOR" ]; then why="MemAvailable under $FLOOR MB"; break; fi
	got=$($HF fork tpl --count 250 --console none 2>"$RUN/err" | grep -c ' pid ')
	n=$((n + got))
	echo "$n,$(avail),$(( ($(now) - t0) / 1000000000 ))" >> "$DCSV"
	if [ "$got" -lt 250 ]; then why="a clone could not be made: $(tail -1 "$RUN/err" | sed 's/.*: //')"; break; fi
done
sleep 2
alive=0
for i in $(seq 1 97 $n); do [ "$(state_of tpl.$i)" = running ] && alive=$((alive + 1)); done
sample=$(for i in $(seq 1 97 $n); do $HF status tpl.$i 2>/dev/null | awk '$1 == "pss:" { print $2 }'; done | awk '{ s += $1; c++ } END { if (c) printf "%.0f", s / c }')
last=$(tail -1 "$DCSV")
echo
echo "Density: $n clones of one 512 MB template alive ($alive of $(seq 1 97 $n | wc -l) sampled answer); stopped because: $why"
echo "$last" | awk -F, -v b=$base -v n=$n -v pss="$sample" '{ printf "MemAvailable %d -> %d MB: %.0f KB per clone (kernel included); PSS per clone %s KB (sampled)\n", b, $2, (b - $2) * 1024 / n, pss }'
echo "density,$n,$base,${last#*,},$sample,\"$why\"" > "$OUT/density-summary.csv"
if command -v gnuplot > /dev/null; then
	gnuplot <<GP
set terminal pngcairo size 800,480 noenhanced
set output "$OUT/density.png"
set datafile separator ","
set title "Clones of one 512 MB template alive vs host memory available"
set xlabel "clones alive"; set ylabel "MemAvailable (GB)"; set grid; set key off
plot "< tail -n +2 $DCSV" u 1:(\$2/1024) w lp
GP
	echo "(plot: $OUT/density.png)"
fi
echo "(CSV: $CSV, $DCSV)"
