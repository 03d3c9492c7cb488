# The containerd shim (issue 22): Debian's containerd, its root and state on a tmpfs,
# runs tasks through containerd-shim-hyperfork-v1 (runtime io.containerd.hyperfork.v1) with
# `ctr`: a task as a clone of a template (its output, its exit code in `ctr run`'s status
# and in the /tasks/exit event, events in containerd's order, a counter no clone sees
# another's write of), a running task paused, resumed and killed, and after `ctr task
# kill` and delete no VMM, clone socket or shim socket left; an unknown template fails
# Create with a clear error and leaves no shim.
. "$(dirname "$0")/lib.sh"

SHIM="${SHIM_BIN:-$TOP/build/containerd-shim-hyperfork-v1}" # SHIM_BIN: another build (sanitized)
command -v containerd > /dev/null && command -v ctr > /dev/null ||
	not_run "Debian's containerd is not installed (scripts/install-deps.sh installs it)"
[ "$(id -u)" = 0 ] || not_run "containerd needs root"
[ -x "$SHIM" ] || { fail "no $SHIM: run make"; finish; }

CT=$(mktemp -d /tmp/hf-ctrd.XXXXXX)
mount -t tmpfs -o size=64m tmpfs "$CT" || { fail "cannot mount a tmpfs on $CT"; finish; }
mkdir -p "$CT/root" "$CT/state" "$CT/s" "$CT/bin" "$CT/rootfs"
ln -s "$SHIM" "$CT/bin/containerd-shim-hyperfork-v1"
cat > "$CT/config.toml" <<TOML
version = 2
root = "$CT/root"
state = "$CT/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$CT/containerd.sock"
[ttrpc]
  address = "$CT/containerd.sock.ttrpc"
[debug]
  level = "debug"
# The runtime for CRI (RuntimeClass handler "hyperfork"); ctr names it with --runtime.
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.hyperfork]
  runtime_type = "io.containerd.hyperfork.v1"
TOML
export HYPERFORK_SHIM_SOCKET_DIR="$CT/s"
PATH="$CT/bin:$PATH" containerd --config "$CT/config.toml" > "$CT/containerd.log" 2>&1 &
ctrd=$!
ctr() { command ctr --address "$CT/containerd.sock" "$@"; }
ctrt() { timeout "$1" ctr --address "$CT/containerd.sock" "${@:2}"; } # ctrt SECONDS ARGS: ctr, given up after SECONDS
shim_cleanup() {
	kill $(jobs -p) 2> /dev/null
	kill "$ctrd" 2> /dev/null
	wait "$ctrd" 2> /dev/null
	for p in $(pgrep -f "^$CT/bin/containerd-shim-hyperfork-v1|containerd-shim-hyperfork-v1 -namespace" ); do
		grep -qzF "HYPERFORK_SHIM_SOCKET_DIR=$CT/s" /proc/$p/environ 2> /dev/null && kill -9 "$p"
	done
	umount -l "$CT" 2> /dev/null
	rmdir "$CT" 2> /dev/null
	cleanup
}
trap shim_cleanup EXIT
check_or_show "containerd answers" "$CT/containerd.log" wait_for 30 ctr version
RT=(--runtime io.containerd.hyperfork.v1)
# Our serving shims (not a shim's child of a moment: the event publisher before its exec).
our_shims() {
	local p all
	all=$(pgrep -f "containerd-shim-hyperfork-v1")
	for p in $all; do
		grep -qzF "HYPERFORK_SHIM_SOCKET_DIR=$CT/s" /proc/$p/environ 2> /dev/null &&
			! echo "$all" | grep -qx "$(awk '{ print $4 }' /proc/$p/stat 2> /dev/null)" && echo "$p"
	done
}
no_shim_left() { [ -z "$(our_shims)" ] && [ -z "$(ls "$CT/s")" ]; }
task_is() { [ "$(ctrt 5 task ls 2> /dev/null | awk -v t="$1" '$1 == t { print $3 }')" = "$2" ]; }
# clone_of TEMPLATE PID VAR: VAR is the name of TEMPLATE's clone whose VMM is PID ("" if
# none; natively, the stand-in's clones are all given PID).
clone_of() {
	local s n
	printf -v "$3" ""
	for s in "$RUN/$1".*.sock; do
		n=$(basename "$s" .sock)
		[ "${SHIM_NATIVE_ONLY:-}" = 1 ] && FAKE_PIDS[$n]=$2
		[ "$(status_field "$n" pid)" = "$2" ] && printf -v "$3" "%s" "$n"
	done
}
# The task events of task $1 seen by `ctr events` (running into $CT/events), in order.
ctr events > "$CT/events" 2>&1 &
evpid=$!
topics_of() { grep -F "\"container_id\":\"$1\"" "$CT/events" | grep -o ' /tasks/[a-z]* ' | tr -d ' ' | tr '\n' ' '; }
ordered() { [ "$(topics_of "$1")" = "/tasks/create /tasks/start /tasks/exit /tasks/delete " ]; }

