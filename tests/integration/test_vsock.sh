# vsock: the virtio-vsock device (--vsock CID[,uds=PATH][,cid-per-clone]) between the host
# and Linux guests and their clones, in Firecracker's hybrid model. Host -> guest: connect to
# the VM's Unix socket PATH (RUN_DIR/NAME.vsock by default), write "CONNECT PORT", read "OK
# HOSTPORT", then a stream to the guest's listener on PORT. Guest -> host: the guest's
# connections to CID 2 port P reach a Unix listener at PATH_P. Clone N has its own socket
# PATH.N and reaches PATH.N_P; connections open at a fork are reset on both sides, while the
# guest's listeners go on serving in every clone. A guest sending more than a host program
# takes is held back by virtio-vsock's credit, not buffered in the VMM. The host's side is
# vsock_host.py (python3), the guest's hf-vsock in guest/linux/scripts/vsock.sh
# (hf.script=vsock) and vsock-ctl.sh.
# Last, hf-vsock itself over the host's own vsock loopback (CID 1; the emulated KVM host
# loads vsock_loopback).
. "$(dirname "$0")/lib.sh"

VH=$TOP/tests/integration/vsock_host.py
VS=$LINUX_DIR/tools/hf-vsock
need_linux_guest
[ -x /usr/bin/python3 ] || { fail "no /usr/bin/python3 for vsock_host.py: run scripts/install-deps.sh"; finish; }
bg=() # host-side helpers running in the background
trap 'kill "${bg[@]}" 2>/dev/null; cleanup' EXIT
SIZES="1 65536 16777216"

# ---------------------------------------------------------------- bad arguments
# Refused before anything starts: status 240 and the argument named. (The kernel named does
# not exist: an argument wrongly accepted fails on it instead, at once.)
nokernel=$RUN/no-such-vmlinux
expect_status 240 "--vsock is refused for a bare guest" -- "$HF" run --name vb --vsock 3 --bare "$GUESTS/hello.elf"
expect_in "$RUN/err" "--vsock is for Linux guests" "the bare-guest refusal names the cause"
long=$RUN/$(printf 'x%.0s' $(seq 110))
while IFS='|' read -r arg what; do
	expect_status 240 "--vsock '$arg' is refused: $what" -- "$HF" run --name vb --vsock "$arg" --kernel "$nokernel"
	expect_in "$RUN/err" "invalid --vsock '$arg'" "the refusal of '$arg' names the argument"
done <<EOF
2|CID 2 is the host's
0|CID 0 is reserved
1|CID 1 is the local loopback
4294967295|CID 0xffffffff is VMADDR_CID_ANY
4294967296|a CID beyond 32 bits
-3|a negative CID
abc|a CID that is not a number
3x|a CID with trailing characters
|an empty value
3,|an empty option after the CID
3,colour=red|an unknown key
3,uds=|an empty socket path
3,uds=$long|a socket path too long for a Unix socket
EOF
expect_status 240 "a second --vsock is refused" -- "$HF" run --name vb --vsock 3 --vsock 4 --kernel "$nokernel"
expect_in "$RUN/err" "--vsock 4: a VM has at most 1 --vsock" "the refusal names the option"
expect_status 240 "CID 4294967294, the largest, is accepted (the missing kernel stops it)" -- \
	"$HF" run --name vb --vsock 4294967294,uds=$RUN/ok.vsock,cid-per-clone --kernel "$nokernel"
expect_not_in "$RUN/err" "invalid --vsock" "CID, uds= and cid-per-clone together are accepted"
check "no control socket is left behind" no_sockets
check "no vsock socket is left behind" bash -c "! ls '$RUN' | grep -q vsock"

