#!/usr/bin/env bash
# Clone latency against guest memory (the paper's Figure 2), measured inside the guest:
# from the request (the guest's fork point, or `hyperfork fork` reaching a template) to
# the clone's first instruction. Sizes 128 MB..4 GB, huge vs 4 KiB pages, fork() clones
# of a running VM and clones of a template, beside the cold start of the same guest, all
# in one run. Then memory of 100 idle clones. Writes bench/results/fork.csv,
# fork-summary.csv, clone-memory.csv and fork.png.
#   bench/fork.sh [CLONES_PER_POINT] [SIZES] [SIZES_4K]   e.g. bench/fork.sh 100 "128 512 4096"
# SIZES_4K: the sizes also measured with 4 KiB guest pages (default: all of SIZES).
set -u
N=${1:-100}
SIZES=${2:-"128 256 512 1024 2048 4096"}
SIZES_4K=${3-$SIZES}
. "$(dirname "$0")/lib.sh"
GUEST=$PWD/build/bench/guests/forklat.elf
CSV=$OUT/fork.csv
echo "mode,mem_mb,pages,sample,fork_us,request_us" > "$CSV"
collect() { # MODE MEM PAGES NAME: clones' console lines -> CSV
	cat "$RUN/$4".*.console 2>/dev/null | awk -v m="$1" -v s="$2" -v p="$3" '
		/^forklat: clone/ { printf "%s,%s,%s,%s,%.1f,%.1f\n", m, s, p, $3, $5 / 1000, $7 / 1000 }' >> "$CSV"
	rm -f "$RUN/$4".*.console
}

for mem in $SIZES; do
	pagelist=huge
	case " $SIZES_4K " in *" $mem "*) pagelist="huge 4k" ;; esac
	for pages in $pagelist; do
		# fork(): the guest touches all its RAM, then reaches its fork point N times.
		name=f$mem$pages
		echo "fork     ${mem} MB $pages pages: $N clones" >&2
		$HF run --name $name --mem ${mem}M --pages $pages --timeout 900 --console none \
			--bare "$GUEST" --cmdline "touch $N 20" 2>> "$OUT/fork.log"
		sleep 0.5
		collect fork $mem $pages $name

		# Template: frozen at the fork point; N requests through the control socket.
		name=t$mem$pages
		echo "template ${mem} MB $pages pages: $N clones" >&2
		$HF run --name $name --mem ${mem}M --pages $pages --timeout 900 --console none \
			--template --pool 4 --bare "$GUEST" --cmdline "touch" 2>> "$OUT/fork.log" &
		template_clones $name "$N"
		collect template $mem $pages $name

		# Cold start of the same guest: launch to its first output.
		for i in 1 2 3 4 5; do
			r=$($STAMP --marker "forklat: cold" -- $HF run --name c$mem --mem ${mem}M \
				--pages $pages --bare "$GUEST" --cmdline cold)
			echo "$r" | awk -v s=$mem -v p=$pages -v i=$i '{ printf "cold,%s,%s,%d,%.1f,%.1f\n", s, p, i, $2 * 1000, $2 * 1000 }' >> "$CSV"
		done
	done
done

# Percentiles per (mode, size, pages).
SUM=$OUT/fork-summary.csv
echo "mode,pages,mem_mb,n,p50_us,p99_us,min_us,max_us" > "$SUM"
tail -n +2 "$CSV" | sort -t, -k1,1 -k3,3 -k2,2n -k6,6n | awk -F, '
function flush() { if (n) printf "%s,%s,%s,%d,%.0f,%.0f,%.0f,%.0f\n", mode, pages, mem, n, v[int((n - 1) * 0.5) + 1], v[int((n - 1) * 0.99) + 1], v[1], v[n]; n = 0 }
{ k = $1 "," $3 "," $2; if (k != key) { flush(); key = k; mode = $1; pages = $3; mem = $2 } v[++n] = $6 }
END { flush() }' >> "$SUM"
echo
echo "Clone latency, request -> clone's first instruction, measured in the guest (us); $(nproc) cores, $(uname -r)"
column -s, -t "$SUM"

