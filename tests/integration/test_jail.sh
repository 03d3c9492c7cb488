# The jail (run --jail): a jailed VM and its clones see only the jail's files and processes,
# run as the given uid/gid without capabilities, sit in cgroups of their own with the limits
# applied, report host pids, and leave nothing behind (cgroups, mounts, sockets) when they end.
. "$(dirname "$0")/lib.sh"

U=4242 G=4243
CG=/sys/fs/cgroup/hyperfork
[ "$(id -u)" = 0 ] || not_run "the jail needs root"
[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ] || not_run "no cgroup2 at /sys/fs/cgroup"
chown $U:$G "$RUN" # the jailed VMs make their sockets and clone consoles there
host_pidns=$(readlink /proc/self/ns/pid)
host_mntns=$(readlink /proc/self/ns/mnt)

# PID runs as U/G, no supplementary groups, no capabilities at all, no way to regain them.
jailed_as() {
	local s=/proc/$1/status
	grep -Eq "^Uid:\s+$U\s+$U\s+$U\s+$U$" "$s" && grep -Eq "^Gid:\s+$G\s+$G\s+$G\s+$G$" "$s" &&
		grep -Eq '^Groups:\s*$' "$s" && grep -Eq '^CapPrm:\s+0+$' "$s" &&
		grep -Eq '^CapEff:\s+0+$' "$s" && grep -Eq '^CapBnd:\s+0+$' "$s" &&
		grep -Eq '^NoNewPrivs:\s+1$' "$s"
}
# PID has namespaces of its own (pid and mount): those of jailed VM VM (default $pid, the
# jail's first VM).
in_jail_ns() {
	local vm=${2:-$pid}
	[ "$(readlink /proc/$1/ns/pid)" != "$host_pidns" ] && [ "$(readlink /proc/$1/ns/mnt)" != "$host_mntns" ] &&
		[ "$(readlink /proc/$1/ns/pid)" = "$(readlink /proc/$vm/ns/pid)" ] &&
		[ "$(readlink /proc/$1/ns/mnt)" = "$(readlink /proc/$vm/ns/mnt)" ]
}
# PID's root holds only the jail: the guest image, the run directory with its socket, its
# cgroup, /dev/kvm, /dev/null and /dev/urandom, /proc; nothing of the host's system.
top_dir() { local p=${1#/}; echo "${p%%/*}"; }
# What a jail's root holds at its top: dev, proc, sys, and the first directories of the paths
# bound into it (the images, the run directory, the current directory), wherever they are.
JAIL_TOP=$(printf '%s\n' dev proc sys "$(top_dir "$TGUESTS")" "$(top_dir "$RUN")" "$(top_dir "$PWD")" |
	sort -u | tr '\n' ' ')
sees_only_jail() {
	local r=/proc/$1/root
	[ "$(ls "$r" | sort | tr '\n' ' ')" = "$JAIL_TOP" ] && [ ! -e "$r/etc/passwd" ] &&
		[ ! -e "$r/usr" ] && [ "$(ls "$r/dev" | tr '\n' ' ')" = "kvm null urandom " ] &&
		[ -c "$r/dev/kvm" ] && [ -f "$r$TGUESTS/ticker.elf" ] && [ ! -e "$r$TGUESTS/clock.elf" ] &&
		[ -S "$r$RUN/$2.sock" ] && [ "$(ls "$r/sys" | tr '\n' ' ')" = "fs module " ] && [ "$(ls "$r/sys/fs/cgroup/hyperfork")" = jt ] &&
		! touch "$r/x" 2>/dev/null
}
# PID's /proc lists only the jail's processes: the keeper and VMMs (a few, all hyperfork).
sees_only_jail_procs() {
	local n=0 d
	for d in /proc/$1/root/proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = hyperfork ] || return 1
		n=$((n + 1))
	done
	[ $n -ge 2 ] && [ $n -lt 10 ] || return 1
	[ "$$" -lt 10 ] || [ ! -e "/proc/$1/root/proc/$$" ] # this shell is not there
}
jailed_clone() { in_jail_ns "$1" "${2:-}" && jailed_as "$1"; } # PID [VM]

# What an escaped guest would find: code that took over the jailed VMM (HYPERFORK_TEST_ESCAPE,
# a test hook in its main thread once its filter is on) tries to connect to a port on the
# host's loopback (as serve's), to the cloud metadata address and to a host abstract Unix
# socket; listeners on the host note whatever reaches them.
esc_port=$((20000 + $$ % 20000))
python3 - "$esc_port" "hf-escape-$$" "$RUN/escape.accepted" > /dev/null 2>&1 <<'PY' &
import select, socket, sys, time
port, name, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port)); t.listen(8)
u = socket.socket(socket.AF_UNIX); u.bind("\0" + name); u.listen(8)
open(out, "w").close()
end = time.time() + 600
while time.time() < end:
    for s in select.select([t, u], [], [], 1)[0]:
        s.accept()
        open(out, "a").write("accepted on %s\n" % ("tcp" if s is t else "abstract"))