# ---- what runs without KVM too: the commands, the ttrpc server, errors ----
expect_status 1 "an unknown template fails the task" -- \
	ctr run --rm "${RT[@]}" --annotation io.hyperfork.template=nope --rootfs "$CT/rootfs" t0 true
expect_in "$RUN/err" "template nope: no such template" "the error names the template"
sed "s/^/  /" "$RUN/err"
check "no shim is left" wait_for 10 no_shim_left
expect_status 1 "a task naming no VM fails" -- ctr run --rm "${RT[@]}" --rootfs "$CT/rootfs" t00 true
expect_in "$RUN/err" "no VM named: annotate it with io.hyperfork.template" "the error says what to add"
check "no shim is left" wait_for 10 no_shim_left

if [ "${SHIM_NATIVE_ONLY:-}" = 1 ]; then
	# Natively (no /dev/kvm): a booted VM's task ends with the VMM's error status, 240.
	expect_status 240 "a booted task without KVM ends with the VMM's error status" -- \
		ctr run --rm "${RT[@]}" --annotation io.hyperfork.image="$GUESTS/hello.elf" \
		--rootfs "$CT/rootfs" t01 true
	expect_in "$RUN/err" "cannot open /dev/kvm" "its stderr says why"
	check_or_show "its events in containerd's order: create, start, exit, delete" "$CT/events" \
		wait_for 10 ordered t01
	expect_in "$CT/events" '/tasks/exit .*"container_id":"t01".*"exit_status":240' \
		"the exit event carries status 240"
	check "no shim is left" wait_for 10 no_shim_left
	# The clone path against a stand-in for the templates' control sockets.
	python3 "$TOP/tests/integration/fake_template.py" "$RUN" tpl 7 200 &
	python3 "$TOP/tests/integration/fake_template.py" "$RUN" tsl 0 0 &
	is_template() { [ -S "$RUN/$1.sock" ]; }
	check "stand-in templates listen" wait_for 30 bash -c "[ -S $RUN/tpl.sock -a -S $RUN/tsl.sock ]"
	status_field() { # the stand-in's clones: paused if their process is stopped
		case $2 in
		pid) echo "${FAKE_PIDS[$1]:-}" ;;
		state) grep -q '^State:.*T' "/proc/${FAKE_PIDS[$1]}/status" && echo paused || echo running ;;
		esac
	}
	declare -A FAKE_PIDS
fi

# ---- tasks as clones of templates ----
[ "${SHIM_NATIVE_ONLY:-}" = 1 ] || {
"$HF" run --name tpl --mem 64M --template --pool 2 --exit-files --console "$RUN/tpl.out" \
	--bare "$TGUESTS/task.elf" --cmdline "7" > "$RUN/tpl.log" 2>&1 &
"$HF" run --name tsl --mem 64M --template --pool 1 --exit-files --console "$RUN/tsl.out" \
	--bare "$TGUESTS/task.elf" --cmdline "0 0" > "$RUN/tsl.log" 2>&1 &
is_template() { [ "$(status_field "$1" state 2> /dev/null)" = template ]; }
check_or_show "template tpl is frozen" "$RUN/tpl.log" wait_for 20 is_template tpl
check_or_show "template tsl is frozen" "$RUN/tsl.log" wait_for 20 is_template tsl
}

