# Flash-cloning bare guests: memory isolation, registers, clock, many clones, clones of
# clones, clones mid-computation on several vCPUs, consoles, and failure isolation.
. "$(dirname "$0")/lib.sh"

run_fork_guest() { # NAME GUEST MEM [ARGS...]: run a guest that forks itself once
	local name=$1 guest=$2 mem=$3; shift 3
	expect_status 0 "$name: the original finishes" -- \
		timeout 60 "$HF" run --name "$name" --mem "$mem" --timeout $(scaled 30) --bare "$TGUESTS/$guest.elf" "$@"
}
clone_done() { # wait for a clone's console to hold a line matching PATTERN
	wait_for 20 grep -Eq "$2" "$RUN/$1.console"
}

run_fork_guest fm forkmem 256M --cmdline 64
expect_in "$RUN/out" "^forkmem: original ok$" "forkmem: the original sees its own writes only"
check "forkmem: the clone finished" clone_done fm.1 "^forkmem: clone"
expect_in "$RUN/fm.1.console" "^forkmem: clone 1 ok$" "forkmem: the clone sees its own writes only"

run_fork_guest fpu fpu 64M
expect_in "$RUN/out" "^fpu: original 0 ok x87 sse" "fpu: registers intact in the original"
check "fpu: the clone finished" clone_done fpu.1 "^fpu: "
expect_in "$RUN/fpu.1.console" "^fpu: clone 1 ok x87 sse" "fpu: x87/SSE/AVX state and FS/GS bases intact in the clone"

run_fork_guest clk clock 512M
expect_in "$RUN/out" "^clock: original 0 ok" "clock: monotonic in the original"
check "clock: the clone finished" clone_done clk.1 "^clock: "
expect_in "$RUN/clk.1.console" "^clock: clone 1 ok fork took [0-9]+ ns$" "clock: the clone's TSC continues from the parent's"

run_fork_guest smp smp 128M --cpus 4 --cmdline fork
expect_in "$RUN/out" "^smp: original ok 4 cpus result 2d2c7668c2f1bff3$" "smp: the original finishes right"
check "smp: the clone finished" clone_done smp.1 "^smp: "
expect_in "$RUN/smp.1.console" "^smp: clone 1 ok 4 cpus result 2d2c7668c2f1bff3$" "smp: the clone made mid-computation finishes right"

# A fork point whose clone cannot be named (the name would pass 64 characters) fails in the
# guest, which goes on (it used to stay parked until its timeout).
long=$(printf 'x%.0s' $(seq 63))
expect_status 3 "a fork point that cannot clone returns HF_FORK_FAILED to the guest" -- \
	timeout 60 "$HF" run --name "$long" --mem 64M --timeout $(scaled 30) --bare "$TGUESTS/forkmem.elf" --cmdline 1
expect_in "$RUN/out" "^forkmem: fork failed$" "the guest sees the failure"
expect_in "$RUN/err" "would exceed 64 characters" "the VMM says why"

# Randomness: state kept in guest memory is the same in every clone; HF_PORT_RANDOM is not.
run_fork_guest rnd random 64M
check "random: clone 1 finished" clone_done rnd.1 "^random: "
check "random: clone 2 finished" clone_done rnd.2 "^random: "
cat "$RUN/out" "$RUN/rnd.1.console" "$RUN/rnd.2.console" | grep '^random: ' > "$RUN/rnd"
check "random: the original and both clones report" test "$(grep -Ec '^random: [012] stale [0-9a-f]{16} fresh [0-9a-f]{32}$' "$RUN/rnd")" = 3
check "random: a generator seeded before the fork repeats in every clone" \
	test "$(awk '{ print $4 }' "$RUN/rnd" | sort -u | wc -l)" = 1
check "random: host randomness read after the fork differs in each" \
	test "$(awk '{ print $6 }' "$RUN/rnd" | sort -u | wc -l)" = 3

# A clone that crashes does not disturb its parent.
"$HF" run --name cc --mem 64M --timeout $(scaled 60) --console "$RUN/cc.out" --bare "$GUESTS/misbehave.elf" --cmdline clonecrash > /dev/null 2>&1 &
cc=$!
check "clonecrash: parent up" wait_for 10 vm_up cc
check "clonecrash: the clone's crash is in its console" wait_for 10 grep -q "triple fault" "$RUN/cc.1.console"
n=$(grep -c "original alive" "$RUN/cc.out")
check "clonecrash: the parent keeps running" wait_for 5 bash -c "[ \$(grep -c 'original alive' '$RUN/cc.out') -gt $n ]"
check "clonecrash: the crashed clone is gone" test ! -e "$RUN/cc.1.sock"
"$HF" stop cc > /dev/null; wait $cc

# Forks through the control socket: 100 clones of a 512 MB VM, all alive and answering.
"$HF" run --name big --mem 512M --timeout $(scaled 120) --console "$RUN/big.out" --bare "$TGUESTS/ticker.elf" --cmdline 200 > /dev/null 2>&1 &
big=$!
check "big: up" wait_for 10 vm_up big
"$HF" fork big --count 100 --console file > "$RUN/fork.out" 2> "$RUN/fork.err"
check "fork --count 100 succeeds" test $? = 0
check "fork lists 100 clones" test "$(grep -c '^big\.[0-9]* pid [0-9]* console ' "$RUN/fork.out")" = 100
answered=0
for i in $(seq 1 100); do
	[ "$(status_field big.$i state)" = running ] && answered=$((answered + 1))
