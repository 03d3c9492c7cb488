#!/usr/bin/env bash
# A function with an expensive initialization, invoked N times (the paper's Figures 4
# and 5): boot a VM for every invocation, clone a template made right after boot, or clone
# a template made after the initialization. Total CPU time (every process, clones
# included) and per-invocation completion time (request -> result). Bare guest with N
# invocations, Linux guest with NL (each Linux boot takes seconds here).
# Writes bench/results/function.csv, function-summary.csv and function.png.
#   bench/function.sh [N] [NL]
set -u
N=${1:-64}
NL=${2:-8}
. "$(dirname "$0")/lib.sh"
CSV=$OUT/function.csv
CPU=$RUN/cpu.csv
echo "system,mode,invocation,completion_ms" > "$CSV"
: > "$CPU"
bare_vm() { VM=(--mem 256M --bare "$PWD/build/bench/guests/function.elf" --cmdline "$1"); }
linux_vm() { VM=(--mem 256M --kernel "$PWD/build/linux/vmlinux" --initrd "$PWD/build/linux/initramfs.cpio" --cmdline "console=ttyS0 quiet hf.script=$1"); }

boot_every_time() { # SYSTEM COUNT VMARGS...
	local sys=$1 n=$2 total=0; shift 2
	for i in $(seq "$n"); do
		r=$($STAMP --marker "function: done" --log "$RUN/boot.log" -- $HF run --name b --timeout 600 "$@")
		grep -q "error small" "$RUN/boot.log" || echo "function: bad result in boot run $i" >&2
		echo "$sys,boot,$i,$(echo "$r" | cut -d' ' -f2)" >> "$CSV"
		total=$(echo "$r" | awk -v t=$total '{ print t + $5 }')
	done
	echo "$sys,boot,$total" >> "$CPU"
}

# The template experiment, run under stamp so that its CPU time covers the template, every
# clone and every request. Completion = the clone's "done" mark minus the template's mark
# of the request, both host timestamps (--marks).
clone_mode() { # SYSTEM MODE COUNT VMARGS...
	local sys=$1 mode=$2 n=$3; shift 3
	rm -f "$RUN/marks"
	cat > "$RUN/exp.sh" <<EXP
$HF run --name t --timeout 3600 --console none --template --pool 2 --marks "$RUN/marks" $(printf '%q ' "$@") 2>>"$OUT/function.log" &
for i in \$(seq 6000); do [ "\$($HF status t 2>/dev/null | awk '\$1 == "state:" { print \$2 }')" = template ] && break; sleep 0.05; done
[ "\$($HF status t 2>/dev/null | awk '\$1 == "state:" { print \$2 }')" = template ] || { echo "function: the template did not come up" >&2; exit 1; }
for i in \$(seq $n); do
	$HF fork t --console file > /dev/null && $HF wait t.\$i
done
$HF stop t > /dev/null
wait
EXP
	r=$($STAMP --log "$RUN/exp.log" -- bash "$RUN/exp.sh")
	echo "$sys,$mode,$(echo "$r" | cut -d' ' -f5)" >> "$CPU"
	for i in $(seq "$n"); do
		grep -q "error small" "$RUN/t.$i.console" || echo "function: bad result in $mode clone $i" >&2
	done
	awk -v s=$sys -v m=$mode '$1 == 4294901761 { req[$3] = $2 } $1 == 1 { done[$3] = $2 }
		END { for (k in done) if (k in req) { split(k, p, "."); printf "%s,%s,%s,%.1f\n", s, m, p[2], (done[k] - req[k]) / 1e6 } }' \
		"$RUN/marks" | sort -t, -k3,3n >> "$CSV"
	rm -f "$RUN"/t.*.console
}

echo "function: bare guest, $N invocations per mode" >&2
bare_vm full; boot_every_time bare "$N" "${VM[@]}"
bare_vm afterboot; clone_mode bare afterboot "$N" "${VM[@]}"
bare_vm afterinit; clone_mode bare afterinit "$N" "${VM[@]}"
if [ -f build/linux/vmlinux ] && [ "$NL" -gt 0 ]; then
	echo "function: Linux guest, $NL invocations per mode" >&2
	linux_vm fn-full; boot_every_time linux "$NL" "${VM[@]}"
	linux_vm fn-afterboot; clone_mode linux afterboot "$NL" "${VM[@]}"
	linux_vm fn-afterinit; clone_mode linux afterinit "$NL" "${VM[@]}"
fi

SUM=$OUT/function-summary.csv
echo "system,mode,invocations,total_cpu_s,cpu_saved_vs_boot_pct,mean_completion_ms,ci95_ms" > "$SUM"
awk -F, 'NR == FNR { cpu[$1 "," $2] = $3; next }
	FNR > 1 { k = $1 "," $2; n[k]++; s[k] += $4; q[k] += $4 * $4; order[k] = $1 }
	END { for (k in n) { m = s[k] / n[k]; v = n[k] > 1 ? (q[k] - n[k] * m * m) / (n[k] - 1) : 0
		split(k, p, ","); b = cpu[p[1] ",boot"]
		printf "%s,%d,%.1f,%.1f,%.0f,%.0f\n", k, n[k], cpu[k] / 1000, b ? 100 * (b - cpu[k]) / b : 0, m, 1.96 * sqrt(v > 0 ? v : 0) / sqrt(n[k]) } }' \
	"$CPU" "$CSV" | sort >> "$SUM"
echo
echo "Function benchmark: total CPU time and completion time per invocation (request -> result)"
column -s, -t "$SUM"
if command -v gnuplot > /dev/null; then
	gnuplot <<GP
set terminal pngcairo size 900,500 noenhanced
set output "$OUT/function.png"
set datafile separator ","
set multiplot layout 1,2 title "Function with expensive initialization: boot every time vs clone"
set style data histograms; set style fill solid 0.6; set boxwidth 0.8; set grid y
set title "total CPU time (s)"; set xtics rotate by -30
plot "< grep -v ^system $SUM" u 4:xtic(stringcolumn(1)."/".stringcolumn(2)) notitle
set title "mean completion per invocation (ms)"
plot "< grep -v ^system $SUM" u 6:xtic(stringcolumn(1)."/".stringcolumn(2)) notitle
unset multiplot
GP
	echo "(plot: $OUT/function.png)"
fi
echo "(CSV: $CSV, $SUM)"