expect_status 7 "ctr run of a clone of tpl ends with the guest's exit code" -- \
	ctr run --rm "${RT[@]}" --annotation io.hyperfork.template=tpl --rootfs "$CT/rootfs" t1 true
cp "$RUN/out" "$CT/t1.out"
expect_in "$CT/t1.out" "^task: clone [0-9]+ counter 1" "its output is the clone's console"
expect_not_in "$CT/t1.out" "template ready" "no boot on its console (the template's output is not in it)"
expect_status 7 "a second task" -- \
	ctr run --rm "${RT[@]}" --annotation io.hyperfork.template=tpl --rootfs "$CT/rootfs" t2 true
expect_in "$RUN/out" "^task: clone [0-9]+ counter 1" "the first task's counter write is absent in the next"
check "another clone ran it" test "$(grep -o 'clone [0-9]*' "$RUN/out" | head -1)" != "$(grep -o 'clone [0-9]*' "$CT/t1.out" | head -1)"
expect_in "$CT/containerd.log" 'task t1: clone tpl\.[0-9]+ pid [0-9]+ in [0-9.]+ ms' \
	"the shim's log reaches containerd's, with the activation's time"
grep -Eo 'task t[12]: clone [^ ]+ pid [0-9]+ in [0-9.]+ ms' "$CT/containerd.log" | sed 's/^/  Start: /'
check_or_show "t1's events in containerd's order: create, start, exit, delete" "$CT/events" \
	wait_for 10 ordered t1
expect_in "$CT/events" '/tasks/exit .*"container_id":"t1".*"exit_status":7' \
	"the exit event carries status 7"
check "no shim is left after --rm" wait_for 10 no_shim_left

# A running task: paused and resumed (hyperfork status shows it), killed, deleted.
ctr run -d "${RT[@]}" --annotation io.hyperfork.template=tsl --rootfs "$CT/rootfs" t3 true > "$RUN/out" 2>&1
check_or_show "a task started detached" "$RUN/out" test $? = 0
check "it runs" wait_for 10 bash -c "[ \"\$(command ctr --address '$CT/containerd.sock' task ls | awk '\$1 == \"t3\" { print \$3 }')\" = RUNNING ]"
vpid=$(ctr task ls | awk '$1 == "t3" { print $2 }')
clone_of tsl "$vpid" vname
check "its pid ($vpid) is the clone's VMM ($vname)" test -n "$vname"
expect_status 0 "ctr task metrics of it (Stats)" -- ctr task metrics t3
cp "$RUN/out" "$CT/t3.metrics"
grep -E "^(memory.usage|cpu.usage_usec|pids.current)" "$CT/t3.metrics" | sed 's/^/  /'
usage=$(awk '$1 == "memory.usage" { print $2 }' "$CT/t3.metrics")
check "its memory.usage is its VMM's PSS: above 0, below the guest's 64 MiB ($usage)" \
	test "${usage:-0}" -gt 0 -a "${usage:-0}" -lt 67108864
[ "${SHIM_NATIVE_ONLY:-}" = 1 ] ||
	expect_in "$CT/t3.metrics" "^memory.usage_limit +67108864\b" "its memory.usage_limit is the guest's RAM"
