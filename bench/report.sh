#!/usr/bin/env bash
# Write bench/REPORT.md from the figures the benchmarks recorded in bench/results/.
#   bench/report.sh [TOTAL_SECONDS]
#   bench/report.sh --machine      (the machine section alone)
set -u
cd "$(dirname "$0")/.." || exit 1
R=bench/results
OUTMD=bench/REPORT.md
TOTAL=${1:-}
# The commands run-all.sh ran (defaults: a native make bench).
EMULATED=0 BOOT_CMD='bench/boot.sh 20 3' FORK_CMD='bench/fork.sh 100 "128 256 512 1024 2048 4096"'
COW_CMD='bench/cow.sh 3 "16 64 256"' FUNCTION_CMD='bench/function.sh 64 8' PEERS_CMD='bench/peers.sh 5'
NET_CMD='bench/net.sh 20' VSOCK_CMD='bench/vsock.sh 1000 256 5 100' SCALE_CMD='bench/scale.sh 20000 3072'
SERVE_CMD='bench/serve.sh 10 "1 2 8 64" 64 200000 10000' SECCOMP_CMD='bench/seccomp.sh 100 3' RESET_CMD='bench/reset.sh 100 128 "1 16 256 all"'
# shellcheck disable=SC1091
[ -f $R/args.sh ] && . $R/args.sh

# The machine measured: run-all.sh records it (bench/results/machine.txt) where the benchmarks
# run, so that the report can be rewritten elsewhere.
machine() {
	echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
	[ "$EMULATED" = 1 ] && echo "emulated: yes, on ${HYPERFORK_EMULATED_ON:-an unnamed machine} (QEMU TCG; the lines below describe the emulated machine)"
	echo "commit:   $(cat $R/commit.txt 2>/dev/null || git rev-parse --short HEAD) (the code measured)"
	echo "cpu:      $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
	echo "memory:   $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel:   $(uname -r)"
	echo "os:       Debian $(cat /etc/debian_version 2>/dev/null)"
	echo "qemu:     $(qemu-system-x86_64 --version 2>/dev/null | head -1)"
	build/hyperfork host 2>/dev/null | sed 's/^/kvm:      /'
}
if [ "${1:-}" = --machine ]; then machine; exit 0; fi

