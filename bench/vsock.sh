#!/usr/bin/env bash
# Host -> guest streams over vsock against virtio-net, to the same 256 MB Linux guest in the
# same run (hf.script=vsock-bench: an echo and a sink on each transport):
#   vsock:      through the VM's socket (--vsock 3: CONNECT PORT on RUN_DIR/NAME.vsock)
#   virtio-net: TCP to the guest's address over the VM's tap (--net), from the network
#               namespace the tap is in
# Recorded per transport, in bench/results/vsock.csv:
#   rtt_p50_us, rtt_p99_us: ROUNDS 1-byte round trips on one connection to the echo (after
#                           10 unmeasured)
#   tput_mib_s:             MIB MiB to the sink, from the connection to its answer (it has
#                           read them all); the median of REPS runs, the transports taking
#                           turns (min and max recorded too)
# The virtio-net side needs root: a tap and a network namespace (without them, vsock alone).
# Then what vsock adds to a template clone's activation (its clone makes its socket, PATH.N):
# two 256 MB Linux templates frozen at hf-fork (hf.script=fork: each clone ends at once), one
# with --vsock and one without, ACTIVATIONS fork requests to each, taking turns, timed from
# the request on the control socket to its reply (the clone running, its devices attached).
# In bench/results/vsock-activation.csv: template,activations,p50_us,p99_us.
#   bench/vsock.sh [ROUNDS] [MIB] [REPS] [ACTIVATIONS]
. "$(dirname "$0")/lib.sh"
ROUNDS=${1:-200}
MIB=${2:-64}
REPS=${3:-3}
ACTS=${4:-20}
CSV=$OUT/vsock.csv
VH=$PWD/tests/integration/vsock_host.py
VMLINUX=$PWD/build/linux/vmlinux
INITRD=$PWD/build/linux/initramfs.cpio
NS=hfvs$$
net=() inns=()
if [ -c /dev/net/tun ] && ip netns add "$NS" 2>/dev/null; then
	trap 'ip netns del "$NS" 2>/dev/null; bench_cleanup' EXIT
	net=(--net hfv0) inns=(ip netns exec "$NS")
else
	echo "vsock: the virtio-net side skipped (needs root, /dev/net/tun and network namespaces)"
fi
echo "transport,round_trips,rtt_p50_us,rtt_p99_us,mib,runs,tput_mib_s,tput_min,tput_max" > "$CSV"

"${inns[@]}" $HF run --name vsb --mem 256M --timeout 3600 --vsock 3 "${net[@]}" \
	--kernel "$VMLINUX" --initrd "$INITRD" --console "$RUN/vsb.out" \
	--cmdline "console=ttyS0 quiet hf.script=vsock-bench $LINUX_FLAGS" --no-host-flags \
	> /dev/null 2> "$RUN/vsb.err" &
ready() { [ -f "$RUN/vsb.out" ] && [ "$(tr -d '\r' < "$RUN/vsb.out" | grep -c '^HF-VSOCK-LISTENING 500[03]$')" = 2 ]; }
for i in $(seq 1200); do ready && break; sleep 0.1; done
if ! ready; then
	echo "vsock: the guest's listeners did not come up: $(tail -3 "$RUN/vsb.err" "$RUN/vsb.out" 2>/dev/null | tr '\n' ' ')"
	exit 1