expect_in "$CT/t3.metrics" "^pids.current +[1-9]" "its pids.current counts its VMM's threads"
expect_status 0 "ctr task pause" -- ctr task pause t3
state_is() { [ "$(status_field "$1" state)" = "$2" ]; }
# (A stand-in's clone, a process sent SIGSTOP, may take a moment to show it.)
check "hyperfork status shows it paused" wait_for 5 state_is "$vname" paused
expect_status 0 "ctr task resume" -- ctr task resume t3
check "hyperfork status shows it running" wait_for 5 state_is "$vname" running
expect_status 0 "ctr task kill -s KILL" -- ctr task kill -s KILL t3
check "the task stops" wait_for 10 bash -c "[ \"\$(command ctr --address '$CT/containerd.sock' task ls | awk '\$1 == \"t3\" { print \$3 }')\" = STOPPED ]"
check "its VMM is gone" wait_for 10 pid_gone "$vpid"
check "the template lives on" is_template tsl
expect_status 0 "ctr task delete" -- ctr task delete t3
expect_status 0 "ctr container delete" -- ctr container delete t3
[ "${SHIM_NATIVE_ONLY:-}" = 1 ] || check "no clone socket is left" wait_for 10 test ! -e "$RUN/$vname.sock"
check "no console or exit file is left" test ! -e "$RUN/$vname.console" -a ! -e "$RUN/$vname.exit"
check "no shim or shim socket is left" wait_for 10 no_shim_left

# A shim killed by its pid: containerd runs delete, which ends the task's VMM.
ctr run -d "${RT[@]}" --annotation io.hyperfork.template=tsl --rootfs "$CT/rootfs" t4 true > "$RUN/out" 2>&1
check "it runs" wait_for 10 bash -c "[ \"\$(command ctr --address '$CT/containerd.sock' task ls | awk '\$1 == \"t4\" { print \$3 }')\" = RUNNING ]"
vpid=$(ctr task ls | awk '$1 == "t4" { print $2 }')
spid=$(our_shims | head -1)
check "one shim serves it (pid $spid), VMM pid $vpid" test -n "$spid" -a -n "$vpid"
kill -9 "$spid"
check "containerd's delete ends the VMM of the killed shim" wait_for 20 pid_gone "$vpid"
ctr task delete t4 > /dev/null 2>&1
ctr container delete t4 > /dev/null 2>&1
check "no shim or shim socket is left" wait_for 10 no_shim_left

# Two containers of one pod (CRI's sandbox-id annotation) share one shim.
# (Started at once: they must find one shim, not make one each.)
starts=()
for c in pa pb; do
	ctr run -d "${RT[@]}" --annotation io.hyperfork.template=tsl \
		--annotation io.kubernetes.cri.sandbox-id=pa --rootfs "$CT/rootfs" $c true > "$RUN/out.$c" 2>&1 &
	starts+=($!)
done
wait "${starts[@]}"
both() { [ "$(command ctr --address "$CT/containerd.sock" task ls | grep -Ec '^p[ab] .*RUNNING')" = 2 ]; }
check "both containers of the pod run" wait_for 10 both
check "one shim serves the pod" test "$(our_shims | wc -l)" = 1 -a "$(ls "$CT/s" | wc -l)" = 1
for c in pa pb; do ctr task kill -s KILL $c > /dev/null 2>&1; done
stopped2() { [ "$(command ctr --address "$CT/containerd.sock" task ls | grep -Ec '^p[ab] .*STOPPED')" = 2 ]; }
check "both stop" wait_for 10 stopped2
ctr task delete pa > /dev/null 2>&1
ctr container delete pa > /dev/null 2>&1
check "the pod's shim serves on while pb is left" test "$(our_shims | wc -l)" = 1
expect_status 0 "pb is deleted through it" -- ctr task delete pb
ctr container delete pb > /dev/null 2>&1
check "then no shim or shim socket is left" wait_for 10 no_shim_left

# A pod as CRI makes it: its sandbox (CRI's pause container, container-type sandbox, the
# pod's annotations on it too) runs no VM and stands for the pod until killed; the pod's
# container is a clone, served by the same shim.
SB=(--annotation io.kubernetes.cri.sandbox-id=ps --annotation io.hyperfork.template=tsl)
ctr run -d "${RT[@]}" "${SB[@]}" --annotation io.kubernetes.cri.container-type=sandbox \
	--rootfs "$CT/rootfs" ps true > "$RUN/out" 2>&1
