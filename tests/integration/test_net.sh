# Networking of Linux guests (virtio-net over a host tap) across a clone: a server started
# before the fork answers in the original and in the clone, each on its own tap with the
# same guest address, told apart by putting each tap in its own network namespace. Needs
# root (CAP_NET_ADMIN), /dev/net/tun and `ip netns`.
. "$(dirname "$0")/lib.sh"

need_linux_guest

# Bad --net values are refused before anything starts (no privileges needed).
expect_status 240 "--net is refused for a bare guest" -- "$HF" run --name nb --net hfx0 --bare "$GUESTS/hello.elf"
expect_in "$RUN/err" "--net is for Linux guests" "the bare-guest refusal names the cause"
expect_status 240 "a tap name longer than 15 characters is refused" -- \
	"$HF" run --name nb --net abcdefghijklmnop --kernel "$VMLINUX"
expect_in "$RUN/err" "invalid --net 'abcdefghijklmnop'" "the bad tap name is named"
expect_status 240 "a tap name Linux would refuse is refused" -- "$HF" run --name nb --net hf:0 --kernel "$VMLINUX"
expect_in "$RUN/err" "invalid --net 'hf:0'" "the bad tap name is named"
expect_status 240 "a second --net is refused" -- "$HF" run --name nb --net hfx0 --net hfx1 --kernel "$VMLINUX"
expect_in "$RUN/err" "--net hfx1: a VM has at most 1 --net" "the refusal names the option"
expect_status 240 "a multicast MAC is refused" -- "$HF" run --name nb --net hfx0,mac=01:00:5e:00:00:01 --kernel "$VMLINUX"
expect_in "$RUN/err" "invalid --net 'hfx0,mac=01:00:5e:00:00:01'.*a unicast MAC" "the MAC refusal names the argument and says what is expected"
expect_status 240 "a malformed MAC is refused" -- "$HF" run --name nb --net hfx0,mac=02:00:00 --kernel "$VMLINUX"
check "no control socket is left behind" no_sockets

if [ ! -c /dev/net/tun ] || ! ip netns add "hfprobe$$" 2>/dev/null; then
	[ "$FAILS" -gt 0 ] && finish
	not_run "networking needs /dev/net/tun and network namespaces (run as root)"
fi
ip netns del "hfprobe$$"
NSA=hfa$$
NSB=hfb$$
ip netns add "$NSA"
ip netns add "$NSB"
trap 'ip netns del "$NSA" 2>/dev/null; ip netns del "$NSB" 2>/dev/null; cleanup' EXIT

ip netns exec "$NSA" "$HF" run --name net --mem 256M --timeout $(scaled 300) --net hfn0,mac=02:00:00:00:00:02 \
	--kernel "$VMLINUX" --initrd "$INITRD" --cmdline "console=ttyS0 quiet hf.script=net" \
	--console "$RUN/net.out" > /dev/null 2> "$RUN/net.err" &
check "the VMM makes tap hfn0 and brings it up" wait_for 30 bash -c "ip -n $NSA link show hfn0 | grep -q ',UP'"
ip -n "$NSA" addr add 10.0.2.1/24 dev hfn0
check "the guest reaches the host over virtio-net" wait_for 120 grep -q "^HF-NET-UP" "$RUN/net.out"

check "the clone's tap hfn0.1 appears" wait_for 60 ip -n "$NSA" link show hfn0.1
check "status names each VM's tap" test "$(status_field net net)/$(status_field net.1 net)" = hfn0/hfn0.1
mac0=$(ip -n "$NSA" -o link show hfn0 | grep -o 'link/ether [0-9a-f:]*')
mac1=$(ip -n "$NSA" -o link show hfn0.1 | grep -o 'link/ether [0-9a-f:]*')
check "the clone's tap has its parent tap's MAC ($mac1)" test -n "$mac0" -a "$mac0" = "$mac1"
ip -n "$NSA" link set hfn0.1 netns "$NSB"
ip -n "$NSB" addr add 10.0.2.1/24 dev hfn0.1
ip -n "$NSB" link set hfn0.1 up
check "the original still reaches the host" wait_for 60 grep -q "^HF-NET 0 ok" "$RUN/net.out"
check "the clone reaches the host on its own tap" wait_for 90 grep -q "^HF-NET 1 ok" "$RUN/net.1.console"

# GET /id from the guest in namespace $1, with bash's /dev/tcp (no HTTP client needed);
# prints the body.
get_id() {
	ip netns exec "$1" timeout 20 bash -c 'exec 3<>/dev/tcp/10.0.2.2/80 &&
		printf "GET /id HTTP/1.0\r\n\r\n" >&3 && cat <&3' 2>/dev/null |
		tr -d '\r' | awk 'body { print } /^$/ { body = 1 }'
}
check "the server in the original answers as 0" test "$(get_id "$NSA")" = 0
check "the same server, cloned, answers on the clone's tap as 1" test "$(get_id "$NSB")" = 1
check "the clone answers with the guest MAC given to --net" bash -c "ip -n $NSB neigh show 10.0.2.2 | grep -q '02:00:00:00:00:02'"

expect_status 0 "the clone stops" -- "$HF" stop net.1
check "the clone's tap goes with it" wait_for 10 bash -c "! ip -n $NSB link show hfn0.1 2>/dev/null"
expect_status 0 "the original stops" -- "$HF" stop net
check "its tap goes with it" wait_for 10 bash -c "! ip -n $NSA link show hfn0 2>/dev/null"

# A template with a network card: frozen at its fork point with the server running; a
# clone activated from it gets tap hft0.1 and serves as 1.
ip netns exec "$NSA" "$HF" run --name tpl --mem 256M --timeout $(scaled 300) --net hft0 --template --pool 1 \
	--kernel "$VMLINUX" --initrd "$INITRD" --cmdline "console=ttyS0 quiet hf.script=net" \
	--console "$RUN/tpl.out" > /dev/null 2> "$RUN/tpl.err" &
check "template: tap hft0 is up" wait_for 30 bash -c "ip -n $NSA link show hft0 | grep -q ',UP'"
ip -n "$NSA" addr add 10.0.2.1/24 dev hft0
check "template: the guest reaches the host before freezing" wait_for 120 grep -q "^HF-NET-UP" "$RUN/tpl.out"
check "template: frozen at its fork point" wait_for 30 bash -c "[ \"\$('$HF' status tpl | awk '\$1 == \"state:\" { print \$2 }')\" = template ]"
"$HF" fork tpl > "$RUN/tf" 2>&1
expect_in "$RUN/tf" "^tpl\.1 pid [0-9]+ " "template: a clone is activated"
check "template: the clone's tap hft0.1 appears" wait_for 30 ip -n "$NSA" link show hft0.1
ip -n "$NSA" link set hft0.1 netns "$NSB"
ip -n "$NSB" addr add 10.0.2.1/24 dev hft0.1
ip -n "$NSB" link set hft0.1 up
check "template: the clone reaches the host on its own tap" wait_for 90 grep -q "^HF-NET 1 ok" "$RUN/tpl.1.console"
check "template: the cloned server answers as 1" test "$(get_id "$NSB")" = 1
check "no zombie processes" no_zombies
finish