# ---------------------------------------------------------------- the host's side
# Host listeners for the guests' CID 2 ports, for the VM (vs), its clones 1 and 2, and the
# template's clone 1 (socket t.v.1): 6000 echoes, 6001 answers with the sha256 of what it
# got, 6002 (the VM only) holds a connection and says when it ends.
bases="$RUN/vs.vsock $RUN/vs.vsock.1 $RUN/vs.vsock.2 $RUN/t.v.1"
"$VH" listen $(for b in $bases; do echo "${b}_6000"; done) 2> "$RUN/echo.log" &
bg+=($!)
"$VH" listen $(for b in $bases; do echo "${b}_6001"; done) -- sha256sum 2> "$RUN/sum.log" &
bg+=($!)
"$VH" listen "$RUN/vs.vsock_6002" -- sh -c 'echo ACCEPTED >&2; cat > /dev/null; echo "ENDED $?" >&2' 2> "$RUN/hold.log" &
bg+=($!)
check "the host's listeners are up" wait_for 30 bash -c "grep -q '^LISTENING.*t.v.1_6000' '$RUN/echo.log' &&
	grep -q '^LISTENING.*t.v.1_6001' '$RUN/sum.log' && grep -q '^LISTENING' '$RUN/hold.log'"
for s in $SIZES; do head -c "$s" /dev/urandom > "$RUN/data.$s"; done
sha() { sha256sum < "$1" | awk '{ print $1 }'; }
label() { case $1 in 1) echo "1 byte" ;; 65536) echo "64 KiB" ;; 16777216) echo "16 MiB" ;; *) echo "$1 bytes" ;; esac; }

vh_connect() { timeout 60 "$VH" connect "$@" < /dev/null; } # for expect_status
# ctl SOCKET COMMAND [SECONDS]: a command to the guest's control port 5009 (vsock-ctl.sh);
# its answer on stdout.
ctl() { echo "$2" | timeout "${3:-60}" "$VH" connect "$1" 5009; }
# connections_to PATH: how many connections the host's listener at PATH has accepted
connections_to() { cat "$RUN/echo.log" "$RUN/sum.log" | grep -cF "$1: connection"; }
listening() { [ "$(tr -d '\r' < "$1" | grep -c '^HF-VSOCK-LISTENING 500[0129]$')" = 4 ]; }

# streams WHO SOCKET CLONE CID: what a user of the VM behind SOCKET (clone number CLONE,
# guest CID CID) sees: the socket leads to that VM, whose kernel has that CID; streams of 1 B, 64 KiB and 16 MiB each way, checksummed
# where they arrive and echoed back unchanged; the guest's connections reach the host at
# SOCKET_P.
streams() {
	local who=$1 s=$2 n=$3 cid=$4 size line
	check_or_show "$who: its socket $s leads to its own guest (hf-id there says $n)" "$RUN/id.err" \
		test "$(ctl "$s" id 2> "$RUN/id.err" | tr -d '\r')" = "$n"
	ctl "$s" cid > "$RUN/cid" 2>&1
	check_or_show "$who: the guest's CID is $cid" "$RUN/cid" test "$(cat "$RUN/cid")" = "$cid"
	for size in $SIZES; do
		timeout 300 "$VH" connect "$s" 5001 < "$RUN/data.$size" > "$RUN/sum" 2> "$RUN/sum.err"
		check_or_show "$who: host -> guest, $(label $size): the sha256 a guest listener computes matches" "$RUN/sum.err" \
			test "$(awk '{ print $1 }' "$RUN/sum")" = "$(sha "$RUN/data.$size")"
		timeout 300 "$VH" connect "$s" 5000 < "$RUN/data.$size" > "$RUN/back" 2> "$RUN/back.err"
		check_or_show "$who: host -> guest, $(label $size): the guest's echo listener sends it back unchanged" "$RUN/back.err" \
			cmp -s "$RUN/data.$size" "$RUN/back"
	done
	local before_own before_parent
	before_own=$(connections_to "${s}_6001")
	before_parent=$(connections_to "$RUN/vs.vsock_6001")
	ctl "$s" to-host 900 > "$RUN/th" 2> "$RUN/th.err"
	cat "$RUN/th.err" >> "$RUN/th"
	for size in $SIZES; do
		line=$(tr -d '\r' < "$RUN/th" | awk -v s="$size" '$1 == "TO-HOST" && $2 == s')
		check_or_show "$who: guest -> host, $(label $size): the sha256 the host's listener computes matches the guest's" "$RUN/th" \
			awk -v l="$line" 'BEGIN { split(l, f, " "); exit !(length(f[3]) == 64 && f[3] == f[4]) }'
		check_or_show "$who: guest -> host, $(label $size): the host's echo listener sends it back unchanged" "$RUN/th" \
			grep -q "^ECHO-FROM-HOST $size ok" "$RUN/th"
	done
	check "$who: its guest's connections to CID 2 port 6001 reached ${s}_6001" \
		test "$(connections_to "${s}_6001")" -ge "$((before_own + 3))"
	if [ "$s" != "$RUN/vs.vsock" ]; then
		check "$who: and none reached the original VM's $RUN/vs.vsock_6001" \
			test "$(connections_to "$RUN/vs.vsock_6001")" = "$before_parent"
	fi
}