check_or_show "a pod's sandbox runs" "$RUN/out" wait_for 10 task_is ps RUNNING
check "its pid is its shim's: no VM" test "$(ctr task ls | awk '$1 == "ps" { print $2 }')" = "$(our_shims)"
ctr run -d "${RT[@]}" "${SB[@]}" --annotation io.kubernetes.cri.container-type=container \
	--rootfs "$CT/rootfs" pw true > "$RUN/out" 2>&1
check_or_show "the pod's container runs" "$RUN/out" wait_for 10 task_is pw RUNNING
wpid=$(ctr task ls | awk '$1 == "pw" { print $2 }')
clone_of tsl "$wpid" wname
check "it is a clone of tsl ($wname, pid $wpid)" test -n "$wname"
check "one shim serves the pod" test "$(our_shims | wc -l)" = 1
expect_status 0 "ctr task metrics of the sandbox" -- ctr task metrics ps
expect_status 0 "the container is killed" -- ctr task kill -s KILL pw
check "it stops" wait_for 10 task_is pw STOPPED
check "the sandbox runs on" task_is ps RUNNING
expect_status 0 "the sandbox is stopped as CRI does (SIGTERM)" -- ctr task kill ps
check "it stops" wait_for 10 task_is ps STOPPED
check "with status 143" wait_for 10 grep -q '/tasks/exit .*"container_id":"ps".*"exit_status":143' "$CT/events"
for c in pw ps; do ctr task delete $c > /dev/null 2>&1; ctr container delete $c > /dev/null 2>&1; done
check "no shim or shim socket is left" wait_for 10 no_shim_left

