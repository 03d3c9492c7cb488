#!/usr/bin/env bash
# `hyperfork serve` under load: invocations per second, end-to-end p50/p99 latency (HTTP
# request in -> answer out, measured by wrk, Debian's load tool) and CPU time per
# invocation (the host's, from /proc/stat) at each of CONCURRENCIES connections for SECONDS,
# every answer checked (a FunctionError or a body without the payload's echo counts as an
# error), for a bare function (guest/examples/echo-fn.c, through the function ports) and a
# Linux function (AWS's example shell bootstrap, curl against hf-lambda's Runtime API),
# each served these ways in the same run:
#   reuse   mode clone: workers, each a clone reset to the template's state by its VMM
#           after every answer, reached over a channel serve holds
#   fresh   a fresh clone per invocation, from the template's warm pool (pool 8)
#   nopool  a fresh clone per invocation, made when it comes (pool 0)
#   warm    one long-lived VM reused for every invocation, one at a time (the warm-start
#           floor: no clone, no boot, no fresh state)
#   boot    a VM booted for every invocation (cold starts; at most 8 at once, and only 1 in
#           an emulated host, where each boot takes seconds)
# and host memory (MemAvailable) before each burst and once its clones have ended.
# Then a burst of BURST_N invocations at concurrency 8 against the bare function's workers
# (reuse), with MemAvailable and the function's memory (/metrics) before and after.
# Then the paper's experiment (Figures 4 and 5) through serve: a function whose
# initialisation is expensive (INIT_LOOPS rounds of shell arithmetic before its first
# invocation), invoked N times one after the other, booting a VM for each (each pays the
# initialisation) against a clone of the template frozen after it.
# Writes bench/results/serve.csv, serve-burst.csv and serve-init.csv.
#   bench/serve.sh [SECONDS] [CONCURRENCIES] [N] [INIT_LOOPS] [BURST_N]
# SERVE_SYSTEMS="bare" measures only the bare function (and skips the paper's experiment),
# SERVE_MODES="reuse warm" only those modes; BURST_N 0 (or no bare reuse) skips the burst.
set -u
DUR=${1:-10}
CONCS=${2:-"1 2 8 64"}
N=${3:-64}
INIT_LOOPS=${4:-200000}
BURST_N=${5:-10000}
SYSTEMS=${SERVE_SYSTEMS:-"bare linux"}
. "$(dirname "$0")/lib.sh"
CSV=$OUT/serve.csv
BURST_CSV=$OUT/serve-burst.csv
INIT_CSV=$OUT/serve-init.csv
command -v wrk > /dev/null || { echo "serve: no wrk (Debian's wrk): run scripts/install-deps.sh"; exit 1; }
KERNEL=$PWD/build/linux/bzImage
INITRD=$PWD/build/linux/initramfs-lambda.cpio
BARE=$PWD/build/guest/examples/echo-fn.elf
case " $SYSTEMS " in *" linux "*)
	[ -f "$KERNEL" ] && [ -f "$INITRD" ] || { echo "serve: no Linux guest (make linux-guest)"; exit 1; } ;;
