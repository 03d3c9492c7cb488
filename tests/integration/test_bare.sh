# Bare guests: output, exit codes, and every kind of misbehaviour ending cleanly.
. "$(dirname "$0")/lib.sh"

expect_status 0 "hello exits 0" -- timeout 20 "$HF" run --name hello --mem 64M --bare "$GUESTS/hello.elf"
expect_in "$RUN/out" "^Hello from a HyperFork bare guest \(64 MiB, 1 vCPU\)$" "hello prints its greeting with RAM and vCPUs"

for code in 0 1 7 239; do
	expect_status $code "exit code $code passes through" -- \
		timeout 20 "$HF" run --name ex --mem 16M --bare "$GUESTS/misbehave.elf" --cmdline "exit $code"
done

# misbehaviour: mode, expected words in the error
while IFS='|' read -r mode words; do
	expect_status 241 "guest '$mode' ends with the crash status" -- \
		timeout 20 "$HF" run --name bad --mem 65M --timeout $(scaled 10) --bare "$GUESTS/misbehave.elf" --cmdline "$mode"
	expect_in "$RUN/err" "$words" "guest '$mode' is reported: $words"
done <<'MODES'
triple|triple fault
null|triple fault
gdt|triple fault
pagetable|triple fault
syscall|triple fault
port|unknown I/O port 0x99
mmio|read of 4 bytes at address 0x4100000, outside guest RAM
badexit|exit code 1000 out of range
badsize|bad access to hypercall port 0xe1
badbuf|console write: buffer .* outside guest RAM
baddesc|console write: descriptor at 0xfffff000 is outside guest RAM
halt|every vCPU has halted
badsleep|sleep of 60000001 us is longer than 60000000
MODES

expect_status 243 "a spinning guest is stopped by --timeout" -- \
	timeout 20 "$HF" run --name spin --mem 16M --timeout 0.5 --bare "$GUESTS/misbehave.elf" --cmdline spin
expect_in "$RUN/err" "timed out after 0.5 s" "the timeout is reported"

# A guest that never leaves its vCPU does not keep its VMM from ending: SIGTERM stops it
# (status 244), SIGKILL kills it.
for sig in TERM KILL; do
	"$HF" run --name spin$sig --mem 16M --bare "$GUESTS/misbehave.elf" --cmdline spin > /dev/null 2>&1 &
	t=$!
	wait_for 10 vm_up spin$sig
	kill -$sig $t
	check "SIG$sig ends a VMM whose guest spins" wait_for 10 pid_gone $t
	wait $t 2>/dev/null
	got=$?
	want=244; [ $sig = KILL ] && want=137
	check "SIG$sig: status $want (got $got)" test $got = $want
done
# A killed VMM cannot remove its control socket; nothing else is left of it.
rm -f "$RUN/spinKILL.sock"

check "no control socket is left behind" no_sockets
# No zombie and no leftover process: every VMM started above has exited.
check "no VMM process is left" no_vmm_left

# Multi-vCPU bare guests compute together.
for n in 2 4; do
	expect_status 0 "$n vCPUs compute the same result" -- \
		timeout 30 "$HF" run --name smp --cpus $n --mem 64M --bare "$TGUESTS/smp.elf"
	expect_in "$RUN/out" "^smp: original ok $n cpus result 2d2c7668c2f1bff3$" "$n-vCPU result is right"
done

# The bare guest's console to a file and to nowhere.
expect_status 0 "console to a file" -- timeout 20 "$HF" run --name cf --mem 16M --console "$RUN/console.txt" --bare "$GUESTS/hello.elf"
expect_in "$RUN/console.txt" "^Hello from a HyperFork bare guest" "the console file holds the output"
expect_status 0 "console none" -- timeout 20 "$HF" run --name cn --mem 16M --console none --bare "$GUESTS/hello.elf"
check "console none prints nothing" test ! -s "$RUN/out"
# A guest that prints without end: its console file is cut back at 8 MiB and says so.
"$HF" run --name flood --mem 16M --timeout "$(scaled 120)" --console "$RUN/flood.txt" \
	--bare "$TGUESTS/flood.elf" > "$RUN/flood.log" 2>&1 &
flood=$!
check_or_show "a guest printing without end writes on past 16 MiB" "$RUN/flood.log" \
	wait_for 60 grep -qE '^flood (2[6-9][0-9]|[3-9][0-9]{2}|[0-9]{4,})\.' "$RUN/flood.txt"
check "its console file stays within 8 MiB" test "$(stat -c %s "$RUN/flood.txt")" -le $((8 << 20))
check "and says on its first line that it was cut" \
	grep -q '^\[hyperfork: the console reached its cap of 8 MiB' "$RUN/flood.txt"
"$HF" stop flood > /dev/null 2>&1
wait $flood

# A guest that makes the VMM log without end (fork points past --max-clones 1, each refused
# and logged): the VMM's own log file is cut back at 8 MiB too, and the VM runs on.
"$HF" run --name fl --mem 16M --max-clones 1 --timeout "$(scaled 300)" --console "$RUN/fl.txt" \
	--bare "$GUESTS/misbehave.elf" --cmdline forkloop > "$RUN/fl.log" 2>&1 &
fl=$!
check_or_show "a guest refused fork points without end fills its VMM's log to the cap" "$RUN/fl.txt" \
	wait_for 240 grep -q '^\[hyperfork: the log reached its cap of 8 MiB' "$RUN/fl.log"
check_or_show "the log names each refusal" "$RUN/fl.log" grep -q 'no clone made' "$RUN/fl.log"
check "the log stays within 8 MiB" test "$(stat -c %s "$RUN/fl.log")" -le $((8 << 20))
n0=$(grep -c '^forkloop' "$RUN/fl.txt")
check "and the VM runs on past the cut" wait_for 60 \
	sh -c "test \$(grep -c '^forkloop' '$RUN/fl.txt') -gt $n0"
"$HF" stop fl > /dev/null 2>&1
wait $fl

# 4 KiB pages instead of huge pages.
expect_status 0 "--pages 4k runs the guest" -- timeout 20 "$HF" run --name p4 --mem 64M --pages 4k --bare "$GUESTS/hello.elf"
finish
