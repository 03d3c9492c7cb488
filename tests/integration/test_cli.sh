# Bad input: every mistake gets one clear message naming the cause, status 240, and leaves
# no socket or process behind.
. "$(dirname "$0")/lib.sh"

HELLO="$GUESTS/hello.elf"
head -c 100 "$HELLO" > "$RUN/truncated.elf"
head -c 3000 "$HELLO" > "$RUN/cut.elf"
echo "not an image" > "$RUN/text.img"
printf '\177ELF\002\001\001' > "$RUN/tiny.elf"
: > "$RUN/empty.img"

# args | expected words in the error
while IFS='|' read -r args words; do
	eval "set -- $args"
	expect_status 240 "rejects: $args" -- timeout 20 "$HF" run --name bad "$@"
	expect_in "$RUN/err" "$words" "names the cause: $words"
done <<EOF2
--mem 64M|give exactly one of --bare FILE or --kernel FILE
--bare $HELLO --kernel $HELLO|give exactly one of --bare FILE or --kernel FILE
--bare $RUN/missing.elf|cannot read bare image $RUN/missing.elf: No such file or directory
--bare $RUN|cannot read bare image $RUN: Is a directory
--bare $RUN/empty.img|not an ELF file
--bare $RUN/text.img|not an ELF file \(bad magic\)
--bare $RUN/tiny.elf|truncated ELF header
--bare $RUN/truncated.elf|program headers lie outside the file
--bare $RUN/cut.elf|lies outside the .*-byte file \(truncated image\?\)
--kernel $RUN/text.img|not a vmlinux ELF or bzImage
--kernel $HELLO|not a Linux vmlinux .*a bare guest runs with --bare
--bare $HELLO --mem 0|needs at least 2 MiB
--bare $HELLO --mem 1K|needs at least 2 MiB
--bare $HELLO --mem 100T|more than this host can give a guest
--bare $HELLO --mem lots|invalid --mem 'lots'
--bare $HELLO --mem 99999999999999999999G|invalid --mem
--bare $HELLO --cpus 0|invalid --cpus '0'
--bare $HELLO --cpus 5000|--cpus 1024: must be 1..|invalid --cpus
--bare $HELLO --cpus 100|--cpus 100: must be 1..64
--bare $HELLO --timeout -1|invalid --timeout '-1'
--bare $HELLO --timeout 0|invalid --timeout '0'
--bare $HELLO --pages 1g|invalid --pages '1g'
--bare $HELLO --clone-console tty|invalid --clone-console 'tty'
--bare $HELLO --name .hidden|invalid --name '.hidden'
--bare $HELLO --name a/b|invalid --name 'a/b'
--bare $HELLO --frobnicate|unrecognized option
--bare $HELLO --initrd $HELLO|--initrd is for Linux guests
--bare $HELLO --mem 3M --cpus 8|does not fit in 3072 KiB|image needs memory
--bare $HELLO extra|unexpected argument 'extra'
--bare $HELLO --console $RUN/nodir/x|cannot open console file $RUN/nodir/x
EOF2
check "no control socket is left behind" no_sockets
check "no VMM process is left" no_vmm_left

# A VM name in use is refused while the first VM runs; the first is not disturbed.
"$HF" run --name dup --mem 16M --timeout $(scaled 20) --bare "$TGUESTS/ticker.elf" > "$RUN/dup.out" 2>&1 &
first=$!
wait_for 10 vm_up dup
expect_status 240 "a duplicate name is refused" -- timeout 20 "$HF" run --name dup --mem 16M --bare "$HELLO"
expect_in "$RUN/err" "a VM with this name is already running" "the duplicate is named as such"
check "the first VM still answers" vm_up dup
"$HF" stop dup >/dev/null
wait $first
check "the first VM stopped with status 244" test $? = 244

# A socket left by a VM killed with SIGKILL is replaced.
"$SOCKRAW" --stale "$RUN/stale.sock"
check "a stale socket exists" test -S "$RUN/stale.sock"
expect_status 0 "a VM starts over a stale socket" -- timeout 20 "$HF" run --name stale --mem 16M --bare "$HELLO"
expect_in "$RUN/err" "removed a stale control socket" "the stale socket is reported"
check "the stale socket is gone afterwards" test ! -e "$RUN/stale.sock"

# A killed VM leaves its socket; ls notices and removes it.
"$HF" run --name killed --mem 16M --timeout $(scaled 20) --bare "$TGUESTS/ticker.elf" > /dev/null 2>&1 &
k=$!
wait_for 10 vm_up killed
kill -9 $k; wait $k 2>/dev/null
check "the killed VM's socket is still there" test -S "$RUN/killed.sock"
"$HF" ls > "$RUN/ls.out" 2>&1
expect_not_in "$RUN/ls.out" "^killed " "ls does not list the dead VM"
check "ls removed the stale socket" test ! -e "$RUN/killed.sock"

# Control commands on VMs that do not exist.
expect_status 240 "status of an unknown VM" -- "$HF" status nosuch
expect_in "$RUN/err" "no VM named nosuch" "the unknown VM is named"
expect_status 240 "fork with a bad count" -- "$HF" fork nosuch --count 0
expect_in "$RUN/err" "invalid --count '0'" "the bad count is named"
expect_status 240 "an unknown command" -- "$HF" frobnicate
expect_in "$RUN/err" "unknown command 'frobnicate'" "the unknown command is named"
finish
