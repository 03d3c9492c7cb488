# Reset: a clone of a --reusable template goes back to its template's exact state and runs
# again as a new clone (tests/guests/resetme.c checks its memory, counter and SSE register
# from inside), with only the pages written since put back; what cannot be reset says why;
# and a Linux guest with a disk and vsock goes back to its template's state too.
. "$(dirname "$0")/lib.sh"

state_of() { "$HF" status "$1" 2>/dev/null | awk '$1 == "state:" { print $2 }'; }
template_up() { [ "$(state_of "$1")" = template ]; }
# line ID FILE: the clone's "resetme: clone ID ..." line
line() { grep "^resetme: clone $1 " "$2" | tail -1; }

"$HF" run --name rs --mem 64M --timeout $(scaled 120) --console "$RUN/rs.out" --template --pool 1 \
	--reusable --bare "$TGUESTS/resetme.elf" --cmdline 16 > "$RUN/rs.log" 2>&1 &
rs=$!
check "a --reusable template freezes at its fork point" wait_for 10 template_up rs
expect_status 0 "a clone of it" -- "$HF" fork rs
C=$RUN/rs.1.console
check_or_show "clone 1 starts in the template's state" "$C" wait_for 10 grep -q "^resetme: clone 1 state template counter 0 xmm15 5e5e7e7e12345678 " "$C"
check_or_show "clone 1 dirties 16 pages, its counter and xmm15" "$C" wait_for 10 grep -q "^resetme: dirtied 1 16$" "$C"
expect_status 0 "reset it as clone 7" -- "$HF" reset rs.1 --id 7
pages=$(sed -n 's/^rs\.1 reset: \([0-9]*\) page(s).*/\1/p' "$RUN/out")
# The guest's 16 pages, its stack and the VMM's own writes (the boot info): a few more than
# 16, never all of its 64 MiB.
check "only what changed was put back: $pages pages (16 written by the guest)" \
	test -n "$pages" -a "${pages:-0}" -ge 16 -a "${pages:-0}" -le 64
check_or_show "it runs again from its fork point as clone 7, in the template's state" "$C" \
	wait_for 10 grep -q "^resetme: clone 7 state template counter 0 xmm15 5e5e7e7e12345678 " "$C"
check_or_show "and dirties again" "$C" wait_for 10 grep -q "^resetme: dirtied 7 16$" "$C"
r1=$(line 1 "$C" | awk '{ print $NF }')
r7=$(line 7 "$C" | awk '{ print $NF }')
check "with random bytes of its own ($r1, then $r7)" test -n "$r1" -a -n "$r7" -a "$r1" != "$r7"
"$HF" status rs.1 > "$RUN/s"
expect_in "$RUN/s" "^clone id: +7$" "status shows its new number"
expect_status 0 "reset it again, keeping its number" -- "$HF" reset rs.1
check_or_show "clone 7 again, in the template's state" "$C" \
	wait_for 10 bash -c "[ \$(grep -c '^resetme: clone 7 state template counter 0 ' '$C') = 2 ]"
expect_not_in "$C" "state CHANGED" "no run of it ever saw a state changed from the template's"
expect_status 0 "a second clone of the template" -- "$HF" fork rs
check_or_show "clone 2 starts in the template's state too" "$RUN/rs.2.console" \
	wait_for 10 grep -q "^resetme: clone 2 state template counter 0 " "$RUN/rs.2.console"
expect_status 0 "stop the template" -- "$HF" stop rs
wait $rs
check "its clones live on, and stop" bash -c "'$HF' stop rs.1 && '$HF' stop rs.2"

# A guest that wrote every page of its free RAM.
"$HF" run --name ra --mem 8M --timeout $(scaled 120) --console "$RUN/ra.out" --template --pool 1 \
	--reusable --bare "$TGUESTS/resetme.elf" --cmdline all > "$RUN/ra.log" 2>&1 &
ra=$!
check "a template that fills all of its free RAM" wait_for 10 template_up ra
expect_status 0 "a clone of it" -- "$HF" fork ra
C=$RUN/ra.1.console
check_or_show "it rewrites all of its free RAM" "$C" wait_for 60 grep -q "^resetme: dirtied 1 " "$C"
expect_status 0 "reset it" -- "$HF" reset ra.1 --id 2
n=$(sed -n 's/^resetme: dirtied 1 \([0-9]*\)$/\1/p' "$C")
pages=$(sed -n 's/^ra\.1 reset: \([0-9]*\) page(s).*/\1/p' "$RUN/out")
check "every page it wrote was put back ($pages pages for its $n)" test "${pages:-0}" -ge "${n:-1}"
check_or_show "and it runs again in the template's state" "$C" \
	wait_for 60 grep -q "^resetme: clone 2 state template counter 0 xmm15 5e5e7e7e12345678 " "$C"
expect_status 0 "stop" -- "$HF" stop ra
wait $ra
"$HF" stop ra.1 > /dev/null

# What cannot be reset says why, and runs on.
"$HF" run --name rn --mem 64M --timeout $(scaled 120) --console "$RUN/rn.out" --template --pool 1 \
	--bare "$TGUESTS/resetme.elf" --cmdline 4 > "$RUN/rn.log" 2>&1 &
