# seccomp: every VMM thread runs under its kind's filter; a forbidden call ends the VMM
# (the clone, when a clone made it) with one line naming the thread and the call.
# HYPERFORK_TEST_SECCOMP=KIND[:clone] is the test-only hook that makes a thread of KIND
# (main, vcpu, helper; ioctl: the main thread's forbidden ioctl) break its filter.
. "$(dirname "$0")/lib.sh"

field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null; }
vcpu_tid() { local t; for t in /proc/$1/task/*; do [ "$(cat $t/comm 2>/dev/null)" = hf-vcpu ] && { basename $t; return; }; done; }

# A running VMM: every thread filtered, vCPU threads with their own filter on main's.
"$HF" run --name sc --mem 64M --timeout $(scaled 60) --console "$RUN/sc.out" --bare "$TGUESTS/ticker.elf" > "$RUN/sc.log" 2>&1 &
sc=$!
check "a VM runs with seccomp on" wait_for 10 grep -q "^tick 2 " "$RUN/sc.out"
check "its main thread is in filter mode (Seccomp: 2)" test "$(field $sc Seccomp)" = 2
check "its main thread has one filter" test "$(field $sc Seccomp_filters)" = 1
tid=$(vcpu_tid $sc)
check "its vCPU thread is named hf-vcpu ($tid)" test -n "$tid"
check "the vCPU thread has main's filter and its own (2)" test "$(field $sc/task/$tid Seccomp_filters)" = 2
check "its no-new-privileges flag is set" test "$(field $sc NoNewPrivs)" = 1
"$HF" fork sc > "$RUN/f" 2>&1
c1=$(awk '$1 == "sc.1" { print $3 }' "$RUN/f")
check "a clone runs ($c1)" wait_for 10 grep -q "clone 1$" "$RUN/sc.1.console"
check "the clone inherits main's filter, not a second one" test "$(field $c1 Seccomp_filters)" = 1
check "the clone's vCPU thread has two" test "$(field $c1/task/$(vcpu_tid $c1) Seccomp_filters)" = 2
"$HF" stop sc.1 > /dev/null 2>&1
"$HF" stop sc > /dev/null 2>&1
wait $sc

# --no-seccomp: loudly off.
"$HF" run --name nosc --no-seccomp --mem 64M --timeout $(scaled 60) --console "$RUN/nosc.out" --bare "$TGUESTS/ticker.elf" > "$RUN/nosc.log" 2>&1 &
ns=$!
check "--no-seccomp runs the VM" wait_for 10 grep -q "^tick 2 " "$RUN/nosc.out"
check "--no-seccomp: no filter (Seccomp: 0)" test "$(field $ns Seccomp)" = 0
expect_in "$RUN/nosc.log" "warning: seccomp is off \(--no-seccomp\).*debugging only" "--no-seccomp says so"
"$HF" stop nosc > /dev/null 2>&1
wait $ns

# A forbidden call per kind of thread: the VMM ends with the VMM error status and says which.
# kind|expected line
while IFS='|' read -r kind words; do
	expect_status 240 "$kind: a forbidden call ends the VMM" -- env HYPERFORK_TEST_SECCOMP=$kind \
		timeout 20 "$HF" run --name k$kind --mem 64M --timeout $(scaled 30) --bare "$TGUESTS/ticker.elf"
	expect_in "$RUN/err" "$words" "$kind: the log names the thread and the call"
done <<'KINDS'
main|hyperfork\[kmain pid [0-9]+\]: error: seccomp: the main thread made a forbidden system call: mount \(165\); the VMM ends
vcpu|error: seccomp: the vCPU thread made a forbidden system call: socket \(41\)
ioctl|error: seccomp: the main thread made a forbidden system call: ioctl \(16\) request 0x5412
KINDS

# The prefault helper thread starts after a fork (--cow-prefault populate): the parent ends.
env HYPERFORK_TEST_SECCOMP=helper "$HF" run --name khelper --mem 64M --timeout $(scaled 60) --cow-prefault populate \
	--console "$RUN/kh.out" --bare "$TGUESTS/ticker.elf" > "$RUN/kh.log" 2>&1 &
kh=$!
check "helper: the VM runs until its helper thread starts" wait_for 10 grep -q "^tick 1 " "$RUN/kh.out"
"$HF" fork khelper > /dev/null 2>&1
check "helper: a forbidden call ends the VMM" wait_for 10 pid_gone $kh
wait $kh
check "helper: with the VMM error status" test $? = 240
expect_in "$RUN/kh.log" "error: seccomp: the helper thread made a forbidden system call: socket \(41\)" "helper: the log names the thread and the call"
"$HF" stop khelper.1 > /dev/null 2>&1

# In a clone: the clone ends and says so in its own log (its console file); the parent
# and its other clones go on.
for kind in vcpu main; do
	env HYPERFORK_TEST_SECCOMP=$kind:clone "$HF" run --name cl$kind --mem 64M --timeout $(scaled 60) \
		--console "$RUN/cl$kind.out" --bare "$TGUESTS/ticker.elf" > "$RUN/cl$kind.log" 2>&1 &
	p=$!
	check "$kind:clone: the parent runs" wait_for 10 grep -q "^tick 1 " "$RUN/cl$kind.out"
	"$HF" fork cl$kind > "$RUN/f" 2>&1
	c=$(awk -v n=cl$kind.1 '$1 == n { print $3 }' "$RUN/f")
	check "$kind:clone: the clone ($c) ends" wait_for 10 pid_gone "${c:-0}"
	words="forbidden system call: socket \(41\)"
	[ $kind = main ] && words="forbidden system call: mount \(165\)"
	expect_in "$RUN/cl$kind.1.console" "hyperfork\[cl$kind\.1 pid $c\]: error: seccomp: .*$words" \
		"$kind:clone: the clone's log names the call"
	expect_not_in "$RUN/cl$kind.log" "seccomp: the" "$kind:clone: the parent's log does not"
	n=$(grep -c '^tick' "$RUN/cl$kind.out")
	check "$kind:clone: the parent still runs" wait_for 10 bash -c "[ \$(grep -c '^tick' '$RUN/cl$kind.out') -gt $n ]"
	"$HF" stop cl$kind > /dev/null 2>&1
	wait $p
done

# A VMM that a forbidden call ended, like one killed by SIGKILL, cannot remove its control
# socket (a clone's parent removes the clone's when it reaps it): only those are left.
for k in kmain kvcpu kioctl khelper; do
	check "$k: its stale control socket is all that is left of it" test -S "$RUN/$k.sock"
	rm -f "$RUN/$k.sock"
done
rm -f "$RUN"/khelper.*.sock # its clone, if the fork got that far, ran the hook too
check "no other control socket is left behind" no_sockets
check "no VMM process is left" no_vmm_left
finish