# A task's output reaches ctr whole before its end is reported (ctr cancels the copy once
# it saw the end): 2 MiB, more than the fifos hold, then exit 5.
if [ "${SHIM_NATIVE_ONLY:-}" != 1 ]; then
	"$HF" run --name tcx --mem 64M --template --pool 1 --exit-files --console "$RUN/tcx.out" \
		--bare "$TGUESTS/task.elf" --cmdline "5 1 2048" > "$RUN/tcx.log" 2>&1 &
	"$HF" run --name tch --mem 64M --template --pool 1 --exit-files --console "$RUN/tch.out" \
		--bare "$TGUESTS/task.elf" --cmdline "0 0 2048" > "$RUN/tch.log" 2>&1 &
	check_or_show "template tcx is frozen" "$RUN/tcx.log" wait_for 20 is_template tcx
	check_or_show "template tch is frozen" "$RUN/tch.log" wait_for 20 is_template tch
	all_lines() { # FILE: task.elf's 32768 numbered lines, in order
		grep '^task: line' "$1" | awk '{ if ($3 + 0 != NR) exit 1 } END { exit NR != 32768 }'
	}
	expect_status 5 "ctr run of a task that prints 2 MiB and exits 5" -- \
		ctr run --rm "${RT[@]}" --annotation io.hyperfork.template=tcx --rootfs "$CT/rootfs" tx true
	check "all its 32768 lines reach ctr, in order" all_lines "$RUN/out"
	expect_in "$RUN/out" "^task: clone [0-9]+ exits 5" "to its last line"
	# A booted VM's console goes the same way.
	expect_status 0 "ctr run of a booted VM (io.hyperfork.image, no template)" -- \
		ctr run --rm "${RT[@]}" --annotation io.hyperfork.image="$GUESTS/hello.elf" \
		--annotation io.hyperfork.memory=32M --rootfs "$CT/rootfs" tb true
	expect_in "$RUN/out" "^Hello from a HyperFork bare guest \(32 MiB" "its console reaches ctr"
	check "its console file is gone with it" test ! -e "$RUN/ctr-tb.console"
	# And a booted Linux guest (io.hyperfork.kernel, .initrd, .cmdline): the project's.
	if [ -f "$BZIMAGE" ] && [ -f "$INITRD" ]; then
		expect_status 0 "ctr run of a booted Linux guest (io.hyperfork.kernel)" -- \
			ctr run --rm "${RT[@]}" --annotation io.hyperfork.kernel="$BZIMAGE" \
			--annotation io.hyperfork.initrd="$INITRD" --annotation io.hyperfork.memory=128M \
			--annotation io.hyperfork.cmdline="console=ttyS0 quiet" --rootfs "$CT/rootfs" tk true
		expect_in "$RUN/out" "^HYPERFORK-INIT-OK" "its console reaches ctr: it booted to /init"
	else
		fail "no guest kernel in $LINUX_DIR for the booted Linux task: run 'make linux-guest'"
	fi

	# A task whose output nobody reads (its reader stalls) does not stall its shim: the
	# pod's other container starts and is killed through it meanwhile; once read, the
	# output arrives whole.
	mkfifo "$CT/stall"
	exec 7<> "$CT/stall" # held open, never read: ctr's writes stop once the pipe is full
	ctr run "${RT[@]}" --annotation io.hyperfork.template=tch \
		--annotation io.kubernetes.cri.sandbox-id=pc --rootfs "$CT/rootfs" pc true \
		> "$CT/stall" 2> "$CT/pc.err" &
	chatty=$!
	check_or_show "a task printing 2 MiB runs" "$CT/pc.err" wait_for 10 task_is pc RUNNING
	vpid=$(ctr task ls | awk '$1 == "pc" { print $2 }')
	clone_of tch "$vpid" vname
	printed() { [ "$(stat -c %s "$RUN/$vname.console" 2> /dev/null || echo 0)" -gt 2000000 ]; }
	check "its VM ($vname) printed it all to its console while nobody read" wait_for 20 printed
	ctrt 30 run -d "${RT[@]}" --annotation io.hyperfork.template=tsl \
		--annotation io.kubernetes.cri.sandbox-id=pc --rootfs "$CT/rootfs" pd true > "$RUN/out" 2>&1
	check_or_show "the pod's other container starts through the same shim meanwhile" "$RUN/out" \
		wait_for 10 task_is pd RUNNING
	check "one shim serves both" test "$(our_shims | wc -l)" = 1
	expect_status 0 "and is killed through it" -- ctrt 10 task kill -s KILL pd
	check "it stops" wait_for 10 task_is pd STOPPED
	ctrt 10 task delete pd > /dev/null 2>&1
	ctrt 10 container delete pd > /dev/null 2>&1
	cat "$CT/stall" > "$CT/pc.out" &
	reader=$!
	check "once read, the stalled task's output arrives" wait_for 30 \
		grep -q "^task: clone [0-9]* printed 32768 lines" "$CT/pc.out"
	check "all 32768 lines of it, in order" all_lines "$CT/pc.out"
	expect_status 0 "the task is killed" -- ctrt 10 task kill -s KILL pc
	if wait_for 20 pid_gone "$chatty"; then
		wait "$chatty"
		rc=$?
		check "its ctr run ends with status 137 (SIGKILL)" test "$rc" = 137
	else
		fail "its ctr run does not end"
		kill "$chatty" 2> /dev/null
	fi
	kill "$reader" 2> /dev/null
	exec 7>&-
	ctrt 10 task delete pc > /dev/null 2>&1
	ctrt 10 container delete pc > /dev/null 2>&1
	check "no shim or shim socket is left" wait_for 10 no_shim_left
	"$HF" stop tch > /dev/null 2>&1
	"$HF" stop tcx > /dev/null 2>&1
fi