# ---------------------------------------------------------------- the VM
"$HF" run --name vs --mem 256M --timeout $(scaled 900) --vsock 3 --kernel "$VMLINUX" --initrd "$INITRD" \
	--cmdline "console=ttyS0 quiet hf.script=vsock" --console "$RUN/vs.out" > /dev/null 2> "$RUN/vs.err" &
if ! wait_for 180 listening "$RUN/vs.out"; then
	fail "the guest's vsock listeners did not come up (vsock.sh)"
	tr -d '\r' < "$RUN/vs.out" | tail -20 | sed 's/^/  | console: /'
	sed 's/^/  | stderr: /' "$RUN/vs.err"
	finish
fi
pass "the guest's vsock listeners are up"
check "the VM's vsock socket is RUN_DIR/vs.vsock (the default)" test -S "$RUN/vs.vsock"
streams "the VM" "$RUN/vs.vsock" 0 3

# Another VM given the socket path of this running one does not start, and leaves it alone.
expect_status 240 "a VM whose socket path a running VM listens on is refused" -- \
	timeout 120 "$HF" run --name vs2 --mem 64M --timeout $(scaled 10) --vsock 4,uds=$RUN/vs.vsock \
	--kernel "$VMLINUX" --initrd "$INITRD" --cmdline "console=ttyS0 quiet"
expect_in "$RUN/err" "cannot listen on $RUN/vs.vsock: Address already in use" "the refusal names the path in use"
check "the running VM's socket still leads to it" test "$(ctl "$RUN/vs.vsock" id 2>&1)" = 0

expect_status 3 "a connection to a guest port nobody listens on is closed without OK" -- \
	vh_connect "$RUN/vs.vsock" 5999
expect_in "$RUN/err" "closed the connection without OK" "the host sees the close before any OK"
ctl "$RUN/vs.vsock" refused > "$RUN/refused" 2>&1
check_or_show "the guest's connection to a host port nobody listens on fails (status 1)" "$RUN/refused" \
	grep -q "^REFUSED 1 " "$RUN/refused"
check_or_show "and the guest sees it reset or refused" "$RUN/refused" \
	grep -Eq "connect to CID 2 port 6999: (Connection reset by peer|Connection refused)" "$RUN/refused"

timeout 600 "$VH" many "$RUN/vs.vsock" 5000 64 65536 > "$RUN/many" 2>&1
check_or_show "64 concurrent host->guest connections each get their 64 KiB echoed unchanged" "$RUN/many" \
	grep -q "^64 of 64 connections" "$RUN/many"
check "the guest's echo listener still serves after them" \
	test "$(echo after-many | timeout 60 "$VH" connect "$RUN/vs.vsock" 5000)" = after-many

# ---------------------------------------------------------------- credit
# The guest sends 64 MiB to a host program that never reads (port 6003): virtio-vsock's
# credit holds the sender back. The VMM keeps at most 256 KiB of a connection's stream, so
# its memory does not grow with what the guest tries to send, and it serves on meanwhile.
"$VH" hold "$RUN/vs.vsock_6003" 2> "$RUN/flood.log" &
flood_host=$!
bg+=($flood_host)
check "a host listener that never reads is up" wait_for 30 grep -q '^LISTENING' "$RUN/flood.log"
vmm=$(status_field vs pid)
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$vmm/status"; }
rss_before=$(rss)
ctl "$RUN/vs.vsock" flood > "$RUN/flood" 2>&1
check_or_show "the guest starts sending 64 MiB to it" "$RUN/flood" grep -q "^FLOOD started" "$RUN/flood"
check_or_show "the host's listener accepts the guest's connection" "$RUN/flood.log" \
	wait_for 60 grep -qF "$RUN/vs.vsock_6003: connection 1" "$RUN/flood.log"