PY
listeners=$!
wait_for 10 test -e "$RUN/escape.accepted"
HYPERFORK_TEST_ESCAPE="127.0.0.1:$esc_port,169.254.169.254:80,@hf-escape-$$" \
"$HF" run --jail --uid $U --gid $G --jail-memory 256 --jail-cpu 0.5 --name jt --mem 64M \
	--timeout "$(scaled 300)" --console "$RUN/jt.out" --bare "$TGUESTS/ticker.elf" --cmdline 50 \
	> "$RUN/jt.log" 2>&1 &
launcher=$!
check_or_show "a jailed VM comes up" "$RUN/jt.log" wait_for 20 vm_up jt
check "it runs (ticks on its console)" wait_for 10 grep -q "^tick 3 " "$RUN/jt.out"
pid=$(status_field jt pid)
check "status reports its host pid ($pid): a VMM, not the launcher ($launcher)" \
	bash -c "[ '$pid' != '$launcher' ] && [ \"\$(cat /proc/$pid/comm)\" = hyperfork ]"
check "it is pid 2 of a PID namespace of its own (pid 1 is the jail's keeper)" \
	grep -Eq "^NSpid:\s+$pid\s+2$" /proc/$pid/status
check "its PID and mount namespaces are not the host's" in_jail_ns "$pid"
check "it runs as uid $U gid $G without capabilities" jailed_as "$pid"
check "it is not dumpable: its memory is not its uid's to read (/proc/PID/mem is root's)" \
	test "$(stat -c %u /proc/$pid/mem)" = 0
check "its network namespace is not the host's (it has no network card)" \
	test "$(readlink /proc/$pid/ns/net)" != "$(readlink /proc/self/ns/net)"
for t in "127.0.0.1:$esc_port" 169.254.169.254:80 "@hf-escape-$$"; do
	check_or_show "taken over, it cannot reach $t" "$RUN/jt.log" \
		grep -q "escape test: $t: refused" "$RUN/jt.log"
done
check_or_show "nothing of it reached the host's listeners" "$RUN/escape.accepted" \
	test ! -s "$RUN/escape.accepted"
kill $listeners 2>/dev/null
check "its root holds only the jail's files" sees_only_jail "$pid" jt
check "it sees only the jail's processes" sees_only_jail_procs "$pid"
check "it sits in its own leaf cgroup" grep -qx "0::/hyperfork/jt/jt" /proc/$pid/cgroup
check "the jail's memory.max is 256 MiB" test "$(cat $CG/jt/memory.max)" = 268435456
check "the jail's cpu.max is half a CPU" test "$(cat $CG/jt/cpu.max)" = "50000 100000"
check "the jail's pids.max is 1024 by default" test "$(cat $CG/jt/pids.max)" = 1024
keeper=$(grep -l -E '^NSpid:\s+[0-9]+\s+1$' /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3 | while read -r p; do
	[ "$(readlink /proc/$p/ns/pid)" = "$(readlink /proc/$pid/ns/pid)" ] && echo "$p"; done)