rn=$!
check "a template without --reusable" wait_for 10 template_up rn
expect_status 0 "a clone of it" -- "$HF" fork rn
check "its clone runs" wait_for 10 grep -q "^resetme: dirtied 1 4$" "$RUN/rn.1.console"
expect_status 240 "cannot be reset" -- "$HF" reset rn.1
expect_in "$RUN/err" "only a clone of a template started with --reusable can be reset" "the refusal says why"
check "it runs on" test "$(state_of rn.1)" = running
expect_status 240 "nor can the template itself" -- "$HF" reset rn
expect_status 0 "stop" -- "$HF" stop rn
wait $rn
"$HF" stop rn.1 > /dev/null
"$HF" run --name rb --mem 64M --timeout $(scaled 60) --console none --bare "$TGUESTS/ticker.elf" --cmdline 100 > /dev/null 2>&1 &
check "a booted VM" wait_for 10 vm_up rb
expect_status 240 "cannot be reset" -- "$HF" reset rb
expect_status 240 "reset --id 0 is refused" -- "$HF" reset rb --id 0
expect_in "$RUN/err" "invalid --id '0'" "naming the bad number"
expect_status 240 "--reusable without --template is refused" -- "$HF" run --name x --reusable --bare "$GUESTS/hello.elf"
expect_in "$RUN/err" "--reusable is for a template" "the refusal says why"
expect_status 0 "stop" -- "$HF" stop rb

# A Linux guest (hf.script=reset): after a reset its memory (a tmpfs file, 4 MiB written),
# its shell's variables, its copy-on-write disk and its vsock connections are the
# template's again; it has a new number and new random bytes.
if [ -f "$VMLINUX" ] && [ -f "$INITRD" ]; then
	mkdir -p "$RUN/root" && echo hello > "$RUN/root/hello.txt"
	mke2fs -q -t ext2 -d "$RUN/root" "$RUN/lr.img" 8M > /dev/null
	"$HF" run --name lr --mem 256M --timeout $(scaled 300) --template --pool 1 --reusable \
		--kernel "$VMLINUX" --initrd "$INITRD" --disk "$RUN/lr.img" --vsock 3 \
		--cmdline "console=ttyS0 quiet hf.script=reset" --console "$RUN/lr.out" > "$RUN/lr.log" 2>&1 &
	check_or_show "a Linux --reusable template freezes at hf-fork" "$RUN/lr.log" wait_for 180 template_up lr
	expect_status 0 "a clone of it" -- "$HF" fork lr --console file
	L=$RUN/lr.1.console
	rline() { tr -d '\r' < "$L" | grep "^HF-RESET $1 " | tail -1; }
	check_or_show "the clone starts in the template's state" "$L" \
		wait_for 60 bash -c "tr -d '\r' < '$L' | grep -q '^HF-RESET 1 mem=none disk=\[hello.txt\] env=template rand='"
	check_or_show "and changes its memory, disk and variables" "$L" wait_for 60 grep -q "^HF-RESET-DIRTIED 1 changed-1" "$L"
	# a host connection to the clone's vsock listener, held open across the reset
	/usr/bin/python3 - "$RUN/lr.vsock.1" > "$RUN/vs.out" 2>&1 << 'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"CONNECT 5002\n")
f = s.makefile("rb")
print(f.readline().decode().strip(), flush=True)
s.sendall(b"held\n")
print(f.readline().decode().strip(), flush=True)
s.settimeout(600)
print("ended" if s.recv(1) == b"" else "data", flush=True)
PY
	vs=$!
	check_or_show "a host connection to the clone's vsock listener" "$RUN/vs.out" wait_for 30 grep -qx held "$RUN/vs.out"
	expect_status 0 "reset the Linux clone" -- "$HF" reset lr.1 --id 5
	check_or_show "after the reset it is the template's again, as clone 5" "$L" \
		wait_for 60 bash -c "tr -d '\r' < '$L' | grep -q '^HF-RESET 5 mem=none disk=\[hello.txt\] env=template rand='"
	r1=$(rline 1) r5=$(rline 5)
	check "with random bytes of its own (${r1##*rand=}, then ${r5##*rand=})" test "${r1##*rand=}" != "${r5##*rand=}"
	check_or_show "its vsock connection did not survive the reset" "$RUN/vs.out" wait_for 30 grep -qx ended "$RUN/vs.out"
	check_or_show "it runs on after the reset" "$L" wait_for 60 grep -q "^HF-RESET-DIRTIED 5 changed-5" "$L"
	expect_status 0 "and is reset again" -- "$HF" reset lr.1 --id 6
	check_or_show "to the template's state again" "$L" \
		wait_for 60 bash -c "tr -d '\r' < '$L' | grep -q '^HF-RESET 6 mem=none disk=\[hello.txt\] env=template rand='"
	wait $vs 2> /dev/null
	"$HF" stop lr.1 > /dev/null
	"$HF" stop lr > /dev/null
else
	fail "no guest kernel in $LINUX_DIR for the Linux reset: run 'make linux-guest'"
fi

check "no zombie processes" no_zombies
check "no VMM left" wait_for 10 no_vmm_left
finish