# containerd restarted finds its live shims again.
ctr run -d "${RT[@]}" --annotation io.hyperfork.template=tsl --rootfs "$CT/rootfs" t5 true > "$RUN/out" 2>&1
check "t5 runs" wait_for 10 bash -c "[ \"\$(command ctr --address '$CT/containerd.sock' task ls | awk '\$1 == \"t5\" { print \$3 }')\" = RUNNING ]"
vpid=$(ctr task ls | awk '$1 == "t5" { print $2 }')
kill "$ctrd"
wait "$ctrd" 2> /dev/null
PATH="$CT/bin:$PATH" containerd --config "$CT/config.toml" >> "$CT/containerd.log" 2>&1 &
ctrd=$!
check_or_show "containerd answers again" "$CT/containerd.log" wait_for 30 ctr version
check "the restarted containerd finds t5 running, its VMM pid $vpid" wait_for 10 bash -c \
	"command ctr --address '$CT/containerd.sock' task ls | grep -Eq '^t5 +$vpid +RUNNING'"
expect_status 0 "and kills it" -- ctr task kill -s KILL t5
check "its VMM is gone" wait_for 10 pid_gone "$vpid"
wait_for 10 bash -c "command ctr --address '$CT/containerd.sock' task ls | grep -Eq '^t5 .*STOPPED'"
expect_status 0 "and deletes it" -- ctr task delete t5
ctr container delete t5 > /dev/null 2>&1
check "no shim or shim socket is left" wait_for 10 no_shim_left

# Many tasks at once, then deleted: nothing left behind (50 natively, 10 in the emulated
# host, where each ctr and containerd step is ~10x slower).
N=50
[ "$SCALE" = 1 ] || N=10
for i in $(seq 1 $N); do
	ctr run -d "${RT[@]}" --annotation io.hyperfork.template=tsl --rootfs "$CT/rootfs" p$i true > "$CT/p$i.out" 2>&1 &
done
running() { [ "$(command ctr --address "$CT/containerd.sock" task ls | grep -Ec '^p[0-9]+ .*RUNNING')" = "$N" ]; }
check_or_show "$N tasks started in parallel all run" "$CT/p1.out" wait_for 120 running
pids=$(ctr task ls | awk '$1 ~ /^p[0-9]+$/ { print $2 }')
check "each has a VMM of its own" test "$(echo "$pids" | sort -u | wc -l)" = "$N"
if [ "${SHIM_NATIVE_ONLY:-}" != 1 ]; then
	# Their memory: clones of one 64 MiB template share it.
	pss=0
	for p in $pids; do
		k=$(awk '$1 == "Pss:" { print $2 }' /proc/$p/smaps_rollup 2> /dev/null)
		pss=$((pss + ${k:-0}))
	done
	echo "  $N tasks' VMMs: total PSS $pss KiB, against $((N * 64 * 1024)) KiB of guest RAM for $N VMs"
	check "$N tasks' total PSS ($pss KiB) is below one VM's guest RAM (65536 KiB)" test "$pss" -lt 65536
fi
for i in $(seq 1 $N); do ctr task kill -s KILL p$i > /dev/null 2>&1 & done
stopped() { [ "$(command ctr --address "$CT/containerd.sock" task ls | grep -Ec '^p[0-9]+ .*STOPPED')" = "$N" ]; }
check "all $N stop" wait_for 60 stopped
for i in $(seq 1 $N); do { ctr task delete p$i && ctr container delete p$i; } > /dev/null 2>&1 & done
gone() { [ -z "$(command ctr --address "$CT/containerd.sock" container ls -q)" ]; }
check "all $N are deleted" wait_for 60 gone
all_pids_gone() { local p; for p in $pids; do pid_gone "$p" || return 1; done; }
check "no VMM of theirs is left" wait_for 20 all_pids_gone
check "no shim or shim socket is left" wait_for 30 no_shim_left
[ "${SHIM_NATIVE_ONLY:-}" = 1 ] || check "no clone socket or console is left" \
	bash -c "! ls '$RUN'/tsl.*.sock '$RUN'/tsl.*.console 2> /dev/null | grep -q ."

"$HF" stop tpl > /dev/null 2>&1
"$HF" stop tsl > /dev/null 2>&1
finish
