#!/usr/bin/env bash
# The paper's expensive-initialisation experiment (its Figures 4 and 5) with real Lambda
# functions of the managed runtimes: a Python handler whose module imports a dozen of the
# standard library's modules and builds a table (TABLE_N SHA-256 digests) at init, and a
# Node one doing the same (require of a dozen core modules, the same table), served three
# ways in one run of serve, each invoked N times one after the other:
#   boot    a VM booted for every invocation: each pays the runtime's start and the init
#           (N_BOOT invocations, default N: each costs a whole boot)
#   clone   mode clone: every invocation in the template frozen after the init (a worker,
#           reset to it after each answer)
#   warm    one VM, initialised once, reused (state passes between invocations)
# Each function runs alone, in a serve of its own. For each: the end-to-end latency of the invocations (p50, p90, max, from the client), the
# init each pays (the template's or warm VM's boot-and-init time, from serve's log; for
# boot, every invocation's), the init the handler's module measured itself, and the host
# memory its VMs hold after the invocations (the function's memory in /metrics: the PSS of
# its template, pool and clones). Node runs where its image was built (make runtimes).
# Writes bench/results/runtime-init.csv.
#   bench/runtime-init.sh [N] [TABLE_N] [N_BOOT]
set -u
N=${1:-20}
TABLE_N=${2:-200000}
N_BOOT=${3:-$N}
. "$(dirname "$0")/lib.sh"
CSV=$OUT/runtime-init.csv
IMAGES=$PWD/build/runtimes
KERNEL=$PWD/build/linux/bzImage
INITRD=$PWD/build/linux/initramfs.cpio
[ -f "$IMAGES/python3.11.img" ] || { echo "runtime-init: no $IMAGES/python3.11.img (make runtimes)"; exit 1; }
langs=py
if [ -f "$IMAGES/nodejs18.x.img" ]; then langs="py node"; else
	echo "runtime-init: no $IMAGES/nodejs18.x.img: Python only (NOT RUN: Node)"; fi
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
(cd "$RUN/src" && python3 -m zipfile -c "$RUN/py.zip" app.py) || exit 1
mkdir -p "$RUN/nsrc"
cat > "$RUN/nsrc/index.js" << 'EOF'
const [assert, buffer, cp, crypto, events, fs, http, https, os, path, stream, url, util, zlib] =
  ['assert', 'buffer', 'child_process', 'crypto', 'events', 'fs', 'http', 'https', 'os', 'path',
   'stream', 'url', 'util', 'zlib'].map((m) => require(m));
const t0 = process.hrtime.bigint();
const TABLE = [];
for (let i = 0; i < Number(process.env.TABLE_N); i++)
  TABLE.push(crypto.createHash('sha256').update(String(i)).digest('hex'));
const INIT_MS = Number(process.hrtime.bigint() - t0) / 1e6;
exports.handler = async (event) =>
  ({ n: event.n, digest: TABLE[TABLE.length >> 1], init_ms: Math.round(INIT_MS) });
EOF
(cd "$RUN/nsrc" && python3 -m zipfile -c "$RUN/node.zip" index.js) || exit 1
PORT=$((20000 + $$ % 20000))
URL=http://127.0.0.1:$PORT
fn() { # LANG MODE
	local rt=python3.11 handler=app.handler
	[ "$1" = node ] && rt=nodejs18.x handler=index.handler
	printf '{"name": "%s-%s", "kernel": "%s", "initrd": "%s", "runtime": "%s",
	  "code": "%s", "handler": "%s", "mode": "%s", "memory": 256, "timeout": 600,
	  "concurrency": 1, "pool": 0, "environment": {"TABLE_N": "%s"}}' \
		"$1" "$2" "$KERNEL" "$INITRD" "$rt" "$RUN/$1.zip" "$handler" "$2" "$TABLE_N"
}
init_of() { sed -n "s/^serve: function $1 ready (.* in \([0-9]*\) ms)$/\1/p" "$RUN/serve.out" | head -1; }
# One function at a time, each in a serve of its own: no boot shares the CPU with another.
serve=
stop_serve() { [ -n "$serve" ] && kill $serve 2>/dev/null && wait $serve 2>/dev/null; serve=; }
trap stop_serve EXIT
echo "runtime,mode,invocations,p50_ms,p90_ms,max_ms,init_ms_per_vm,vms_initialised,guest_init_ms,function_memory_mib,table_n" > "$CSV"
for l in $langs; do for mode in boot clone warm; do
	echo "{\"functions\": [$(fn $l $mode)]}" > "$RUN/fn.json"
	$HF serve --listen 127.0.0.1:$PORT --config "$RUN/fn.json" --runtimes "$IMAGES" \
		> "$RUN/serve.out" 2> "$RUN/serve.err" &
	serve=$!
	for i in $(seq 12000); do
		grep -q "^serve: function $l-$mode ready\|failed" "$RUN/serve.out" && break
		sleep 0.1
	done
	if ! grep -q "^serve: function $l-$mode ready" "$RUN/serve.out"; then
		echo "runtime-init: $l-$mode did not come up:"; cat "$RUN/serve.out" "$RUN/serve.err"
		exit 1
	fi
	times=()
	n=$N
	[ $mode = boot ] && n=$N_BOOT
	for i in $(seq "$n"); do
		t0=$(date +%s%N)
		code=$(curl -s -o "$RUN/out.json" -w '%{http_code}' -m 900 -X POST \
			--data-binary "{\"n\": $i}" "$URL/2015-03-31/functions/$l-$mode/invocations")
		t1=$(date +%s%N)
		grep -q "\"n\": *$i" "$RUN/out.json" 2> /dev/null && [ "$code" = 200 ] ||
			{ echo "runtime-init: $l-$mode invocation $i: HTTP $code: $(head -c 300 "$RUN/out.json")"; exit 1; }
		times+=($(((t1 - t0) / 1000)))
	done
	guest_init=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["init_ms"])' "$RUN/out.json")
	mem=$(curl -s "$URL/metrics" | awk -v f="$l-$mode" '$1 == "hyperfork_function_memory_bytes{function=\"" f "\"}" { printf "%.1f", $2 / 1048576 }')
	stats=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%.1f,%.1f,%.1f", v[int((NR + 1) * 0.5)] / 1000, v[int(NR * 0.9 + 0.5)] / 1000, v[NR] / 1000 }')
	case $mode in
	boot) init=""; vms=$n; mem="" ;; # each invocation's VM pays the init and is gone after
	*) init=$(init_of "$l-$mode"); vms=1 ;;
	esac
	rt=python3.11; [ $l = node ] && rt=nodejs18.x
	echo "$rt,$mode,$n,$stats,$init,$vms,$guest_init,$mem,$TABLE_N" | tee -a "$CSV"
	stop_serve
done; done
echo "runtime-init: $CSV"