check "the keeper ($keeper) is root in the host's mount namespace, pid 1 of the jail" \
	bash -c "[ -n '$keeper' ] && [ \"\$(readlink /proc/$keeper/ns/mnt)\" = '$host_mntns' ] && grep -Eq '^Uid:\s+0\s' /proc/$keeper/status"
check "the keeper runs under a seccomp filter of its own (one, not the VMM's)" \
	bash -c "grep -Eq '^Seccomp:\s+2$' /proc/$keeper/status && grep -Eq '^Seccomp_filters:\s+1$' /proc/$keeper/status"

# Clones made by fork(): each in the jail, in a cgroup of its own under the jail's.
"$HF" fork jt --count 2 > "$RUN/f" 2>&1
check_or_show "fork --count 2 of the jailed VM" "$RUN/f" test "$(grep -c '^jt\.[12] pid ' "$RUN/f")" = 2
for i in 1 2; do
	c=$(awk -v n=jt.$i '$1 == n { print $3 }' "$RUN/f")
	check "clone $i ticks on" wait_for 10 grep -q "clone $i$" "$RUN/jt.$i.console"
	check "clone $i's reported pid $c is its host pid (status agrees)" test "$(status_field jt.$i pid)" = "$c"
	check "clone $i is in the jail's namespaces" in_jail_ns "$c"
	check "clone $i runs as uid $U gid $G without capabilities" jailed_as "$c"
	check "clone $i is not dumpable: a sibling cannot read its memory" test "$(stat -c %u /proc/$c/mem)" = 0
	check "clone $i sees only the jail's files" sees_only_jail "$c" jt.$i
	check "clone $i has its own cgroup under the jail's" grep -qx "0::/hyperfork/jt/jt.$i" /proc/$c/cgroup
	check "clone $i's memory is accounted there" test "$(cat $CG/jt/jt.$i/memory.current)" -gt 0
done

# The VM frozen into a template: its warm clone waits in its leaf, is activated into its own.
expect_status 0 "freeze the jailed VM into a template" -- "$HF" template jt --pool 1
"$HF" fork jt > "$RUN/f" 2>&1
c3=$(awk '$1 == "jt.3" { print $3 }' "$RUN/f")
check_or_show "a clone of the jailed template" "$RUN/f" test -n "$c3"
check "it ticks on" wait_for 10 grep -q "clone 3$" "$RUN/jt.3.console"
check "it is in the jail, as uid $U without capabilities" jailed_clone "$c3"
check "it has its own cgroup under the jail's" wait_for 5 grep -qx "0::/hyperfork/jt/jt.3" /proc/$c3/cgroup
# (the pool's group also holds KVM's worker threads of the VMs made there, clone 3's too)
pool_has_warm() {
	local p
	for p in $(cat $CG/jt/jt.pool/cgroup.procs); do
		[ "$(cat /proc/$p/comm)" = hyperfork ] && [ "$p" != "$c3" ] && jailed_as "$p" && return 0
	done
	return 1
}
check "the pool's next warm clone waits in the pool's group" wait_for 10 pool_has_warm
check "the template alone is in its leaf" test "$(cat $CG/jt/jt/cgroup.procs)" = "$pid"