sleep "$(scaled 1)" # time enough to send the 64 MiB many times over, were it not held back
rss_after=$(rss)
kill -USR1 "$flood_host" # it says how many bytes wait unread on its connection
wait_for 30 grep -Eq ": connection 1: [0-9]+ bytes unread" "$RUN/flood.log"
unread=$(sed -nE 's/.*: connection 1: ([0-9]+) bytes unread$/\1/p' "$RUN/flood.log" | tail -1)
echo "  (VMM pid $vmm, VmRSS: $rss_before KiB before the flood, $rss_after KiB after;" \
	"${unread:-?} bytes wait unread at the host's listener)"
check_or_show "the guest did send: ${unread:-no} bytes wait unread at the host's listener" \
	"$RUN/flood.log" test "${unread:-0}" -gt 0
check "the VMM's memory has not grown with the 64 MiB (RSS up by less than 8 MiB)" \
	test "$((rss_after - rss_before))" -lt 8192
check_or_show "the guest's sender is held back: it has not ended" "$RUN/vs.out" \
	bash -c "! grep -q HF-VSOCK-FLOOD-END '$RUN/vs.out'"
check "meanwhile the guest's echo listener answers" \
	test "$(echo during-flood | timeout 60 "$VH" connect "$RUN/vs.vsock" 5000)" = during-flood
check "and hyperfork status vs answers: running" test "$(status_field vs state)" = running
kill "$flood_host"
wait "$flood_host" 2>/dev/null
check_or_show "the host's listener gone, the guest's sender ends with an error (its connection reset)" "$RUN/vs.out" \
	wait_for 60 grep -Eq "^HF-VSOCK-FLOOD-END 0 status 1 hf-vsock: send: (Broken pipe|Connection reset by peer)" "$RUN/vs.out"
tr -d '\r' < "$RUN/vs.out" | grep 'FLOOD-END' | sed 's/^/  (VM: /; s/$/)/'
check "the VMM still runs: hyperfork status vs answers: running" test "$(status_field vs state)" = running
check "its VmRSS is still within 8 MiB of before the flood" test "$(($(rss) - rss_before))" -lt 8192

# ---------------------------------------------------------------- a fork (hf-fork)
# Open across the fork: a host->guest connection (to port 5002, which echoes its first line
# and holds) and a guest->host one (to the host's port 6002).
mkfifo "$RUN/hold.in"
exec 7<> "$RUN/hold.in"
"$VH" connect "$RUN/vs.vsock" 5002 <&7 > "$RUN/hold.out" 2> "$RUN/hold.err" &
hold=$!
bg+=($hold)
echo hold >&7
check "a host->guest connection is open (the guest echoed its first line)" wait_for 60 grep -q '^hold' "$RUN/hold.out"
ctl "$RUN/vs.vsock" hold-out > "$RUN/ho" 2>&1
check_or_show "a guest->host connection is open (the host's listener accepted it)" "$RUN/hold.log" \
	wait_for 60 grep -q '^ACCEPTED' "$RUN/hold.log"
echo fork | timeout 60 "$VH" connect "$RUN/vs.vsock" 5009 > /dev/null 2>&1 &
bg+=($!)
check_or_show "hf-fork returns 0 in the VM" "$RUN/vs.out" wait_for 120 grep -q "^HF-VSOCK-FORKED 0" "$RUN/vs.out"
check_or_show "and 1 in its clone vs.1" "$RUN/vs.1.console" wait_for 120 grep -q "^HF-VSOCK-FORKED 1" "$RUN/vs.1.console"
check "the host's end of the host->guest connection open at the fork sees it end" wait_for 60 pid_gone $hold
wait $hold
st=$?
echo "  (vsock_host connect ended with status $st: $(cat "$RUN/hold.err"))"
check "nothing but the guest's echo came on it" test "$(cat "$RUN/hold.out")" = hold
check_or_show "the guest's end of it is reset in the VM (its listener's command saw the end)" "$RUN/vs.out" \
	wait_for 60 grep -q "^HF-VSOCK-IN-HOLD-END 0 " "$RUN/vs.out"