esac
[ -f "$BARE" ] || { echo "serve: no $BARE (make)"; exit 1; }
mkdir "$RUN/task"
cp tests/integration/lambda/bootstrap bench/serve/bench.sh "$RUN/task/"
mke2fs -q -t ext2 -d "$RUN/task" "$RUN/code.img" 4M > /dev/null 2>&1 || { echo "serve: mke2fs failed"; exit 1; }
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
fn() { # NAME MODE POOL [ENVIRONMENT]: a Linux function
	printf '  {"name": "%s", "kernel": "%s", "initrd": "%s", "disks": ["%s"], "memory": 256,
   "timeout": 300, "concurrency": 1000, "mode": "%s", "pool": %s, "handler": "bench.handler",
   "environment": {%s}},\n' "$1" "$KERNEL" "$INITRD" "$RUN/code.img" "$2" "$3" "${4:-}"
}
bare_fn() { # NAME MODE POOL: the bare function
	printf '  {"name": "%s", "image": "%s", "memory": 128, "timeout": 300, "concurrency": 1000,
   "mode": "%s", "pool": %s},\n' "$1" "$BARE" "$2" "$3"
}
# The ways each system is served.
modes_of() { echo ${SERVE_MODES:-reuse fresh nopool warm boot}; }
INIT=0
case " $SYSTEMS " in *" linux "*) INIT=1 ;; esac
{
	echo '{"functions": ['
	for sys in $SYSTEMS; do
		f=fn; [ $sys = bare ] && f=bare_fn
		for mode in $(modes_of $sys); do
			case $mode in
			reuse) $f $sys-reuse clone 1 ;;
			fresh) $f $sys-fresh fresh 8 ;;
			nopool) $f $sys-nopool fresh 0 ;;
			*) $f $sys-$mode $mode 0 ;;
			esac
		done
	done
	if [ $INIT = 1 ]; then
		fn init-clone clone 1 "\"INIT_LOOPS\": \"$INIT_LOOPS\""
		fn init-boot boot 0 "\"INIT_LOOPS\": \"$INIT_LOOPS\""
	fi
	echo ']}'
} | sed -z 's/,\n\]}/\n]}/' > "$RUN/serve.json"
NFN=$(grep -c '"name"' "$RUN/serve.json")
$HF serve --listen 127.0.0.1:$PORT --config "$RUN/serve.json" --run-dir "$RUN" > "$RUN/serve.out" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2>/dev/null; wait $SERVE 2>/dev/null; bench_cleanup' EXIT
for i in $(seq 6000); do [ "$(grep -c ' ready ' "$RUN/serve.out")" = "$NFN" ] && break; sleep 0.1; done
if [ "$(grep -c ' ready ' "$RUN/serve.out")" != "$NFN" ]; then
	echo "serve: the functions did not all come up:"; cat "$RUN/serve.out"; exit 1
fi
grep ' ready ' "$RUN/serve.out"

# Each answer checked: 200, no function error, the payload echoed.
cat > "$RUN/post.lua" << 'EOF'
wrk.method = "POST"
wrk.body = '{"bench":1}'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
	if status ~= 200 or headers["X-Amz-Function-Error"] or headers["x-amz-function-error"]
	   or not string.find(body, '"echo":{"bench":1}', 1, true) then
		bad = bad + 1
	end
end
function done(summary, latency, requests)
	local b = 0
	for _, t in ipairs(threads) do b = b + t:get("bad") end
	io.write(string.format("bad answers: %d\n", b))
end
EOF
invoke_url() { echo "$URL/2015-03-31/functions/$1/invocations"; }
# The host's CPU time so far (user + system + interrupts, all CPUs), in clock ticks.
cpu_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
TICK_MS=$(awk -v hz="$(getconf CLK_TCK)" 'BEGIN { print 1000 / hz }')
avail_mib() { awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo; }
metric() { curl -s "$URL/metrics" | awk -v f="{function=\"$2\"}" -v m="$1" '$1 == m f { print $2 }'; }
live() { metric hyperfork_clones_live "$1"; }
# wrk's "50%   1.23ms" into milliseconds
to_ms() { awk '{ v = $0; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
	print (u == "us" ? v / 1000 : u == "ms" ? v : u == "s" ? v * 1000 : u == "m" ? v * 60000 : v) }'; }