# Memory of 100 idle clones of a 512 MB VM (guest RAM touched, then idle in a sleep);
# FORK_IDLE_CLONES=0 leaves it out (bench/fork-ab.sh, which compares latencies).
if [ "${FORK_IDLE_CLONES:-100}" != 0 ]; then
	MEMCSV=$OUT/clone-memory.csv
	echo "clones,avail_before_kb,avail_after_kb,sum_rss_kb,sum_pss_kb,sum_private_kb,parent_pss_kb" > "$MEMCSV"
	avail() { awk '/^MemAvailable/ { print $2 }' /proc/meminfo; }
	$HF run --name idle --mem 512M --timeout 900 --console none --bare build/tests/guests/ticker.elf --cmdline 10000 2>> "$OUT/fork.log" &
	for i in $(seq 100); do [ "$(state_of idle)" = running ] && break; sleep 0.1; done
	sleep 1
	before=$(avail)
	$HF fork idle --count 100 --console none > /dev/null
	sleep 2
	after=$(avail)
	$HF ls --json | awk -v b=$before -v a=$after '
		/"name":"idle"/ { match($0, /"pss_kb":[0-9]+/); ppss = substr($0, RSTART + 9, RLENGTH - 9) }
		/"name":"idle\./ { n++
			match($0, /"rss_kb":[0-9]+/); r += substr($0, RSTART + 9, RLENGTH - 9)
			match($0, /"pss_kb":[0-9]+/); p += substr($0, RSTART + 9, RLENGTH - 9)
			match($0, /"private_kb":[0-9]+/); q += substr($0, RSTART + 13, RLENGTH - 13) }
		END { printf "%d,%d,%d,%d,%d,%d,%d\n", n, b, a, r, p, q, ppss }' >> "$MEMCSV"
	$HF stop idle > /dev/null
	tail -1 "$MEMCSV" | awk -F, '{ printf "\n%d idle clones of a 512 MB VM: per clone RSS %.0f KB, PSS %.0f KB, private %.0f KB; MemAvailable fell %.0f KB per clone (kernel page tables and KVM state included)\n", $1, $4 / $1, $5 / $1, $6 / $1, ($2 - $3) / $1 }'
fi

# Plot (gnuplot, if installed).
if command -v gnuplot > /dev/null; then
	for m in fork template cold; do for p in huge 4k; do
		awk -F, -v m=$m -v p=$p '$1 == m && $2 == p { print $3, $5, $6 }' "$SUM" > "$RUN/$m-$p.dat"
	done; done
	printf '128 4390\n512 7430\n2048 19240\n' > "$RUN/paper.dat" # paper, fork(), m5.metal
	gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output "$OUT/fork.png"
set title "Clone latency vs guest memory (request -> first guest instruction), $(nproc)-core $(build/hyperfork host | awk '$1 == "backend:" { print $2 }') host$([ "${HYPERFORK_EMULATED:-0}" = 1 ] && echo ", emulated")"
set xlabel "guest memory (MB)"; set ylabel "latency (ms), median; bars to p99"
set logscale x 2; set logscale y 10; set grid; set key top left; set xrange [100:5200]
set xtics ("128" 128, "256" 256, "512" 512, "1G" 1024, "2G" 2048, "4G" 4096)
plot "$RUN/fork-huge.dat" u 1:(\$2/1000):(\$2/1000):(\$3/1000) w yerrorlines t "fork(), huge pages", \
     "$RUN/fork-4k.dat" u 1:(\$2/1000):(\$2/1000):(\$3/1000) w yerrorlines t "fork(), 4 KiB pages", \
     "$RUN/template-huge.dat" u 1:(\$2/1000):(\$2/1000):(\$3/1000) w yerrorlines t "template pool, huge pages", \
     "$RUN/template-4k.dat" u 1:(\$2/1000):(\$2/1000):(\$3/1000) w yerrorlines t "template pool, 4 KiB pages", \
     "$RUN/cold-huge.dat" u 1:(\$2/1000) w linespoints t "cold start (launch -> first output)", \
     "$RUN/paper.dat" u 1:(\$2/1000) w linespoints dt 2 t "HyperFork paper, fork() (m5.metal)"
GP
	echo "(plot: $OUT/fork.png)"
fi
echo "(CSV: $CSV, $SUM${MEMCSV:+, $MEMCSV})"