check_or_show "and in clone 1" "$RUN/vs.1.console" wait_for 60 grep -q "^HF-VSOCK-IN-HOLD-END 1 " "$RUN/vs.1.console"
check_or_show "the host's end of the guest->host connection open at the fork sees it end" "$RUN/hold.log" \
	wait_for 60 grep -q '^ENDED' "$RUN/hold.log"
check_or_show "the guest's end of it is reset in the VM (hf-vsock connect ended)" "$RUN/vs.out" \
	wait_for 60 grep -q "^HF-VSOCK-OUT-HOLD-END 0 " "$RUN/vs.out"
check_or_show "and in clone 1" "$RUN/vs.1.console" wait_for 60 grep -q "^HF-VSOCK-OUT-HOLD-END 1 " "$RUN/vs.1.console"
tr -d '\r' < "$RUN/vs.out" | grep -h 'HOLD-END' | sed 's/^/  (VM: /; s/$/)/'
tr -d '\r' < "$RUN/vs.1.console" | grep -h 'HOLD-END' | sed 's/^/  (clone 1: /; s/$/)/'
check "the host's port 6002 saw that one connection only (the clone did not make another)" \
	test "$(grep -c '^ACCEPTED' "$RUN/hold.log")" = 1
check "after the fork the VM's echo listener serves a new connection" \
	test "$(echo after-fork | timeout 60 "$VH" connect "$RUN/vs.vsock" 5000)" = after-fork
check "clone 1 gets its own socket RUN_DIR/vs.vsock.1" wait_for 60 test -S "$RUN/vs.vsock.1"
streams "clone 1 (hf-fork)" "$RUN/vs.vsock.1" 1 3

# ---------------------------------------------------------------- hyperfork fork
"$HF" fork vs > "$RUN/f2" 2>&1
expect_in "$RUN/f2" "^vs\.2 pid [0-9]+ " "hyperfork fork makes clone vs.2"
check "clone 2 gets its own socket RUN_DIR/vs.vsock.2" wait_for 60 test -S "$RUN/vs.vsock.2"
streams "clone 2 (hyperfork fork)" "$RUN/vs.vsock.2" 2 3
streams "the VM, after its two forks" "$RUN/vs.vsock" 0 3
"$HF" stop vs.2 > /dev/null 2>&1
"$HF" stop vs.1 > /dev/null 2>&1
"$HF" stop vs > /dev/null 2>&1
check "each stopped VM's vsock socket goes with it" \
	wait_for 30 bash -c "! test -e '$RUN/vs.vsock' && ! test -e '$RUN/vs.vsock.1' && ! test -e '$RUN/vs.vsock.2'"

# ---------------------------------------------------------------- a template's clone
# Its own socket path, where a VM that was killed left its socket file, and a CID per clone;
# frozen at the guest's fork point (hf-fork run through the control port), then one clone
# activated.
/usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$RUN/t.v"
"$HF" run --name vt --mem 256M --timeout $(scaled 900) --vsock 7,uds=$RUN/t.v,cid-per-clone --template --pool 1 \
	--kernel "$VMLINUX" --initrd "$INITRD" --cmdline "console=ttyS0 quiet hf.script=vsock" \
	--console "$RUN/vt.out" > /dev/null 2> "$RUN/vt.err" &
check_or_show "template: the guest's listeners are up" "$RUN/vt.out" wait_for 180 listening "$RUN/vt.out"
check "template: its socket is the uds= path (the stale socket file there replaced)" \
	test "$(ctl "$RUN/t.v" id 2>&1)" = 0
check "template: its guest's CID is 7" test "$(ctl "$RUN/t.v" cid 2>&1)" = 7
echo fork | timeout 60 "$VH" connect "$RUN/t.v" 5009 > /dev/null 2>&1 &
bg+=($!)
check_or_show "template: frozen at its fork point" "$RUN/vt.err" \
	wait_for 120 bash -c "[ \"\$('$HF' status vt 2>/dev/null | awk '\$1 == \"state:\" { print \$2 }')\" = template ]"
