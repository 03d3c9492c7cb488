# Linux guests with the project's guest kernel (make linux-guest): boot to /init, exit
# through hf-done, several vCPUs, bzImage, a clone made from userspace, kvm-clock across a
# clone. On this software-KVM host each boot takes several seconds.
. "$(dirname "$0")/lib.sh"

VMLINUX="$LINUX_DIR/vmlinux"
BZIMAGE="$LINUX_DIR/bzImage"
INITRD="$LINUX_DIR/initramfs.cpio"
if [ ! -f "$VMLINUX" ] || [ ! -f "$INITRD" ]; then
	fail "no guest kernel in $LINUX_DIR: run 'make linux-guest'"
	finish
fi
linux() { # NAME MEM CPUS CMDLINE [more run args]
	local name=$1 mem=$2 cpus=$3 cmd=$4; shift 4
	timeout 400 "$HF" run --name "$name" --mem "$mem" --cpus "$cpus" --timeout 300 \
		--kernel "$VMLINUX" --initrd "$INITRD" --cmdline "console=ttyS0 quiet $cmd" "$@"
}

expect_status 0 "vmlinux (PVH) boots to /init and ends with hf-done 0" -- linux boot 64M 1 ""
expect_in "$RUN/out" "^HYPERFORK-INIT-OK" "the /init marker is printed (64 MB guest)"

expect_status 2 "two vCPUs: the guest counts 2 CPUs" -- linux smp 256M 2 "hf.script=smp"
expect_in "$RUN/out" "^HF-CPUS 2" "both vCPUs came online"

expect_status 0 "a guest forks itself with hf-fork" -- linux lf 256M 1 "hf.script=fork"
expect_in "$RUN/out" "^HF-FORK-RETURNED 0" "hf-fork returns 0 in the original"
check "the clone reports in" wait_for 60 grep -q "^HF-CLONE 1" "$RUN/lf.1.console"
expect_in "$RUN/lf.1.console" "^HF-FORK-RETURNED 1" "hf-fork returns 1 in the clone"
check "the clone ends with hf-done (its socket goes)" wait_for 60 test ! -e "$RUN/lf.1.sock"

# kvm-clock on, across a clone: uptime in the clone continues from the parent's.
expect_status 0 "kvm-clock guest forks" -- linux clk 256M 1 "hf.script=clock clocksource=kvm-clock"
check "the clone reports its uptime" wait_for 60 grep -q "^HF-FORK-RETURNED 1" "$RUN/clk.1.console"
before=$(awk '/^HF-UPTIME/ { print $2; exit }' "$RUN/out")
after=$(awk '/^HF-UPTIME/ { print $2 }' "$RUN/clk.1.console" | tail -1)
check "the clone's clock did not go back ($before -> $after)" awk -v a="$before" -v b="$after" 'BEGIN { exit !(b >= a && a > 0) }'
expect_in "$RUN/clk.1.console" "^HF-CLOCKSOURCE kvm-clock[[:space:]]*$" "the clone runs on kvm-clock"
expect_not_in "$RUN/clk.1.console" "clocksource.*unstable|Clocksource .* marked unstable" "kvm-clock is not found unstable in the clone"

# The x86 boot protocol with a compressed bzImage.
if [ -f "$BZIMAGE" ]; then
	expect_status 0 "bzImage boots to /init" -- timeout 400 "$HF" run --name bz --mem 256M --timeout 300 \
		--kernel "$BZIMAGE" --initrd "$INITRD" --cmdline "console=ttyS0 quiet"
	expect_in "$RUN/out" "^HYPERFORK-INIT-OK" "bzImage: the /init marker is printed"
fi

# RAM above the 3-4 GiB hole.
expect_status 0 "a 4 GiB guest boots (RAM on both sides of the hole)" -- linux big 4G 1 ""
expect_in "$RUN/out" "^HYPERFORK-INIT-OK" "4 GiB: the /init marker is printed"

# A kernel that cannot boot here ends cleanly.
head -c 1000000 "$VMLINUX" > "$RUN/cut.vmlinux"
expect_status 240 "a truncated vmlinux is refused" -- "$HF" run --name cut --mem 256M --kernel "$RUN/cut.vmlinux"
expect_in "$RUN/err" "outside the .*-byte file|truncated" "the truncation is named"
check "no control socket is left behind" no_sockets
finish
