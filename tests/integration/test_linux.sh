# Linux guests with the project's guest kernel (make linux-guest): boot to /init, exit
# through hf-done, several vCPUs, bzImage, a clone made from userspace, kvm-clock across a
# clone, the kernel's RNG reseeded in clones. On this software-KVM host each boot takes
# several seconds.
. "$(dirname "$0")/lib.sh"

need_linux_guest
linux() { # NAME MEM CPUS CMDLINE [more run args]
	local name=$1 mem=$2 cpus=$3 cmd=$4; shift 4
	timeout 40 "$HF" run --name "$name" --mem "$mem" --cpus "$cpus" --timeout $(scaled 30) \
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
expect_status 0 "kvm-clock guest forks" -- linux clk 256M 1 "hf.script=clock clocksource=kvm-clock" --debug
# Who advances the clone's kvm-clock: KVM (KVM_CLOCK_REALTIME) or, on hosts without it, the VMM.
if grep -q "no KVM_CLOCK_REALTIME" "$RUN/err"; then by="by HyperFork: no KVM_CLOCK_REALTIME here"; else by="by KVM_CLOCK_REALTIME"; fi
check "the clone reports its uptime" wait_for 60 grep -q "^HF-FORK-RETURNED 1" "$RUN/clk.1.console"
before=$(awk '/^HF-UPTIME/ { print $2; exit }' "$RUN/out")
after=$(awk '/^HF-UPTIME/ { print $2 }' "$RUN/clk.1.console" | tail -1)
check "the clone's clock did not go back ($before -> $after)" awk -v a="$before" -v b="$after" 'BEGIN { exit !(b >= a && a > 0) }'
expect_in "$RUN/clk.1.console" "^HF-CLOCKSOURCE kvm-clock[[:space:]]*$" "the clone runs on kvm-clock"
expect_not_in "$RUN/clk.1.console" "clocksource.*unstable|Clocksource .* marked unstable" "kvm-clock is not found unstable in the clone"
# How far kvm-clock fell behind (or ran ahead of) the TSC across the clone, in ms: the TSC
# rate comes from the clone's own samples a second apart, the start from before the fork.
# A clone whose kvm-clock missed the time the clone took to make lags by that time: 21-187 ms
# measured in an emulated host without KVM_CLOCK_REALTIME (and within 8 ms with the VMM
# advancing it). The bound is 40 ms because kvm-clock itself wanders up to ~27 ms against
# the TSC in an emulated host, in the original too (natively it stays within a millisecond).
clock_skew_ms() { # ORIGINAL_CONSOLE CLONE_CONSOLE
	awk 'FNR == NR { if ($1 == "HF-TSCNS" && $2 == "before" && !t0) { t0 = $3; n0 = $4 }; next }
		$1 == "HF-TSCNS" && $2 == "after" { t1 = $3; n1 = $4 }
		$1 == "HF-TSCNS" && $2 == "later" { t2 = $3; n2 = $4 }
		END { if (!t0 || !t1 || !t2 || n2 <= n1) { print "none"; exit }
		      rate = (t2 - t1) / (n2 - n1); printf "%.2f\n", ((t1 - t0) / rate - (n1 - n0)) / 1e6 }' \
		<(tr -d '\r' < "$1") <(tr -d '\r' < "$2")
}
within_ms() { awk -v v="$1" -v m="$2" 'BEGIN { exit !(v != "none" && v <= m && v >= -m) }'; }
skew=$(clock_skew_ms "$RUN/out" "$RUN/clk.1.console")
check "kvm-clock stays in step with the TSC across a fork ($skew ms; advanced $by)" within_ms "$skew" 40
skew=$(clock_skew_ms "$RUN/out" "$RUN/out")
check "and in the original ($skew ms)" within_ms "$skew" 40

# The same across a template: frozen at hf-fork, a warm clone made at once, activated later.
timeout 40 "$HF" run --name clkt --mem 256M --timeout $(scaled 30) --template --pool 1 --console "$RUN/clkt.out" \
	--kernel "$VMLINUX" --initrd "$INITRD" --cmdline "console=ttyS0 quiet hf.script=clock clocksource=kvm-clock" \
	> "$RUN/clkt.log" 2>&1 &
check "a kvm-clock guest freezes into a template" wait_for 120 grep -q "frozen as a template" "$RUN/clkt.log"
sleep 2
"$HF" fork clkt > "$RUN/clkt.f" 2>&1
check "its clone reports its clocks" wait_for 60 grep -q "^HF-FORK-RETURNED 1" "$RUN/clkt.1.console"
skew=$(clock_skew_ms "$RUN/clkt.out" "$RUN/clkt.1.console")
# (A clone that missed the 2 s between freezing and activation lags by those 2 s: the bound
# is 500 ms, since with two emulated hosts sharing the machine's two cores kvm-clock was
# seen to wander 115 ms against the TSC here.)
check "kvm-clock stays in step with the TSC in a template clone activated 2 s later ($skew ms)" within_ms "$skew" 500
"$HF" stop clkt > /dev/null 2>&1

# Randomness across clones: a clone starts with its parent's kernel RNG. Without a reseed
# (clone 1) it reads the same /dev/urandom bytes and gives a new process the same stack
# address as its parent; hf-fork's reseed from the host (clone 2) ends that.
expect_status 0 "a guest forks with and without reseeding" -- linux rnd 256M 1 "hf.script=random"
check "clone 1 reports" wait_for 60 grep -q "^RND noreseed 1 " "$RUN/rnd.1.console"
check "clone 2 reports" wait_for 60 grep -q "^RND reseed 2 " "$RUN/rnd.2.console"
rnd() { tr -d '\r' < "$1" | awk -v p="$2" -v i="$3" '$1 == "RND" && $2 == p && $3 == i { print $4, $5 }'; }
p1=$(rnd "$RUN/out" noreseed 0); c1=$(rnd "$RUN/rnd.1.console" noreseed 1)
p2=$(rnd "$RUN/out" reseed 0); c2=$(rnd "$RUN/rnd.2.console" reseed 2)
check "every side reports random bytes and a stack" \
	test "$(printf '%s\n' "$p1" "$c1" "$p2" "$c2" | grep -Ec '^[0-9a-f]{32} [0-9a-f]+-[0-9a-f]+$')" = 4
check "without a reseed the clone repeats its parent's randomness ($c1)" test "$p1" = "$c1"
check "after hf-fork's reseed the clone's bytes differ from its parent's" \
	test "${p2% *}" != "${c2% *}"
check "and a new process in the clone gets its own stack address (ASLR)" \
	test "${p2#* }" != "${c2#* }"

# The x86 boot protocol with a compressed bzImage.
if [ -f "$BZIMAGE" ]; then
	expect_status 0 "bzImage boots to /init" -- timeout 40 "$HF" run --name bz --mem 256M --timeout $(scaled 30) \
		--kernel "$BZIMAGE" --initrd "$INITRD" --cmdline "console=ttyS0 quiet hf.script=seeded"
	expect_in "$RUN/out" "^HYPERFORK-INIT-OK" "bzImage: the /init marker is printed"
	expect_in "$RUN/out" "^HF-CRNG ready" "bzImage: the VMM's seed readies the kernel's RNG before /init"
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
