#!/usr/bin/env bash
# What a network card adds to a clone: a 256 MB Linux guest frozen into a template at its
# fork point, with --net (hf.script=net: an HTTP server started before the fork) and
# without (hf.script=fork); RUNS clones are activated from each. Recorded per clone, in bench/results/net.csv:
#   activation_us: in the clone's VMM, from taking the activation to its guest running
#                  (trace points warm-activated -> warm-running; includes opening the tap)
#   fork_cli_us:   `hyperfork fork` round trip as a user sees it (the clone said READY)
#   http_ms:       (--net only) from the fork request to the clone's server answering
#                  GET /id with the clone's number on the clone's own tap, host-side
#                  address set-up included
# Needs root: taps and a network namespace.
#   bench/net.sh [RUNS]
. "$(dirname "$0")/lib.sh"
RUNS=${1:-20}
CSV=$OUT/net.csv
NS=hfbench$$
VMLINUX=$PWD/build/linux/vmlinux
INITRD=$PWD/build/linux/initramfs.cpio
if [ ! -c /dev/net/tun ] || ! ip netns add "$NS" 2>/dev/null; then
	echo "net: skipped (needs root, /dev/net/tun and network namespaces)"
	exit 0
fi
trap 'ip netns del "$NS" 2>/dev/null; bench_cleanup' EXIT
export HYPERFORK_TRACE=$RUN/trace
echo "mode,run,activation_us,fork_cli_us,http_ms" > "$CSV"

get_id() {
	ip netns exec "$NS" timeout 5 bash -c 'exec 3<>/dev/tcp/10.0.2.2/80 &&
		printf "GET /id HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null |
		tr -d '\r' | awk 'body { print } /^$/ { body = 1 }'
}
activation_us() { # PID: warm-activated -> warm-running in that clone's trace points
	awk -v p="$1" '$1 == p && $2 == "warm-activated" { a = $3 } $1 == p && $2 == "warm-running" { r = $3 }
		END { if (a && r) printf "%.1f", (r - a) / 1000 }' "$HYPERFORK_TRACE"
}

for mode in nonet net; do
	name=t$mode
	net=() script=fork
	[ $mode = net ] && net=(--net hfb0) script=net
	ip netns exec "$NS" $HF run --name $name --mem 256M --timeout 1800 "${net[@]}" --template --pool 4 \
		--kernel "$VMLINUX" --initrd "$INITRD" --console "$RUN/$name.out" \
		--cmdline "console=ttyS0 quiet hf.script=$script $LINUX_FLAGS" --no-host-flags \
		> /dev/null 2> "$RUN/$name.err" &
	if [ $mode = net ]; then
		for i in $(seq 300); do ip -n "$NS" link show hfb0 > /dev/null 2>&1 && break; sleep 0.1; done
		ip -n "$NS" addr add 10.0.2.1/24 dev hfb0
	fi
	for i in $(seq 1200); do [ "$(state_of $name)" = template ] && break; sleep 0.1; done
	[ $mode = net ] && ip -n "$NS" addr flush dev hfb0 # the template's tap serves no one now
	sleep 3 # the pool fills
	for r in $(seq 1 "$RUNS"); do
		t0=$(date +%s%N)
		line=$($HF fork $name)
		t1=$(date +%s%N)
		clone=${line%% *}
		pid=$(echo "$line" | awk '{ print $3 }')
		http=
		if [ $mode = net ]; then
			n=${clone##*.}
			ip -n "$NS" addr add 10.0.2.1/24 dev "hfb0.$n"
			for i in $(seq 600); do [ "$(get_id)" = "$n" ] && break; done
			http=$(( ($(date +%s%N) - t0) / 1000000 ))
		fi
		echo "$mode,$r,$(activation_us "$pid"),$(( (t1 - t0) / 1000 )),$http" >> "$CSV"
		$HF stop "$clone" > /dev/null 2>&1
		sleep 1.5 # the pool refills
	done
	$HF stop $name > /dev/null 2>&1
	sleep 1
done

summary() { # MODE COLUMN
	awk -F, -v m="$1" -v c="$2" '$1 == m && $c != "" { print $c }' "$CSV" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) printf "p50 %s min %s max %s (n=%d)", v[int((NR + 1) / 2)], v[1], v[NR], NR; else printf "none" }'
}
echo "net: activation, no card:   $(summary nonet 3) us"
echo "net: activation, with card: $(summary net 3) us"
echo "net: fork round trip, no card:   $(summary nonet 4) us"
echo "net: fork round trip, with card: $(summary net 4) us"
echo "net: fork request -> clone's server answers on its tap: $(summary net 5) ms"