# csv_table FILE [awk filter]: a CSV file as a Markdown table
csv_table() {
	awk -F, -v f="${2:-1}" 'NR == 1 { h = $0; n = NF; gsub(/,/, " | ", h); print "| " h " |"
		s = "|"; for (i = 1; i <= n; i++) s = s " --- |"; print s; next }
		{ r = $0; gsub(/,/, " | ", r); gsub(/"/, "", r); print "| " r " |" }' "$1"
}
med() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
get() { # FILE MODE PAGES MEM COLUMN(p50_us=5): from fork-summary.csv
	awk -F, -v m="$2" -v p="$3" -v s="$4" -v c="$5" '$1 == m && $2 == p && $3 == s { print $c }' "$1"
}
# arg CMD N: the Nth argument of a quoted benchmark command (its words as the shell splits them)
arg() { local n=$2; eval "set -- $1"; shift "$n"; echo "${1:-}"; }
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { if (a > 0 && b > 0) printf "%.*f", d, a / b; else printf "n/a" }'; } # A B [DECIMALS]

{
if [ "$EMULATED" = 1 ]; then
	echo "# HyperFork benchmark report: EMULATED KVM host"
	echo
	echo "Measured inside an emulated KVM host (\`scripts/kvm-host.sh\`: QEMU TCG emulating an AMD"
	echo "CPU with SVM and nested paging, \`kvm_amd\` in Debian's kernel) because this machine has no"
	echo "usable /dev/kvm. Every guest instruction that exits, every nested page fault and the host"
	echo "kernel itself are emulated: absolute times here are not this machine's, let alone real"
	echo "hardware's. Only ratios between figures of this one run compare; sizes and counts are cut"
	echo "to fit (the commands are quoted per section)."
else
	echo "# HyperFork benchmark report"
fi
echo
echo "Regenerate everything on this machine with \`make bench\` (bench/run-all.sh; each"
echo "script in bench/ can also be run alone with the arguments shown). Figures are"
echo "measured, never asserted by tests. Medians with p99 or min/max as stated."
echo
echo "## Machine"
echo
echo '```'
cat $R/machine.txt 2>/dev/null || machine
[ -n "$TOTAL" ] && echo "duration: $TOTAL s for the whole run"
echo '```'
echo
[ -f $R/durations.csv ] && { echo "Time per benchmark (s): $(tr '\n' ' ' < $R/durations.csv)"; echo; }

# The headline: ratios between figures of this one run (what an emulated run can tell).
p50() { awk -F, -v m="$2" -v p="$3" -v s="$4" '$1 == m && $2 == p && $3 == s { print $5 }' "$1" 2>/dev/null; }
col_med() { # FILE FIELD1 VALUE1 FIELD2 VALUE2 COLUMN: median of COLUMN over matching rows
	awk -F, -v a="$2" -v av="$3" -v b="$4" -v bv="$5" -v c="$6" '$a == av && $b == bv { print $c }' "$1" 2>/dev/null | med
}
t512=$(p50 $R/fork-summary.csv template huge 512); f512=$(p50 $R/fork-summary.csv fork huge 512)
c512=$(p50 $R/fork-summary.csv cold huge 512)
lboot=$(col_med $R/boot.csv 1 hyperfork 2 linux 5); qboot=$(col_med $R/boot.csv 1 qemu-microvm 2 linux 5)
hclone=$(col_med $R/peers.csv 1 hyperfork 3 256 5); qrest=$(col_med $R/peers.csv 1 qemu-microvm 3 256 5)
echo "## Headline: ratios measured in this run"
echo
echo "| comparison (same run, same host) | ratio | figures |"
echo "| --- | --- | --- |"
echo "| 512 MB bare guest: fork() clone / template clone (request -> first instruction, p50) | $(ratio "$f512" "$t512")x | ${f512:-?} us / ${t512:-?} us |"
echo "| 512 MB bare guest: cold start / template clone | $(ratio "$c512" "$t512")x | ${c512:-?} us / ${t512:-?} us |"
echo "| 256 MB Linux guest: boot to /init / template clone to first output | $(ratio "$(awk -v b="${lboot:-0}" 'BEGIN { print b }')" "$hclone")x | ${lboot:-?} ms / ${hclone:-?} ms |"
echo "| QEMU migrate-to-file restore / HyperFork template clone, to first output | $(ratio "$qrest" "$hclone")x | ${qrest:-?} ms / ${hclone:-?} ms |"
echo "| QEMU microvm boot / HyperFork boot, same kernel, to /init | $(ratio "$qboot" "$lboot")x | ${qboot:-?} ms / ${lboot:-?} ms |"
echo

# Issue 19's marks (fresh state at warm cost), from this run's serve.csv and reset-summary.csv:
# the ratios in an emulated host, the absolute figures where the host has KVM of its own.
sv() { awk -F, -v s="$1" -v m="$2" -v c="$3" -v f="$4" '$1 == s && $2 == m && $3 == c { print $f }' $R/serve.csv 2>/dev/null; }
rs() { awk -F, -v m="$1" -v p="$2" '$1 == m && $2 == p { print $4 }' $R/reset-summary.csv 2>/dev/null; }
mark() { # WHAT ASKED OP LIMIT VALUE FIGURES: a row, "yes" where VALUE OP LIMIT holds
	local met; met=$(awk -v v="$5" -v l="$4" -v o="$3" 'BEGIN { if (v == "" || v == "n/a") print "not measured";
		else if ((o == "<=" && v + 0 <= l + 0) || (o == ">=" && v + 0 >= l + 0)) print "yes"; else print "no" }')
	echo "| $1 | $2 | ${5:-?} | $met | $6 |"
}
if [ -f $R/serve.csv ] || [ -f $R/reset-summary.csv ]; then
	wr=$(rs reset-worker 16); act=$(rs activate-reusable 0)
	echo "Issue 19's marks (fresh state at warm cost), from sections 9 and 14 of this run:"
	echo
	echo "| mark | asked | measured | met | figures |"
	echo "| --- | --- | --- | --- | --- |"
	for sys in bare linux; do
		[ "$sys" = bare ] && lat=1.5 thr=0.6 || lat=1.2 thr=0.8
		r1=$(sv $sys reuse 1 7); w1=$(sv $sys warm 1 7); r8=$(sv $sys reuse 8 6); w8=$(sv $sys warm 8 6)
		mark "$sys function, reset workers: p50 / the warm VM's, concurrency 1" "<= $lat" "<=" $lat \
			"$(ratio "$r1" "$w1" 2)" "${r1:-?} / ${w1:-?} ms"
		mark "$sys function, reset workers: invocations/s / the warm VM's, concurrency 8" ">= $thr" ">=" $thr \
			"$(ratio "$r8" "$w8" 2)" "${r8:-?} / ${w8:-?} per s"
	done
	mark "a worker's reset after 16 pages / a template activation" "<= 0.05" "<=" 0.05 \
		"$(ratio "$wr" "$act" 2)" "${wr:-?} / ${act:-?} us"
	if [ -f $R/serve-burst.csv ]; then
		IFS=, read -r _ _ bn _ _ _ mb ma < <(tail -1 $R/serve-burst.csv)
		mark "the function's memory after a burst of $bn invocations / before" "<= 1.05" "<=" 1.05 \
			"$(ratio "$ma" "$mb" 2)" "${mb:-?} -> ${ma:-?} KiB"
	fi
	if [ "$EMULATED" != 1 ]; then
		best=$(awk -F, '$1 == "bare" && $2 == "reuse" && $6 + 0 > b { b = $6 + 0 } END { if (b) print b }' $R/serve.csv 2>/dev/null)
		mark "bare invocation end to end, p50, concurrency 1 (ms)" "<= 1" "<=" 1 "$(sv bare reuse 1 7)" "reset workers"
		mark "bare invocations/s on ${CORES:-$(nproc)} cores" ">= 2000" ">=" 2000 "$best" "reset workers, best concurrency"
		mark "a worker's reset after 16 pages, p50 (us)" "<= 16" "<=" 16 "$wr" "request -> the guest's first instruction"
	fi
	echo
fi

echo "## 1. Clone latency vs memory size, against cold start (paper Figure 2)"
echo
echo "\`$FORK_CMD\`: a bare guest touches all of its"
echo "RAM, then is cloned $(arg "$FORK_CMD" 1) times per point; latency is measured inside the guest, from the"
echo "request (its fork point for fork(), \`hyperfork fork\` reaching the template for"
echo "templates) to the clone's first instruction. \`fork\`: the paper's mechanism, the parent"
echo "runs on. \`template\`: the VM is frozen and its warm clones are activated. \`cold\`:"
echo "launch of the same guest to its first output."
echo
if [ -f $R/fork-summary.csv ]; then
	csv_table $R/fork-summary.csv
	echo
	echo "![clone latency](figures/fork.png)"
	echo
	f512=$(get $R/fork-summary.csv fork huge 512 5); t512=$(get $R/fork-summary.csv template huge 512 5)
	sizes=$(arg "$FORK_CMD" 2); smin=${sizes%% *}; smax=${sizes##* }
	t128=$(get $R/fork-summary.csv template huge $smin 5); t4g=$(get $R/fork-summary.csv template huge $smax 5)
	f128=$(get $R/fork-summary.csv fork huge $smin 5); f4g=$(get $R/fork-summary.csv fork huge $smax 5)
	lboot=$(awk -F, '$1 == "hyperfork" && $2 == "linux" { print $5 }' $R/boot.csv 2>/dev/null | med)
	echo "At 512 MB with huge pages: fork() clone p50 ${f512} us, template clone p50 ${t512} us"
	echo "(paper: 7430 us; a bare fork()+KVM prototype here: 1900 us; best published cloner:"
	echo "~800 us p50). Growth from $smin MB to $smax MB: fork() $(ratio "$f4g" "$f128")x, template"
	echo "$(ratio "$t4g" "$t128")x. Against booting the Linux guest here (${lboot} ms to /init):"
	echo "a template clone is $(ratio "$(awk -v b="$lboot" 'BEGIN { print b * 1000 }')" "$t512")x faster."
	echo
fi
if [ -f $R/clone-memory.csv ]; then
	echo "Memory of $(tail -1 $R/clone-memory.csv | cut -d, -f1) idle clones of a 512 MB VM (same script):"
	echo
	csv_table $R/clone-memory.csv
	echo
	tail -1 $R/clone-memory.csv | awk -F, '{ printf "Per clone: PSS %.0f KB, private %.0f KB; MemAvailable fell %.0f KB per clone, which counts the kernel side too (KVM per-VM state, including 2 bytes of reverse map per KiB of guest RAM on this shadow-paging host, and page tables).\n", $5 / $1, $6 / $1, ($2 - $3) / $1 }'
	echo
fi

echo "## 2. Copy-on-write cost, and what cuts it (paper Figure 3)"
echo
echo "\`$COW_CMD\`: 128 bytes of random data written into every 4 KiB page,"
echo "passes timed and verified; \`first\`/\`rewrite\` before the fork point, \`after_fork_faulting\`"
echo "(every page copy-on-write) and \`after_fork_again\` after it. \`nofork\` rows run the same"
echo "passes without a fork. Prefault modes (\`--cow-prefault\`) break copy-on-write from the"
echo "host instead of by guest faults: \`populate\` (MADV_POPULATE_WRITE on a background thread),"
echo "\`huge\` (then MADV_COLLAPSE to 2 MiB pages), \`-sync\` (in the clone before its guest runs:"
echo "the clone starts later, see clone_start_us)."
echo
if [ -f $R/cow-summary.csv ]; then
	csv_table $R/cow-summary.csv
	echo
	echo "![copy-on-write](figures/cow.png)"
	echo
	mb=$(arg "$COW_CMD" 2); mb=${mb##* }
	awk -F, -v mb="$mb" '$2 == "clone" && $3 == mb { c[$1] = $7; s[$1] = $9 } $1 == "none" && $2 == "nofork" && $3 == mb { w = $6 }
		END { printf "%d MB: rewriting after a fork takes %.0f ms against %.2f ms without one (%sx: ~%.0f us per page, a guest copy-on-write fault on this host). ", mb, c["none"], w, (w > 0 ? sprintf("%.0f", c["none"] / w) : "n/a"), c["none"] * 1000 / (mb * 256)
		for (m in c) if (m != "none") printf "%s: %.1f ms (clone start %.1f ms). ", m, c[m], s[m] / 1000
		print "" }' $R/cow-summary.csv
	echo
fi

echo "## 3. A function with an expensive initialization (paper Figures 4 and 5)"
echo
echo "\`$FUNCTION_CMD\`: the function builds 32 MB of tables with libm (the"
echo "initialization), then runs forward and inverse FFTs of 2^18 points and checks them."
echo "\`boot\`: a new VM per invocation; \`afterboot\`: clones of a template frozen right after"
echo "boot; \`afterinit\`: clones of a template frozen after the initialization. Total CPU time"
echo "counts every process (VMMs, clones, requests); completion is request -> result (host"
echo "marks for clones, launch -> result for boots). Bare guest: $(arg "$FUNCTION_CMD" 1) invocations; Linux guest:"
echo "$(arg "$FUNCTION_CMD" 2) (each Linux boot takes seconds here, and page faults in the emulated guest kernel make"
echo "the initialization itself ~10x slower than in the bare guest)."
echo
if [ -f $R/function-summary.csv ]; then
	csv_table $R/function-summary.csv
	echo
	echo "![function](figures/function.png)"
	echo
	echo "The paper saved 24.8% (fork after boot) to 30.2% (after loading packages) of CPU time."
	echo
fi

echo "## 4. Density"
echo
echo "\`$SCALE_CMD\`: clones of one 512 MB template (idle guest) added 250 at a"
echo "time until MemAvailable falls below $(arg "$SCALE_CMD" 2) MB, a clone cannot be made, or $(arg "$SCALE_CMD" 1) are alive."
echo
if [ -f $R/density-summary.csv ]; then
	awk -F, '{ gsub(/"/, "", $0); printf "%d clones alive; MemAvailable %d MB before, %d MB after (%.0f KB per clone, kernel included); PSS per clone %s KB; stopped because: %s.\n", $2, $3, $4, ($3 - $4) * 1024 / $2, $6, $7 }' $R/density-summary.csv
	echo
	echo "![density](figures/density.png)"
	echo
	echo "Reference: Zeroboot reports ~265 KB RSS per idle clone."
	echo
fi

echo "## 5. Clone throughput"
echo
echo "\`bench/scale.sh\` (same run): 1000 clones of a 512 MB VM in one request."
echo
if [ -f $R/scale.csv ]; then
	csv_table $R/scale.csv
	echo
	echo "References: Firecracker creates ~5 microVMs per core per second ($((5 * ${CORES:-$(nproc)}))/s on ${CORES:-$(nproc)} cores);"
	echo "the fastest published cloner makes 1000 in 815 ms."
	echo
fi

echo "## 6. Peers measured in the same run"
echo
echo "\`$BOOT_CMD\`: launch -> first output -> /init marker -> exit, medians (ms)."
echo
if [ -f $R/boot.csv ]; then
	echo "| system | guest | runs | first output | marker | exit |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for k in "hyperfork bare" "hyperfork linux" "qemu-microvm linux"; do
		set -- $k
		n=$(awk -F, -v s=$1 -v g=$2 '$1 == s && $2 == g' $R/boot.csv | wc -l)
		[ "$n" -gt 0 ] || continue
		f=$(awk -F, -v s=$1 -v g=$2 '$1 == s && $2 == g { print $4 }' $R/boot.csv | med)
		m=$(awk -F, -v s=$1 -v g=$2 '$1 == s && $2 == g { print $5 }' $R/boot.csv | med)
		e=$(awk -F, -v s=$1 -v g=$2 '$1 == s && $2 == g { print $6 }' $R/boot.csv | med)
		echo "| $1 | $2 | $n | $f | $m | $e |"
	done
	hl=$(awk -F, '$1 == "hyperfork" && $2 == "linux" { print $5 }' $R/boot.csv | med)
	ql=$(awk -F, '$1 == "qemu-microvm" && $2 == "linux" { print $5 }' $R/boot.csv | med)
	echo
	echo "Linux boot to /init: QEMU microvm / HyperFork = $(ratio "$ql" "$hl")x (same kernel, initramfs, command line)."
	echo
fi
echo "\`$PEERS_CMD\`: a running 256 MB Linux guest restored from a QEMU migrate-to-file"
echo "snapshot, against a clone of the same guest from a HyperFork template; both to the"
echo "guest's first console output."
echo
if [ -f $R/peers.csv ]; then
	echo "| system | what | runs | median ms | min | max |"
	echo "| --- | --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { k = $1 " | " $2; n[k]++; v[k, n[k]] = $5 }
		END { for (k in n) { c = n[k]; for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[k, j] < v[k, i]) { t = v[k, i]; v[k, i] = v[k, j]; v[k, j] = t }
			printf "| %s | %d | %.1f | %.1f | %.1f |\n", k, c, v[k, int((c + 1) / 2)], v[k, 1], v[k, c] } }' $R/peers.csv
	q=$(awk -F, '$1 == "qemu-microvm" { print $5 }' $R/peers.csv | med)
	h=$(awk -F, '$1 == "hyperfork" { print $5 }' $R/peers.csv | med)
	echo
	echo "QEMU restore / HyperFork clone = $(ratio "$q" "$h")x. (The guest's own work between the"
	echo "fork point and its first output, an exit and a shell loop in an emulated kernel, is most of"
	echo "the clone's time here; the clone itself starts in ${t512:-?} us at 512 MB, section 1.)"
	echo
fi
echo "## 7. Networking across clones"
echo
echo "\`$NET_CMD\`: a 256 MB Linux guest frozen into a template at its fork point, with a"
echo "virtio-net card (\`--net\`; an HTTP server started before the fork) and without; $(arg "$NET_CMD" 1) clones"
echo "activated from each. A clone's tap is made by its main loop while its guest already runs"
echo "(frames sent meanwhile wait in the queue), so the card should cost the clone's start"
echo "nothing. Activation: in the clone, from taking the activation to its guest running."
echo "First answer: from \`hyperfork fork\` to the clone's server answering GET /id with the"
echo "clone's number on the clone's own tap (host-side address set-up included; the guest"
echo "kernel's emulated system calls are most of it)."
echo
if [ -f $R/net.csv ]; then
	echo "| card | clones | activation p50 us | min | max | fork round trip p50 ms | first answer p50 ms | min | max |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for m in nonet net; do
		awk -F, -v m=$m 'NR > 1 && $1 == m { n++; a[n] = $3; f[n] = $4; h[n] = $5 }
			function sort(x, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t } }
			END { if (!n) exit; sort(a, n); sort(f, n); sort(h, n); p = int((n + 1) / 2)
				printf "| %s | %d | %.0f | %.0f | %.0f | %.1f | %s | %s | %s |\n", m == "net" ? "virtio-net" : "none", n,
					a[p], a[1], a[n], f[p] / 1000, h[p] == "" ? "-" : h[p], h[1] == "" ? "-" : h[1], h[n] == "" ? "-" : h[n] }' $R/net.csv
	done
	echo
fi
echo "## 8. Host-guest streams: vsock against virtio-net"
echo
echo "\`$VSOCK_CMD\`: one 256 MB Linux guest with both a vsock device (\`--vsock\`, reached"
echo "through the VM's Unix socket: \`CONNECT PORT\`) and a virtio-net card (TCP to the guest's"
echo "address over its tap, from the tap's network namespace), the same servers on each"
echo "(hf.script=vsock-bench). Round trip: one-byte round trips on one connection from the host"
echo "to the guest's echo (10 more first, unmeasured). Throughput: MiB from the host to a guest"
echo "reader that answers once it has them all, connection included; the median of the runs,"
echo "the transports taking turns. Counts and sizes as in the table."
echo
if [ -f $R/vsock.csv ]; then
	echo "| transport | round trips | p50 us | p99 us | MiB | runs | MiB/s (median) | min | max |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' $R/vsock.csv
	echo
	awk -F, 'NR > 1 { r[$1] = $3; t[$1] = $7 } END { if (r["vsock"] > 0 && r["virtio-net"] > 0 && t["virtio-net"] > 0)
		printf "vsock / virtio-net: round trip %.2fx, throughput %.2fx (same guest, same run).\n\n", r["vsock"] / r["virtio-net"], t["vsock"] / t["virtio-net"] }' $R/vsock.csv
fi
if [ -f $R/vsock-activation.csv ]; then
	echo "What vsock adds to a template clone's activation (the clone makes its own socket,"
	echo "PATH.N, once its guest runs): two 256 MB Linux templates frozen at hf-fork, one with"
	echo "\`--vsock\` and one without, fork requests to each in turn, timed from the request on the"
	echo "control socket to its reply (the clone running, its devices attached)."
	echo
	echo "| template | activations | p50 us | p99 us |"
	echo "| --- | --- | --- | --- |"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s |\n", ($1 == "vsock" ? "with --vsock" : "without"), $2, $3, $4 }' $R/vsock-activation.csv
	echo
fi
echo "## 9. Serving: every invocation in its own clone (\`hyperfork serve\`)"
echo
echo "\`$SERVE_CMD\`: a bare function (guest/examples/echo-fn.c, 128 MB, through the"
echo "function ports) and a Linux function (256 MB; AWS's example shell bootstrap, curl against"
echo "hf-lambda's Runtime API in the guest) behind \`hyperfork serve\`, loaded by wrk (Debian's)"
echo "for $(arg "$SERVE_CMD" 1) s at each concurrency, every answer checked (a FunctionError or a body"
echo "without the payload's echo is an error), served these ways in the same run: \`reuse\`,"
echo "workers (clones of the template reset to its state by their VMM after every answer,"
echo "over a channel serve holds; mode clone); \`fresh\`, a fresh clone per"
echo "invocation from the template's warm pool (8); \`nopool\`, a fresh clone made when the"
echo "invocation comes; \`warm\`, one long-lived VM reused by every invocation in turn (the"
echo "warm-start floor, with no fresh state); \`boot\`, a VM booted per invocation. Latency is"
echo "wrk's, end to end (HTTP request in, answer out); CPU is the host's (all processes, from"
echo "/proc/stat) per invocation. MemAvailable is read before each burst and once its clones"
echo "have ended."
echo
if [ -f $R/serve.csv ]; then
	echo "| system | mode | concurrency | invocations | per second | p50 ms | p99 ms | errors | CPU ms / invocation | MemAvailable before / after MiB |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { if ($5 == 0) { $6 = "none completed in " $4 " s"; $7 = $8 = $10 = "-" }
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n", $1, $2, $3, $5, $6, $7, $8, $9, $10, $11, $12 }' $R/serve.csv
	echo
	echo "Against the warm-VM floor of the same function at the same concurrency (p50 latency"
	echo "ratio, throughput ratio):"
	echo
	awk -F, 'NR > 1 && $5 > 0 { k = $1 "," $3; p[$1 "," $2 "," $3] = $7; t[$1 "," $2 "," $3] = $6; m[$1 "," $2 "," $3] = k }
		END { for (x in m) { split(x, a, ","); if (a[2] == "warm") continue; w = a[1] ",warm," a[3]
			if (p[w] > 0 && t[w] > 0)
				printf "- %s %s at concurrency %s: p50 %.2fx the warm VM'"'"'s, %.2fx its throughput\n", a[1], a[2], a[3], p[x] / p[w], t[x] / t[w] } }' $R/serve.csv | sort -k2,2 -k3,3 -k6,6n
	echo
fi
if [ -f $R/serve-burst.csv ]; then
	echo "A burst against the bare function's workers (mode reuse, concurrency 8; as long as"
	echo "10,000 invocations take at the rate measured above), with the host's MemAvailable and"
	echo "the function's memory (/metrics: PSS of its template, pool and workers) before it and"
	echo "2 s after it ended:"
	echo
	echo "| seconds | concurrency | invocations | errors | MemAvailable before / after MiB | function memory before / after KiB |"
	echo "| --- | --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s / %s | %s / %s |\n", $1, $2, $3, $4, $5, $6, $7, $8 }' $R/serve-burst.csv
	echo
fi
if [ -f $R/serve-init.csv ]; then
	echo "The paper's experiment (Figures 4 and 5) through serve: a function whose initialisation"
	echo "is expensive, invoked $(arg "$SERVE_CMD" 3) times one after the other: \`boot\`, each invocation in a VM"
	echo "booted for it (paying the initialisation); \`clone\`, each in a clone of the template"
	echo "frozen after it. Per invocation, end to end (curl's time):"
	echo
	echo "| mode | invocations | mean ms | min ms | max ms |"
	echo "| --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { n[$1]++; s[$1] += $3; if (!($1 in lo) || $3 < lo[$1]) lo[$1] = $3; if ($3 > hi[$1]) hi[$1] = $3 }
		END { for (m in n) printf "| %s | %d | %.1f | %.1f | %.1f |\n", m, n[m], s[m] / n[m], lo[m], hi[m] }' $R/serve-init.csv | sort
	echo
fi
if [ -f $R/fuzz.txt ]; then
	echo "## 10. Fuzzing"
	echo
	echo "\`make fuzz FUZZ_SECONDS=N\` (tests/fuzz, libFuzzer under ASan/UBSan, each target from its"
	echo "seeds and the corpus earlier runs left in build/fuzz/corpus); executions per target:"
	echo
	echo '```'
	cat $R/fuzz.txt
	echo '```'
	echo
fi
if [ -f $R/seccomp-summary.csv ]; then
	echo "## 11. What the seccomp filters cost"
	echo
	echo "\`$SECCOMP_CMD\`: clone latency, request to the clone's first instruction"
	echo "(measured in the guest, as section 1), with every VMM thread under its seccomp filter (the"
	echo "default) and with \`--no-seccomp\`, rounds interleaved in one run: fork() clones of a"
	echo "running 128 MB VM and clones of a 128 MB template."
	echo
	echo "| path | filters | clones | p50 us | p99 us |"
	echo "| --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' $R/seccomp-summary.csv
	echo
fi
if [ -f $R/soak.txt ]; then
	echo "## 12. Soak"
	echo
	echo "\`make soak SOAK_SECONDS=N\` (tests/soak/soak.py, not part of \`make check\`): clones made and"
	echo "destroyed through \`hyperfork serve\` and a bare function for N seconds, with random SIGKILLs"
	echo "to clones, to the template mid-activation and to clients mid-request; its output:"
	echo
	echo '```'
	grep -v '^  ' $R/soak.txt
	echo '```'
	echo
fi
if [ -f $R/reset-summary.csv ]; then
	echo "## 14. Reset: a used clone back to its template's state, against a new clone"
	echo
	echo "\`${RESET_CMD:-bench/reset.sh}\`: from the moment the VMM took the request to the guest's first"
	echo "instruction after it (measured in the guest, as section 1): a clone of a \`--reusable\`"
	echo "template reset after it wrote the pages given (its KVM dirty log and the VMM's own writes"
	echo "name the pages put back), beside clones activated from a template's warm pool (a"
	echo "\`--reusable\` template, whose RAM is a file its clones map privately, and a plain one) and"
	echo "fork() clones of a running VM of the same size, in the same run."
	echo
	echo "| mode | pages written | n | p50 us | p99 us | min us | max us |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' $R/reset-summary.csv
	echo
fi
if [ -f $R/runtime-init.csv ]; then
	echo "## 15. Real Lambda functions with an expensive initialization: boot, clone, warm"
	echo
	echo "\`${RUNTIME_INIT_CMD:-bench/runtime-init.sh}\`: the experiment of section 3 with functions of"
	echo "the managed runtimes, a zip each as Lambda takes it (a Python handler importing a dozen"
	echo "standard modules, a Node one requiring a dozen core modules; both build a table of"
	echo "TABLE_N SHA-256 digests at init), each alone in a \`hyperfork serve\`, invoked one after"
	echo "the other: \`boot\` a VM booted per invocation, \`clone\` every invocation in the template"
	echo "frozen after the init (reset workers), \`warm\` one VM reused. Latency from the client"
	echo "(ms); init per VM: boot to ready, from serve's log; guest init: what the handler's module"
	echo "measured itself; memory: the function's VMs after the invocations (PSS, serve's /metrics)."
	echo
	echo "| runtime | mode | invocations | p50 ms | p90 ms | max ms | init per VM ms | VMs initialised | guest init ms | memory MiB |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, ($7 == "" ? "each" : $7), $8, $9, ($10 == "" ? "-" : $10) }' $R/runtime-init.csv
	echo
fi
if [ -f $R/fork-ab-summary.csv ]; then
	echo "## 13. Clone latency of two builds, side by side"
	echo
	echo "\`bench/fork-ab.sh OLD_HYPERFORK ROUNDS FORK.SH ARGUMENTS\`: bench/fork.sh with an older build"
	echo "and this one (build/hyperfork), taking turns in one run; the median over the rounds of"
	echo "each round's p50 and p99, request to the clone's first instruction (us, measured in the"
	echo "guest as in section 1)."
	echo
	echo "| mode | pages | MB | old p50 | new p50 | old p99 | new p99 |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	awk -F, 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' $R/fork-ab-summary.csv
	echo
fi
} > "$OUTMD"
echo "report: $OUTMD"