# Ends: each clone's cgroup and sockets go when it does, however it ends.
expect_status 0 "stop clone 1" -- "$HF" stop jt.1
check "clone 1's cgroup is removed" wait_for 10 test ! -d $CG/jt/jt.1
check "its socket is gone" test ! -e "$RUN/jt.1.sock"
kill -9 "$(status_field jt.2 pid)"
check "clone 2, killed, has its cgroup removed" wait_for 10 test ! -d $CG/jt/jt.2
check "and its stale socket removed" wait_for 10 test ! -e "$RUN/jt.2.sock"
expect_status 0 "stop the template" -- "$HF" stop jt
wait $launcher
check "run --jail exits with the VM's status (244: stopped)" test $? = 244
check "its clone 3 lives on in the jail" vm_up jt.3
check "the template's leaf is removed" wait_for 10 test ! -d $CG/jt/jt
if [ -d $CG/jt/jt ]; then # what is left there
	echo "  | $CG/jt/jt: $(tr '\n' ' ' < $CG/jt/jt/cgroup.events)"
	for p in $(cat $CG/jt/jt/cgroup.procs $CG/jt/jt/cgroup.threads 2>/dev/null | sort -u); do
		echo "  | pid $p: $(grep -E '^(State|NSpid|Tgid)' /proc/$p/status | tr '\n' ' ') wchan $(cat /proc/$p/wchan) $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-60)"
	done
	ls -R $CG/jt | sed 's/^/  | /' | head
fi
expect_status 0 "stop clone 3" -- "$HF" stop jt.3
check "the jail's cgroup is removed once it is empty" wait_for 10 test ! -d $CG/jt
check "no jailed process is left (keeper included)" wait_for 10 no_vmm_left
check "no socket is left" no_sockets
check "no jail mount or root directory is left" \
	bash -c "! grep -q hf-jail /proc/mounts && ! ls -d /tmp/hf-jail.* 2>/dev/null | grep -q ."

# Not dumpable, a jailed VMM still reads its own pagemap where it needs it: a clone's
# copy-on-write prefault, before its guest runs (mem_pagemap_open).
"$HF" run --jail --uid $U --gid $G --name jp --mem 64M --timeout "$(scaled 120)" --console none \
	--cow-prefault populate-sync --debug --bare "$TGUESTS/ticker.elf" --cmdline 1000 \
	> "$RUN/jp.log" 2>&1 &
check_or_show "a jailed VM with --cow-prefault populate-sync comes up" "$RUN/jp.log" wait_for 20 vm_up jp
"$HF" fork jp --console file > "$RUN/jpf" 2>&1
# (its line reaches the parent's log or its console, as it comes before or after the handoff)
check_or_show "its clone, not dumpable, made its pages private from its own pagemap" "$RUN/jp.log" \
	wait_for 30 bash -c "cat '$RUN/jp.log' '$RUN/jp.1.console' 2> /dev/null |
		grep -qE 'prefault \\(populate\\): [1-9][0-9]* pages made private'"
"$HF" stop jp.1 > /dev/null 2>&1
"$HF" stop jp > /dev/null 2>&1
wait_for 20 no_vmm_left