# wrk FUNCTION CONCURRENCY SECONDS: load, into $RUN/wrk.out
load() {
	wrk -t $(($2 < 2 ? $2 : 2)) -c "$2" -d "${3}s" --timeout 300s --latency -s "$RUN/post.lua" \
		"$(invoke_url "$1")" > "$RUN/wrk.out" 2>&1
	for i in $(seq 600); do [ "$(live "$1")" = 0 ] && break; sleep 0.1; done
}
echo "system,mode,concurrency,seconds,invocations,per_second,p50_ms,p99_ms,errors,cpu_ms_per_invocation,avail_before_mib,avail_after_mib" > "$CSV"
for sys in $SYSTEMS; do
for mode in $(modes_of $sys); do
	fnn=$sys-$mode
	curl -s -m 300 -X POST --data-binary '{"warmup":1}' "$(invoke_url $fnn)" > /dev/null
	for c in $CONCS; do
		if [ $sys = linux ] && [ $mode = boot ] && { [ "$c" -gt 8 ] || { [ "${HYPERFORK_EMULATED:-0}" = 1 ] && [ "$c" -gt 1 ]; }; }; then
			echo "serve: $fnn at concurrency $c: not run (a Linux boot per invocation, $c at once)"
			continue
		fi
		# Workers are made as invocations come: make as many as the concurrency first, so
		# that what is measured is their reuse, not their creation.
		[ $mode = reuse ] && [ "$c" -gt 1 ] && load $fnn "$c" 3
		before=$(avail_mib) cpu0=$(cpu_ticks)
		load $fnn "$c" "$DUR"
		cpu1=$(cpu_ticks) after=$(avail_mib)
		n=$(awk '/requests in/ { print $1 }' "$RUN/wrk.out")
		rps=$(awk '/^Requests\/sec:/ { print $2 }' "$RUN/wrk.out")
		p50=$(awk '$1 == "50%" { print $2 }' "$RUN/wrk.out" | to_ms)
		p99=$(awk '$1 == "99%" { print $2 }' "$RUN/wrk.out" | to_ms)
		# (a non-2xx answer is a bad one too: counted once)
		err=$(awk '/^bad answers:/ { print $3 } /Socket errors/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$RUN/wrk.out" | awk '{ s += $1 } END { print s + 0 }')
		if [ -z "$n" ] || [ -z "$rps" ]; then
			echo "serve: wrk failed for $fnn at concurrency $c:"; cat "$RUN/wrk.out"; continue
		fi
		cpu=$(awk -v t=$((cpu1 - cpu0)) -v ms="$TICK_MS" -v n="$n" 'BEGIN { printf "%.2f", n ? t * ms / n : 0 }')
		echo "$sys,$mode,$c,$DUR,$n,$rps,$p50,$p99,$err,$cpu,$before,$after" >> "$CSV"
		printf 'serve: %-12s c=%-3s %8s inv/s  p50 %8s ms  p99 %8s ms  errors %s  CPU %s ms/inv  MemAvailable %s -> %s MiB\n' \
			$fnn "$c" "$rps" "$p50" "$p99" "$err" "$cpu" "$before" "$after"
	done
done
done

# A burst of BURST_N invocations against the bare function's workers: is the memory flat?
# (wrk runs for a time: long enough for BURST_N at the rate measured above at concurrency 8.)
echo "seconds,concurrency,invocations,errors,avail_before_mib,avail_after_mib,fn_mem_before_kib,fn_mem_after_kib" > "$BURST_CSV"
if [ "$BURST_N" -gt 0 ] && [[ " $SYSTEMS " == *" bare "* ]] && [[ " $(modes_of bare) " == *" reuse "* ]]; then
rate=$(awk -F, '$1 == "bare" && $2 == "reuse" && $3 == 8 { print $6 }' "$CSV")
secs=$(awk -v r="${rate:-0}" -v n="$BURST_N" 'BEGIN { s = r > 0 ? int(n / r * 1.2) + 1 : 60; print s < 5 ? 5 : s }')
sleep 2
before=$(avail_mib) fbefore=$(metric hyperfork_function_memory_bytes bare-reuse)
load bare-reuse 8 "$secs"
sleep 2
after=$(avail_mib) fafter=$(metric hyperfork_function_memory_bytes bare-reuse)
n=$(awk '/requests in/ { print $1 }' "$RUN/wrk.out")
err=$(awk '/^bad answers:/ { print $3 }' "$RUN/wrk.out")
echo "$secs,8,${n:-0},${err:-0},$before,$after,$((${fbefore:-0} / 1024)),$((${fafter:-0} / 1024))" >> "$BURST_CSV"
echo "serve: burst of ${n:-0} invocations (bare-reuse, concurrency 8, $secs s; ${err:-0} bad answers): MemAvailable $before -> $after MiB, the function's memory $((${fbefore:-0} / 1024)) -> $((${fafter:-0} / 1024)) KiB"
fi

# The paper's 64 invocations, through serve.
[ $INIT = 1 ] || { curl -s "$URL/metrics" > "$OUT/serve-metrics.txt"; exit 0; }
echo "mode,invocation,ms" > "$INIT_CSV"
for mode in init-boot init-clone; do
	for i in $(seq "$N"); do
		t=$(curl -s -o "$RUN/init.out" -w '%{time_total}' -m 600 -X POST --data-binary "{\"i\":$i}" "$(invoke_url $mode)")
		grep -q "{\"echo\":{\"i\":$i}}" "$RUN/init.out" || echo "serve: $mode invocation $i: bad answer: $(head -c 200 "$RUN/init.out")"
		echo "${mode#init-},$i,$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')" >> "$INIT_CSV"
	done
	awk -F, -v m="${mode#init-}" '$1 == m { s += $3; n++ } END { printf "serve: expensive init, %s per invocation: mean %.1f ms over %d\n", m, s / n, n }' "$INIT_CSV"
done
curl -s "$URL/metrics" > "$OUT/serve-metrics.txt"
