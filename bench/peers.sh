#!/usr/bin/env bash
# Peers measured in the same run: restoring a running Linux guest from a QEMU
# migrate-to-file snapshot (-incoming) against starting a clone of the same guest from a
# HyperFork template, both timed to the guest's first console output after the restore or
# the clone request. Writes bench/results/peers.csv.
#   bench/peers.sh [RUNS]
set -u
RUNS=${1:-5}
. "$(dirname "$0")/lib.sh"
CSV=$OUT/peers.csv
echo "system,what,mem_mb,run,ms" > "$CSV"
CMDLINE="console=ttyS0 quiet $LINUX_FLAGS hf.script=ticks"
MEM=256
QEMU=(qemu-system-x86_64 -M microvm,acpi=off -enable-kvm -cpu host -m $MEM -nodefaults
	-no-user-config -nographic -serial stdio -kernel build/linux/vmlinux
	-initrd build/linux/initramfs.cpio -append "$CMDLINE")
hmp() { printf '%s\n' "$1" | $SOCKRAW --wait "${2:-200}" "$RUN/mon" > "$RUN/hmp.out"; }

# QEMU: boot, save the running guest to a file, then restore it RUNS times.
echo "peers: QEMU migrate-to-file of a running $MEM MB Linux guest" >&2
"${QEMU[@]}" -monitor unix:$RUN/mon,server,nowait > "$RUN/qemu.out" 2>&1 &
q=$!
for i in $(seq 600); do grep -q HF-TICK "$RUN/qemu.out" 2>/dev/null && break; sleep 0.1; done
hmp "migrate \"exec:cat > $RUN/state\""
for i in $(seq 600); do
	hmp "info migrate" 100
	grep -q "Migration status: completed" "$RUN/hmp.out" && break
	sleep 0.1
done
hmp quit; wait $q 2>/dev/null
echo "peers: snapshot $(du -m "$RUN/state" | cut -f1) MB" >&2
for r in $(seq "$RUNS"); do
	t=$($STAMP --marker HF-TICK --log "$RUN/restore.log" -- timeout -s KILL 5 "${QEMU[@]}" -incoming "exec:cat $RUN/state" | cut -d' ' -f2)
	echo "qemu-microvm,restore from migrate-to-file,$MEM,$r,$t" >> "$CSV"
done

# HyperFork: the same guest frozen at its fork point; each clone timed from the request to
# its first console output (host marks).
echo "peers: HyperFork clones of the same guest" >&2
$HF run --name tk --mem ${MEM}M --timeout 600 --console none --template --pool 2 \
	--marks "$RUN/marks" --no-host-flags --kernel build/linux/vmlinux \
	--initrd build/linux/initramfs.cpio --cmdline "$CMDLINE" 2>/dev/null &
for i in $(seq 3000); do [ "$(state_of tk)" = template ] && break; sleep 0.1; done
sleep 0.5
for r in $(seq "$RUNS"); do
	$HF fork tk --console none > /dev/null
	for i in $(seq 200); do grep -q " tk\.$r$" "$RUN/marks" && [ "$(grep -c " tk\.$r$" "$RUN/marks")" -ge 2 ] && break; sleep 0.02; done
	$HF stop tk.$r > /dev/null 2>&1
done
$HF stop tk > /dev/null; wait
awk '$1 == 4294901761 { req[$3] = $2 } $1 == 4294901762 { out[$3] = $2 }
	END { for (k in out) if (k in req) { split(k, p, "."); printf "hyperfork,clone from a template,'$MEM',%s,%.1f\n", p[2], (out[k] - req[k]) / 1e6 } }' \
	"$RUN/marks" | sort -t, -k4,4n >> "$CSV"

echo
echo "Restore / clone of a running $MEM MB Linux guest to its first output (ms)"
awk -F, 'NR > 1 { k = $1 ": " $2; n[k]++; v[k, n[k]] = $5 }
	END { for (k in n) { c = n[k]; for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[k, j] < v[k, i]) { t = v[k, i]; v[k, i] = v[k, j]; v[k, j] = t }
		printf "%-48s runs %d  median %.1f  min %.1f  max %.1f\n", k, c, v[k, int((c + 1) / 2)], v[k, 1], v[k, c] } }' "$CSV"
echo "(CSV: $CSV)"