done
check "all 100 clones answer status ($answered)" test $answered = 100
check "clone 100 runs its guest" wait_for 10 grep -q "^tick .* clone 100$" "$RUN/big.100.console"
"$HF" ls > "$RUN/ls" 2>&1
check "ls lists the parent and 100 clones" test "$(grep -c '^big' "$RUN/ls")" = 101
expect_in "$RUN/ls" "^big\.42 +[0-9]+ +running +big +1 +512 +[0-9]+ +[0-9]+ " "ls shows a clone with its parent, state and memory"
status_field big.42 parent > "$RUN/p"; expect_in "$RUN/p" "^big$" "status names the clone's parent"
status_field big clones > "$RUN/c"; expect_in "$RUN/c" "^100$" "the parent counts its clones"

# Failure isolation: kill a clone, the parent and siblings go on; kill the parent, its
# clones go on.
kill -9 "$(status_field big.7 pid)"
check "a killed clone's parent still answers" vm_up big
check "its sibling still answers" vm_up big.8
kill -9 $big; wait $big 2>/dev/null
check "clones outlive their killed parent" vm_up big.9
n1=$(grep -c '^tick' "$RUN/big.9.console")
check "and still run their guest" wait_for 5 bash -c "[ \$(grep -c '^tick' '$RUN/big.9.console') -gt $n1 ]"

# A clone of a clone.
"$HF" fork big.9 > "$RUN/f2" 2>&1
expect_in "$RUN/f2" "^big\.9\.1 pid [0-9]+ console $RUN/big.9.1.console$" "a clone can be forked"
status_field big.9.1 parent > "$RUN/p"; expect_in "$RUN/p" "^big\.9$" "the clone of a clone names its parent"
check "the clone of a clone runs its guest" wait_for 10 grep -q "^tick .* clone 1$" "$RUN/big.9.1.console"
check "no zombie processes" no_zombies
hf_kill_all

# Clone consoles: a pty and none.
"$HF" run --name con --mem 64M --timeout $(scaled 60) --console none --bare "$TGUESTS/ticker.elf" > /dev/null 2>&1 &
check "con: up" wait_for 10 vm_up con
"$HF" fork con --console pty > "$RUN/f3"
expect_in "$RUN/f3" "^con\.1 pid [0-9]+ console pty$" "a clone with a pty console"
"$HF" status con.1 > "$RUN/s"; expect_in "$RUN/s" "^console: +pty /dev/pts/[0-9]+$" "its status names the pty"
pts=$(awk '$1 == "console:" { print $3 }' "$RUN/s")
timeout 2 cat "$pts" > "$RUN/pty.out" 2>/dev/null
expect_in "$RUN/pty.out" "tick [0-9]+ clone 1" "the guest's output reaches the pty"
"$HF" fork con --console none > "$RUN/f4"
expect_in "$RUN/f4" "^con\.2 pid [0-9]+ console none$" "a clone with no console"
check "the console-less clone answers" vm_up con.2
expect_status 0 "a clone can be stopped" -- "$HF" stop con.2
check "the stopped clone's socket goes" wait_for 5 test ! -e "$RUN/con.2.sock"
expect_status 0 "a clone can be paused" -- "$HF" pause con.1
check "a paused clone says so" test "$(status_field con.1 state)" = paused

# A clone that cannot be made: no file descriptors left (parent side), and a console
# that cannot be opened (clone side). Nothing half-made is left.
mkdir "$RUN/con.3.console"
expect_status 240 "a clone whose console cannot be opened fails" -- "$HF" fork con
expect_in "$RUN/err" "failed to start: .*cannot open console file $RUN/con.3.console: Is a directory" "the clone's own error is reported"
check "the failed clone left no socket" test ! -e "$RUN/con.3.sock"
check "the parent still answers" vm_up con
pid=$(status_field con pid)
# The lowest descriptor number the VMM has free: with the limit there, it has none left.
first_free_fd() {
	local n=0
	while [ -e "/proc/$1/fd/$n" ]; do n=$((n + 1)); done
	echo "$n"
}
free=$(first_free_fd "$pid")
prlimit --pid "$pid" --nofile="$free":1024
expect_status 240 "a request fails when the VMM has no file descriptor left" -- "$HF" fork con
# (Where the VMM's own periodic read of /proc/meminfo held a lower descriptor while they were
# counted, the request is taken and that read is what fails: named as well.)
expect_in "$RUN/err" "(cannot take a request|no clone made): .*Too many open files" "the lack of descriptors is named"
prlimit --pid "$pid" --nofile="$((free + 1))":1024
expect_status 240 "fork fails when the VMM has one descriptor left (the connection's)" -- "$HF" fork con
expect_in "$RUN/err" "no clone made: .*Too many open files" "the fd limit is named"
prlimit --pid "$pid" --nofile=1024:1024
check "the parent still answers" vm_up con

# A VM started again under a name whose clones still run (as serve boots a dead template
# again): its clones are numbered past theirs, not refused.
"$HF" run --name re --mem 64M --timeout $(scaled 60) --console none --bare "$TGUESTS/ticker.elf" > /dev/null 2>&1 &
check "a VM re comes up" wait_for 10 vm_up re
expect_status 0 "it forks re.1" -- "$HF" fork re
"$HF" stop re > /dev/null
check "re ends" wait_for 10 test ! -e "$RUN/re.sock"
check "re.1 runs on" vm_up re.1
"$HF" run --name re --mem 64M --timeout $(scaled 60) --console none --bare "$TGUESTS/ticker.elf" > /dev/null 2>&1 &
check "re is started again" wait_for 10 vm_up re
expect_status 0 "the new re forks while the old re.1 runs" -- "$HF" fork re
expect_in "$RUN/out" "^re\.2 " "its clone is re.2"
check "re.1 and re.2 both answer" bash -c "'$HF' status re.1 > /dev/null && '$HF' status re.2 > /dev/null"
check "no zombie processes" no_zombies
finish