# An existing network namespace joined, and a network card across a clone. The VMM makes
# its tap hfj0 there while still root; a jailed clone cannot make taps, so its tap hfj0.1
# is made beforehand for the jail's user, up, and is moved to a namespace of its own once
# the clone holds it (both sides use the same addresses). The guest (hf.script=net) serves
# HTTP, forks itself once the host answers, and each side reaches the host on its own tap.
ns=hfjail$$ nsb=hfjailb$$
if ip netns add $ns 2>/dev/null && ip netns add $nsb; then
	ip -n $ns tuntap add hfj0.1 mode tap user $U
	ip -n $ns link set hfj0.1 up
	"$HF" run --jail --uid $U --gid $G --netns /run/netns/$ns --net hfj0 --name jn --mem 128M \
		--timeout "$(scaled 300)" --console "$RUN/jn.out" --kernel "$VMLINUX" --initrd "$INITRD" \
		--cmdline "console=ttyS0 quiet hf.script=net" > "$RUN/jn.log" 2>&1 &
	jn=$!
	check_or_show "a jailed VM with a network card in network namespace $ns" "$RUN/jn.log" wait_for 40 vm_up jn
	p=$(status_field jn pid)
	check "it is in that namespace" test "$(readlink /proc/$p/ns/net)" = "net:[$(stat -L -c %i /run/netns/$ns)]"
	holds_tap() { grep -qx "iff:[[:space:]]*$2" /proc/$1/fdinfo/* 2> /dev/null; }
	check "it holds the tap hfj0 it made" holds_tap "$p" hfj0
	check "it runs jailed as uid $U" grep -Eq "^Uid:\s+$U\s" /proc/$p/status
	check "its jail's /dev has a tun device of the jail's user's own" \
		bash -c "[ \"\$(stat -c '%u %a %t:%T' /proc/$p/root/dev/net/tun)\" = '$U 600 a:c8' ]"
	ip -n $ns addr add 10.0.2.1/24 dev hfj0
	check_or_show "the guest reaches the host" "$RUN/jn.out" wait_for 90 grep -q "^HF-NET-UP" "$RUN/jn.out"
	check_or_show "its clone (the guest's own fork) comes up in the jail" "$RUN/jn.log" wait_for 60 vm_up jn.1
	c=$(status_field jn.1 pid)
	check "the clone holds its tap hfj0.1" holds_tap "$c" hfj0.1
	check "the clone is in the VM's jail, as uid $U without capabilities" jailed_clone "$c" "$p"
	ip -n $ns link set hfj0.1 netns $nsb
	ip -n $nsb addr add 10.0.2.1/24 dev hfj0.1
	ip -n $nsb link set hfj0.1 up
	check_or_show "the original reaches the host on its tap" "$RUN/jn.out" wait_for 60 grep -q "^HF-NET 0 ok" "$RUN/jn.out"
	check_or_show "the clone reaches the host on its own tap" "$RUN/jn.1.console" \
		wait_for 90 grep -q "^HF-NET 1 ok" "$RUN/jn.1.console"
	expect_status 240 "a clone whose tap was not made beforehand is refused" -- "$HF" fork jn
	expect_in "$RUN/err" "cannot attach to tap hfj0.2: Operation not permitted \(needs CAP_NET_ADMIN, or a tap made for this user\)" \
		"the missing tap is named"
	check "the VM lives on" vm_up jn
	"$HF" stop jn.1 > /dev/null
	"$HF" stop jn > /dev/null
	wait $jn
	check "the tap the VMM made is gone with it" wait_for 10 bash -c "! ip -n $ns link show hfj0 2>/dev/null"
	check "the clone's tap, made beforehand, is left to its maker" ip -n $nsb link show hfj0.1
	check "the jail is gone" wait_for 10 test ! -d $CG/jn
	check "no jailed process is left" wait_for 10 no_vmm_left
	ip netns del $ns
	ip netns del $nsb
else
	fail "cannot make network namespaces (ip netns add)"
fi

# A keeper that makes a forbidden call (the test hook): the jail ends with it, run says so,
# and its VMM, cgroups and sockets are gone.
HYPERFORK_TEST_SECCOMP=keeper expect_status 240 "a keeper's forbidden call ends the jail" -- \
	"$HF" run --jail --uid $U --gid $G --name jk --mem 64M --timeout "$(scaled 60)" --console none \
	--bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "seccomp: the keeper thread made a forbidden system call: mount \(165\); the jail ends" \
	"the keeper's last words name the call"
expect_in "$RUN/err" "the jail's keeper ended \(status 240\) before the VM; its VMs end with it" "run says the jail ended"
check "its VMM is gone" wait_for 10 no_vmm_left
check "and its cgroups" wait_for 10 test ! -d $CG/jk
check "and its socket" test ! -e "$RUN/jk.sock"

# serve --jail: each function's VMs jailed as a uid of its own, in a run directory only that
# uid enters, under a memory.max covering its template, pool and concurrency.
expect_status 240 "serve --jail without --uid is refused" -- "$HF" serve --jail --gid $G --config /dev/null
expect_in "$RUN/err" "serve: --jail needs --uid UID and --gid GID" "the missing uid is named"
expect_status 240 "serve --uid without --jail is refused" -- "$HF" serve --uid $U --gid $G --config /dev/null
expect_in "$RUN/err" "serve: --uid and --gid are for --jail" "the stray flag is named"
FN=$GUESTS/echo-fn.elf
PORT=$((20000 + $$ % 20000))
cat > "$RUN/sj.json" << JSON
{"functions": [
  {"name": "sja", "image": "$FN", "memory": 128, "pool": 1, "concurrency": 2, "cpu": 1.5},
  {"name": "sjb", "image": "$FN", "memory": 128, "mode": "warm"}
]}
JSON
nobody=$(id -u nobody)
expect_status 240 "serve --jail with a uid a user has is refused" -- \
	"$HF" serve --jail --uid $((nobody - 1)) --gid $G --config "$RUN/sj.json" --run-dir "$RUN"
expect_in "$RUN/err" "uid $nobody \\(function sjb\\) is user nobody's" "the user and the function are named"
"$HF" serve --jail --uid $U --gid $G --listen 127.0.0.1:$PORT --config "$RUN/sj.json" --run-dir "$RUN" \
	> "$RUN/sj.out" 2> "$RUN/sj.err" &
serve_pid=$!
ready2() { [ "$(grep -c '^serve: function .* ready' "$RUN/sj.out")" = 2 ]; }
ready_or_gone() { ready2 || ! kill -0 $serve_pid; }
wait_for 60 ready_or_gone
if ready2; then pass "serve --jail: both functions are initialised"; else
	fail "serve --jail: both functions are initialised"
	cat "$RUN/sj.out" "$RUN/sj.err" "$RUN"/serve.*/*/*.log 2> /dev/null | tail -20 | sed 's/^/  | /'
fi
SD=$(ls -d "$RUN"/serve.* 2>/dev/null | head -1)
# PID runs as UID (and gid $G) without capabilities, in a jail's namespaces.
# (function i runs as uid U + i, gid G + i)
runs_as() {
	local g=$((G + $2 - U))
	grep -Eq "^Uid:\s+$2\s+$2\s+$2\s+$2$" /proc/$1/status && grep -Eq "^Gid:\s+$g\s+$g\s+$g\s+$g$" /proc/$1/status &&
		grep -Eq '^CapEff:\s+0+$' /proc/$1/status && [ "$(readlink /proc/$1/ns/pid)" != "$host_pidns" ]
}
sja=$(HYPERFORK_RUN_DIR=$SD/sja status_field sja pid)
sjb=$(HYPERFORK_RUN_DIR=$SD/sjb status_field sjb pid)
check "serve --jail: function 1's template ($sja) runs jailed as uid $U" runs_as "$sja" $U
check "serve --jail: function 2's VM ($sjb) runs jailed as uid $((U + 1)), gid $((G + 1))" runs_as "$sjb" $((U + 1))
check "serve --jail: each function's run directory is its uid's alone" \
	test "$(stat -c %u:%a "$SD/sja")/$(stat -c %u:%a "$SD/sjb")" = "$U:700/$((U + 1)):700"
check "serve --jail: function 2's VM cannot see function 1's directory" \
	bash -c "[ -d /proc/$sjb/root$SD/sjb ] && [ ! -e /proc/$sjb/root$SD/sja ]"
check "serve --jail: the template sits in its jail's leaf" grep -qx "0::/hyperfork/sja/sja" /proc/$sja/cgroup
check "serve --jail: memory.max is (128 + 64) MiB x (template + pool 1 + concurrency 2)" \
	test "$(cat $CG/sja/memory.max)" = $((192 * 4 << 20))
check "serve --jail: a warm VM's memory.max is (128 + 64) MiB" test "$(cat $CG/sjb/memory.max)" = $((192 << 20))
check "serve --jail: pids.max is 64 x (template + pool 1 + concurrency 2)" test "$(cat $CG/sja/pids.max)" = 256
check "serve --jail: a warm VM's pids.max is 64" test "$(cat $CG/sjb/pids.max)" = 64
check "serve --jail: the function's \"cpu\" (1.5) is its jail's cpu.max" test "$(cat $CG/sja/cpu.max)" = "150000 100000"
check "serve --jail: no \"cpu\", no cpu.max" test "$(cat $CG/sjb/cpu.max)" = "max 100000"
# (the pool's group also holds KVM's worker threads of the VMs made there)
warm_in_pool() {
	local p
	for p in $(cat $CG/sja/sja.pool/cgroup.procs 2> /dev/null); do
		[ "$(cat /proc/$p/comm)" = hyperfork ] && [ "$p" != "$sja" ] && runs_as "$p" $U && return 0
	done
	return 1
}
check "serve --jail: the template's warm clone waits in its pool's group" wait_for 10 warm_in_pool
for g in $CG/sja/*/; do
	for p in $(cat $g/cgroup.procs 2>/dev/null); do
		echo "  | $g: pid $p $(cat /proc/$p/comm) $(grep -E '^(Uid|Gid|CapEff|NSpid)' /proc/$p/status | tr '\n' ' ')"
	done
done
sinv() { curl -s -X POST --max-time "$(scaled 10)" "http://127.0.0.1:$PORT/2015-03-31/functions/$1/invocations" -d "$2"; }
r1=$(sinv sja '{"j":1}')
check "serve --jail: an invocation runs in a jailed clone ($r1)" \
	grep -qE '^\{"echo":\{"j":1\},"clone":[1-9][0-9]*\}$' <<< "$r1"
r2=$(sinv sjb '{"w":2}')
check "serve --jail: the warm VM answers too ($r2)" test "$r2" = '{"echo":{"w":2},"clone":0}'
# Mode clone reuses the clone: reset to the template's state in its jail, it answers the next
# invocation under a new number, and no second clone (nor cgroup) is made for it.
r3=$(sinv sja '{"j":3}')
check "serve --jail: the reset clone answers the next invocation ($r3)" \
	grep -qE '^\{"echo":\{"j":3\},"clone":[1-9][0-9]*\}$' <<< "$r3"
check "serve --jail: under a new number ($r1 / $r3)" test "${r1##*clone\":}" != "${r3##*clone\":}"
check "serve --jail: one clone's cgroup serves both invocations ($(ls -d $CG/sja/sja.[0-9]* 2> /dev/null | tr '\n' ' '))" \
	test "$(ls -d $CG/sja/sja.[0-9]* 2> /dev/null | wc -l)" = 1
check "serve --jail: /metrics counts the jailed function's memory" \
	bash -c "curl -s http://127.0.0.1:$PORT/metrics | grep -qE '^hyperfork_function_memory_bytes\{function=\"sja\"\} [1-9]'"
# A clone taken over (simulated by a process of the function's uid, what an escaped guest's
# VMM is) puts its own sockets where serve looks for the template's control socket and for a
# clone's agent, and answers a fork request with a clone of its naming whose pid is a real
# one below the template (its warm clone's). serve must use neither socket: the control
# socket's holder is not the template it found there first, the agent's not the clone named.
pool_pid() {
	local p
	for p in $(cat $CG/sja/sja.pool/cgroup.procs 2> /dev/null); do
		[ "$(cat /proc/$p/comm)" = hyperfork ] && [ "$p" != "$sja" ] && echo $p && return
	done
	echo $sja
}
# (It reaches the function's directory as a jailed VMM does through its jail's mounts: serve's
# own directory above it is opened to it while it sets up.)
chmod 711 "$SD"
setpriv --reuid $U --regid $G --clear-groups /usr/bin/python3 \
	"$TOP/tests/integration/forge_ctl.py" "$SD/sja" sja "$(pool_pid)" "$SD/sja/forge.log" &
forger=$!
wait_for 10 grep -q listening "$SD/sja/forge.log"
chmod 700 "$SD"
# Two at once: one takes the worker (busy for 2 s), the other needs a new clone.
sinv sja '{"cmd":"slow"}' > "$RUN/inv1.out" &
slow=$!
sleep 0.3
sinv sja '{"j":4}' > "$RUN/inv2.out"
wait $slow
both="$(cat "$RUN/inv1.out") / $(cat "$RUN/inv2.out")"
check "serve --jail: a forged template socket is not used: one invocation is refused ($both)" \
	grep -qE 'its control socket is held by pid [0-9]+, not by its template \(pid [0-9]+\)' \
	"$RUN/inv1.out" "$RUN/inv2.out"
check "serve --jail: the forger read no request, and no connection reached its agent socket" \
	bash -c "grep -q listening $SD/sja/forge.log && ! grep -qE '^(request|agent)' $SD/sja/forge.log"
check "serve --jail: the worker answered the other" \
	grep -qE '^\{"echo":\{("cmd":"slow"|"j":4)\},"clone":[1-9][0-9]*\}$' "$RUN/inv1.out" "$RUN/inv2.out"
kill $forger 2> /dev/null
wait $forger 2> /dev/null
kill $serve_pid
wait $serve_pid
check "serve --jail: SIGTERM ends serve (status $?) and every jailed VM" wait_for 20 no_vmm_left
check "serve --jail: the functions' jails are removed" wait_for 10 bash -c "[ ! -d $CG/sja ] && [ ! -d $CG/sjb ]"
check "serve --jail: its run directory is removed" test ! -d "$SD"

# Bad input: refused before anything is made, with the problem named.
ok=(--jail --uid $U --gid $G --name bad --mem 64M)
expect_status 240 "--jail without --uid is refused" -- "$HF" run --jail --name bad --bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "--jail needs --uid UID and --gid GID" "the missing uid is named"
expect_status 240 "an image that does not exist is refused" -- "$HF" run "${ok[@]}" --bare /nonexistent/guest.elf
expect_in "$RUN/err" "--jail: /nonexistent/guest.elf: No such file or directory" "the path is named"
expect_status 240 "a network namespace that does not exist is refused" -- "$HF" run "${ok[@]}" --netns /run/netns/nonexistent --bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "--netns /run/netns/nonexistent: No such file or directory" "the namespace is named"
HYPERFORK_CGROUP_ROOT=$RUN expect_status 240 "no cgroup2 is refused" -- "$HF" run "${ok[@]}" --bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "no cgroup2 file system at $RUN" "the missing cgroup2 is named"
mkdir -p "$RUN/rootdir" && chown 0:0 "$RUN/rootdir" && chmod 755 "$RUN/rootdir"
expect_status 240 "a run directory the user cannot write is refused" -- "$HF" run "${ok[@]}" --run-dir "$RUN/rootdir" --bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "run directory $RUN/rootdir is not writable by uid $U" "the directory is named"
expect_status 240 "not being root is refused" -- setpriv --reuid $U --regid $G --clear-groups "$HF" run "${ok[@]}" --bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "--jail needs root" "the need for root is named"
# A file the jailed VM writes is made by root in a directory the jail's user writes: a link
# that user put there is not followed.
ln -s "/tmp/hf-jail-target-$$" "$RUN/link.console"
expect_status 240 "a console path that is a link is refused" -- "$HF" run "${ok[@]}" --console "$RUN/link.console" --bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "cannot create $RUN/link.console: Too many levels of symbolic links" "the link is named"
check "nothing was made where it pointed" test ! -e "/tmp/hf-jail-target-$$"
rm -f "$RUN/link.console" "/tmp/hf-jail-target-$$"
expect_status 240 "a pids.max below 8 is refused" -- "$HF" run "${ok[@]}" --jail-pids 3 --bare "$TGUESTS/ticker.elf"
expect_in "$RUN/err" "invalid --jail-pids '3': from 8 to 4194304" "the bad count is named"
expect_status 240 "--uid without --jail is refused" -- "$HF" run --uid $U --bare "$TGUESTS/ticker.elf"
check "the refusals left no cgroup" test ! -d $CG/bad
check "no zombie processes" no_zombies
finish
