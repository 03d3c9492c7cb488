#!/usr/bin/env bash
# The paper's expensive-initialisation experiment (its Figures 4 and 5) with a real Lambda
# function of a managed runtime: a Python handler whose module imports a dozen of the
# standard library's modules and builds a table (TABLE_N SHA-256 digests) at init, served
# three ways in one run of serve, each invoked N times one after the other:
#   boot    a VM booted for every invocation: each pays the runtime's start and the init
#   clone   mode clone: every invocation in the template frozen after the init (a worker,
#           reset to it after each answer)
#   warm    one VM, initialised once, reused (state passes between invocations)
# For each: the end-to-end latency of the invocations (p50, p90, max, from the client), the
# init each pays (the template's or warm VM's boot-and-init time, from serve's log; for
# boot, every invocation's), and the host memory its VMs hold after the N invocations (the
# function's memory in /metrics: the PSS of its template, pool and clones).
# Writes bench/results/runtime-init.csv.
#   bench/runtime-init.sh [N] [TABLE_N]
set -u
N=${1:-20}
TABLE_N=${2:-200000}
. "$(dirname "$0")/lib.sh"
CSV=$OUT/runtime-init.csv
IMAGES=$PWD/build/runtimes
KERNEL=$PWD/build/linux/bzImage
INITRD=$PWD/build/linux/initramfs.cpio
[ -f "$IMAGES/python3.11.img" ] || { echo "runtime-init: no $IMAGES/python3.11.img (make runtimes)"; exit 1; }
[ -f "$KERNEL" ] || { echo "runtime-init: no Linux guest (make linux-guest)"; exit 1; }
mkdir -p "$RUN/src"
cat > "$RUN/src/app.py" << 'EOF'
import base64, collections, csv, datetime, decimal, email.parser, hashlib, http.client, json, \
    logging, re, sqlite3, uuid, xml.etree.ElementTree
import os, time

T0 = time.monotonic()
TABLE = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(int(os.environ["TABLE_N"]))]
INIT_MS = (time.monotonic() - T0) * 1000


def handler(event, context):
    return {"n": event.get("n"), "digest": TABLE[len(TABLE) // 2], "init_ms": round(INIT_MS)}
EOF
(cd "$RUN/src" && python3 -m zipfile -c "$RUN/app.zip" app.py) || exit 1
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
fn() { # NAME MODE
	printf '{"name": "%s", "kernel": "%s", "initrd": "%s", "runtime": "python3.11",
	  "code": "%s", "handler": "app.handler", "mode": "%s", "memory": 256, "timeout": 600,
	  "concurrency": 1, "pool": 0, "environment": {"TABLE_N": "%s"}}' \
		"$1" "$KERNEL" "$INITRD" "$RUN/app.zip" "$2" "$TABLE_N"
}
echo "{\"functions\": [$(fn py-boot boot), $(fn py-clone clone), $(fn py-warm warm)]}" > "$RUN/fn.json"
$HF serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --runtimes "$IMAGES" \
	> "$RUN/serve.out" 2> "$RUN/serve.err" &
serve=$!
for i in $(seq 12000); do
	[ "$(grep -cE '^serve: function py-(clone|warm) ready' "$RUN/serve.out")" = 2 ] && break
	grep -q 'failed' "$RUN/serve.out" && break
	sleep 0.1
done
if [ "$(grep -cE '^serve: function py-(clone|warm) ready' "$RUN/serve.out")" != 2 ]; then
	echo "runtime-init: the functions did not come up:"; cat "$RUN/serve.out" "$RUN/serve.err"
	kill $serve; exit 1
fi
init_of() { sed -n "s/^serve: function $1 ready (.* in \([0-9]*\) ms)$/\1/p" "$RUN/serve.out" | head -1; }
echo "mode,invocations,p50_ms,p90_ms,max_ms,init_ms_per_vm,vms_initialised,guest_init_ms,function_memory_mib,table_n" > "$CSV"
for mode in boot clone warm; do
	times=()
	for i in $(seq "$N"); do
		t0=$(date +%s%N)
		code=$(curl -s -o "$RUN/out.json" -w '%{http_code}' -m 900 -X POST \
			--data-binary "{\"n\": $i}" "$URL/2015-03-31/functions/py-$mode/invocations")
		t1=$(date +%s%N)
		grep -q "\"n\": $i" "$RUN/out.json" 2> /dev/null && [ "$code" = 200 ] ||
			{ echo "runtime-init: py-$mode invocation $i: HTTP $code: $(head -c 300 "$RUN/out.json")"; kill $serve; exit 1; }
		times+=($(((t1 - t0) / 1000)))
	done
	guest_init=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["init_ms"])' "$RUN/out.json")
	mem=$(curl -s "$URL/metrics" | awk -v f="py-$mode" '$1 == "hyperfork_function_memory_bytes{function=\"" f "\"}" { printf "%.1f", $2 / 1048576 }')
	stats=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%.1f,%.1f,%.1f", v[int((NR + 1) * 0.5)] / 1000, v[int(NR * 0.9 + 0.5)] / 1000, v[NR] / 1000 }')
	case $mode in
	boot) init=""; vms=$N ;; # each invocation's VM pays it: its latency is the init
	*) init=$(init_of "py-$mode"); vms=1 ;;
	esac
	echo "$mode,$N,$stats,$init,$vms,$guest_init,$mem,$TABLE_N" | tee -a "$CSV"
done
kill $serve
wait $serve
echo "runtime-init: $CSV"