check "template: its warm clone has no socket before it is activated" bash -c "sleep 1; ! test -e '$RUN/t.v.1'"
"$HF" fork vt > "$RUN/tf" 2>&1
expect_in "$RUN/tf" "^vt\.1 pid [0-9]+ " "template: a clone is activated"
check_or_show "template: hf-fork returns 1 in the activated clone" "$RUN/vt.1.console" \
	wait_for 120 grep -q "^HF-VSOCK-FORKED 1" "$RUN/vt.1.console"
check "template: the clone gets its own socket t.v.1" wait_for 60 test -S "$RUN/t.v.1"
streams "template clone 1 (cid-per-clone)" "$RUN/t.v.1" 1 8
"$HF" stop vt.1 > /dev/null 2>&1
"$HF" stop vt > /dev/null 2>&1
check "the template's and its clone's sockets go with them" \
	wait_for 30 bash -c "! test -e '$RUN/t.v' && ! test -e '$RUN/t.v.1'"
check "no zombie processes" no_zombies

# ---------------------------------------------------------------- hf-vsock over loopback
# The guest's tool, on the host, over the host's own vsock loopback (CID 1).
loopback() {
	[ -x "$VS" ] || { fail "no $VS: run 'make linux-guest'"; return; }
	modprobe vsock_loopback 2>/dev/null
	"$VS" listen 7000 > /dev/null 2> "$RUN/echo.err" &
	local echo_pid=$! size
	bg+=($echo_pid)
	if ! wait_for 5 grep -q "HF-VSOCK-LISTENING 7000" "$RUN/echo.err"; then
		echo "skipped: hf-vsock over loopback: hf-vsock cannot listen here: $(cat "$RUN/echo.err")"
		return
	fi
	printf x | timeout 10 "$VS" connect 1 7000 > "$RUN/probe" 2>&1
	if [ "$(cat "$RUN/probe")" != x ]; then
		echo "skipped: hf-vsock over loopback: no vsock loopback (CID 1) on this host: $(cat "$RUN/probe")"
		return
	fi
	# Streams of 1 byte, 64 KiB and 16 MiB go to an echo listener and come back unchanged
	# (both directions at once: the sender must not stall on an echo it does not read).
	for size in $SIZES; do
		timeout 120 "$VS" connect 1 7000 < "$RUN/data.$size" > "$RUN/back" 2> "$RUN/err"
		check "loopback: $(label $size) comes back from the echo listener unchanged" cmp -s "$RUN/data.$size" "$RUN/back"
	done
	check "loopback: the echo listener still serves" kill -0 $echo_pid

	# A listener running a command per connection: it checksums what it receives.
	"$VS" listen 7001 sha256sum > /dev/null 2> "$RUN/lo-sum.err" &
	bg+=($!)
	wait_for 5 grep -q "HF-VSOCK-LISTENING 7001" "$RUN/lo-sum.err"
	timeout 120 "$VS" connect 1 7001 < "$RUN/data.16777216" > "$RUN/sum"
	check "loopback: 16 MiB reach a command listener intact (checksum)" \
		test "$(awk '{ print $1 }' "$RUN/sum")" = "$(sha "$RUN/data.16777216")"

	# Refusals name the cause.
	expect_status 1 "loopback: connecting to a port nobody listens on fails" -- timeout 20 "$VS" connect 1 7999
	expect_in "$RUN/err" "hf-vsock: connect to CID 1 port 7999: " "loopback: the failure names CID and port"
	expect_status 1 "loopback: a bad port is refused with the usage" -- "$VS" connect 1 x
	expect_in "$RUN/err" "usage: hf-vsock connect CID PORT" "loopback: the usage is shown"
	expect_status 1 "loopback: a port in use is refused" -- timeout 10 "$VS" listen 7000
	expect_in "$RUN/err" "hf-vsock: bind/listen: Address (already )?in use" "loopback: the port in use is named"
}
loopback
finish
