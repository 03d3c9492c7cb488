# Disks of Linux guests (virtio-blk) across a clone: the image is mapped copy-on-write, so
# the guest reads it, its writes stay in the VM and pass to a clone made afterwards, the
# clone's and the parent's later writes stay apart, and the image file is never written.
# A persistent disk writes through to its file, and its VM cannot be cloned.
. "$(dirname "$0")/lib.sh"

need_linux_guest

# Bad --disk values end cleanly, naming the cause.
expect_status 240 "a missing disk image is refused" -- "$HF" run --name db --kernel "$VMLINUX" --disk "$RUN/none.img"
expect_in "$RUN/err" "cannot open disk image $RUN/none.img: No such file" "the missing image is named"
head -c 1000 /dev/zero > "$RUN/odd.img"
expect_status 240 "an image that is not whole sectors is refused" -- "$HF" run --name db --kernel "$VMLINUX" --disk "$RUN/odd.img"
expect_in "$RUN/err" "size 1000 is not a positive multiple of 512" "the bad size is named"
expect_status 240 "--disk is refused for a bare guest" -- "$HF" run --name db --disk "$RUN/odd.img" --bare "$GUESTS/hello.elf"
expect_in "$RUN/err" "--disk is for Linux guests" "the bare-guest refusal names the cause"
check "no control socket is left behind" no_sockets

# As many disks as the board has interrupt lines (`run --help` says how many): each is read
# through its own device in the guest and again in a clone; one more is refused.
nlines=$("$HF" run --help | sed -n "s/.*the board's \([0-9]*\) interrupt lines.*/\1/p")
check "run --help names the board's interrupt lines" test "${nlines:-0}" -ge 5
disks=() want= letters=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
for i in $(seq "$nlines"); do
	echo "disk-$i" > "$RUN/d$i.img" && truncate -s 4096 "$RUN/d$i.img"
	disks+=(--disk "$RUN/d$i.img")
	want="$want vd${letters[i - 1]}=disk-$i"
done
expect_status 240 "one disk more than the board has lines for is refused" -- "$HF" run --name db \
	--kernel "$VMLINUX" "${disks[@]}" --disk "$RUN/d1.img"
expect_in "$RUN/err" "virtio-blk: no interrupt line left: the board has $nlines for devices" \
	"the refusal names the board's lines"
expect_status 0 "a guest with $nlines disks forks" -- timeout 40 "$HF" run --name dm --mem 256M \
	--timeout $(scaled 30) --kernel "$VMLINUX" --initrd "$INITRD" "${disks[@]}" \
	--cmdline "console=ttyS0 quiet hf.script=disks"
expect_in "$RUN/out" "^HF-DISKS 0 $nlines$want" "the guest reads each of its $nlines disks"
check "the clone reports" wait_for 60 grep -q "^HF-DISKS 1" "$RUN/dm.1.console"
expect_in "$RUN/dm.1.console" "^HF-DISKS 1 $nlines$want" "the clone reads each of them too"

mkdir "$RUN/root"
echo "hello from the image" > "$RUN/root/hello.txt"
mke2fs -q -t ext2 -d "$RUN/root" "$RUN/disk.img" 8M > /dev/null
sum_before=$(sha256sum < "$RUN/disk.img")
expect_status 0 "a guest with a disk forks" -- timeout 40 "$HF" run --name dk --mem 256M --timeout $(scaled 30) \
	--kernel "$VMLINUX" --initrd "$INITRD" --disk "$RUN/disk.img" --disk "$RUN/disk.img,ro" \
	--cmdline "console=ttyS0 quiet hf.script=disk"
tr -d '\r' < "$RUN/out" > "$RUN/dk.out"
expect_in "$RUN/dk.out" "^HF-DISK-READ hello from the image$" "the guest reads the image's file"
expect_in "$RUN/dk.out" "^HF-DISK-RO 1$" "the ro disk is read-only to the guest"
expect_in "$RUN/dk.out" "^HF-DISK 0 before hello.txt side side=side 0$" "the original reads back its own writes from the device"
check "the clone reports" wait_for 60 grep -q "^HF-DISK 1" "$RUN/dk.1.console"
tr -d '\r' < "$RUN/dk.1.console" > "$RUN/dk1.out"
expect_in "$RUN/dk1.out" "^HF-DISK 1 before hello.txt side side=side 1$" "the clone has the pre-fork write and only its own later one"
check "the image file was never written" test "$(sha256sum < "$RUN/disk.img")" = "$sum_before"

# A persistent disk: the guest's writes reach the file, and the VM cannot be cloned.
expect_status 240 "--template with a persistent disk is refused" -- \
	"$HF" run --name db --template --kernel "$VMLINUX" --disk "$RUN/disk.img,persist"
expect_in "$RUN/err" "disk $RUN/disk.img is persistent" "the refusal names the disk"
expect_status 0 "a guest writes to a persistent disk" -- timeout 40 "$HF" run --name dp --mem 256M \
	--timeout $(scaled 30) --kernel "$VMLINUX" --initrd "$INITRD" --disk "$RUN/disk.img,persist" \
	--cmdline "console=ttyS0 quiet hf.script=persist"
expect_in "$RUN/out" "^HF-PERSIST fork-refused" "its fork point fails instead of cloning"
expect_in "$RUN/err" "cannot clone: disk $RUN/disk.img is persistent" "the VMM says why"
check "the write reached the image file" test "$(debugfs -R 'cat /note' "$RUN/disk.img" 2>/dev/null)" = persisted
check "no clone was made" test ! -e "$RUN/dp.1.console"
check "no zombie processes" no_zombies
finish
