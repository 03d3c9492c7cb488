#!/usr/bin/env bash
# Boot benchmark: launch -> first guest output -> /init marker -> exit, for a bare guest
# and the Linux guest under HyperFork, beside QEMU (-M microvm) booting the same kernel,
# initramfs and command line, all in this one run. Writes bench/results/boot.csv and
# prints medians with min and max.
#   bench/boot.sh [BARE_RUNS] [LINUX_RUNS]
set -u
BARE_RUNS=${1:-20}
LINUX_RUNS=${2:-3}
. "$(dirname "$0")/lib.sh"
CSV=$OUT/boot.csv
echo "system,guest,run,first_output_ms,marker_ms,exit_ms,status" > "$CSV"

CMDLINE="console=ttyS0 quiet $LINUX_FLAGS"
KERNEL=build/linux/vmlinux
INITRD=build/linux/initramfs.cpio

run() { # SYSTEM GUEST RUN MARKER COMMAND...
	local sys=$1 guest=$2 i=$3 marker=$4; shift 4
	local r
	r=$($STAMP --marker "$marker" --log "$OUT/boot-$sys-$guest.log" -- "$@")
	echo "$sys,$guest,$i,$(echo "$r" | cut -d' ' -f1-4 | tr ' ' ',')" >> "$CSV"
}

for i in $(seq "$BARE_RUNS"); do
	run hyperfork bare "$i" "Hello" $HF run --name b$i --mem 64M --bare build/guest/examples/hello.elf
done
for i in $(seq "$LINUX_RUNS"); do
	run hyperfork linux "$i" HYPERFORK-INIT-OK $HF run --name l$i --mem 256M --timeout 300 \
		--no-host-flags --kernel "$KERNEL" --initrd "$INITRD" --cmdline "$CMDLINE"
	# hf-done's write to port 0xe1 ends QEMU too, through isa-debug-exit.
	run qemu-microvm linux "$i" HYPERFORK-INIT-OK qemu-system-x86_64 -M microvm,acpi=off \
		-enable-kvm -cpu host -m 256 -nodefaults -no-user-config -nographic -serial stdio \
		-device isa-debug-exit,iobase=0xe1,iosize=4 \
		-kernel "$KERNEL" -initrd "$INITRD" -append "$CMDLINE"
done

echo "Boot: launch to first output / to marker / to exit, ms (median [min-max]); $(nproc) cores, $(uname -r)"
printf "%-24s %5s %28s %28s %28s\n" "system guest" "runs" "first output" "marker" "exit"
awk -F, 'NR > 1 { k = $1 " " $2; n[k]++; f[k, n[k]] = $4; m[k, n[k]] = $5; e[k, n[k]] = $6 }
function med(a, k, c,   i, j, t, v) { for (i = 1; i <= c; i++) v[i] = a[k, i]
	for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return sprintf("%9.1f [%.1f-%.1f]", (c % 2) ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2, v[1], v[c]) }
END { for (k in n) printf "%-24s %5d %28s %28s %28s\n", k, n[k], med(f, k, n[k]), med(m, k, n[k]), med(e, k, n[k]) }' "$CSV" | sort
echo "(CSV: $CSV)"
