#!/usr/bin/env bash
# Reset against clone, measured inside the guest from the moment the VMM took the request
# to the guest's first instruction after it (bench/guests/resetlat.c, forklat.c): a clone of
# a --reusable template reset N times after it wrote 1, 16, 256 pages or all of its free
# RAM, through the control socket (reset) and as serve's workers are, by their VMM on the
# vCPU's own thread after each answer (reset-worker); beside them, in the same run, clones
# activated from a template's warm pool (a --reusable template and a plain one) and fork()
# clones of a running VM of the same size.
# Writes bench/results/reset.csv, reset-summary.csv and ioctl-cost.txt (what each KVM ioctl
# costs here: bench/tools/ioctl-cost.c).
#   bench/reset.sh [N] [MEM_MB] [PAGES]     e.g. bench/reset.sh 20 128 "1 16 256 all"
set -u
N=${1:-20}
MEM=${2:-128}
PAGES=${3:-"1 16 256 all"}
. "$(dirname "$0")/lib.sh"
GUEST=$PWD/build/bench/guests/resetlat.elf
CSV=$OUT/reset.csv
echo "mode,pages,sample,request_us" > "$CSV"
# wait_line FILE PATTERN: until the clone's console has the line (at most 5 minutes)
wait_line() { local i; for i in $(seq 6000); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
template_up() { local i; for i in $(seq 1800); do [ "$(state_of "$1")" = template ] && return 0; sleep 0.1; done; return 1; }
log=$OUT/reset.log
: > "$log"

for p in $PAGES; do
	name=r$p
	echo "reset after $p page(s) written, ${MEM} MB: $N resets" >&2
	$HF run --name "$name" --mem "${MEM}M" --timeout 3600 --console none --template --pool 1 \
		--reusable --bare "$GUEST" --cmdline "$p" 2>> "$log" &
	template_up "$name" || { echo "reset.sh: template $name did not come up" >&2; continue; }
	$HF fork "$name" --console file > /dev/null 2>> "$log"
	con=$RUN/$name.1.console
	wait_line "$con" "^resetlat: dirtied 1 " || echo "reset.sh: clone of $name did not start" >&2
	written=$(sed -n 's/^resetlat: dirtied 1 \([0-9]*\)$/\1/p' "$con")
	for i in $(seq 2 $((N + 1))); do
		$HF reset "$name.1" --id "$i" >> "$log" 2>&1
		wait_line "$con" "^resetlat: dirtied $i " || { echo "reset.sh: reset $i of $name did not finish" >&2; break; }
	done
	awk -v p="${written:-$p}" '/^resetlat: clone [0-9]+ request_ns/ && $3 > 1 { printf "reset,%s,%d,%.1f\n", p, $3, $5 / 1000 }' "$con" >> "$CSV"
	$HF stop "$name" > /dev/null 2>&1
	wait
done

# A worker: the clone serves invocations over its function socket and is reset by its VMM
# on the vCPU's own thread after each answer (what serve's workers do), no control socket.
for p in $PAGES; do
	name=w$p
	echo "worker reset after $p page(s) written, ${MEM} MB: $N invocations" >&2
	$HF run --name "$name" --mem "${MEM}M" --timeout 3600 --console none --template --pool 1 \
		--reusable --function --bare "$GUEST" --cmdline "$p worker" 2>> "$log" &
	template_up "$name" || { echo "reset.sh: template $name did not come up" >&2; continue; }
	$HF fork "$name" --console none > /dev/null 2>> "$log"
	python3 - "$RUN/$name.1.fn" "$((N + 1))" > "$RUN/$name.answers" 2>> "$log" <<'PYEOF' ||
import socket, sys, time
path, n = sys.argv[1], int(sys.argv[2])
for _ in range(600):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        break
    except OSError:
        time.sleep(0.1)
f = s.makefile("rb")
s.sendall(b"WORKER\n")
if not f.readline().startswith(b"READY "):
    sys.exit("no READY")
for i in range(n):
    s.sendall(b"INVOKE r%d %d - - 0 1 %d\nx" % (i, int(time.time() * 1000) + 3600000, time.time_ns() // 1000))
    # Read once the answer and the READY after the reset are in, not before: a client
    # blocked on the socket would be woken by READY in the middle of the reset, and on a
    # host of one CPU would run inside the window measured (serve reads READY only when
    # the next invocation comes).
    time.sleep(0.05)
    head = f.readline().split()
    if not head or head[0] != b"RESPONSE":
        sys.exit("bad answer %r" % head)
    print(f.read(int(head[1])).decode())
    if not f.readline().startswith(b"READY "):
        sys.exit("no READY after answer %d" % i)
PYEOF
		echo "reset.sh: worker $name failed (see $log)" >&2
	# The first answer is the clone's (activation); each later one follows a reset.
	tail -n +2 "$RUN/$name.answers" | awk '{ printf "reset-worker,%s,%d,%.1f\n", $3, $1, $2 / 1000 }' >> "$CSV"
	$HF stop "$name" > /dev/null 2>&1
	wait
done

for kind in reusable plain; do
	name=a$kind
	echo "template activation ($kind template), ${MEM} MB: $N clones" >&2
	$HF run --name "$name" --mem "${MEM}M" --timeout 3600 --console none --template --pool 4 \
		$([ $kind = reusable ] && echo --reusable) --bare "$GUEST" --cmdline 1 2>> "$log" &
	template_clones "$name" "$N"
	cat "$RUN/$name".*.console 2>/dev/null | awk -v m="activate-$kind" \
		'/^resetlat: clone [0-9]+ request_ns/ { printf "%s,0,%d,%.1f\n", m, $3, $5 / 1000 }' >> "$CSV"
done

echo "fork() of a running VM, ${MEM} MB: $N clones" >&2
$HF run --name fk --mem "${MEM}M" --timeout 3600 --console none --bare "$PWD/build/bench/guests/forklat.elf" \
	--cmdline "touch $N 20" 2>> "$log"
sleep 0.5
cat "$RUN"/fk.*.console 2>/dev/null | awk '/^forklat: clone/ { printf "fork,0,%d,%.1f\n", $3, $7 / 1000 }' >> "$CSV"

SUM=$OUT/reset-summary.csv
echo "mode,pages,n,p50_us,p99_us,min_us,max_us" > "$SUM"
tail -n +2 "$CSV" | sort -t, -k1,1 -k2,2n -k4,4n | awk -F, '
function flush() { if (n) printf "%s,%s,%d,%.0f,%.0f,%.0f,%.0f\n", mode, pages, n, v[int((n - 1) * 0.5) + 1], v[int((n - 1) * 0.99) + 1], v[1], v[n]; n = 0 }
{ k = $1 "," $2; if (k != key) { flush(); key = k; mode = $1; pages = $2 } v[++n] = $4 }
END { flush() }' >> "$SUM"
echo
echo "Reset and clone latency, request -> the guest's first instruction after it (us), ${MEM} MB guest; $(nproc) cores, $(uname -r)"
column -s, -t "$SUM"
echo "(CSV: $CSV, $SUM)"
echo
echo "What each KVM ioctl of a clone's start or a reset costs here, each repeated in a loop (a floor: once, on a cold path, it costs more)"
"$PWD/build/bench/tools/ioctl-cost" | tee "$OUT/ioctl-cost.txt"
