# A stock distribution kernel as a guest: Debian's own vmlinuz (linux-image-amd64, fetched
# by `make stock-kernel`, not installed) with the project's initramfs boots to /init, and a
# clone made by hf-fork in its userspace runs and ends with hf-done. Hardware-virtualization
# hosts (VMX, SVM) only: on PVM hosts stock kernels do not reach userspace.
. "$(dirname "$0")/lib.sh"

STOCK=${HF_STOCK_KERNEL:-$TOP/build/debian-kernel/vmlinuz}
need_linux_guest # for its initramfs
[ -f "$STOCK" ] || { fail "no stock kernel at $STOCK: run 'make stock-kernel'"; finish; }
backend=$("$HF" host | awk '$1 == "backend:" { print $2 }')
[ "$backend" = pvm ] && not_run "stock kernels do not boot on this PVM host (they need the project's guest kernel patches)"
kv=$(cat "$(dirname "$STOCK")/version" 2>/dev/null)
stock() { # NAME CMDLINE
	timeout 40 "$HF" run --name "$1" --mem 512M --timeout $(scaled 30) \
		--kernel "$STOCK" --initrd "$INITRD" --cmdline "console=ttyS0 $2"
}

expect_status 0 "Debian's kernel boots to /init and ends with hf-done 0" -- stock stock ""
expect_in "$RUN/out" "Linux version ${kv:-[0-9]}.* Debian" "it is Debian's kernel ($kv)"
expect_in "$RUN/out" "^HYPERFORK-INIT-OK" "the /init marker is printed"

expect_status 0 "it forks itself with hf-fork" -- stock stf "quiet hf.script=fork"
expect_in "$RUN/out" "^HF-FORK-RETURNED 0" "hf-fork returns 0 in the original"
check "the clone reports in" wait_for 60 grep -q "^HF-CLONE 1" "$RUN/stf.1.console"
expect_in "$RUN/stf.1.console" "^HF-FORK-RETURNED 1" "hf-fork returns 1 in the clone"
check "the clone ends with hf-done (its socket goes)" wait_for 60 test ! -e "$RUN/stf.1.sock"
expect_not_in "$RUN/stf.1.console" "Segmentation fault|Kernel panic|general protection" "the clone runs cleanly"
check "no control socket is left behind" no_sockets
finish