fi
if [ ${#net[@]} -gt 0 ]; then
	ip -n "$NS" addr add 10.0.2.1/24 dev hfv0
	for i in $(seq 600); do grep -q '^HF-VSOCK-BENCH-' "$RUN/vsb.out" && break; sleep 0.1; done
	# The TCP servers answer (busybox nc starts listening a moment after the line).
	for i in $(seq 300); do
		"${inns[@]}" timeout 10 "$VH" rtt tcp:10.0.2.2 7000 1 > /dev/null 2>&1 && break
		sleep 0.2
	done
	grep -q '^HF-VSOCK-BENCH-NET' "$RUN/vsb.out" || { echo "vsock: the guest has no network: $(tail -2 "$RUN/vsb.out")"; net=() inns=(); }
fi

field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; } # KEY: the value after KEY
med3() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%s,%s,%s", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
declare -A rtt tput
rtt[vsock]=$("$VH" rtt "vsock:$RUN/vsb.vsock" 5000 "$ROUNDS" 2>&1)
[ ${#net[@]} -gt 0 ] && rtt[net]=$("${inns[@]}" "$VH" rtt tcp:10.0.2.2 7000 "$ROUNDS" 2>&1)
for r in $(seq "$REPS"); do # the transports take turns
	tput[vsock]+="$("$VH" tput "vsock:$RUN/vsb.vsock" 5003 "$MIB" 2>&1 | field tput_mib_s) "
	[ ${#net[@]} -gt 0 ] && tput[net]+="$("${inns[@]}" "$VH" tput tcp:10.0.2.2 7003 "$MIB" 2>&1 | field tput_mib_s) "
done
for t in vsock net; do
	[ -n "${rtt[$t]:-}" ] || continue
	name=$t; [ $t = net ] && name=virtio-net
	p50=$(echo "${rtt[$t]}" | field p50); p99=$(echo "${rtt[$t]}" | field p99)
	[ -n "$p50" ] || echo "vsock: $name round trips failed: ${rtt[$t]}"
	tp=$(echo "${tput[$t]}" | tr ' ' '\n' | grep . | med3)
	n=$(echo "${tput[$t]}" | wc -w)
	echo "$name,$ROUNDS,$p50,$p99,$MIB,$n,$tp" >> "$CSV"
	[ "$n" -gt 0 ] || echo "vsock: $name throughput failed"
	printf 'vsock: %-10s 1-byte round trip host -> guest echo: p50 %s us p99 %s us (n=%s); %s MiB host -> guest: %s MiB/s (median of %s runs: %s)\n' \
		"$name" "${p50:-?}" "${p99:-?}" "$ROUNDS" "$MIB" "${tp%%,*}" "$n" "$(echo ${tput[$t]})"
done
awk -F, 'NR > 1 { r[$1] = $3; t[$1] = $7 } END { if (r["vsock"] && r["virtio-net"])
	printf "vsock: vsock / virtio-net: round trip %.2fx, throughput %.2fx\n", r["vsock"] / r["virtio-net"], (t["virtio-net"] > 0 ? t["vsock"] / t["virtio-net"] : 0) }' "$CSV"
$HF stop vsb > /dev/null 2>&1

# ---- template activation with and without vsock
ACSV=$OUT/vsock-activation.csv
echo "template,activations,p50_us,p99_us" > "$ACSV"
for t in tvs:--vsock=3 tnv:; do
	name=${t%%:*} opt=${t#*:}
	$HF run --name $name --mem 256M --timeout 3600 ${opt/=/ } --template --pool 2 --console none \
		--kernel "$VMLINUX" --initrd "$INITRD" --cmdline "console=ttyS0 quiet hf.script=fork $LINUX_FLAGS" \
		--no-host-flags > /dev/null 2> "$RUN/$name.err" &
done
for i in $(seq 1800); do [ "$(state_of tvs)" = template ] && [ "$(state_of tnv)" = template ] && break; sleep 0.1; done
if [ "$(state_of tvs)/$(state_of tnv)" != template/template ]; then
	echo "vsock: the templates did not freeze: $(tail -2 "$RUN/tvs.err" "$RUN/tnv.err" | tr '\n' ' ')"
else
	sleep 2 # the pools filled
	python3 - "$RUN/tvs.sock" "$RUN/tnv.sock" "$ACTS" > "$RUN/act.txt" <<'PYEOF'
import socket, sys, time
socks, n = sys.argv[1:3], int(sys.argv[3])
for i in range(n):
    for which, path in enumerate(socks):  # the templates take turns
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        t = time.monotonic_ns()
        s.sendall(b'{"cmd":"fork","console":"none"}\n')
        buf = b''
        while not buf.endswith(b'\n'):
            d = s.recv(65536)
            if not d:
                break
            buf += d
        t = time.monotonic_ns() - t
        s.close()
        print(which, t // 1000 if b'"ok":true' in buf else 'error ' + buf.decode().strip())
        time.sleep(0.5)  # the pool refills
PYEOF
	for w in 0:vsock 1:none; do
		vals=$(awk -v w="${w%%:*}" '$1 == w && $2 ~ /^[0-9]+$/ { print $2 }' "$RUN/act.txt" | sort -n)
		n=$(echo "$vals" | grep -c .)
		p50=$(echo "$vals" | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		p99=$(echo "$vals" | awk '{ v[NR] = $1 } END { if (NR) print v[int(NR * 0.99 + 0.999)] }')
		echo "${w#*:},$n,$p50,$p99" >> "$ACSV"
	done
	grep -q error "$RUN/act.txt" && echo "vsock: activations failed: $(grep -m1 error "$RUN/act.txt")"
	awk -F, 'NR > 1 { p[$1] = $3; n[$1] = $2 } END { printf "vsock: template activation, request to reply: with --vsock p50 %s us, without %s us (n=%s each, taking turns): %+d us\n", p["vsock"], p["none"], n["vsock"], p["vsock"] - p["none"] }' "$ACSV"
fi
$HF stop tvs > /dev/null 2>&1
$HF stop tnv > /dev/null 2>&1
wait
