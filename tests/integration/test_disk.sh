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
expect_status 240 "a fifth disk is refused" -- "$HF" run --name db --kernel "$VMLINUX" \
	--disk a --disk b --disk c --disk d --disk e
expect_in "$RUN/err" "too many --disk" "the disk limit is named"
check "no control socket is left behind" no_sockets

mkdir "$RUN/root"
echo "hello from the image" > "$RUN/root/hello.txt"
mke2fs -q -t ext2 -d "$RUN/root" "$RUN/disk.img" 8M > /dev/null
sum_before=$(sha256sum < "$RUN/disk.img")
expect_status 0 "a guest with a disk forks" -- timeout 400 "$HF" run --name dk --mem 256M --timeout $(scaled 300) \
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
expect_status 0 "a guest writes to a persistent disk" -- timeout 400 "$HF" run --name dp --mem 256M \
	--timeout $(scaled 300) --kernel "$VMLINUX" --initrd "$INITRD" --disk "$RUN/disk.img,persist" \
	--cmdline "console=ttyS0 quiet hf.script=persist"
expect_in "$RUN/out" "^HF-PERSIST fork-refused" "its fork point fails instead of cloning"
expect_in "$RUN/err" "cannot clone: disk $RUN/disk.img is persistent" "the VMM says why"
check "the write reached the image file" test "$(debugfs -R 'cat /note' "$RUN/disk.img" 2>/dev/null)" = persisted
check "no clone was made" test ! -e "$RUN/dp.1.console"
check "no zombie processes" no_zombies
finish
